package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/gateway/routing"
)

// TestExplanationsCoded: every explanation routing writes, in English as
// FHIR's text, is coded beside it (routing.ExtExplanation; codes of
// routing.RoutingStatus), so that a reader in another language says it in
// hers: each routing Task's first note, each progress note of its plan,
// and the status reasons routing gives (a permit required, no answer in
// time, a recipient who left the directory), through a plan that meets
// most of them (objections, narrow permit, out of territory, a refusal, a
// time-out, a re-route, a re-assignment, a departure). Each step names a
// code of the CodeSystem the server publishes and carries as many
// arguments as its sentence takes; the resources pass the validator.
func TestExplanationsCoded(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.coordinator()
	s.professional("b-nurse-nord", "nord", nil, []string{g15("60")})
	s.professional("c-nurse-nord", "nord", nil, []string{g15("60")})
	s.professional("z-pharma-lille", "cabinet-lille", nil, []string{g15("21")})
	s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
	s.consent("p1", "OPTOUT", "PractitionerRole/pharma-lille")
	s.consent("p1", "OPTIN", "PractitionerRole/cardio-lille")
	p := s.route("e-p1")
	cardio := p.only(t, "cardiologist").GetId().GetValue()
	if r := s.do("PATCH", "/fhir/Task/"+cardio, `[{"op":"replace","path":"/status","value":"cancelled"},`+
		`{"op":"add","path":"/statusReason","value":{"coding":[{"system":"`+routing.RoutingStatus+`","code":"`+routing.ReRoute+`"}],"text":"en congés"}}]`,
		"Authorization", s.as("PractitionerRole/coordinator"), "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Fatalf("the coordinator re-routes Task/%s: %d %s", cardio, r.status, r.body)
	}
	nurse := p.only(t, "nurse").GetId().GetValue()
	s.reject(nurse, "PractitionerRole/nurse-lille", "pas de créneau cette semaine")
	if _, err := s.laterPlanner(8 * 24 * time.Hour).TimeOut(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.reassign(p.only(t, "pharmacist").GetId().GetValue(), "PractitionerRole/a-nurse-lyon")
	s.reassign(p.only(t, "meals").GetId().GetValue(), "PractitionerRole/social-nord")
	s.add(role("c-nurse-nord", "nord", g15("60"), `,"active":false`))
	s.write()
	if _, err := s.cfg.Routing.Departures(context.Background()); err != nil {
		t.Fatal(err)
	}

	arity := map[string]int{}
	for _, c := range routing.CodeSystem().GetConcept() {
		arity[c.GetCode().GetValue()] = strings.Count(c.GetDefinition().GetValue(), "%s")
	}
	check := func(where string, exts []*dtpb.Extension) int {
		t.Helper()
		steps := routing.Explanation(exts)
		for _, st := range steps {
			n := len(st.Who) + len(st.Detail)
			for _, l := range []int{len(st.Consents), len(st.Categories), len(st.Roles)} {
				if l > 0 {
					n++
				}
			}
			if want, ok := arity[st.Code]; !ok || n != want {
				t.Errorf("%s: step %+v has %d arguments; its code's sentence takes %d (known: %v)", where, st, n, want, ok)
			}
		}
		return len(steps)
	}
	raw := map[string][]byte{}
	seen := map[string]bool{}
	for _, m := range s.search("/fhir/Task?patient=Patient/p1", raw) {
		task := m.(*tpb.Task)
		id := task.GetId().GetValue()
		if n := check("Task/"+id+" note", task.GetNote()[0].GetExtension()); n == 0 {
			t.Errorf("Task/%s: routing's note is not coded: %s", id, noteOf(task))
		}
		if r := task.GetStatusReason(); routing.ReasonCode(r) != "" {
			seen[routing.ReasonCode(r)] = true
			check("Task/"+id+" statusReason", r.GetExtension())
		} else if r != nil && r.GetText().GetValue() != "pas de créneau cette semaine" {
			t.Errorf("Task/%s: status reason %q not coded", id, r.GetText().GetValue())
		}
		for _, st := range routing.Explanation(task.GetNote()[0].GetExtension()) {
			seen[st.Code] = true
		}
	}
	for _, m := range s.search("/fhir/CarePlan?patient=Patient/p1", raw) {
		for _, a := range m.(*cppb.CarePlan).GetActivity() {
			for _, n := range a.GetProgress() {
				if check("progress", n.GetExtension()) == 0 {
					t.Errorf("a progress note is not coded: %s", n.GetText().GetValue())
				}
				for _, st := range routing.Explanation(n.GetExtension()) {
					seen[st.Code] = true
				}
			}
		}
	}
	// the plan met what it was made to meet
	for _, code := range []string{"general-practitioner", "first-candidate", "covers-commune", "out-of-territory", "objection",
		"narrow-permit", "waiting-permit", "no-candidate-for-role", "hospital-follows-up", "after-rejected", "refused-before",
		"after-cancelled", "no-answer-within", "reassigned", "not-a-candidate", "inactive", "task-rejected", "task-reassigned",
		"task-held", "task-cancelled", "reason", "after-rerouted", routing.ReRoute, routing.PermitRequiredCode, routing.NoAnswerCode, routing.RecipientLeft} {
		if !seen[code] {
			t.Errorf("no explanation says %s", code)
		}
	}
	validate(t, raw)
}
