package api_test

import (
	"strings"
	"testing"
)

// TestNegotiation: the FHIR routes answer R4 JSON only (R4 http.html
// 3.1.0.1.10): an Accept or a _format that admits no JSON, or a
// fhirVersion other than 4.0, is a 406; a body of another FHIR version a
// 415; either way an OperationOutcome in JSON, whatever was asked for.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Task/t1", `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`); r.status != 201 {
		t.Fatalf("PUT Task/t1 = %d %s", r.status, r.body)
	}
	task := `{"resourceType":"Task","status":"requested","intent":"order"}`
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
	}{
		{"no Accept", "GET", "/fhir/Task/t1", "", nil, 200},
		{"Accept */*", "GET", "/fhir/Task/t1", "", []string{"Accept", "*/*"}, 200},
		{"Accept application/*", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/*"}, 200},
		{"Accept FHIR JSON 4.0", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/fhir+json; fhirVersion=4.0"}, 200},
		{"Accept a browser's", "GET", "/fhir/Task/t1", "", []string{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, 200},
		{"Accept XML or JSON", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/fhir+xml, application/json;q=0.5"}, 200},
		{"Accept FHIR 3.0 or 4.0", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/fhir+json; fhirVersion=3.0, application/fhir+json; fhirVersion=4.0"}, 200},
		{"_format json", "GET", "/fhir/Task?_format=json", "", []string{"Accept", "application/fhir+xml"}, 200},
		{"_format FHIR JSON", "GET", "/fhir/Task/t1?_format=application/fhir%2Bjson", "", nil, 200},
		{"Content-Type FHIR 4.0", "POST", "/fhir/Task", task, []string{"Content-Type", "application/fhir+json; fhirVersion=4.0"}, 201},
		{"Accept FHIR XML", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/fhir+xml"}, 406},
		{"Accept turtle", "GET", "/fhir/Task", "", []string{"Accept", "text/turtle"}, 406},
		{"Accept FHIR JSON 3.0", "GET", "/fhir/Task/t1", "", []string{"Accept", "application/fhir+json; fhirVersion=3.0"}, 406},
		{"Accept JSON refused", "GET", "/fhir/Task/t1", "", []string{"Accept", "*/*, application/fhir+json;q=0, application/json;q=0"}, 406},
		{"_format xml", "GET", "/fhir/Task/t1?_format=xml", "", nil, 406},
		{"_format xml over an Accept of JSON", "GET", "/fhir/Task?_format=xml", "", []string{"Accept", "application/fhir+json"}, 406},
		{"_format FHIR JSON 3.0", "GET", "/fhir/Task/t1?_format=application/fhir%2Bjson%3BfhirVersion=3.0", "", nil, 406},
		{"metadata as XML", "GET", "/fhir/metadata", "", []string{"Accept", "application/fhir+xml"}, 406},
		{"Content-Type FHIR 3.0", "POST", "/fhir/Task", task, []string{"Content-Type", "application/fhir+json; fhirVersion=3.0"}, 415},
		{"refused before the read", "GET", "/fhir/Task/no-such", "", []string{"Accept", "application/fhir+xml"}, 406},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Fatalf("%s %s = %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.status >= 400 && r.json(t)["resourceType"] != "OperationOutcome" {
				t.Errorf("refusal is not an OperationOutcome: %s", r.body)
			}
		})
	}
	// Outside /fhir nothing is negotiated: the admin reports are plain JSON.
	if r := e.do("GET", "/admin/write-policy", "", "Accept", "text/html"); r.status != 200 {
		t.Errorf("GET /admin/write-policy with Accept text/html = %d", r.status)
	}
}
