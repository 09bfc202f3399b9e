package search

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/subset"
)

// TestPathsResolve checks every parameter path names real proto fields, so a
// typo cannot silently leave a parameter unindexed.
func TestPathsResolve(t *testing.T) {
	for typ, params := range registry {
		m, err := resource.New(typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range params {
			for _, path := range p.Paths {
				if err := resolve(m.ProtoReflect().Descriptor(), strings.Split(path, ".")); err != "" {
					t.Errorf("%s.%s path %s: %s", typ, p.Name, path, err)
				}
			}
		}
	}
}

func resolve(d protoreflect.MessageDescriptor, path []string) string {
	if od := d.Oneofs().ByName("choice"); od != nil && len(path) > 0 {
		return "" // inside a choice type: checked at run time
	}
	if len(path) == 0 {
		return ""
	}
	f := d.Fields().ByName(protoreflect.Name(path[0]))
	if f == nil {
		return "no field " + path[0] + " in " + string(d.Name())
	}
	if f.Kind() != protoreflect.MessageKind {
		return path[0] + " is not a message"
	}
	return resolve(f.Message(), path[1:])
}

func decode(t *testing.T, name string) []Value {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../../shared/corpus/fhir", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := codec.MustNew().Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return Extract(m)
}

func has(vs []Value, param string, kind Kind, text string) bool {
	return slices.ContainsFunc(vs, func(v Value) bool { return v.Param == param && v.Kind == kind && v.Text == text })
}

func TestExtract(t *testing.T) {
	t.Parallel()
	pat := decode(t, "r4-Patient-example.json")
	for _, c := range []struct {
		param string
		kind  Kind
		text  string
	}{
		{"identifier", Token, "urn:oid:1.2.36.146.595.217.0.1|12345"},
		{"family", String, "chalmers"},
		{"given", String, "peter"},
		{"name", String, "chalmers"},
		{"gender", Token, "|male"},
		{"active", Token, "|true"},
		{"organization", Reference, "Organization/1"},
		{"address-city", String, "pleasantville"},
	} {
		if !has(pat, c.param, c.kind, c.text) {
			t.Errorf("Patient example: no %s %c %q in %+v", c.param, c.kind, c.text, pat)
		}
	}
	for _, v := range pat {
		if v.Param == "birthdate" {
			want := time.Date(1974, 12, 25, 0, 0, 0, 0, time.UTC)
			if v.Start != want.UnixMicro() || v.End != want.AddDate(0, 0, 1).UnixMicro() {
				t.Errorf("birthdate range %d..%d", v.Start, v.End)
			}
		}
	}
	cp := decode(t, "r4-CarePlan-f001.json")
	if !has(cp, "patient", Reference, "Patient/f001") || !has(cp, "status", Token, "|completed") {
		t.Errorf("CarePlan f001 values: %+v", cp)
	}
	c := decode(t, "r4-Consent-consent-example-notThem.json")
	if !has(c, "status", Token, "|active") || !has(c, "patient", Reference, "Patient/f001") {
		t.Errorf("Consent values: %+v", c)
	}
}

// TestNormalize: string search ignores case and accents (R4
// search.html#string) and the punctuation between the words of a name, so
// that a compound name typed with a space finds it written with a hyphen,
// and the other way round.
func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"Élodie  Dupré": "elodie dupre", " ÇA ": "ca", "Müller-Lüdenscheidt": "muller ludenscheidt",
		"Jean-Pierre": "jean pierre", "Jean Pierre": "jean pierre", "LE-GOFF": "le goff", "d’Artagnan": "d artagnan",
		"D'Artagnan": "d artagnan", "Saint-Étienne-du-Rouvray": "saint etienne du rouvray", "Jean - Pierre": "jean pierre",
		"-Jean-": "jean", "St. Ives": "st ives", "": "", "---": ""} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, query string
		strict     bool
		wantErr    bool
		check      func(*Query) bool
	}{
		{"Observation", "patient=123", false, false, func(q *Query) bool {
			return q.Clauses[0].Conds[0] == Cond{Tag: 'r', Key: "Patient/123"}
		}},
		{"Observation", "subject=123", false, false, func(q *Query) bool { return q.Clauses[0].Conds[0].Tag == 'i' }},
		{"Observation", "subject:Patient=123", false, false, func(q *Query) bool { return q.Clauses[0].Conds[0].Key == "Patient/123" }},
		{"Observation", "code=http://loinc.org|1234-5,abc", false, false, func(q *Query) bool {
			c := q.Clauses[0].Conds
			return len(c) == 2 && c[0].Tag == 't' && c[0].Key == "http://loinc.org|1234-5" && c[1].Tag == 'c'
		}},
		{"Observation", "code=http://loinc.org|", false, false, func(q *Query) bool { return q.Clauses[0].Conds[0].Prefix }},
		{"Patient", "family=Dupré", false, false, func(q *Query) bool { return q.Clauses[0].Conds[0].Key == "dupre" }},
		{"Patient", "birthdate=ge2000-01&birthdate=lt2001", false, false, func(q *Query) bool {
			return len(q.Clauses) == 2 && q.Clauses[0].Conds[0].Cmp == "ge"
		}},
		{"Patient", "colour=blue", false, false, func(q *Query) bool { return len(q.Warnings) == 1 && len(q.Clauses) == 0 }},
		{"Patient", "colour=blue", true, true, nil},
		{"Patient", "_count=5&_sort=-_lastUpdated&_total=accurate", false, false, func(q *Query) bool {
			return q.Count == 5 && q.Sort[0] == SortKey{"_lastUpdated", true}
		}},
		{"Patient", "_count=-1", false, true, nil},
		{"Patient", "_sort=family", false, true, nil},
		{"Patient", "birthdate=xx2000", false, true, nil},
		{"Patient", "birthdate=2000-13", false, true, nil},
		{"Observation", "patient=Observation/1", false, true, nil},
		{"Observation", "_include=Observation:patient&_revinclude=Provenance:target", false, false, func(q *Query) bool {
			return q.Include[0].Param == "patient" && q.RevInclude[0].Source == "Provenance"
		}},
		{"Observation", "_include=Patient:organization", false, true, nil},
		{"Spaceship", "", false, true, nil},
		{"Patient", "_id=a,b", false, false, func(q *Query) bool { return slices.Equal(q.IDs, []string{"a", "b"}) }},
		// reverse chaining (R4 search.html#has) is refused, not left out:
		// it would answer every patient
		{"Patient", "_has:Observation:patient:code=1234", false, true, nil},
		{"Patient", "_has:Observation:subject:code=1234", true, true, nil},
		// chains (R4 search.html#chaining), one level deep
		{"Observation", "patient.identifier=sys|1", false, false, func(q *Query) bool {
			ch := q.Clauses[0].Chain
			return q.Clauses[0].Param.Name == "patient" && ch.Type == "Patient" && ch.Clauses[0].Conds[0].Key == "sys|1" && q.Chained()
		}},
		{"Observation", "subject:Patient.name:exact=Ané", false, false, func(q *Query) bool {
			ch := q.Clauses[0].Chain
			return ch.Type == "Patient" && ch.Clauses[0].Param.Name == "name" && ch.Clauses[0].Conds[0].Exact == "Ané"
		}},
		{"Observation", "patient._id=p1", false, false, func(q *Query) bool { return slices.Equal(q.Clauses[0].Chain.IDs, []string{"p1"}) }},
		{"Observation", "patient.colour=blue", false, false, func(q *Query) bool { return len(q.Warnings) == 1 && len(q.Clauses) == 0 }},
		{"Observation", "patient.colour=blue", true, true, nil},
		{"Observation", "subject.identifier=x", false, true, nil},        // which type?
		{"Observation", "patient:Group.identifier=x", false, true, nil},  // patient references Patient only
		{"Observation", "code.identifier=x", false, true, nil},           // not a reference
		{"Observation", "patient.organization.name=x", false, true, nil}, // two levels
		{"Observation", "patient._count=1", false, true, nil},            // not a parameter
		{"Observation", "patient.birthdate=2000-13", false, true, nil},   // a value it cannot read
		{"Observation", "patient.identifier=a&code=x", false, false, func(q *Query) bool { return len(q.Clauses) == 2 }},
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.query)
		q, err := Parse(tt.typ, v, tt.strict)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s?%s: err = %v, wantErr %v", tt.typ, tt.query, err, tt.wantErr)
			continue
		}
		if err == nil && tt.check != nil && !tt.check(q) {
			t.Errorf("%s?%s: unexpected plan %+v", tt.typ, tt.query, q)
		}
	}
}

func TestDateMatches(t *testing.T) {
	day := func(s string) (int64, int64) {
		a, b, err := ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	s, e := day("2026-03-01") // the indexed value: one day
	tests := []struct {
		q    string
		want bool
	}{
		{"2026-03-01", true}, {"2026-03", true}, {"2026", true}, {"2026-03-02", false},
		{"lt2026-03-02", true}, {"lt2026-03-01", false}, {"le2026-03-01", true},
		{"gt2026-02-28", true}, {"gt2026-03-01", false}, {"ge2026-03-01", true}, {"ge2026-03-02", false},
		{"sa2026-02-28", true}, {"eb2026-03-02", true}, {"eb2026-03-01", false},
		{"2026-03-01T10:00:00Z", false}, {"ge2026-03-01T10:00:00+01:00", true},
	}
	for _, tt := range tests {
		c, err := planDate("", tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.q, err)
		}
		if got := c.Matches(s, e); got != tt.want {
			t.Errorf("2026-03-01 matches %s = %v, want %v", tt.q, got, tt.want)
		}
	}
}

// FuzzNormalize: the fold is idempotent (a store's migration folds again
// what it indexed, Refold) and leaves no letter to lower, punctuation, leading,
// trailing or doubled space.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"Jean-Pierre", "Le Goff", "d’Artagnan", "Élodie  Dupré", "İstanbul", "ǅemal", "K", "---", " a . b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize(%q) = %q, and again %q", s, n, again)
		}
		if strings.HasPrefix(n, " ") || strings.HasSuffix(n, " ") || strings.Contains(n, "  ") {
			t.Fatalf("Normalize(%q) = %q: spaces left", s, n)
		}
		for _, r := range n {
			if unicode.IsPunct(r) || unicode.ToLower(r) != r {
				t.Fatalf("Normalize(%q) = %q: %q left", s, n, r)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"patient=123", "code=a|b,c", "date=ge2020-01-01T00:00:00Z", "_sort=-date&_count=3",
		"name:contains=x", "_include=Observation:patient", "subject:Patient=1", "date=2020-13",
		"status=%zz", "code=a;b", "colour=%ff&_text=x", "patient.identifier=s|1", "subject:Patient.name:exact=x",
		"patient.organization.name=x", "patient._id=a,b"} {
		f.Add("Observation", s)
	}
	f.Fuzz(func(t *testing.T, typ, raw string) {
		q, err := ParseQuery(typ, raw, false)
		if err != nil {
			return
		}
		if q.Type != typ {
			t.Fatalf("type changed")
		}
		// The self link repeats only pairs that were sent.
		sent := strings.Split(raw, "&")
		for _, a := range q.Applied {
			if !slices.Contains(sent, a) {
				t.Fatalf("applied %q was not sent in %q", a, raw)
			}
		}
	})
}

func BenchmarkExtractCarePlan(b *testing.B) {
	data, _ := os.ReadFile("../../../shared/corpus/fhir/r4-CarePlan-f001.json")
	m, _ := codec.MustNew().Decode(data)
	for b.Loop() {
		Extract(m)
	}
}

// TestExtractOrder: values come parameter by parameter in name order, the
// same on every call, so an unchanged resource encodes the same values.
func TestExtractOrder(t *testing.T) {
	data, err := os.ReadFile("../../../shared/corpus/fhir/r4-CarePlan-f001.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := codec.MustNew().Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	first := Extract(m)
	if len(first) < 5 {
		t.Fatalf("only %d values", len(first))
	}
	for i := 1; i < len(first); i++ {
		if first[i].Param < first[i-1].Param {
			t.Fatalf("value %d (%s) after %s", i, first[i].Param, first[i-1].Param)
		}
	}
	for range 20 {
		if got := Extract(m); !slices.Equal(got, first) {
			t.Fatalf("Extract gave another order: %v, then %v", first, got)
		}
	}
}

// BenchmarkExtractCarePlan5KB extracts the index values of the 5 KB
// CarePlan (24 activities) that the store and API create benchmarks write.
func BenchmarkExtractCarePlan5KB(b *testing.B) {
	var acts []string
	for i := 0; i < 24; i++ {
		acts = append(acts, fmt.Sprintf(`{"detail":{"kind":"ServiceRequest","code":{"coding":[{"system":"http://snomed.info/sct","code":"2290080%02d","display":"Home nursing visit number %d"}]},"status":"scheduled","description":"Wound care and anticoagulant check, visit %d"}}`, i, i, i))
	}
	js := `{"resourceType":"CarePlan","meta":{"lastUpdated":"2026-11-22T10:00:00Z"},"status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[` + strings.Join(acts, ",") + `]}`
	m, err := codec.MustNew().Decode([]byte(js))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		Extract(m)
	}
}

// TestParseQueryUnreadable: a pair that cannot be decoded is refused,
// naming the parameter, when the parameter is known, whatever the handling
// (searching without it would widen the result); an unknown one is handled
// as any unknown parameter.
func TestParseQueryUnreadable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, raw string
		strict         bool
		wantErr        string // "" for no error
		wantWarnings   int
	}{
		{"bad percent-encoding", "Task", "status=%zz", false, "status: the value is not percent-encoded UTF-8", 0},
		{"bad percent-encoding, strict", "Task", "status=%zz", true, "status: the value is not percent-encoded UTF-8", 0},
		{"truncated escape", "Patient", "birthdate=2000%2", false, "birthdate:", 0},
		{"semicolon", "Task", "status=completed;x=1", false, "status: an unescaped ';'", 0},
		{"not UTF-8", "Patient", "family=%ff", false, "family: the value is not percent-encoded UTF-8", 0},
		{"with a modifier", "Patient", "family:exact=%zz", false, "family:", 0},
		{"a result parameter", "Patient", "_count=%zz", false, "_count:", 0},
		{"unknown, lenient", "Patient", "colour=%zz", false, "", 1},
		{"unknown, strict", "Patient", "colour=%zz", true, "colour: the value is not percent-encoded UTF-8", 0},
		{"bad name, lenient", "Patient", "%zz=1", false, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.typ, tt.raw, tt.strict)
			if tt.wantErr == "" {
				if err != nil || len(q.Warnings) != tt.wantWarnings || len(q.Applied) != 0 {
					t.Fatalf("ParseQuery(%q) = %+v, %v; want %d warnings, nothing applied", tt.raw, q, err, tt.wantWarnings)
				}
				return
			}
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid || len(oe.Issues) != 1 || !strings.HasPrefix(oe.Issues[0].Text, tt.wantErr) {
				t.Fatalf("ParseQuery(%q) = %v; want an invalid outcome %q", tt.raw, err, tt.wantErr)
			}
		})
	}
}

// TestParseQueryApplied: Applied keeps the pairs used, as sent and in
// their order, and none that was ignored.
func TestParseQueryApplied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want []string
	}{
		{"status=requested&_count=5", []string{"status=requested", "_count=5"}},
		{"_text=foo&status=requested", []string{"status=requested"}},
		{"foo=&status=requested&_filter=x%20eq%201&_contained=true", []string{"status=requested"}},
		// _elements states the names it applied, not those it ignored
		{"status=requested&_elements=status,colour,owner", []string{"status=requested", "_elements=status,owner"}},
		{"_elements=colour&_summary=true", []string{"_summary=true"}},
		{"code=http://loinc.org|1234-5&_format=json&_summary=false", []string{"code=http://loinc.org|1234-5", "_format=json", "_summary=false"}},
		{"_text=foo", nil},
	}
	for _, tt := range tests {
		q, err := ParseQuery("Task", tt.raw, false)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", tt.raw, err)
		}
		if !slices.Equal(q.Applied, tt.want) {
			t.Errorf("ParseQuery(%q).Applied = %q, want %q", tt.raw, q.Applied, tt.want)
		}
	}
	// Parse (values) states them in url.Values.Encode's form and order.
	q, err := Parse("Task", url.Values{"status": {"requested"}, "_count": {"1"}, "_contained": {"true"}}, false)
	if err != nil || !slices.Equal(q.Applied, []string{"_count=1", "status=requested"}) {
		t.Errorf("Parse: Applied = %q, %v", q.Applied, err)
	}
}

// TestParseCodeToken: system|code on a code element is planned as its
// code when the system is the one its binding implies, and as nothing
// otherwise; a token on a coded element keeps its system.
func TestParseCodeToken(t *testing.T) {
	t.Parallel()
	code := func(keys ...string) []Cond {
		var out []Cond
		for _, k := range keys {
			out = append(out, Cond{Tag: 'c', Key: k})
		}
		return out
	}
	tests := []struct {
		typ, query string
		want       []Cond
	}{
		{"Task", "status=requested", code("requested")},
		{"Task", "status=http://hl7.org/fhir/task-status|requested", code("requested")},
		{"Task", "status=http://hl7.org/fhir/task-status|requested,completed", code("requested", "completed")},
		{"Task", "status=|requested", nil},
		{"Task", "status=|", nil},
		{"Task", "status=http://example.org/status|requested", nil},
		{"Task", "status=http://hl7.org/fhir/task-status|no-such-code", nil},
		// Task.intent's value set draws on two code systems.
		{"Task", "intent=http://hl7.org/fhir/request-intent|order", code("order")},
		{"Task", "intent=http://hl7.org/fhir/task-intent|unknown", code("unknown")},
		{"Task", "intent=http://hl7.org/fhir/task-intent|order", nil},
		{"Patient", "gender=http://hl7.org/fhir/administrative-gender|female", code("female")},
		{"Patient", "gender=http://hl7.org/fhir/administrative-gender|", code("female", "male", "other", "unknown")},
		{"Observation", "code=http://loinc.org|1234-5", []Cond{{Tag: 't', Key: "http://loinc.org|1234-5"}}},
		{"Observation", "code=|1234-5", []Cond{{Tag: 't', Key: "|1234-5"}}},
	}
	for _, tt := range tests {
		q, err := ParseQuery(tt.typ, tt.query, true)
		if err != nil {
			t.Errorf("%s?%s: %v", tt.typ, tt.query, err)
			continue
		}
		if got := q.Clauses[0].Conds; !slices.Equal(got, tt.want) {
			t.Errorf("%s?%s: conditions %+v, want %+v", tt.typ, tt.query, got, tt.want)
		}
	}
	if _, err := ParseQuery("Task", "status=,", true); err == nil {
		t.Error("Task?status=, has no value and was accepted")
	}
}

// TestQueryPatients: a search names the patients of its Patient
// references, with or without the type, by modifier, absolute on this
// server, ORed, and by _id on Patient; not a reference that may be to
// another type, nor another type's _id.
func TestQueryPatients(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		typ, query string
		want       []string
	}{
		{"Observation", "patient=p1", []string{"Patient/p1"}},
		{"Observation", "subject=Patient/p1&code=x", []string{"Patient/p1"}},
		{"Observation", "subject:Patient=p1", []string{"Patient/p1"}},
		{"Observation", "subject=p1", nil},
		{"Observation", "patient=p1,Patient/p2&subject=Patient/p1", []string{"Patient/p1", "Patient/p2"}},
		{"Observation", "patient=https://relais.example/fhir/Patient/p3", []string{"Patient/p3"}},
		{"Observation", "subject=Group/g1&code=x", nil},
		{"Patient", "_id=p1,p4", []string{"Patient/p1", "Patient/p4"}},
		{"Observation", "_id=o1", nil},
	} {
		q, err := ParseQuery(c.typ, c.query, false)
		if err != nil {
			t.Fatalf("%s?%s: %v", c.typ, c.query, err)
		}
		if got := q.Patients(); !slices.Equal(got, c.want) {
			t.Errorf("%s?%s names %q, want %q", c.typ, c.query, got, c.want)
		}
	}
}

// TestQueryPatientChains: the chains that name patients are those to
// Patient by what identifies her (_id, identifier); one by name asks
// for whoever matches.
func TestQueryPatientChains(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query string
		want  int
	}{
		{"patient.identifier=sys|1", 1},
		{"subject:Patient.identifier=sys|1&patient._id=p1", 2},
		{"patient.name=Martin", 0},
		{"performer:Practitioner.identifier=x", 0},
		{"patient=p1", 0},
	} {
		q, err := ParseQuery("Observation", c.query, true)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got := len(q.PatientChains()); got != c.want {
			t.Errorf("%s: %d chains naming patients, want %d", c.query, got, c.want)
		}
	}
}

// TestParseEscapes: R4 search.html#escaping: a value holding ',' '|' '$'
// or '\' escapes it with '\', so that "12,345" and "A|B" are one value
// (and not two values, or a system and a code), in every kind of value.
func TestParseEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, query string
		want       []Cond
	}{
		{"Patient", `identifier=12\,345`, []Cond{{Tag: 'c', Key: "12,345"}}},
		{"Patient", `identifier=A\|B$7`, []Cond{{Tag: 'c', Key: "A|B$7"}}},
		{"Patient", `identifier=A\|B\$7`, []Cond{{Tag: 'c', Key: "A|B$7"}}},
		{"Patient", `identifier=urn:oid:1.2|A\|B`, []Cond{{Tag: 't', Key: "urn:oid:1.2|A|B"}}},
		{"Patient", `identifier=C:\\tmp,x`, []Cond{{Tag: 'c', Key: `C:\tmp`}, {Tag: 'c', Key: "x"}}},
		{"Patient", `identifier=a\\,b`, []Cond{{Tag: 'c', Key: `a\`}, {Tag: 'c', Key: "b"}}},
		// one value, folded as strings are (Normalize: punctuation as a space)
		{"Patient", `family=O\,Neil`, []Cond{{Tag: 's', Key: "o neil", Prefix: true}}},
		{"Patient", `family=a\|b`, []Cond{{Tag: 's', Key: "a|b", Prefix: true}}},
	}
	for _, tt := range tests {
		v := url.Values{}
		name, val, _ := strings.Cut(tt.query, "=")
		v.Set(name, val)
		q, err := Parse(tt.typ, v, true)
		if err != nil {
			t.Errorf("%s?%s: %v", tt.typ, tt.query, err)
			continue
		}
		if got := q.Clauses[0].Conds; !slices.Equal(got, tt.want) {
			t.Errorf("%s?%s: conditions %+v, want %+v", tt.typ, tt.query, got, tt.want)
		}
	}
}

// TestParseViewParams: _summary and _elements give the view of each
// resource found; what cannot be read, or asks for two views, is a 400
// whatever the handling; an unknown element is ignored with a warning,
// or refused when strict, as an unknown parameter is.
func TestParseViewParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw      string
		strict   bool
		summary  subset.Summary
		elements []string
		warns    int
		bad      bool
	}{
		{raw: "_summary=true", summary: subset.True},
		{raw: "_summary=text", summary: subset.Text},
		{raw: "_summary=data", summary: subset.Data},
		{raw: "_summary=false"},
		{raw: "_summary=true&_summary=true", summary: subset.True},
		{raw: "_elements=status,value,owner", elements: []string{"status", "owner"}, warns: 1},
		{raw: "_elements=status&_elements=status,intent", elements: []string{"status", "intent"}},
		{raw: "_elements=colour", warns: 1},
		{raw: "_elements=status,colour", strict: true, bad: true},
		{raw: "_elements:exclude=status", warns: 1},
		{raw: "_elements=", bad: true},
		{raw: "_summary=maybe", bad: true},
		{raw: "_summary=true&_summary=data", bad: true},
		{raw: "_summary=true&_elements=status", bad: true},
		{raw: "_summary=text&_include=Task:owner", bad: true},
		{raw: "_summary=text&_revinclude=Provenance:target", bad: true},
		{raw: "_summary=true&_include=Task:owner", summary: subset.True},
	}
	for _, tt := range tests {
		q, err := ParseQuery("Task", tt.raw, tt.strict)
		if tt.bad {
			if outcome.KindOf(err) != outcome.Invalid {
				t.Errorf("ParseQuery(%q) = %v, want a 400", tt.raw, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.raw, err)
			continue
		}
		if q.View.Summary != tt.summary || !slices.Equal(q.View.Elements, tt.elements) || len(q.Warnings) != tt.warns {
			t.Errorf("ParseQuery(%q) view %v, warnings %q; want %v %q and %d warnings", tt.raw, q.View, q.Warnings, tt.summary, tt.elements, tt.warns)
		}
	}
}

// TestParseView: a read takes _summary and _elements as a search does,
// and nothing else of its query; _summary=count is a search's.
func TestParseView(t *testing.T) {
	t.Parallel()
	v, warns, err := ParseView("Observation", "_elements=value,colour&status=final&_pretty=true", false)
	if err != nil || !slices.Equal(v.Elements, []string{"value[x]"}) || len(warns) != 1 {
		t.Errorf("ParseView = %v %q %v, want value[x] and a warning", v, warns, err)
	}
	if _, _, err := ParseView("Observation", "_elements=value,colour", true); outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("strict, unknown element: %v, want a 400", err)
	}
	for _, raw := range []string{"_summary=count", "_summary=%zz", "_summary=text&_elements=code"} {
		if _, _, err := ParseView("Observation", raw, false); outcome.KindOf(err) != outcome.Invalid {
			t.Errorf("ParseView(%q) = %v, want a 400", raw, err)
		}
	}
	if v, _, err := ParseView("Observation", "", false); err != nil || !v.Whole() {
		t.Errorf("no parameter: %v %v, want the whole resource", v, err)
	}
}
