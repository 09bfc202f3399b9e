package cda

import (
	"testing"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

func ofType[T proto.Message](b *bcrpb.Bundle) []T {
	var out []T
	for _, e := range b.Entry {
		if r, ok := resource.Unwrap(e.Resource).(T); ok {
			out = append(out, r)
		}
	}
	return out
}

// TestLDLSESFollowUp checks the "Suites à donner" entries: each becomes a
// ServiceRequest with its code, timing and performer type.
func TestLDLSESFollowUp(t *testing.T) {
	t.Parallel()
	b := convertFile(t, "testdata/cisis-ldl-ses.xml")
	want := map[string]struct{ code, g15 string }{
		"SUITE-ACTE-1": {"DZQM006", "10"},
		"SUITE-DEM-1":  {"ORG-064", "60"},
		"SUITE-RENC-1": {"AMB", "10"},
	}
	srs := ofType[*srpb.ServiceRequest](b)
	if len(srs) != len(want) {
		t.Fatalf("%d ServiceRequests, want %d", len(srs), len(want))
	}
	for _, sr := range srs {
		w, ok := want[sr.Identifier[0].Value.Value]
		if !ok {
			t.Errorf("unexpected ServiceRequest %v", sr.Identifier)
			continue
		}
		if sr.Code.Coding[0].Code.Value != w.code || sr.Code.Text == nil {
			t.Errorf("%s: code %v", sr.Identifier[0].Value.Value, sr.Code)
		}
		if sr.Occurrence == nil {
			t.Errorf("%s: no timing", sr.Identifier[0].Value.Value)
		}
		g15 := ""
		for _, c := range sr.PerformerType.GetCoding() {
			if c.System.Value == terminology.TREG15 {
				g15 = c.Code.Value
			}
		}
		if g15 != w.g15 {
			t.Errorf("%s: performer type G15 %q, want %q", sr.Identifier[0].Value.Value, g15, w.g15)
		}
	}
}

func TestLDLSESHeader(t *testing.T) {
	t.Parallel()
	b := convertFile(t, "testdata/cisis-ldl-ses.xml")
	p := ofType[*ppb.Patient](b)[0]
	if id := p.Identifier[0]; id.System.Value != terminology.INSNIRTest || id.Type.Coding[0].Code.Value != "INS-NIR-TEST" {
		t.Errorf("INS identifier = %v", id)
	}
	if len(p.Name) != 2 || p.Name[0].Family.Value != "MARTIN" || p.Name[1].Family.Value != "DURAND" {
		t.Errorf("birth and used names = %v", p.Name)
	}
	if len(p.GeneralPractitioner) != 1 || len(p.Extension) != 1 || len(p.Contact) != 1 {
		t.Errorf("GP %v, birthplace %v, contacts %v", p.GeneralPractitioner, p.Extension, p.Contact)
	}
	// The médecin traitant is the person the letter identifies, whom her
	// directory role and her tokens name too; not the role made from the
	// letter's own context.
	if gp := p.GetGeneralPractitioner(); len(gp) == 1 && gp[0].GetPractitionerId() == nil {
		t.Errorf("GP %v: want her Practitioner", gp[0])
	}
	e := ofType[*encpb.Encounter](b)[0]
	if e.Hospitalization.GetDischargeDisposition().GetCoding()[0].GetCode().GetValue() != "GEN-092.01" {
		t.Errorf("discharge disposition = %v", e.Hospitalization)
	}
	comp := ofType[*comppb.Composition](b)[0]
	if len(comp.Section) != 9 || len(comp.Attester) != 1 || comp.Custodian == nil {
		t.Errorf("composition: %d sections, attesters %v, custodian %v", len(comp.Section), comp.Attester, comp.Custodian)
	}
	for _, s := range comp.Section {
		if s.Text == nil {
			t.Errorf("section %q lost its narrative", s.Title.GetValue())
		}
	}
}

// TestCRBIOResults checks the results of a CI-SIS CR-BIO: the XD-LAB
// Laboratory Report Data Processing Entry wraps them in an act whose
// templateId is on the entry; each is a laboratory Observation with its
// value, interpretation and reference range, a battery a panel of them.
func TestCRBIOResults(t *testing.T) {
	t.Parallel()
	b := convertFile(t, "testdata/cisis-cr-bio.xml")
	byCode := map[string]*obspb.Observation{}
	for _, o := range ofType[*obspb.Observation](b) {
		byCode[o.GetCode().GetCoding()[0].GetCode().GetValue()] = o
		if cat := o.GetCategory(); len(cat) != 1 || cat[0].GetCoding()[0].GetCode().GetValue() != "laboratory" {
			t.Errorf("%s: category %v, want laboratory", o.GetCode().GetCoding()[0].GetCode().GetValue(), cat)
		}
	}
	gly := byCode["14749-6"]
	if gly == nil {
		t.Fatalf("no glucose result among %d Observations", len(byCode))
	}
	if gly.GetValue().GetQuantity().GetValue().GetValue() != "7.8" || gly.GetInterpretation()[0].GetCoding()[0].GetCode().GetValue() != "H" || len(gly.GetReferenceRange()) != 1 {
		t.Errorf("glucose = %v", gly)
	}
	if panel := byCode["24326-1"]; len(panel.GetHasMember()) != 2 || byCode["2951-2"] == nil || byCode["2823-3"] == nil {
		t.Errorf("battery %v, members %v %v", panel, byCode["2951-2"], byCode["2823-3"])
	}
	if len(ofType[*procpb.Procedure](b)) != 1 {
		t.Errorf("the specimen collection is not a Procedure")
	}
}
