package subset_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	annotations "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/subset"
)

// observation has elements of every kind: summary (status, code,
// valueQuantity), not (text, category, interpretation, referenceRange),
// a backbone element in the summary with children that are not
// (component.interpretation) and a primitive's extensions (_status).
const observation = `{"resourceType":"Observation","id":"o1",` +
	`"meta":{"versionId":"2","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},` +
	`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">BP</div>"},` +
	`"status":"final","_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},` +
	`"category":[{"text":"vital-signs"}],"code":{"text":"BP"},"subject":{"reference":"Patient/p1"},` +
	`"valueQuantity":{"value":120},"interpretation":[{"text":"high"}],` +
	`"referenceRange":[{"text":"normal"}],` +
	`"component":[{"code":{"text":"systolic"},"valueQuantity":{"value":120},"interpretation":[{"text":"high"}]},` +
	`{"code":{"text":"diastolic"},"interpretation":[{"text":"normal"}]}]}`

const tagged = `"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED","display":"subsetted"}]`

const meta = `"meta":{"versionId":"2","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}],` + tagged + `}`

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, in string
		view          subset.View
		want          string
	}{
		{"summary true", "Observation", observation, subset.View{Summary: subset.True},
			`{"resourceType":"Observation","id":"o1",` + meta + `,` +
				`"status":"final","_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},` +
				`"code":{"text":"BP"},"subject":{"reference":"Patient/p1"},"valueQuantity":{"value":120},` +
				`"component":[{"code":{"text":"systolic"},"valueQuantity":{"value":120}},{"code":{"text":"diastolic"}}]}`},
		{"summary text", "Observation", observation, subset.View{Summary: subset.Text},
			`{"resourceType":"Observation","id":"o1",` + meta + `,` +
				`"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">BP</div>"},` +
				`"status":"final","_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},"code":{"text":"BP"}}`},
		{"summary data", "Observation", observation, subset.View{Summary: subset.Data},
			strings.Replace(strings.Replace(observation, `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">BP</div>"},`, "", 1),
				`"meta":{"versionId":"2","security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}`, meta, 1)},
		{"elements", "Observation", observation, subset.View{Elements: []string{"value[x]", "interpretation"}},
			`{"resourceType":"Observation","id":"o1",` + meta + `,` +
				`"status":"final","_status":{"extension":[{"url":"http://example.org/x","valueString":"y"}]},` +
				`"code":{"text":"BP"},"valueQuantity":{"value":120},"interpretation":[{"text":"high"}]}`},
		// A modifier is kept though not asked for: it changes what the
		// rest means (Patient.active).
		{"elements keep modifiers", "Patient", `{"resourceType":"Patient","id":"p","meta":{"versionId":"1"},"active":false,"gender":"female","birthDate":"1950"}`,
			subset.View{Elements: []string{"gender"}},
			`{"resourceType":"Patient","id":"p","meta":{"versionId":"1",` + tagged + `},"active":false,"gender":"female"}`},
		// The summary of a document reference leaves the document out
		// (Attachment.data is not in the summary) and keeps what it is.
		{"attachment data", "DocumentReference",
			`{"resourceType":"DocumentReference","id":"d","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"aGVsbG8=","title":"letter"}}]}`,
			subset.View{Summary: subset.True},
			`{"resourceType":"DocumentReference","id":"d","meta":{` + tagged + `},"status":"current","content":[{"attachment":{"contentType":"text/plain","title":"letter"}}]}`},
		// Nothing cut: the resource as it is, not tagged.
		{"nothing cut", "Patient", `{"resourceType":"Patient","id":"p","meta":{"versionId":"1"},"gender":"female"}`,
			subset.View{Summary: subset.Data}, `{"resourceType":"Patient","id":"p","meta":{"versionId":"1"},"gender":"female"}`},
		{"whole", "Observation", observation, subset.View{}, observation},
		// Tagged once, after the tags it has.
		{"tagged already", "Patient", `{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]},"text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}}`,
			subset.View{Summary: subset.Data},
			`{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}]}}`},
		{"other tags", "Patient", `{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"}]},"photo":[{"contentType":"image/png"}]}`,
			subset.View{Summary: subset.True},
			`{"resourceType":"Patient","id":"p","meta":{"tag":[{"code":"a"},` + tagged[len(`"tag":[`):] + `}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.view.Apply(tt.typ, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestApplyIncluded: _elements names the search's type's elements and
// leaves included resources whole; the summary applies to them.
func TestApplyIncluded(t *testing.T) {
	t.Parallel()
	v := subset.View{Summary: subset.Full, Elements: []string{"status"}}
	if got := v.Included(); !got.Whole() {
		t.Errorf("Included() of %v = %v, want whole", v, got)
	}
	v = subset.View{Summary: subset.True}
	if got := v.Included(); got.Summary != subset.True || got.Elements != nil {
		t.Errorf("Included() of %v = %v", v, got)
	}
}

func TestElement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, name, want string
		ok              bool
	}{
		{"Observation", "status", "status", true},
		{"Observation", "value", "value[x]", true},
		{"Observation", "value[x]", "value[x]", true},
		{"Observation", "valueQuantity", "value[x]", true},
		{"Observation", "valueAttachment", "", false}, // not one of its types
		{"Observation", "colour", "", false},
		{"Observation", "component.code", "", false}, // top level only
		{"Observation", "_status", "", false},
		{"Observation", "resourceType", "", false},
		{"Encounter", "class", "class", true},
		{"Bundle", "link", "link", true},
		{"Nothing", "id", "", false},
	}
	for _, tt := range tests {
		if got, ok := subset.Element(tt.typ, tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("Element(%s, %s) = %q, %v, want %q, %v", tt.typ, tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTableMatchesProtos: the table names every element the codec holds
// at the top level of every type, and nothing else; what it says is
// mandatory is what the protos require (REQUIRED_BY_FHIR), so that no view
// drops an element without which the resource is invalid.
func TestTableMatchesProtos(t *testing.T) {
	t.Parallel()
	for _, typ := range resource.Types() {
		m, err := resource.New(typ)
		if err != nil {
			t.Fatal(err)
		}
		fields := m.ProtoReflect().Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			name := f.JSONName()
			el, ok := subset.Element(typ, name)
			if !ok {
				t.Errorf("%s.%s: not in the table", typ, name)
				continue
			}
			required := proto.GetExtension(f.Options(), annotations.E_ValidationRequirement) == annotations.Requirement_REQUIRED_BY_FHIR
			if subset.Mandatory(typ, el) != required && !strings.HasSuffix(el, "[x]") {
				t.Errorf("%s.%s: mandatory %v, the protos say required %v", typ, el, !required, required)
			}
		}
	}
}

// TestViewsOfExamples: every view of every R4 example of the corpus is a
// valid resource: the codec reads it (required elements, primitives) and,
// with RELAIS_VALIDATE (as make test sets it), so does the independent
// validator; every view but the whole is tagged SUBSETTED when it cut
// something.
func TestViewsOfExamples(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	files, err := filepath.Glob("../../../shared/corpus/fhir/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	out := t.TempDir()
	views := map[string]subset.View{
		"true": {Summary: subset.True}, "text": {Summary: subset.Text}, "data": {Summary: subset.Data},
		"elements": {Elements: []string{"identifier", "subject", "patient"}},
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		stored, err := c.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		typ := resource.Type(m)
		for name, v := range views {
			got, err := v.Apply(typ, stored)
			if err != nil {
				t.Fatalf("%s %s: %v", f, name, err)
			}
			if _, err := c.Decode(got); err != nil {
				t.Errorf("%s, _summary/_elements %s: the view is not a valid %s: %v\n%s", filepath.Base(f), name, typ, err, got)
			}
			var probe struct {
				Meta struct {
					Tag []struct{ System, Code string }
				}
			}
			if err := json.Unmarshal(got, &probe); err != nil {
				t.Fatal(err)
			}
			isTagged := len(probe.Meta.Tag) > 0 && probe.Meta.Tag[len(probe.Meta.Tag)-1].Code == subset.SubsettedCode
			if cut := len(got) != len(stored); cut != isTagged {
				t.Errorf("%s %s: cut %v, tagged SUBSETTED %v", filepath.Base(f), name, cut, isTagged)
			}
			dst := filepath.Join(out, name+"-"+filepath.Base(f))
			if err := os.WriteFile(dst, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if os.Getenv("RELAIS_VALIDATE") != "" {
		fhirtest.RunValidator(t, out)
	}
}

func TestParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    subset.View
		want string
	}{
		{subset.View{}, ""},
		{subset.View{Summary: subset.Data}, "_summary=data"},
		{subset.View{Elements: []string{"status", "value[x]"}}, "_elements=status,value"},
	}
	for _, tt := range tests {
		if got := tt.v.Params(); got != tt.want {
			t.Errorf("%v.Params() = %q, want %q", tt.v, got, tt.want)
		}
	}
}
