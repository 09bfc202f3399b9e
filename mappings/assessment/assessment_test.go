package assessment

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
)

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func resources(r *bundle.Result) []proto.Message {
	var out []proto.Message
	for _, e := range r.Bundle.GetEntry() {
		out = append(out, resource.Unwrap(e.GetResource()))
	}
	return out
}

func TestDetect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Kind
		ok   bool
	}{
		{`{"type":"aggir"}`, KindAGGIR, true},
		{`{"type":"needs-assessment"}`, KindNeeds, true},
		{`{"resourceType":"QuestionnaireResponse"}`, KindQuestionnaireResponse, true},
		{`{"resourceType":"Patient"}`, KindUnknown, false},
		{`{"type":"pathos"}`, KindUnknown, false},
		{`{}`, KindUnknown, false},
		{`[1]`, KindUnknown, false},
	}
	for _, tt := range tests {
		got, err := Detect([]byte(tt.in))
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("Detect(%s) = %v, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, outcome.ErrInvalid) {
			t.Errorf("Detect(%s): error %v is not Invalid", tt.in, err)
		}
	}
}

// TestForcedKind: the CLI's --from aggir|assessment refuses the other kind.
func TestForcedKind(t *testing.T) {
	t.Parallel()
	opts := testOptions("")
	if _, err := ConvertAGGIR(read(t, "testdata/needs-minimal.json"), opts); !errors.Is(err, outcome.ErrInvalid) {
		t.Errorf("ConvertAGGIR(needs) = %v", err)
	}
	if _, err := ConvertNeeds(read(t, "testdata/aggir-variables.json"), opts); !errors.Is(err, outcome.ErrInvalid) {
		t.Errorf("ConvertNeeds(aggir) = %v", err)
	}
	if _, err := ConvertAGGIR(read(t, "testdata/tddui-qualifiers.json"), opts); err != nil {
		t.Errorf("ConvertAGGIR(TDDUI) = %v", err)
	}
}

// TestAGGIRLabelsAndCodes: every resource of an AGGIR Bundle is FUNC (the
// Patient and assessor ADM too), and the Observation carries MED-346 and
// the GIR code.
func TestAGGIRLabelsAndCodes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"aggir-variables", "tddui-qualifiers"} {
		res, err := Convert(read(t, "testdata/"+name+".json"), testOptions(name))
		if err != nil {
			t.Fatal(err)
		}
		var obs *obspb.Observation
		for _, m := range resources(res) {
			switch resource.Type(m) {
			case "Binary", "Device", "Provenance", "OperationOutcome":
				continue
			}
			want := []category.Code{category.FUNC}
			if typ := resource.Type(m); typ == "Patient" || typ == "Practitioner" {
				want = []category.Code{category.ADM, category.FUNC}
			}
			if cats := category.Of(m); !slices.Equal(cats, want) {
				t.Errorf("%s: %s labelled %v, want %v", name, resource.Type(m), cats, want)
			}
			if o, ok := m.(*obspb.Observation); ok {
				obs = o
			}
		}
		if got := obs.GetCode().GetCoding()[0].GetCode().GetValue(); got != CodeLossOfAutonomy {
			t.Errorf("%s: Observation code %s", name, got)
		}
		if got := obs.GetValue().GetCodeableConcept().GetCoding()[0].GetCode().GetValue(); girOfCode(got) == 0 {
			t.Errorf("%s: Observation value %s is not a GIR", name, got)
		}
	}
}

// TestNeedsServiceRequests: one ServiceRequest per need, with its service
// category, based on the CarePlan when one is given and not otherwise.
func TestNeedsServiceRequests(t *testing.T) {
	t.Parallel()
	in := read(t, "testdata/needs-full-careplan.json")
	for _, carePlan := range []string{"", "CarePlan/cp-1"} {
		opts := testOptions("")
		opts.CarePlan = carePlan
		res, err := ConvertNeeds(in, opts)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range resources(res) {
			sr, ok := m.(*srpb.ServiceRequest)
			if !ok {
				continue
			}
			n++
			need := sr.GetCode().GetCoding()[0].GetCode().GetValue()
			if got := sr.GetCategory()[0].GetCoding()[0].GetCode().GetValue(); got != ServiceCategoryOf(need) || got == "" {
				t.Errorf("%s: category %q", need, got)
			}
			based := len(sr.GetBasedOn()) > 0 && resource.RefString(sr.GetBasedOn()[0]) == carePlan
			if (carePlan != "") != based {
				t.Errorf("CarePlan %q: basedOn %v", carePlan, sr.GetBasedOn())
			}
			if cats := category.Of(sr); len(cats) != 1 || cats[0] != category.ORD {
				t.Errorf("ServiceRequest labelled %v", cats)
			}
		}
		if n != 8 {
			t.Errorf("%d ServiceRequests, want 8", n)
		}
	}
	if _, err := ConvertNeeds(in, Options{CarePlan: "Patient/1"}); err == nil {
		t.Error("a CarePlan option that is not CarePlan/<id> was accepted")
	}
}

// TestDeterministic: the same input gives the same Bundle; another date
// gives other ids.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, _, _ := convertFile(t, "testdata/aggir-transferts-b.json")
	b, _, _ := convertFile(t, "testdata/aggir-transferts-b.json")
	if string(a) != string(b) {
		t.Error("two conversions of the same input differ")
	}
	r1, _ := Convert(read(t, "testdata/aggir-transferts-b.json"), testOptions(""))
	r2, _ := Convert(read(t, "testdata/aggir-transferts-c.json"), testOptions(""))
	if resource.ID(resources(r1)[0]) != resource.ID(resources(r2)[0]) {
		t.Error("the same patient got two Patient ids")
	}
	if resource.ID(resources(r1)[2]) == resource.ID(resources(r2)[2]) {
		t.Error("two assessments share an Observation id")
	}
}

// TestSchemaExample: the example published beside the schema is valid.
func TestSchemaExample(t *testing.T) {
	t.Parallel()
	if _, err := Convert(read(t, filepath.Join("schema", "needs-assessment.example.json")), testOptions("")); err != nil {
		t.Fatal(err)
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	for want, loc := range map[string][]string{
		"$": nil, "needs[2].priority": {"needs", "2", "priority"}, "variables.transferts": {"variables", "transferts"},
	} {
		if got := fieldPath(loc); got != want {
			t.Errorf("fieldPath(%v) = %q", loc, got)
		}
	}
}
