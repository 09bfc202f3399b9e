package api_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
)

// TestRouteSkipsNurseAtCapacity: two nurses cover Lille; the first by
// reference takes one open Task at a time (open-task-capacity 1). She
// gets the first patient's discharge; for the second patient's she is
// skipped, the next nurse is chosen, and the system caller reads why on
// the Task.
func TestRouteSkipsNurseAtCapacity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if err := pathways.Load(context.Background(), e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	const territory = `"extension":[{"url":"https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division","extension":[` +
		`{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR","code":"2"}]}},` +
		`{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G09-DepartementOM/FHIR/TRE-G09-DepartementOM","code":"59"}]}}]}]`
	nurse := func(id string, capacity int) string {
		return fmt.Sprintf(`{"resourceType":"PractitionerRole","id":%q,"active":true,"organization":{"reference":"Organization/cabinet"},`+
			`"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}],`+
			`"extension":[{"url":%q,"valueUnsignedInt":%d}]}`, id, directory.ExtOpenTaskCapacity, capacity)
	}
	for _, w := range [][2]string{
		{"/fhir/Organization/chu", `{"resourceType":"Organization","id":"chu","active":true,"name":"CHU"}`},
		{"/fhir/Organization/cabinet", `{"resourceType":"Organization","id":"cabinet","active":true,"name":"Cabinet",` + territory + `}`},
		{"/fhir/PractitionerRole/nurse-a", nurse("nurse-a", 1)},
		{"/fhir/PractitionerRole/nurse-b", nurse("nurse-b", 3)},
	} {
		if r := e.do("PUT", w[0], w[1]); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", w[0], r.status, r.body)
		}
	}
	route := func(p string) resp {
		t.Helper()
		e.do("PUT", "/fhir/Patient/"+p, `{"resourceType":"Patient","id":"`+p+`","birthDate":"1940-01-01","address":[{"city":"Lille","postalCode":"59000","country":"FR"}]}`)
		e.do("PUT", "/fhir/Encounter/stay-"+p, `{"resourceType":"Encounter","id":"stay-`+p+`","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/`+p+`"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-03-05T10:00:00Z"}}`)
		r := e.do("POST", "/fhir/Encounter/stay-"+p+"/$route", "")
		if r.status != 200 {
			t.Fatalf("route %s: %d %s", p, r.status, r.body)
		}
		return r
	}
	owned := func(role, patient string) []byte {
		t.Helper()
		r := e.do("GET", "/fhir/Task?owner=PractitionerRole/"+role+"&patient=Patient/"+patient, "")
		if n, _ := ids(t, r.body); n != 1 {
			t.Fatalf("%s's Tasks for %s: %d, want 1: %s", role, patient, n, r.body)
		}
		return r.body
	}
	route("p1")
	owned("nurse-a", "p1")
	route("p2")
	task := owned("nurse-b", "p2")
	for _, want := range []string{"PractitionerRole/nurse-a (at capacity: 1 open Tasks of 1)", "0 open Tasks of 3"} {
		if !bytes.Contains(task, []byte(want)) {
			t.Errorf("the second Task does not explain %q: %s", want, task)
		}
	}
}
