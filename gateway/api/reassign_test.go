package api_test

import (
	"strings"
	"testing"

	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/routing"
)

// TestReassignedTaskExplainsItsNewOwner: the hospital's discharge
// coordinator gives a routing Task to another professional by hand (the
// first nurse's round is full, the meals Task nobody in the directory could
// take goes to a service she found). R4 Task.note is "information captured
// about the task as it progresses" and routing's note says why the owner
// was asked: the new owner must read why she was asked, not why her
// predecessor was; the previous version, in the Task's history, keeps the
// explanation it had. A Task that had no candidate is no longer listed as
// such once someone owns it.
func TestReassignedTaskExplainsItsNewOwner(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("meals-nord", "nord", nil, []string{r85("372")})
	s.add(`{"resourceType":"PractitionerRole","id":"coordinator","active":true,"organization":{"reference":"` + scenHospital + `"},` +
		`"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"discharge-coordinator"}]}]}`)
	s.discharge(stay{patient: "p-reassign", encounter: "e-reassign", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
	p := s.route("e-reassign")
	coordinator := s.as("PractitionerRole/coordinator")
	var reassignAs func(task *tpb.Task, owner, reader string) *tpb.Task
	reassign := func(task *tpb.Task, owner string) *tpb.Task {
		return reassignAs(task, owner, s.as(owner))
	}
	reassignAs = func(task *tpb.Task, owner, reader string) *tpb.Task {
		t.Helper()
		id := task.GetId().GetValue()
		r := s.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/owner","value":{"reference":"`+owner+`"}}]`,
			"Authorization", coordinator, "Content-Type", "application/json-patch+json")
		if r.status != 200 {
			t.Fatalf("the coordinator re-assigns Task/%s to %s: %d %s", id, owner, r.status, r.body)
		}
		// the new owner reads her Task with her own token
		r = s.do("GET", "/fhir/Task/"+id, "", "Authorization", reader)
		if r.status != 200 {
			t.Fatalf("%s reads Task/%s: %d %s", owner, id, r.status, r.body)
		}
		m, err := testCodec.DecodeStored(r.body)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*tpb.Task)
	}

	nurse := p.only(t, "nurse")
	if !strings.Contains(noteOf(nurse), "PractitionerRole/nurse-lille") {
		t.Fatalf("the first nurse's explanation: %q", noteOf(nurse))
	}
	got := reassign(nurse, "PractitionerRole/z-nurse-lille")
	note := noteOf(got)
	if strings.Contains(note, "first candidate of the directory: PractitionerRole/nurse-lille") {
		t.Errorf("the new owner reads why the first nurse was asked:\n%s", note)
	}
	for _, want := range []string{"PractitionerRole/coordinator", "PractitionerRole/nurse-lille", "PractitionerRole/z-nurse-lille (covers the patient's"} {
		if !strings.Contains(note, want) {
			t.Errorf("the new owner's explanation lacks %q:\n%s", want, note)
		}
	}
	// the history keeps why the first nurse was asked
	if r := s.do("GET", "/fhir/Task/"+nurse.GetId().GetValue()+"/_history/1", ""); r.status != 200 ||
		!strings.Contains(string(r.body), "first candidate of the directory: PractitionerRole/nurse-lille") {
		t.Errorf("the first version: %d %s", r.status, r.body)
	}

	// A professional the directory would not have chosen for the patient
	// (the Lyon nurse is out of territory) is told so.
	got = reassign(got, "PractitionerRole/a-nurse-lyon")
	if note := noteOf(got); !strings.Contains(note, "PractitionerRole/a-nurse-lyon") || !strings.Contains(note, "territor") ||
		strings.Contains(note, "z-nurse-lille (covers") {
		t.Errorf("the Lyon nurse's explanation:\n%s", note)
	}

	meals := p.only(t, "meals")
	if cs := meals.GetBusinessStatus().GetCoding(); len(cs) == 0 || cs[0].GetCode().GetValue() != "no-candidate" {
		t.Fatalf("the meals Task: %v", meals.GetBusinessStatus())
	}
	// (a social service reads nothing of the patient before her permit:
	// the hospital reads what it would)
	got = reassignAs(meals, "PractitionerRole/meals-nord", "Bearer "+s.token)
	if strings.Contains(noteOf(got), "no candidate in the directory") || got.GetBusinessStatus() != nil {
		t.Errorf("the meals service reads a Task that had no candidate: %v\n%s", got.GetBusinessStatus(), noteOf(got))
	}
	listed := s.search("/fhir/Task?business-status="+routing.RoutingStatus+"|no-candidate&focus="+resource.RefString(meals.GetFocus()), nil)
	if len(listed) != 0 {
		t.Errorf("the re-assigned meals Task is still listed for follow-up")
	}
	validate(t, map[string][]byte{"Task/" + got.GetId().GetValue(): mustEncode(t, got)})
}

func mustEncode(t *testing.T, m *tpb.Task) []byte {
	t.Helper()
	js, err := testCodec.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
