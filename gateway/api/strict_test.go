package api_test

import (
	"bytes"
	"testing"
)

// TestStrictJSON: a body that parsers would silently alter (a repeated key,
// a lone surrogate escape) is refused with 400 and an OperationOutcome
// naming the element, and nothing is stored.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	tests := []struct {
		name, method, path, body, text string
	}{
		{"duplicate key", "POST", "/fhir/Patient",
			`{"resourceType":"Patient","name":[{"family":"Martin","family":"Durand"}]}`,
			`duplicate key \"family\" in a JSON object at Patient.name[0]`},
		{"lone surrogate", "PUT", "/fhir/Patient/p1",
			`{"resourceType":"Patient","id":"p1","name":[{"family":"Martin\ud800"}]}`,
			"lone UTF-16 surrogate"},
		{"duplicate key in a transaction entry", "POST", "/fhir",
			`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","active":true,"active":false},"request":{"method":"POST","url":"Patient"}}]}`,
			"Bundle.entry[0].resource"},
		// With an embedded resource, $evaluate rebuilds the body from maps,
		// which would drop the first list.
		{"duplicate parameter list in $evaluate", "POST", "/fhir/Consent/$evaluate",
			`{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}}],"parameter":[{"name":"resource","resource":{"resourceType":"Patient","id":"p1"}}]}`,
			`duplicate key \"parameter\"`},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, tt.body)
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400: %s", tt.name, r.status, r.body)
			continue
		}
		if !bytes.Contains(r.body, []byte(`"OperationOutcome"`)) || !bytes.Contains(r.body, []byte(tt.text)) {
			t.Errorf("%s: body lacks OperationOutcome %q: %s", tt.name, tt.text, r.body)
		}
		for _, v := range []string{"Martin", "Durand"} {
			if bytes.Contains(r.body, []byte(v)) {
				t.Errorf("%s: the outcome quotes a value: %s", tt.name, r.body)
			}
		}
	}
	if r := e.do("GET", "/fhir/Patient", ""); r.status != 200 || r.json(t)["total"] != 0.0 {
		t.Errorf("after refused writes, search = %d %s, want no Patient", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Patient/p1", ""); r.status != 404 {
		t.Errorf("refused update stored p1: %d", r.status)
	}
}
