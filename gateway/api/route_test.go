package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
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

// TestRouteDemoStay: the demo's heart-failure stay routes to the demo's
// GP and the nurse of her care team (her own professionals first), the
// home-help waits for a permit, and the nurse accepts her Task by PATCH.
func TestRouteDemoStay(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	r := e.do("POST", "/fhir/Encounter/demo-stay/$route", "")
	for _, want := range []string{`"PractitionerRole/demo-gp-role"`, `"PractitionerRole/demo-nurse-role"`, "her own professionals come first", `"on-hold"`} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("the routed demo stay lacks %s: %s", want, r.body)
		}
	}
	nurse := e.as(demo.NurseRole)
	mine := e.do("GET", "/fhir/Task?owner="+demo.NurseRole, "", "Authorization", nurse)
	_, tasks := ids(t, mine.body)
	if len(tasks) != 1 {
		t.Fatalf("the nurse's Tasks: %v (%s)", tasks, mine.body)
	}
	id := strings.TrimPrefix(tasks[0], "Task/")
	if r := e.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", nurse, "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Errorf("the nurse accepts: %d %s", r.status, r.body)
	}
	// The GP reads on the plan who accepted.
	plan := e.do("GET", "/fhir/CarePlan?subject=Patient/"+demo.PatientID, "", "Authorization", e.as(demo.GPRole))
	if !bytes.Contains(plan.body, []byte("Task/"+id+" accepted by "+demo.NurseRole)) {
		t.Errorf("the CarePlan does not show the acceptance: %s", plan.body)
	}
}

// TestPermitReleasesTask: the home-help's Task waits on hold until the
// consent officer records the patient's permit for the service's
// Organization (R4 Consents name no HealthcareService); the same write
// releases it to requested.
func TestPermitReleasesTask(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	if r := e.do("POST", "/fhir/Encounter/demo-stay/$route", ""); r.status != 200 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	held := func() int {
		n, _ := ids(t, e.do("GET", "/fhir/Task?status=on-hold&_summary=count", "").body)
		return n
	}
	if held() != 1 {
		t.Fatalf("%d Tasks on hold, want the home-help's", held())
	}
	permit := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/demo-patient"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/demo-saad-lille"}}]}}`
	if r := e.do("POST", "/fhir/Consent", permit, "Authorization", e.as("PractitionerRole/demo-consent-officer-role")); r.status != 201 {
		t.Fatalf("the permit: %d %s", r.status, r.body)
	}
	if held() != 0 {
		t.Errorf("the home-help's Task is still on hold after the permit")
	}
}

// TestPlanNotForSocialRecipient: the discharge plan names the pathway it
// instantiates (heart failure) and the stay's diagnoses: clinical data. A
// home-help service holding the patient's permit (by default ADM, ORD,
// FUNC, SOC: DESIGN.md) reads her own Task, not the plan; the GP, in the
// care team, reads it.
func TestPlanNotForSocialRecipient(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	if r := e.do("POST", "/fhir/Encounter/demo-stay/$route", ""); r.status != 200 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	permit := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/demo-patient"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/demo-saad-lille"}}]}}`
	if r := e.do("POST", "/fhir/Consent", permit, "Authorization", e.as("PractitionerRole/demo-consent-officer-role")); r.status != 201 {
		t.Fatalf("the permit: %d %s", r.status, r.body)
	}
	plans := "/fhir/CarePlan?subject=Patient/" + demo.PatientID
	if n, _ := ids(t, e.do("GET", plans, "", "Authorization", e.as(benchHomeHelp)).body); n != 0 {
		t.Errorf("the home-help reads %d discharge plans, want none", n)
	}
	if n, _ := ids(t, e.do("GET", plans, "", "Authorization", e.as(demo.GPRole)).body); n != 1 {
		t.Errorf("the GP reads %d discharge plans, want 1", n)
	}
	mine := e.do("GET", "/fhir/Task?owner=HealthcareService/demo-home-help", "", "Authorization", e.as(benchHomeHelp))
	if n, _ := ids(t, mine.body); n != 1 {
		t.Errorf("the home-help reads %d of her Tasks, want 1", n)
	}
}

// TestPermitWithCodeExceptionReleasesTask: a permit that keeps one
// diagnosis from the home-help (a nested deny on its ICD-10 code, R4
// Consent.provision.code) still lets her act on her Task: the Task states
// its code (R4 task-code "fulfill"), which is not the one denied, so the
// exception does not apply to it (R4: "if this code is found in an
// instance, then the rule applies").
func TestPermitWithCodeExceptionReleasesTask(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	if r := e.do("POST", "/fhir/Encounter/demo-stay/$route", ""); r.status != 200 {
		t.Fatalf("route: %d %s", r.status, r.body)
	}
	permit := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/demo-patient"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/demo-saad-lille"}}],"provision":[{"type":"deny","code":[{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I50.9"}]}]}]}}`
	if r := e.do("POST", "/fhir/Consent", permit, "Authorization", e.as("PractitionerRole/demo-consent-officer-role")); r.status != 201 {
		t.Fatalf("the permit: %d %s", r.status, r.body)
	}
	if n, _ := ids(t, e.do("GET", "/fhir/Task?status=on-hold&_summary=count", "").body); n != 0 {
		t.Errorf("the home-help's Task is still on hold after a permit that denies one diagnosis")
	}
	mine := e.do("GET", "/fhir/Task?owner=HealthcareService/demo-home-help&status=requested", "", "Authorization", e.as(benchHomeHelp))
	if n, _ := ids(t, mine.body); n != 1 {
		t.Errorf("the home-help sees %d Tasks, want hers: %s", n, mine.body)
	}
}

// TestRejectionReroutes: the demo nurse rejects her Task; the same write
// creates the Task for the next candidate (the demo's Roubaix nurse; the
// Lyon one is out of territory), linked to the rejected one.
func TestRejectionReroutes(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	e.do("POST", "/fhir/Encounter/demo-stay/$route", "")
	nurse := e.as(demo.NurseRole)
	_, tasks := ids(t, e.do("GET", "/fhir/Task?owner="+demo.NurseRole, "", "Authorization", nurse).body)
	if len(tasks) != 1 {
		t.Fatalf("the nurse's Tasks: %v", tasks)
	}
	id := strings.TrimPrefix(tasks[0], "Task/")
	before := countOf(e, "Task")
	r := e.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/status","value":"rejected"},{"op":"add","path":"/statusReason","value":{"text":"no availability"}}]`,
		"Authorization", nurse, "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("rejecting: %d %s", r.status, r.body)
	}
	if got := countOf(e, "Task"); got != before+1 {
		t.Fatalf("Tasks: %d, then %d", before, got)
	}
	next := e.do("GET", "/fhir/Task/"+strings.TrimSuffix(id, "-1")+"-2", "")
	if next.status != 200 || !bytes.Contains(next.body, []byte(`"owner":{"reference":"PractitionerRole/demo-nurse-2-role"}`)) || !bytes.Contains(next.body, []byte("Task/"+id)) {
		t.Errorf("the next Task: %d %s", next.status, next.body)
	}
}

// TestCoordinatorReRoutes: the discharge coordinator (of the requesting
// hospital) cancels the nurse's Task with the re-route reason; the same
// write asks the next nurse, and says why. A plain cancellation asks
// nobody.
func TestCoordinatorReRoutes(t *testing.T) {
	t.Parallel()
	e := demoEnv(t)
	e.do("POST", "/fhir/Encounter/demo-stay/$route", "")
	coordinator := e.as("PractitionerRole/demo-coordinator-role")
	_, tasks := ids(t, e.do("GET", "/fhir/Task?owner="+demo.NurseRole, "").body)
	if len(tasks) != 1 {
		t.Fatalf("the nurse's Tasks: %v", tasks)
	}
	id := strings.TrimPrefix(tasks[0], "Task/")
	r := e.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/status","value":"cancelled"},{"op":"add","path":"/statusReason","value":{"coding":[{"system":"`+routing.RoutingStatus+`","code":"`+routing.ReRoute+`"}],"text":"the nurse is on leave"}}]`,
		"Authorization", coordinator, "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("re-routing: %d %s", r.status, r.body)
	}
	next := e.do("GET", "/fhir/Task/"+strings.TrimSuffix(id, "-1")+"-2", "")
	if next.status != 200 || !bytes.Contains(next.body, []byte(`"owner":{"reference":"PractitionerRole/demo-nurse-2-role"}`)) || !bytes.Contains(next.body, []byte("re-routed by its requester")) {
		t.Fatalf("the next Task: %d %s", next.status, next.body)
	}
	_, tasks = ids(t, e.do("GET", "/fhir/Task?owner=PractitionerRole/demo-nurse-2-role", "").body)
	before := countOf(e, "Task")
	r = e.do("PATCH", "/fhir/Task/"+strings.TrimPrefix(tasks[0], "Task/"), `[{"op":"replace","path":"/status","value":"cancelled"}]`,
		"Authorization", coordinator, "Content-Type", "application/json-patch+json")
	if r.status != 200 || countOf(e, "Task") != before {
		t.Errorf("a plain cancellation: %d, %d Tasks then %d", r.status, before, countOf(e, "Task"))
	}
}

// demoEnv is an env holding the default pathways and the demo.
func demoEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, 0)
	ctx := context.Background()
	if err := pathways.Load(ctx, e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	if err := demo.Load(ctx, e.store); err != nil {
		t.Fatal(err)
	}
	return e
}
