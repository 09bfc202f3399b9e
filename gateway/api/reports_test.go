package api_test

import (
	"strings"
	"testing"
)

// TestReportsAndSourcesDecidedByConsent: a DiagnosticReport (its subject)
// and a source Binary (the patient its securityContext names, R4
// Binary.securityContext) are decided as the patient's other data: her GP
// reads them, and finds the report by patient; a professional outside her
// care gets what an absent one gets. Unindexed, consent could tell no
// one's from another's, and only a system caller read them.
func TestReportsAndSourcesDecidedByConsent(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	for path, body := range map[string]string{
		"/fhir/DiagnosticReport/dr1": `{"resourceType":"DiagnosticReport","id":"dr1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}]},"subject":{"reference":"Patient/p1"},"result":[{"reference":"Observation/o-clin"}]}`,
		"/fhir/Binary/b1":            `{"resourceType":"Binary","id":"b1","contentType":"application/hl7-cda+xml","securityContext":{"reference":"Patient/p1"},"data":"PENsaW5pY2FsRG9jdW1lbnQvPg=="}`,
	} {
		if r := e.do("PUT", path, body); r.status != 201 {
			t.Fatalf("PUT %s = %d %s", path, r.status, r.body)
		}
	}
	gp, stranger := e.as("PractitionerRole/gp"), e.as("PractitionerRole/physio-elsewhere")
	for _, path := range []string{"/fhir/DiagnosticReport/dr1", "/fhir/Binary/b1"} {
		if r := e.do("GET", path, "", "Authorization", gp, "Accept", "application/fhir+json"); r.status != 200 {
			t.Errorf("the GP reads %s: %d %.200s", path, r.status, r.body)
		}
		hidden := e.do("GET", path, "", "Authorization", stranger, "Accept", "application/fhir+json")
		absent := e.do("GET", path+"-none", "", "Authorization", stranger, "Accept", "application/fhir+json")
		if hidden.status != 404 || absent.status != 404 {
			t.Errorf("a stranger reads %s: %d (an absent one: %d)", path, hidden.status, absent.status)
		}
	}
	if r := e.do("GET", "/fhir/DiagnosticReport?patient=p1", "", "Authorization", gp); !strings.Contains(string(r.body), `"id":"dr1"`) {
		t.Errorf("the GP's search of her patient's reports: %d %.300s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/DiagnosticReport?patient=p1", "", "Authorization", stranger); strings.Contains(string(r.body), `"id":"dr1"`) {
		t.Errorf("a stranger finds the report: %.300s", r.body)
	}
}
