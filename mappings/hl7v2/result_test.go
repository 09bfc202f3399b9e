package hl7v2

import (
	"testing"

	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	docpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// TestResults: an ORU^R01 gives one DiagnosticReport per OBR listing the
// Observations of its OBX, every one labelled CLIN, with the values read
// by their type.
func TestResults(t *testing.T) {
	t.Parallel()
	c := convert(t, "testdata/oru-r01-values.hl7", testOptions())
	dr := one[*drpb.DiagnosticReport](t, c)
	obs := resources[*obspb.Observation](c)
	if len(dr.Result) != len(obs) || len(obs) != 10 {
		t.Fatalf("%d results listed, %d Observations, want 10", len(dr.Result), len(obs))
	}
	if got := dr.GetStatus().GetValue().String(); got != "FINAL" {
		t.Errorf("report status %s, want FINAL (OBR-25 F)", got)
	}
	if dr.GetIssued() == nil || dr.GetEffective().GetDateTime() == nil {
		t.Error("report without issued (OBR-22) or effective (OBR-7)")
	}
	byCode := map[string]*obspb.Observation{}
	for _, o := range obs {
		byCode[o.Code.Coding[0].Code.Value] = o
	}
	for _, tc := range []struct {
		code string
		ok   func(*obspb.Observation) bool
	}{
		{"2093-3", func(o *obspb.Observation) bool { // NM, UCUM, range, flag H, note
			q := o.GetValue().GetQuantity()
			r := o.GetReferenceRange()
			return q.GetValue().GetValue() == "2.45" && q.GetSystem().GetValue() == "http://unitsofmeasure.org" &&
				len(r) == 1 && r[0].GetLow().GetValue().GetValue() == "1.50" && r[0].GetHigh().GetValue().GetValue() == "2.00" &&
				o.Interpretation[0].Coding[0].Code.Value == "H" && len(o.Note) == 1
		}},
		{"2571-8", func(o *obspb.Observation) bool { // SN with comparator
			return o.GetValue().GetQuantity().GetComparator().GetValue().String() == "LESS_THAN"
		}},
		{"5048-4", func(o *obspb.Observation) bool { // SN ratio
			return o.GetValue().GetRatio().GetDenominator().GetValue().GetValue() == "160"
		}},
		{"2339-0", func(o *obspb.Observation) bool { // SN range, OBX-11 C
			return o.GetValue().GetRange().GetHigh().GetValue().GetValue() == "1.05" && o.Status.Value.String() == "CORRECTED"
		}},
		{"882-1", func(o *obspb.Observation) bool { return o.GetValue().GetCodeableConcept() != nil }},
		{"18769-0", func(o *obspb.Observation) bool {
			return o.GetValue().GetStringValue().GetValue() == "Pas de croissance à 48 heures.\nCulture à poursuivre."
		}},
		{"11778-8", func(o *obspb.Observation) bool { return o.GetValue().GetDateTime() != nil }},
		{"33882-2", func(o *obspb.Observation) bool { return o.GetValue().GetDateTime() != nil }},
		{"11475-1", func(o *obspb.Observation) bool { return o.Interpretation[0].Coding[0].Code.Value == "POS" }},
	} {
		o := byCode[tc.code]
		if o == nil || !tc.ok(o) {
			t.Errorf("Observation %s not mapped as expected: %v", tc.code, o)
		}
	}
	for _, o := range obs {
		if cats := category.Of(o); len(cats) != 1 || cats[0] != category.CLIN {
			t.Errorf("Observation %s labelled %v, want CLIN", o.Id.Value, cats)
		}
	}
	if cats := category.Of(dr); len(cats) != 1 || cats[0] != category.CLIN {
		t.Errorf("DiagnosticReport labelled %v, want CLIN", cats)
	}
	// Sent again, the same report and results are updated, not added.
	again := convert(t, "testdata/oru-r01-values.hl7", testOptions())
	if resource.ID(one[*drpb.DiagnosticReport](t, again)) != dr.Id.Value {
		t.Error("the same OBR gave another DiagnosticReport id")
	}
}

// TestResultDocument: an ORU^R01 of the CI-SIS volet "Transmission de
// documents CDA en HL7 v2" carries the laboratory's CDA report in an OBX
// of type ED, and DMP/MSSanté metadata in OBX coded MetaDMPMSS: the
// report is a DocumentReference (related to the OBR's DiagnosticReport)
// whose CDA goes through the CDA mapping, the metadata are no
// Observations, and MASQUE_PS Y labels the document and what it maps to R.
func TestResultDocument(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.EmbeddedCDA = stubCDA
	c := convert(t, "testdata/oru-r01-cda.hl7", opts)
	if obs := resources[*obspb.Observation](c); len(obs) != 0 {
		t.Errorf("%d Observations, want none: the OBX are a document and its metadata", len(obs))
	}
	dr := one[*drpb.DiagnosticReport](t, c)
	doc := one[*docpb.DocumentReference](t, c)
	if doc.GetContent()[0].GetAttachment().GetContentType().GetValue() != CDAContentType {
		t.Errorf("document content %v", doc.GetContent())
	}
	if rel := doc.GetContext().GetRelated(); len(rel) < 2 || resource.RefString(rel[0]) != "DiagnosticReport/"+dr.GetId().GetValue() {
		t.Errorf("document related %v: want the report, then the CDA's Composition", rel)
	}
	comp := one[*cmpb.Composition](t, c)
	for name, m := range map[string]proto.Message{"DocumentReference": doc, "Composition": comp} {
		if !hasSensitivity(m, category.R) {
			t.Errorf("%s not labelled R (MASQUE_PS Y)", name)
		}
	}
	if hasSensitivity(one[*ppb.Patient](t, c), category.R) {
		t.Error("the Patient is labelled R: only the masked document is")
	}
}

func hasSensitivity(m proto.Message, s category.Sensitivity) bool {
	for _, c := range resource.Meta(m).GetSecurity() {
		if c.GetSystem().GetValue() == s.System && c.GetCode().GetValue() == s.Code {
			return true
		}
	}
	return false
}
