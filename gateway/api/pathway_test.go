package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/pathways"
)

// TestPathwayReplaced: a system caller replaces a pathway with a PUT and
// the next discharge follows the new version; a malformed one (an action
// naming an unknown role, another naming none) is refused with a 422
// OperationOutcome naming each fault, by PUT, in a transaction and by
// PATCH, and the pathway in force stays as it was.
func TestPathwayReplaced(t *testing.T) {
	s := newScenario(t)
	s.professional("nurse-1", "cabinet-lille", nil, []string{g15("60")})
	s.write()
	var copd map[string]any
	if err := json.Unmarshal(s.do("GET", "/fhir/PlanDefinition/copd", "").body, &copd); err != nil {
		t.Fatal(err)
	}
	delete(copd, "meta")
	delete(copd, "text")
	copd["version"] = "2.0.0"
	var kept []any
	for _, a := range copd["action"].([]any) {
		if id := a.(map[string]any)["id"]; id != "pulmonologist" {
			kept = append(kept, a)
		}
	}
	copd["action"] = kept
	good, _ := json.Marshal(copd)

	bad := map[string]any{}
	_ = json.Unmarshal(good, &bad)
	acts := bad["action"].([]any)
	acts[0].(map[string]any)["code"] = []any{map[string]any{"coding": []any{map[string]any{"system": pathways.RoleSystem, "code": "astronaut"}}}}
	delete(acts[1].(map[string]any), "code")
	malformed, _ := json.Marshal(bad)

	checkRefused := func(how string, r resp) {
		t.Helper()
		if r.status != 422 {
			t.Fatalf("%s: %d %s, want 422", how, r.status, r.body)
		}
		body := string(r.body)
		for _, want := range []string{`"resourceType":"OperationOutcome"`, "PlanDefinition.action[0].code[0].coding[0]", "astronaut", "PlanDefinition.action[1].code"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the outcome does not say %s: %s", how, want, body)
			}
		}
	}
	checkRefused("PUT", s.do("PUT", "/fhir/PlanDefinition/copd", string(malformed)))
	checkRefused("transaction", s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":`+string(malformed)+`,"request":{"method":"PUT","url":"PlanDefinition/copd"}}]}`))
	r := s.do("PATCH", "/fhir/PlanDefinition/copd", `[{"op":"replace","path":"/action/0/code/0/coding/0/code","value":"astronaut"},{"op":"remove","path":"/action/1/code"}]`,
		"Content-Type", "application/json-patch+json")
	checkRefused("PATCH", r)
	if v := s.do("GET", "/fhir/PlanDefinition/copd", "").json(t)["version"]; v != "1.0.0" {
		t.Fatalf("after the refusals the pathway is version %v", v)
	}

	if r := s.do("PUT", "/fhir/PlanDefinition/copd", string(good)); r.status != 200 {
		t.Fatalf("PUT version 2.0.0: %d %s", r.status, r.body)
	}
	s.discharge(stay{patient: "pat-copd", encounter: "enc-copd", birthDate: "1960-01-01", diagnoses: []string{"J44.1"}})
	p := s.route("enc-copd")
	if got := p.carePlan.GetInstantiatesCanonical()[0].GetValue(); got != pathways.Base+"/PlanDefinition/copd|2.0.0" {
		t.Errorf("the plan instantiates %s, want version 2.0.0", got)
	}
	if _, ok := p.requests["pulmonologist"]; ok || len(p.requests) != len(kept) {
		t.Errorf("requests %v: want the %d actions of version 2.0.0", keys(p.requests), len(kept))
	}
}
