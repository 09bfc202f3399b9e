package api_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/pathways"
)

// TestNarrowPermitIsAPermit: the patient's permit for a recipient who
// needs one (a social service, a professional across the border:
// DESIGN.md, "Consent model") that does not name every data category her
// action asks (CLIN and MED pass only when the patient ticks them) is a
// permit, not an objection: routing keeps her among the candidates and
// asks her (requested, not on-hold: the permit is there), the explanation
// says which categories asked the permit does not cover, and the consent
// engine gives her on each read what it covers and nothing more. Only an
// objection (a deny) removes a candidate (TestScenarioObjection).
func TestNarrowPermitIsAPermit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, action, owner string
		uncovered           string // the categories asked the permit does not name
		medication          bool   // the hospital's heart-failure pathway asks the home help for medication help
	}{
		{name: "home help asked to help with medication", action: "home-help", owner: "PractitionerRole/homehelp-nord", uncovered: "MED", medication: true},
		{name: "cardiologist across the border", action: "cardiologist", owner: "PractitionerRole/a-cardio-tournai", uncovered: "CLIN, MED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.community()
			// a Belgian practice covering Lille (COSERDO), first by reference
			s.add(`{"resourceType":"Organization","id":"cabinet-tournai","active":true,"name":"cabinet-tournai",` +
				`"identifier":[{"system":"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/cbe","value":"0412345678"}],` +
				`"extension":[` + territory("3", "59350") + `]}`)
			s.professional("a-cardio-tournai", "cabinet-tournai", nil, []string{g15("10")}, r38("SM04"))
			if tc.medication {
				s.medicationHelp(t)
			}
			s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
			// the consent officer records her permit, ticking nothing: ADM,
			// ORD, FUNC and SOC
			permit := s.consent("p1", "OPTIN", tc.owner)
			p := s.route("e-p1")

			task := p.only(t, tc.action)
			id := task.GetId().GetValue()
			if got := resource.RefString(task.GetOwner()); got != tc.owner || taskStatus(task) != "requested" || task.GetStatusReason() != nil {
				t.Fatalf("the %s Task: %s for %s (%q); want requested for %s\n%s", tc.action, taskStatus(task), got,
					task.GetStatusReason().GetText().GetValue(), tc.owner, noteOf(task))
			}
			note := noteOf(task)
			if want := "the patient's permit (Consent/" + permit + ") does not cover " + tc.uncovered; !strings.Contains(note, want) || strings.Contains(note, "objected") {
				t.Errorf("the explanation does not say %q, or calls the permit an objection:\n%s", want, note)
			}
			if mine := s.myWork(tc.owner); !slices.Equal(mine, []string{"Task/" + id}) {
				t.Errorf("%s's Tasks: %v", tc.owner, mine)
			}
			// What the permit covers passes, and nothing more.
			tok := s.as(tc.owner)
			for path, want := range map[string]int{"/fhir/Task/" + id: 200, "/fhir/Patient/p1": 200, "/fhir/Condition/e-p1-c0": 404} {
				if r := s.do("GET", path, "", "Authorization", tok); r.status != want {
					t.Errorf("%s reads %s: %d, want %d", tc.owner, path, r.status, want)
				}
			}
		})
	}
}

// medicationHelp has the hospital replace its heart-failure pathway with
// one whose home help also helps with the medication (the action asks
// MED besides ADM, ORD, FUNC and SOC).
func (s *scenario) medicationHelp(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile("../pathways/defaults/heart-failure.json")
	if err != nil {
		t.Fatal(err)
	}
	var pd map[string]any
	if err := json.Unmarshal(raw, &pd); err != nil {
		t.Fatal(err)
	}
	for _, a := range pd["action"].([]any) {
		if a := a.(map[string]any); a["id"] == "home-help" {
			a["extension"] = append(a["extension"].([]any), map[string]any{"url": pathways.ExtDataCategory,
				"valueCoding": map[string]any{"system": "https://relais-health.github.io/fhir/CodeSystem/data-category", "code": "MED"}})
		}
	}
	pd["version"] = "1.0.0-medication"
	js, err := json.Marshal(pd)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do("PUT", "/fhir/PlanDefinition/heart-failure", string(js)); r.status != 200 {
		t.Fatalf("the hospital replaces its heart-failure pathway: %d %s", r.status, r.body)
	}
}
