package category

import (
	"slices"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
)

func TestLabel(t *testing.T) {
	p := &ppb.Patient{}
	if got := Effective(p); !slices.Equal(got, []Code{ADM}) {
		t.Errorf("Effective(unlabelled Patient) = %v, want [ADM]", got)
	}
	Label(p)
	Label(p) // idempotent
	if got := Of(p); !slices.Equal(got, []Code{ADM}) {
		t.Errorf("Of after Label() = %v", got)
	}

	o := &obspb.Observation{}
	Label(o, FUNC, SOC, FUNC)
	LabelSensitive(o, PSY, PSY)
	if got := Of(o); !slices.Equal(got, []Code{FUNC, SOC}) {
		t.Errorf("Of = %v, want [FUNC SOC]", got)
	}
	if got := SensitivityOf(o); !slices.Equal(got, []Sensitivity{PSY}) {
		t.Errorf("SensitivityOf = %v", got)
	}
	Label(o) // has labels already: no default added
	if got := Of(o); len(got) != 2 {
		t.Errorf("default label added to a labelled resource: %v", got)
	}
}

func TestDefault(t *testing.T) {
	for typ, want := range map[string]Code{
		"Patient": ADM, "Encounter": ADM, "Condition": CLIN, "MedicationRequest": MED,
		"Task": ORD, "CarePlan": ORD, "QuestionnaireResponse": FUNC, "Questionnaire": CLIN,
	} {
		if got := Default(typ); got != want {
			t.Errorf("Default(%s) = %s, want %s", typ, got, want)
		}
	}
}

func TestCoding(t *testing.T) {
	want := &dtpb.Coding{System: &dtpb.Uri{Value: System}, Code: &dtpb.Code{Value: "SOC"}, Display: &dtpb.String{Value: Display[SOC]}}
	if got := SOC.Coding(); !proto.Equal(got, want) {
		t.Errorf("SOC.Coding() = %v", got)
	}
	want = &dtpb.Coding{System: &dtpb.Uri{Value: ActCode}, Code: &dtpb.Code{Value: "PSY"}}
	if got := PSY.Coding(); !proto.Equal(got, want) {
		t.Errorf("PSY.Coding() = %v", got)
	}
}

// TestLabelContentCarePlan: a plan that instantiates a pathway or names
// the conditions it addresses states clinical data; a bare plan of orders
// does not.
func TestLabelContentCarePlan(t *testing.T) {
	for _, c := range []struct {
		name string
		plan *cppb.CarePlan
		want []Code
	}{
		{"bare", &cppb.CarePlan{}, nil},
		{"pathway", &cppb.CarePlan{InstantiatesCanonical: []*dtpb.Canonical{{Value: "https://example.org/PlanDefinition/heart-failure"}}}, []Code{ORD, CLIN}},
		{"addresses", &cppb.CarePlan{Addresses: []*dtpb.Reference{{}}}, []Code{ORD, CLIN}},
	} {
		LabelContent(c.plan)
		if got := Of(c.plan); !slices.Equal(got, c.want) {
			t.Errorf("%s: labels %v, want %v", c.name, got, c.want)
		}
	}
}
