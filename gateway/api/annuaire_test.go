package api_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
)

// TestRouteAnnuaireSante: a directory exported from the Annuaire Santé
// (testdata/annuaire-sante.json, shaped after the ANS Annuaire Santé IG's
// AsOrganizationProfile, AsPractitionerProfile and
// AsPractitionerRoleProfile) states each professional's profession and
// specialty in Practitioner.qualification (slices exercicePro: TRE_G15;
// savoirFaire: TRE_R38) and her situation in PractitionerRole.code
// (TRE_R21 fonction, TRE_R22 genre d'activité, TRE_R23 mode d'exercice).
// A hip replacement discharged in Lille is previewed to its nurse, its
// physiotherapist and its GP, and each, a health professional, may be
// asked under the base policy (no permit needed). Routed, the nurse
// accepts her Task with her own token: she is a health professional by
// her Practitioner's profession (the write policy lets health
// professionals update Tasks).
func TestRouteAnnuaireSante(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	ctx := context.Background()
	if err := pathways.Load(ctx, e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/annuaire-sante.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s, err := directory.Import(ctx, e.store, testCodec, f, nil); err != nil || s.Created != 7 || s.RefusedTotal() != 0 {
		t.Fatalf("import: %v, %v", s, err)
	}
	e.do("PUT", "/fhir/Organization/chu-lille", `{"resourceType":"Organization","id":"chu-lille","active":true,"name":"CHU de Lille"}`)
	e.do("PUT", "/fhir/Patient/p-hip", `{"resourceType":"Patient","id":"p-hip","gender":"female","birthDate":"1958-04-12","address":[`+lilleAddress+`]}`)
	e.do("PUT", "/fhir/Encounter/e-hip", `{"resourceType":"Encounter","id":"e-hip","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},`+
		`"subject":{"reference":"Patient/p-hip"},"serviceProvider":{"reference":"Organization/chu-lille"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-05T10:00:00Z"}}`)
	e.do("PUT", "/fhir/Condition/e-hip-c0", `{"resourceType":"Condition","id":"e-hip-c0","subject":{"reference":"Patient/p-hip"},"encounter":{"reference":"Encounter/e-hip"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"S72.0"}]}}`)
	e.do("PUT", "/fhir/Procedure/e-hip-p0", `{"resourceType":"Procedure","id":"e-hip-p0","status":"completed","subject":{"reference":"Patient/p-hip"},"encounter":{"reference":"Encounter/e-hip"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"52734007"}]}}`)

	r := e.do("POST", "/fhir/Encounter/e-hip/$route?preview=true", "")
	if r.status != 200 {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Status       string `json:"status"`
				Owner        struct{ Reference string }
			}
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, en := range b.Entry {
		if en.Resource.ResourceType == "Task" {
			owners[en.Resource.Owner.Reference] = en.Resource.Status
		}
	}
	for _, want := range []string{"PractitionerRole/situ-810100000011", "PractitionerRole/situ-810100000029", "PractitionerRole/situ-810100000037"} {
		if owners[want] != "requested" {
			t.Errorf("%s is asked %q; the Tasks' owners: %v\n%s", want, owners[want], owners, r.body)
		}
	}

	if r := e.do("POST", "/fhir/Encounter/e-hip/$route", ""); r.status != 200 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	nurse := e.as("PractitionerRole/situ-810100000011")
	_, tasks := ids(t, e.do("GET", "/fhir/Task?owner=PractitionerRole/situ-810100000011", "", "Authorization", nurse).body)
	if len(tasks) != 1 {
		t.Fatalf("the nurse's Tasks: %v", tasks)
	}
	if r := e.do("PATCH", "/fhir/"+tasks[0], `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", nurse, "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Errorf("the nurse accepts her Task: %d %s", r.status, r.body)
	}
}
