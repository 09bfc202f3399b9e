package api_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/relais-health/relais/gateway/pathways"
)

// TestRouteStay: $route?preview=true answers the plan and writes nothing;
// $route writes it once; a professional's token may not route.
func TestRouteStay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if err := pathways.Load(context.Background(), e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	e.do("PUT", "/fhir/Organization/chu", `{"resourceType":"Organization","id":"chu","active":true,"name":"CHU"}`)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","birthDate":"1940-01-01","address":[{"city":"Lille","postalCode":"59000","country":"FR"}]}`)
	e.do("PUT", "/fhir/Encounter/e1", `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-03-05T10:00:00Z"}}`)
	tasks := func() int { return countOf(e, "Task") }
	r := e.do("POST", "/fhir/Encounter/e1/$route?preview=true", "")
	if r.status != 200 || !bytes.Contains(r.body, []byte("older-person")) || !bytes.Contains(r.body, []byte(`"collection"`)) || tasks() != 0 {
		t.Fatalf("preview: %d %s (%d Tasks stored)", r.status, r.body, tasks())
	}
	r = e.do("POST", "/fhir/Encounter/e1/$route", "")
	if r.status != 200 || tasks() == 0 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	n := tasks()
	if r := e.do("POST", "/fhir/Encounter/e1/$route", ""); r.status != 200 || tasks() != n {
		t.Errorf("routing again: %d, %d Tasks then %d", r.status, n, tasks())
	}
	if r := e.do("POST", "/fhir/Encounter/e1/$route", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("a professional routes: %d", r.status)
	}
	if r := e.do("POST", "/fhir/Encounter/nothing/$route", ""); r.status != 404 {
		t.Errorf("an absent stay: %d", r.status)
	}
}
