package api_test

import (
	"strings"
	"testing"
)

// TestPDFLetterMakesTheStayADischarge: a stay that a later document
// recounts in its encounters section (a summary of the patient's history:
// R4 Composition.section.entry) is her history, not a discharge to hand
// over, unless a document is about it. Its discharge letter may come as a
// PDF (an HL7 v2 MDM whose OBX-5 ED carries application/pdf, or a FHIR
// DocumentReference: R4 DocumentReference.context.encounter, "describes
// the clinical encounter or type of care that the document content is
// associated with") as well as a CDA document (Composition.encounter): a
// letter about the stay makes it the stay it hands over, whatever carried
// it.
func TestPDFLetterMakesTheStayADischarge(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.discharge(stay{patient: "p-pdf", encounter: "e-pdf", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
	// a later stay's summary lists e-pdf among her earlier stays
	s.add(`{"resourceType":"Encounter","id":"e-later","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},` +
		`"subject":{"reference":"Patient/p-pdf"},"period":{"start":"2026-03-20T08:00:00Z"}}`)
	s.add(`{"resourceType":"Composition","id":"summary-later","status":"final","type":{"coding":[{"system":"http://loinc.org","code":"34133-9"}]},` +
		`"subject":{"reference":"Patient/p-pdf"},"encounter":{"reference":"Encounter/e-later"},"date":"2026-03-21T10:00:00Z",` +
		`"author":[{"reference":"` + scenHospital + `"}],"title":"Synthèse",` +
		`"section":[{"title":"Séjours antérieurs","code":{"coding":[{"system":"http://loinc.org","code":"46240-8"}]},"entry":[{"reference":"Encounter/e-pdf"}]}]}`)
	s.write()
	if r := s.do("POST", "/fhir/Encounter/e-pdf/$route?preview=true", ""); r.status != 422 {
		t.Fatalf("a stay only recounted: %d %s", r.status, r.body)
	}
	// its discharge letter, a PDF
	s.add(`{"resourceType":"DocumentReference","id":"ldl-pdf","status":"current","type":{"coding":[{"system":"http://loinc.org","code":"11490-0"}]},` +
		`"subject":{"reference":"Patient/p-pdf"},"date":"2026-03-05T11:00:00Z",` +
		`"content":[{"attachment":{"contentType":"application/pdf","data":"JVBERi0xLjQKJcfsj6IK"}}],` +
		`"context":{"encounter":[{"reference":"Encounter/e-pdf"}]}}`)
	s.write()
	r := s.do("POST", "/fhir/Encounter/e-pdf/$route", "")
	if r.status != 200 || !strings.Contains(string(r.body), "heart-failure") {
		t.Fatalf("the stay its letter is about: %d %s", r.status, r.body)
	}
}
