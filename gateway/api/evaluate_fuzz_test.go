package api

import (
	"testing"

	"github.com/relais-health/relais/fhir/codec"
)

// FuzzEvaluateParameters: any body posted to $evaluate is a request or an
// error, never a panic; a parameter that is read has one of its own types,
// so an answer never silently falls back on a default the caller did not
// choose.
func FuzzEvaluateParameters(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/social"}},{"name":"resourceType","valueCode":"Observation"},{"name":"code","valueCoding":{"system":"http://loinc.org","code":"63512-8"}},{"name":"date","valueDate":"2014-06"}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"purpose","valueCode":"ETREAT"},{"name":"action","valueCode":"disclose"},{"name":"explain","valueBoolean":true}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"code","valueCodeableConcept":{"coding":[{"system":"s","code":"c"}]}},{"name":"date","valueDateTime":"2026-11-20T10:00:00+01:00"}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"consent","resource":{"resourceType":"Consent","status":"active","patient":{"reference":"Patient/p1"},"provision":{"type":"deny"}}}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"securityLabel","valueString":"PSY"}]}`,
	} {
		f.Add([]byte(s))
	}
	a := &API{codec: codec.MustNew()}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, embedded, err := a.decodeParameters(body)
		if err != nil {
			return
		}
		req, _, err := readEvaluation(in, embedded)
		if err != nil {
			return
		}
		for _, p := range in.GetParameter() {
			if want, ok := evaluateTypes[p.GetName().GetValue()]; ok && !valueIs(p.GetValue(), want) {
				t.Errorf("%s read from a value of another type", p.GetName().GetValue())
			}
		}
		if req.Action == "" || req.Purpose == "" {
			t.Errorf("action %q purpose %q", req.Action, req.Purpose)
		}
	})
}
