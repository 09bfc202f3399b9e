package server_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/demo"
)

// TestDemoWalkthrough is the README's Pathways walkthrough on a running
// server with the demo: the demo discharge (an HL7 v2 A03 of Jeanne
// Dupont's hip replacement, gateway/demo/discharge-a03.hl7) is routed
// along the orthopaedic pathway as it is written; the nurse of her care
// team finds her Task and accepts it; the home-help service's Task waits
// on-hold for her permit, sees nothing of her, and is released when the
// consent officer records the permit.
func TestDemoWalkthrough(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg
	cfg.Demo = true
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	serve(t, cfg)
	base := "http://" + <-addr
	token := func(who string) string {
		t.Helper()
		id, ok := demo.IdentityNamed(who)
		if !ok {
			t.Fatalf("no demo identity %s", who)
		}
		tok, err := f.key.Mint(auth.MintOptions{Scope: id.Scope, FHIRUser: id.FHIRUser})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	do := func(tok, method, path, ct, body string) (int, []byte) {
		t.Helper()
		return call(t, method, base+path, ct, body, tok)
	}
	type task struct {
		ID             string                `json:"id"`
		Status         string                `json:"status"`
		StatusReason   struct{ Text string } `json:"statusReason"`
		BusinessStatus struct{ Text string } `json:"businessStatus"`
		Owner          struct{ Reference string }
	}
	tasks := func(tok, owner string) []task {
		t.Helper()
		code, b := do(tok, "GET", "/fhir/Task?owner="+owner+"&_sort=-_lastUpdated", "", "")
		if code != 200 {
			t.Fatalf("Task?owner=%s: %d %s", owner, code, b)
		}
		var bundle struct{ Entry []struct{ Resource task } }
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var out []task
		for _, e := range bundle.Entry {
			out = append(out, e.Resource)
		}
		return out
	}
	system := token("system")
	msg, err := os.ReadFile("../demo/discharge-a03.hl7")
	if err != nil {
		t.Fatal(err)
	}
	if code, ack := do(system, "POST", "/ingest/hl7v2", "x-application/hl7-v2+er7", string(msg)); code != 200 || !bytes.Contains(ack, []byte("MSA|AA")) {
		t.Fatalf("the demo A03: %d %s", code, ack)
	}
	// The queue writes an accepted message shortly after its ACK; the
	// plan is committed with it.
	// (The demo's heart-failure stay, finished already, was routed at
	// start: the hip's Tasks are those under its CarePlan.)
	plan := ""
	for deadline := time.Now().Add(10 * time.Second); plan == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, b := do(system, "GET", "/fhir/CarePlan?patient=Patient/"+demo.PatientID, "", "")
		var bundle struct {
			Entry []struct {
				Resource struct {
					ID                    string   `json:"id"`
					InstantiatesCanonical []string `json:"instantiatesCanonical"`
				}
			}
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		for _, e := range bundle.Entry {
			if len(e.Resource.InstantiatesCanonical) > 0 && strings.Contains(e.Resource.InstantiatesCanonical[0], "/PlanDefinition/orthopaedic-surgery") {
				plan = e.Resource.ID
			}
		}
	}
	if plan == "" {
		t.Fatal("the demo A03 was not routed along the orthopaedic-surgery pathway")
	}
	ofPlan := func(ts []task) []task {
		var out []task
		for _, x := range ts {
			if strings.HasPrefix(x.ID, plan+"-") {
				out = append(out, x)
			}
		}
		return out
	}
	nurse, homeHelp := token("nurse"), token("home-help")
	mine := ofPlan(tasks(nurse, demo.NurseRole))
	if len(mine) != 1 || mine[0].Status != "requested" {
		t.Fatalf("the nurse's work after the A03: %+v", mine)
	}
	if code, b := do(nurse, "PATCH", "/fhir/Task/"+mine[0].ID, "application/json-patch+json",
		`[{"op":"replace","path":"/status","value":"accepted"}]`); code != 200 {
		t.Fatalf("the nurse accepts: %d %s", code, b)
	}
	// The service is the candidate the directory chose (the home-help
	// identity is a role of its organisation, acting for it).
	const helpRole = "HealthcareService/demo-home-help"
	held := ofPlan(tasks(system, helpRole))
	if len(held) != 1 || held[0].Status != "on-hold" || !strings.Contains(held[0].StatusReason.Text, "permit") {
		t.Fatalf("the home-help's Task before the permit: %+v", held)
	}
	if got := ofPlan(tasks(homeHelp, helpRole)); len(got) != 0 {
		t.Errorf("the home-help sees her on-hold Task before the permit: %+v", got)
	}
	if code, _ := do(homeHelp, "GET", "/fhir/Patient/"+demo.PatientID, "", ""); code != 404 {
		t.Errorf("the home-help reads the patient before the permit: %d", code)
	}
	permit := `{"resourceType":"Consent","status":"active",
	 "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
	 "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
	 "patient":{"reference":"Patient/demo-patient"},
	 "policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},
	 "provision":{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
	   "reference":{"reference":"Organization/demo-saad-lille"}}]}}`
	if code, b := do(token("consent-officer"), "POST", "/fhir/Consent", "application/fhir+json", permit); code != 201 {
		t.Fatalf("the consent officer records the permit: %d %s", code, b)
	}
	released := ofPlan(tasks(homeHelp, helpRole))
	if len(released) != 1 || released[0].Status != "requested" {
		t.Errorf("the home-help's Task after the permit: %+v", released)
	}
}
