package fhirjson

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// corpusDir holds the official R4 examples, relative to this package.
const corpusDir = "../../../../../shared/corpus/fhir"

// reference decodes b as fhir/codec's fallback does: jsonformat with
// fhirvalidate and a nesting limit of 64. ok is false if jsonformat
// reports any error or validation issue.
type reference struct{ un *jsonformat.Unmarshaller }

func newReference(t testing.TB) reference {
	un, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	un.MaxNestingDepth = 64
	return reference{un: un}
}

type countingReporter struct{ n int }

func (r *countingReporter) ReportValidationError(string, error) error { r.n++; return nil }
func (r *countingReporter) ReportValidationWarning(string, error) error {
	return nil
}

func (r reference) decode(b []byte) (proto.Message, bool) {
	rep := &countingReporter{}
	m, err := r.un.UnmarshalWithErrorReporter(b, rep)
	if err != nil || rep.n > 0 {
		return nil, false
	}
	cr := m.(*bcrpb.ContainedResource).ProtoReflect()
	f := cr.WhichOneof(cr.Descriptor().Oneofs().ByName("oneof_resource"))
	if f == nil {
		return nil, false
	}
	return cr.Get(f).Message().Interface(), true
}

// check is the contract: if the fast decoder returns a resource, jsonformat
// accepts the input and returns an equal one. It returns the decline
// reason, or "".
func check(t *testing.T, d *Decoder, ref reference, b []byte) string {
	t.Helper()
	got, err := d.Decode(b)
	if err != nil {
		if !errors.Is(err, ErrDeclined) {
			t.Fatalf("error that is not a decline: %v", err)
		}
		return err.Error()
	}
	want, ok := ref.decode(b)
	if !ok {
		t.Fatalf("fast decoder accepted what jsonformat rejects: %s", b)
	}
	// go-cmp is not a dependency of the module: compare with proto.Equal
	// and show both in text form.
	if !proto.Equal(want, got) {
		t.Fatalf("fast decoder differs from jsonformat for %s\njsonformat:\n%s\nfast:\n%s", b, prototext.Format(want), prototext.Format(got))
	}
	return ""
}

func newDecoder(t testing.TB) *Decoder {
	d, err := NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// moduleRoot finds the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package")
		}
		dir = parent
	}
}

func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", corpusDir, err)
	}
	return files
}

// testdataFiles lists every JSON file under a testdata directory of the
// module: mapping goldens (resources our mappings produce) and inputs.
func testdataFiles(t testing.TB) []string {
	var files []string
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(path, ".json") && strings.Contains(path, string(filepath.Separator)+"testdata"+string(filepath.Separator)) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// corpusDeclines lists the corpus files the fast decoder leaves to
// jsonformat, with the reason. Everything else must decode fast. Today all
// 94 decode fast.
var corpusDeclines = map[string]string{}

// TestDecodeCorpus runs the contract on the 94 official examples, and
// requires the fast path for all but the listed ones.
func TestDecodeCorpus(t *testing.T) {
	t.Parallel()
	d, ref := newDecoder(t), newReference(t)
	var declined []string
	for _, f := range corpusFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			reason := check(t, d, ref, b)
			_, listed := corpusDeclines[name]
			switch {
			case reason != "" && !listed:
				t.Errorf("declined: %s", reason)
			case reason == "" && listed:
				t.Errorf("decoded fast, but listed as declined: update corpusDeclines")
			}
			if reason != "" {
				declined = append(declined, name+": "+reason)
			}
		})
	}
	sort.Strings(declined)
	t.Logf("%d corpus files declined:\n%s", len(declined), strings.Join(declined, "\n"))
}

// TestDecodeTestdata runs the contract on the JSON files of the module's
// testdata directories; many are mapping outputs or deliberately invalid
// inputs, which must be declined (jsonformat then reports them).
func TestDecodeTestdata(t *testing.T) {
	t.Parallel()
	d, ref := newDecoder(t), newReference(t)
	fast := 0
	files := testdataFiles(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(moduleRoot(t), f)
		t.Run(rel, func(t *testing.T) {
			reason := check(t, d, ref, b)
			_, valid := ref.decode(b)
			switch {
			case reason == "":
				fast++
			case valid:
				t.Logf("valid resource declined: %s", reason)
			}
		})
	}
	t.Logf("%d of %d testdata files decoded fast", fast, len(files))
}

// TestDecodeCases covers each rule with a small input. fast says whether
// the fast decoder must decode it; either way the contract holds.
func TestDecodeCases(t *testing.T) {
	t.Parallel()
	d, ref := newDecoder(t), newReference(t)
	tests := []struct {
		name, in string
		fast     bool
	}{
		{"minimal", `{"resourceType":"Patient","id":"p1"}`, true},
		{"resourceType last", `{"id":"p1","active":true,"resourceType":"Patient"}`, true},
		{"white space", " {\n\t\"resourceType\" : \"Patient\" ,\r\n \"id\" : \"p1\" } \n", true},
		{"string escapes", `{"resourceType":"Patient","name":[{"text":"A \"b\" \\ \/ \u00e9 \ud83d\ude00 \t"}]}`, true},
		{"control char in String", `{"resourceType":"Patient","name":[{"text":"a\u0001"}]}`, false},
		{"control char in markdown", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"note":[{"text":"a\u0001"}]}`, true},
		{"lone surrogate", `{"resourceType":"Patient","name":[{"text":"\ud83d"}]}`, false},
		{"invalid utf8", "{\"resourceType\":\"Patient\",\"name\":[{\"text\":\"\xff\"}]}", false},
		{"non-ascii", `{"resourceType":"Patient","name":[{"text":"Zoë 日本"}]}`, true},
		{"boolean", `{"resourceType":"Patient","active":false}`, true},
		{"boolean as string", `{"resourceType":"Patient","active":"true"}`, false},
		{"integer", `{"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/1"},"prediction":[{"probabilityDecimal":0.25}]}`, true},
		{"decimal exponent", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50e+3}}`, true},
		{"decimal negative zero", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-0.0}}`, true},
		{"decimal beyond float64", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.8e308}}`, false},
		{"decimal underflow", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e-400}}`, true},
		{"decimal long", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1234567890123456789012345678901234567890.5}}`, true},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}`, false},
		{"integer value", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":-42}`, true},
		{"integer too big", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":2147483648}`, false},
		{"integer fraction", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.0}`, false},
		{"positiveInt zero", `{"resourceType":"Patient","multipleBirthInteger":0}`, true},
		{"unsignedInt", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1,"dimensions":2,"data":"1 2"}}`, true},
		{"positiveInt zero bad", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1,"dimensions":0}}`, false},
		{"date forms", `{"resourceType":"Patient","birthDate":"1970-01","deceasedDateTime":"2021"}`, true},
		{"date day", `{"resourceType":"Patient","birthDate":"1904-02-29"}`, true},
		{"date not a day", `{"resourceType":"Patient","birthDate":"1900-02-29"}`, false},
		{"date with time", `{"resourceType":"Patient","birthDate":"1990-01-01T00:00:00Z"}`, false},
		{"dateTime Z", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06Z"}`, true},
		{"dateTime offset", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06.7+05:30"}`, true},
		{"dateTime minus zero", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06.123456-00:00"}`, true},
		{"dateTime nanos", `{"resourceType":"Patient","deceasedDateTime":"1969-12-31T23:59:59.999999999-14:00"}`, true},
		{"dateTime before 1678", `{"resourceType":"Patient","deceasedDateTime":"1500-02-03T04:05:06.789Z"}`, true},
		{"dateTime year 1", `{"resourceType":"Patient","deceasedDateTime":"0001-01-01T00:00:00.5+01:00"}`, true},
		{"dateTime no zone", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06"}`, false},
		{"dateTime no seconds", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05Z"}`, false},
		{"dateTime zone out of range", `{"resourceType":"Patient","deceasedDateTime":"2020-02-03T04:05:06+14:30"}`, false},
		{"instant", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-02-03T04:05:06.1234Z"}}`, true},
		{"instant offset", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-02-03T04:05:06+01:00"}}`, true},
		{"instant date only", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-02-03"}}`, false},
		{"time", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"23:59:59.5"}`, true},
		{"time micro", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"00:00:01.1234567"}`, true},
		{"time bad", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"24:00:00"}`, false},
		{"base64", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}`, true},
		{"base64 spaces", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVs bG8="}`, false},
		{"base64 bad", `{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8"}`, false},
		{"enum code", `{"resourceType":"Patient","gender":"female"}`, true},
		{"enum code upper", `{"resourceType":"Patient","gender":"FEMALE"}`, true},
		{"enum code dash", `{"resourceType":"Observation","status":"entered-in-error","code":{"text":"x"}}`, true},
		{"enum original code", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"comparator":"<="}}`, true},
		{"enum unknown", `{"resourceType":"Patient","gender":"robot"}`, false},
		{"enum zero", `{"resourceType":"Patient","gender":"INVALID_UNINITIALIZED"}`, false},
		{"code", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://x","code":"a b"}]}}`, true},
		{"code double space", `{"resourceType":"Patient","maritalStatus":{"coding":[{"code":"a  b"}]}}`, false},
		{"code trailing space", `{"resourceType":"Patient","maritalStatus":{"coding":[{"code":"a "}]}}`, false},
		{"id bad", `{"resourceType":"Patient","id":"a_b"}`, false},
		{"id too long", `{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, false},
		{"uri bad", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":":x"}]}}`, false},
		{"uri bad escape", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://x/%zz"}]}}`, false},
		{"uri urn", `{"resourceType":"Patient","implicitRules":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}`, true},
		{"uuid", `{"resourceType":"Patient","identifier":[{"system":"urn:ietf:rfc:3986","value":"x"}]}`, true},
		{"oid", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[{"url":"http://x","valueOid":"urn:oid:1.2.3"}]}`, true},
		{"oid bad", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[{"url":"http://x","valueOid":"urn:oid:1.02"}]}`, false},
		{"uuid value", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"extension":[{"url":"http://x","valueUuid":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}]}`, true},
		{"choice", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"v"}`, true},
		{"two choices", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"v","valueBoolean":true}`, false},
		{"choice ext", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"v","_valueString":{"id":"i"}}`, true},
		{"choice other ext", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"v","_valueBoolean":{"id":"i"}}`, false},
		{"primitive ext", `{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":{"extension":[{"url":"http://x","valueString":"y"}]}}`, true},
		{"primitive ext first", `{"resourceType":"Patient","_birthDate":{"id":"b"},"birthDate":"1990-01-01"}`, true},
		{"primitive ext only", `{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`, true},
		{"primitive ext only code", `{"resourceType":"Patient","_gender":{"id":"g"}}`, true},
		{"primitive ext only id", `{"resourceType":"Patient","_id":{"id":"g"}}`, false},
		{"primitive ext false", `{"resourceType":"Patient","active":false,"_active":{"id":"a"}}`, false},
		{"array ext", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"x"},{"id":"y"}]}]}`, true},
		{"array ext first", `{"resourceType":"Patient","name":[{"_given":[{"id":"x"},{"id":"y"}],"given":["a","b"]}]}`, true},
		{"array ext null", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null,{"id":"y"}]}]}`, false},
		{"array ext length", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"y"}]}]}`, false},
		{"array ext only", `{"resourceType":"Patient","name":[{"_given":[{"id":"y"}]}]}`, false},
		{"ext as string", `{"resourceType":"Patient","_birthDate":"1990-01-01"}`, false},
		{"value as object", `{"resourceType":"Patient","birthDate":{"id":"x"}}`, false},
		{"internal extension", `{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":{"extension":[{"url":"https://g.co/fhir/StructureDefinition/primitiveHasNoValue","valueBoolean":true}]}}`, false},
		{"reference typed", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/123"}}`, true},
		{"reference history", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/123/_history/2"}}`, true},
		{"reference bad history", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/123/_history/a_b"}}`, false},
		{"reference fragment", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"#p1"}}`, true},
		{"reference urn", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}}`, true},
		{"reference absolute", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"http://example.org/fhir/Patient/1"}}`, true},
		{"reference wrong type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Medication/1"}}`, false},
		{"reference unknown type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Spaceship/1"}}`, false},
		{"reference identifier", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"identifier":{"value":"x"},"display":"d"}}`, true},
		{"reference typed key", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"patientId":{"value":"1"}}}`, false},
		{"contained", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p1"}],"subject":{"reference":"#p1"}}`, true},
		{"contained invalid", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"contained":[{"resourceType":"Patient","id":"p1","gender":"robot"}]}`, false},
		{"bundle", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0","resource":{"id":"p","resourceType":"Patient"}}]}`, true},
		{"narrative", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, true},
		{"modifierExtension", `{"resourceType":"Patient","modifierExtension":[{"url":"http://x","valueBoolean":true}]}`, true},
		{"nested extension", `{"resourceType":"Patient","extension":[{"url":"http://x","extension":[{"url":"a","valueCoding":{"code":"c"}}]}]}`, true},
		{"required missing", `{"resourceType":"Observation","code":{"text":"x"}}`, false},
		{"required missing nested", `{"resourceType":"Patient","extension":[{"valueBoolean":true}]}`, false},
		{"unknown field", `{"resourceType":"Patient","colour":"blue"}`, false},
		{"upper-case key", `{"resourceType":"Patient","Active":true}`, false},
		{"duplicate key", `{"resourceType":"Patient","id":"a","id":"b"}`, false},
		{"null", `{"resourceType":"Patient","id":null}`, false},
		{"empty string", `{"resourceType":"Patient","name":[{"text":""}]}`, false},
		{"empty object", `{"resourceType":"Patient","maritalStatus":{}}`, false},
		{"empty array", `{"resourceType":"Patient","name":[]}`, false},
		{"no resourceType", `{"id":"a"}`, false},
		{"unknown resourceType", `{"resourceType":"Spaceship"}`, false},
		{"not an object", `[]`, false},
		{"trailing data", `{"resourceType":"Patient","id":"a"} x`, false},
		{"truncated", `{"resourceType":"Patient","id":"a"`, false},
		{"leading zero", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":01}`, false},
		{"literal glued", `{"resourceType":"Patient","active":truex}`, false},
		{"deep", `{"resourceType":"Patient","extension":[` + strings.Repeat(`{"url":"http://x","extension":[`, 70) + `{"url":"a","valueBoolean":true}` + strings.Repeat(`]}`, 70) + `]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := check(t, d, ref, []byte(tt.in))
			if tt.fast && reason != "" {
				t.Errorf("declined: %s", reason)
			}
			if !tt.fast && reason == "" {
				t.Errorf("decoded fast; want it left to jsonformat")
			}
		})
	}
}

// TestDecodeCheckersMatchRegexes compares the hand-written Code and Id
// checks with the value_regex annotations jsonformat compiles.
func TestDecodeCheckersMatchRegexes(t *testing.T) {
	t.Parallel()
	d := newDecoder(t)
	code := d.infos["google.fhir.r4.core.Code"]
	id := d.infos["google.fhir.r4.core.Id"]
	if code == nil || id == nil {
		t.Fatal("no Code or Id info")
	}
	codeRe := regexOf(t, code.desc)
	idRe := regexOf(t, id.desc)
	for _, s := range []string{"", "a", " a", "a ", "a b", "a  b", "a\tb", "a\vb", "a\fb", "é", "a\u00a0b",
		"A-Z.0", "a_b", strings.Repeat("x", 64), strings.Repeat("x", 65), "a\nb", "\n"} {
		if got, want := validCode(s), codeRe.MatchString(s); got != want {
			t.Errorf("validCode(%q) = %v, regex says %v", s, got, want)
		}
		if got, want := validID(s), idRe.MatchString(s); got != want {
			t.Errorf("validID(%q) = %v, regex says %v", s, got, want)
		}
	}
}

// TestDecodePlainURIParses checks that what plainURI accepts without
// url.Parse does parse.
func TestDecodePlainURIParses(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "urn:oid:1.2.3", "urn:x#y?z",
		"http://loinc.org", "https://snomed.info/sct", "http://a-b.c/d:e/f?g=h&i#j", "https://x/", "http://", "https://x?y", "urn:"} {
		if !plainURI(s) {
			t.Errorf("plainURI(%q) = false", s)
			continue
		}
		if _, err := url.Parse(s); err != nil {
			t.Errorf("plainURI(%q) but url.Parse: %v", s, err)
		}
	}
	for _, s := range []string{"http://x:8080/", "http://u@x/", "http://x/%zz", "urn:%zz", "http://[::1]/", "http://x y/", "ftp://x", ":x"} {
		if plainURI(s) {
			t.Errorf("plainURI(%q) = true", s)
		}
	}
}

func regexOf(t *testing.T, md protoreflect.MessageDescriptor) *regexp.Regexp {
	t.Helper()
	re := proto.GetExtension(md.Options(), apb.E_ValueRegex).(string)
	if re == "" {
		t.Fatalf("%s has no value_regex", md.FullName())
	}
	return regexp.MustCompile("^" + re + "$")
}

// TestDecodePrimitivesRandom runs the contract on random values of every
// primitive type, built from pieces of the forms they take, so that
// near-misses of each format meet both decoders.
func TestDecodePrimitivesRandom(t *testing.T) {
	t.Parallel()
	d, ref := newDecoder(t), newReference(t)
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"0", "1", "9", "00", "01", "12", "13", "23", "24", "29", "30", "31", "59", "60", "99",
		"1500", "1677", "1678", "1970", "2020", "0000", "0001", "9999", "-", "+", ":", ".", "T", "Z", "z", " ",
		"14:00", "14:30", "-00:00", "+00:00", "e", "E", "e+", "123456789", "1234567890", "a", "A", "_", "/",
		"urn:", "oid:", "uuid:", "http://", "e308", "e309", "e-400", "8e307", "%", "%41", "#", "é", "\\u0000", "\\t", "\\\"", "\\ud83d\\ude00", "=", "==", "aGVs", "bG8="}
	forms := []string{"", "2020-02-29", "2021-02-29", "2020-01-01T10:00:00", "10:00:00", "1.5", "-0", "urn:oid:1.2.3", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}
	types := []string{"Base64Binary", "Boolean", "Canonical", "Code", "Date", "DateTime", "Decimal", "Id", "Instant", "Integer",
		"Markdown", "Oid", "PositiveInt", "String", "Time", "UnsignedInt", "Uri", "Url", "Uuid"}
	fast := 0
	for i := 0; i < 20000; i++ {
		v := forms[r.IntN(len(forms))]
		for k := r.IntN(6); k > 0; k-- {
			v += pieces[r.IntN(len(pieces))]
		}
		lit := `"` + v + `"`
		if r.IntN(4) == 0 {
			lit = v // a bare number, literal or invalid JSON
		}
		in := `{"resourceType":"Basic","code":{"text":"x"},"extension":[{"url":"http://x","value` + types[r.IntN(len(types))] + `":` + lit + `}]}`
		if check(t, d, ref, []byte(in)) == "" {
			fast++
		}
	}
	t.Logf("%d of 20000 decoded fast", fast)
}

// TestDecodeStructureRandom runs the contract on objects assembled from
// members in random number and order: values with and without their "_x",
// choices, arrays, references, contained resources and near-misses.
func TestDecodeStructureRandom(t *testing.T) {
	t.Parallel()
	d, ref := newDecoder(t), newReference(t)
	r := rand.New(rand.NewPCG(3, 4))
	members := []string{
		`"id":"p1"`, `"_id":{"id":"x"}`, `"active":true`, `"active":false`, `"_active":{"id":"a"}`,
		`"gender":"male"`, `"_gender":{"extension":[{"url":"http://x","valueCode":"c"}]}`,
		`"birthDate":"1990-01-01"`, `"_birthDate":{"id":"b"}`, `"_birthDate":{}`, `"_birthDate":[{"id":"b"}]`,
		`"deceasedBoolean":true`, `"deceasedDateTime":"2020-01-01T00:00:00Z"`, `"_deceasedDateTime":{"id":"d"}`, `"_deceasedBoolean":{"id":"d"}`,
		`"name":[{"given":["a","b"]}]`, `"name":[{"given":["a"],"_given":[{"id":"g"}]}]`, `"name":[{"_given":[{"id":"g"}],"given":["a"]}]`,
		`"name":[{"given":["a","b"],"_given":[null,{"id":"g"}]}]`, `"name":[{"_given":[{"id":"g"}]}]`, `"name":[{"family":"F","_family":{"id":"f"}}]`,
		`"managingOrganization":{"reference":"Organization/o1"}`, `"managingOrganization":{"reference":"Patient/o1"}`,
		`"managingOrganization":{"reference":"#o1","display":"O"}`, `"managingOrganization":{"reference":"Organization/o1/_history/2"}`,
		`"generalPractitioner":[{"reference":"Practitioner/1"},{"reference":"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}]`,
		`"contained":[{"resourceType":"Organization","id":"o1","name":"O"}]`, `"contained":[{"id":"o1","resourceType":"Organization"}]`,
		`"contained":[{"resourceType":"Organization"}]`, `"extension":[{"url":"http://x","valueString":"s","_valueString":{"id":"v"}}]`,
		`"extension":[{"url":"http://x","_valueString":{"id":"v"}}]`, `"extension":[{"url":"http://x","valueString":"s","valueInteger":1}]`,
		`"multipleBirthInteger":2`, `"multipleBirthBoolean":true`, `"_multipleBirthInteger":{"id":"m"}`,
		`"telecom":[{"system":"phone","value":"1","use":"home","rank":1}]`, `"telecom":[{"system":"Phone"}]`,
		`"communication":[{"language":{"text":"fr"},"preferred":true}]`, `"communication":[{"preferred":true}]`,
		`"meta":{"lastUpdated":"2020-01-01T00:00:00.000+01:00","versionId":"1","tag":[{"code":"t"}]}`,
		`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`, `"text":{"div":"<div/>"}`,
		`"resourceType":"Patient"`, `"photo":[{"data":"aGVsbG8=","contentType":"image/png"}]`, `"photo":[{"data":"aGVsbG8=","_data":{"id":"d"}}]`,
	}
	fast := 0
	for i := 0; i < 20000; i++ {
		parts := []string{`"resourceType":"Patient"`}
		for k := r.IntN(6); k > 0; k-- {
			parts = append(parts, members[r.IntN(len(members))])
		}
		r.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
		if check(t, d, ref, []byte("{"+strings.Join(parts, ",")+"}")) == "" {
			fast++
		}
	}
	t.Logf("%d of 20000 decoded fast", fast)
}
