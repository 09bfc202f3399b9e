package api_test

// The closed loop after a hand changes it: the hospital's discharge
// coordinator (or its integration) gives a routing Task to someone else
// (R4 Task.owner: the requester decides who is asked), and the rules a
// routed Task follows still hold for the new owner (DESIGN.md, "Consent
// model": a non-health professional and anyone across the border need the
// patient's explicit permit).

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/routing"
)

// coordinator queues the hospital's discharge coordinator.
func (s *scenario) coordinator() {
	s.add(`{"resourceType":"PractitionerRole","id":"coordinator","active":true,"organization":{"reference":"` + scenHospital + `"},` +
		`"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"discharge-coordinator"}]}]}`)
}

// reassign is the coordinator's JSON Patch of Task/id's owner; it
// returns the Task as stored.
func (s *scenario) reassign(id, owner string) *tpb.Task {
	s.t.Helper()
	r := s.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/owner","value":{"reference":"`+owner+`"}}]`,
		"Authorization", s.as("PractitionerRole/coordinator"), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		s.t.Fatalf("the coordinator re-assigns Task/%s to %s: %d %s", id, owner, r.status, r.body)
	}
	return s.task(id)
}

// reassignByPut is a system caller's PUT of Task/id with another owner.
func (s *scenario) reassignByPut(id, owner string) *tpb.Task {
	s.t.Helper()
	task := s.task(id)
	typ, rid, _ := strings.Cut(owner, "/")
	task.Owner = resource.Ref(typ, rid)
	task.Meta = nil
	js, err := testCodec.Encode(task)
	if err != nil {
		s.t.Fatal(err)
	}
	if r := s.do("PUT", "/fhir/Task/"+id, string(js)); r.status != 200 {
		s.t.Fatalf("the hospital's system re-assigns Task/%s to %s: %d %s", id, owner, r.status, r.body)
	}
	return s.task(id)
}

// waiting checks that task waits for the patient's permit: on-hold with
// routing's status reason, listed among the Tasks on hold, and unseen by
// its owner.
func (s *scenario) waiting(t *testing.T, task *tpb.Task, patient string) {
	t.Helper()
	id, owner := task.GetId().GetValue(), resource.RefString(task.GetOwner())
	if taskStatus(task) != "on-hold" || task.GetStatusReason().GetText().GetValue() != routing.PermitRequired {
		t.Errorf("Task/%s given to %s: %s, %q; want on-hold, %q", id, owner, taskStatus(task), task.GetStatusReason().GetText().GetValue(), routing.PermitRequired)
	}
	var held []string
	for _, m := range s.search("/fhir/Task?status=on-hold&patient=Patient/"+patient, nil) {
		held = append(held, resource.ID(m))
	}
	if !slices.Contains(held, id) {
		t.Errorf("Task/%s is not among the Tasks waiting for a permit: %v", id, held)
	}
	if r := s.do("GET", "/fhir/Task/"+id, "", "Authorization", s.as(owner)); r.status != 404 {
		t.Errorf("%s reads Task/%s before the patient's permit: %d", owner, id, r.status)
	}
	if got := s.myWork(owner); len(got) != 0 {
		t.Errorf("%s finds Tasks before the patient's permit: %v", owner, got)
	}
}

// TestReassignedWaitsForPermit: a routing Task given by hand to a social
// service (TRE_R85, TRE_R94) or to a professional across the border waits
// on-hold for the patient's explicit permit, as a routed one does, whoever
// re-assigns it (the coordinator's JSON Patch, the hospital system's
// PUT): the recipient sees nothing of her until then, the Task is listed
// among those waiting, and the permit releases it. Given back to a health
// professional who needs no permit, it is requested again.
func TestReassignedWaitsForPermit(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.coordinator()
	s.professional("meals-nord", "nord", nil, []string{r85("372")})
	s.add(`{"resourceType":"Organization","id":"cabinet-tournai","active":true,"name":"cabinet-tournai",` +
		`"identifier":[{"system":"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/cbe","value":"0412345678"}]}`)
	s.professional("cardio-tournai", "cabinet-tournai", nil, []string{g15("10")}, r38("SM04"))
	s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
	p := s.route("e-p1")

	// The meals Task nobody in the directory could take goes to the meals
	// service the coordinator found.
	meals := p.only(t, "meals")
	if resource.RefString(meals.GetOwner()) != scenHospital || taskStatus(meals) != "requested" {
		t.Fatalf("the meals Task before: %s for %s", taskStatus(meals), resource.RefString(meals.GetOwner()))
	}
	got := s.reassign(meals.GetId().GetValue(), "PractitionerRole/meals-nord")
	s.waiting(t, got, "p1")
	if !strings.Contains(noteOf(got), "the patient's explicit permit is still required") {
		t.Errorf("the meals service's explanation does not say a permit is required: %s", noteOf(got))
	}
	validate(t, map[string][]byte{"Task/" + got.GetId().GetValue(): mustEncode(t, got)})
	// The plan says the Task waits for the permit, not that the service
	// put it on hold.
	if cp := s.do("GET", "/fhir/CarePlan/"+p.carePlan.GetId().GetValue(), ""); !strings.Contains(string(cp.body),
		"Task/"+meals.GetId().GetValue()+" on-hold for PractitionerRole/meals-nord ("+routing.PermitRequired+")") {
		t.Errorf("the plan's progress after the re-assignment: %s", cp.body)
	}

	// The hospital's system gives the nurse's Task to the social worker.
	nurse := p.only(t, "nurse")
	s.waiting(t, s.reassignByPut(nurse.GetId().GetValue(), "PractitionerRole/social-nord"), "p1")
	// Given back to a nurse, who needs no permit: asked at once.
	back := s.reassign(nurse.GetId().GetValue(), "PractitionerRole/nurse-lille")
	if taskStatus(back) != "requested" || back.GetStatusReason() != nil {
		t.Errorf("the nurse's Task given back to a nurse: %s, %q; want requested", taskStatus(back), back.GetStatusReason().GetText().GetValue())
	}
	if mine := s.myWork("PractitionerRole/nurse-lille"); !slices.Equal(mine, []string{"Task/" + nurse.GetId().GetValue()}) {
		t.Errorf("the nurse's Tasks: %v", mine)
	}

	// A cardiologist across the border needs her permit too.
	cardio := p.only(t, "cardiologist")
	s.waiting(t, s.reassign(cardio.GetId().GetValue(), "PractitionerRole/cardio-tournai"), "p1")

	// The consent officer records the patient's permit for the meals
	// service: the same write releases its Task, which it then finds.
	s.consent("p1", "OPTIN", "PractitionerRole/meals-nord")
	released := s.task(meals.GetId().GetValue())
	if taskStatus(released) != "requested" || released.GetStatusReason() != nil {
		t.Errorf("the meals Task after the permit: %s, %q; want requested", taskStatus(released), released.GetStatusReason().GetText().GetValue())
	}
	if mine := s.myWork("PractitionerRole/meals-nord"); !slices.Equal(mine, []string{"Task/" + meals.GetId().GetValue()}) {
		t.Errorf("the meals service's Tasks after the permit: %v", mine)
	}
	// The cardiologist across the border still waits.
	if c := s.task(cardio.GetId().GetValue()); taskStatus(c) != "on-hold" {
		t.Errorf("the cross-border cardiologist's Task after another's permit: %s", taskStatus(c))
	}
}

// TestRoutedAcrossTheBorderWaitsForPermit: the candidate routing chooses
// may be across the border (COSERDO's services cover both sides): a
// health professional there needs the patient's explicit permit as a
// social recipient does, so that her Task waits on-hold until the permit
// releases it, instead of asking her what she may not read.
func TestRoutedAcrossTheBorderWaitsForPermit(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.add(`{"resourceType":"Organization","id":"soins-tournai","active":true,"name":"soins-tournai",` +
		`"identifier":[{"system":"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/cbe","value":"0412345678"}]` +
		list("extension", []string{territory("2", "59")}) + `}`)
	s.professional("nurse-tournai", "soins-tournai", nil, []string{g15("60")})
	s.discharge(surgery("p1", lilleAddress))
	nurse := s.route("e-p1").only(t, "nurse")
	if got := resource.RefString(nurse.GetOwner()); got != "PractitionerRole/nurse-tournai" {
		t.Fatalf("the nurse's Task goes to %s (%s)", got, noteOf(nurse))
	}
	s.waiting(t, nurse, "p1")
	if !strings.Contains(noteOf(nurse), "waiting for the patient's permit") {
		t.Errorf("the explanation does not say the Task waits for her permit: %s", noteOf(nurse))
	}
	s.consent("p1", "OPTIN", "PractitionerRole/nurse-tournai")
	if got := s.task(nurse.GetId().GetValue()); taskStatus(got) != "requested" {
		t.Errorf("the nurse's Task after the permit: %s", taskStatus(got))
	}
	if mine := s.myWork("PractitionerRole/nurse-tournai"); !slices.Equal(mine, []string{"Task/" + nurse.GetId().GetValue()}) {
		t.Errorf("the Tournai nurse's Tasks after the permit: %v", mine)
	}
}

// performerOf is the performer the ServiceRequest ref names, as the
// system caller reads it ("" for none, "several" for more than one).
func (s *scenario) performerOf(ref string) string {
	s.t.Helper()
	srs := s.search("/fhir/ServiceRequest?_id="+strings.TrimPrefix(ref, "ServiceRequest/"), nil)
	if len(srs) != 1 {
		s.t.Fatalf("%s: %d found", ref, len(srs))
	}
	switch p := srs[0].(*srpb.ServiceRequest).GetPerformer(); len(p) {
	case 0:
		return ""
	case 1:
		return resource.RefString(p[0])
	}
	return "several"
}

// TestRequestPerformerFollowsTheTask: in R4's workflow a Task's focus is
// the request, and ServiceRequest.performer the one asked to perform it:
// whoever the Task goes to, by a re-assignment by hand, a refusal that
// asks the next candidate or a time-out, the request names her, not the
// first one asked; the plan the GP reads shows each hand-over on the
// request's activity.
func TestRequestPerformerFollowsTheTask(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.coordinator()
	s.org("nord", territory("2", "59"))
	s.professional("nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("a-nurse-nord", "nord", nil, []string{g15("60")})
	s.discharge(surgery("p1", lilleAddress))
	p := s.route("e-p1")
	first := p.only(t, "nurse")
	sr := resource.RefString(first.GetFocus())
	base := strings.TrimPrefix(sr, "ServiceRequest/")
	if got := s.performerOf(sr); got != "PractitionerRole/nurse-lille" {
		t.Fatalf("%s names %q as performer, want the nurse routing asked", sr, got)
	}

	steps := []struct {
		name, owner string
		move        func()
	}{
		{"re-assigned by hand", "PractitionerRole/z-nurse-lille", func() { s.reassign(base+"-1", "PractitionerRole/z-nurse-lille") }},
		// z-nurse-lille refuses: the next candidate who did not refuse
		// is asked
		{"refused", "PractitionerRole/nurse-lille", func() { s.reject(base+"-1", "PractitionerRole/z-nurse-lille", "no visit slot") }},
		// nurse-lille does not answer within her 12 hours: the Nord
		// nurse, whose territory is less precise, comes next
		{"timed out", "PractitionerRole/a-nurse-nord", func() {
			if n, err := s.laterPlanner(13 * time.Hour).TimeOut(context.Background()); err != nil || n != 1 {
				t.Fatalf("the time-out: %d, %v", n, err)
			}
		}},
	}
	for i, st := range steps {
		st.move()
		task := s.task(fmt.Sprintf("%s-%d", base, i+1))
		if got := resource.RefString(task.GetOwner()); got != st.owner {
			t.Fatalf("%s: the Task goes to %s, want %s (%s)", st.name, got, st.owner, noteOf(task))
		}
		if got := s.performerOf(sr); got != st.owner {
			t.Errorf("%s: %s names %q as performer, want the Task's owner %s", st.name, sr, got, st.owner)
		}
	}
	// The new owner reads her request naming her.
	if r := s.do("GET", "/fhir/"+sr, "", "Authorization", s.as("PractitionerRole/a-nurse-nord")); r.status != 200 ||
		!strings.Contains(string(r.body), `"performer":[{"reference":"PractitionerRole/a-nurse-nord"}]`) {
		t.Errorf("the last nurse reads her request: %d %s", r.status, r.body)
	}
	after := s.planOf("e-p1")
	plan := string(after.raw["CarePlan/"+after.carePlan.GetId().GetValue()])
	for _, want := range []string{
		"Task/" + base + "-1 re-assigned from PractitionerRole/nurse-lille to PractitionerRole/z-nurse-lille",
		"Task/" + base + "-1 rejected by PractitionerRole/z-nurse-lille (no visit slot)",
		"Task/" + base + "-2 cancelled, asked of PractitionerRole/nurse-lille (no answer within 12h0m0s)",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("the CarePlan lacks %q: %s", want, plan)
		}
	}
	validate(t, map[string][]byte{sr: after.raw[sr], "CarePlan/" + after.carePlan.GetId().GetValue(): after.raw["CarePlan/"+after.carePlan.GetId().GetValue()]})
}

// role is a PractitionerRole of the community (scenario.professional's)
// as stored, with extra elements (`,"active":false`).
func role(id, org, codes, extra string) string {
	return `{"resourceType":"PractitionerRole","id":"` + id + `","practitioner":{"reference":"Practitioner/` + id + `-p"},` +
		`"organization":{"reference":"Organization/` + org + `"},"code":[{"coding":[` + codes + `]}]` + extra + `}`
}

// TestLeftDirectoryHandsOver: a recipient who leaves the directory (her
// PractitionerRole set inactive, its period ended, a HealthcareService
// set inactive) while she holds routing Tasks she has not accepted is not
// waited for: each is cancelled with a status reason saying she left,
// and the next candidate asked in a Task that follows it, as after a
// refusal or a time-out (a home-help service's successor waits for the
// patient's permit too); the request names the new owner and the plan
// shows the hand-over. A Task she accepted, and the GP's, stay hers, and
// are listed for the hospital to follow up.
func TestLeftDirectoryHandsOver(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("z-pharma-lille", "cabinet-lille", nil, []string{g15("21")})
	s.professional("z-cardio-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM04"))
	help := `{"resourceType":"HealthcareService","id":"help-nord","providedBy":{"reference":"Organization/nord"},` +
		`"type":[{"coding":[` + r85("372") + `]}]%s}`
	s.add(fmt.Sprintf(help, `,"active":true`))
	s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
	p := s.route("e-p1")
	ctx := context.Background()
	departures := func(pl *routing.Planner, want int) {
		t.Helper()
		if n, err := pl.Departures(ctx); err != nil || n != want {
			t.Fatalf("Departures: %d, %v; want %d", n, err, want)
		}
	}
	departures(s.cfg.Routing, 0) // nobody left yet

	nurse, pharma, cardio, gp := p.only(t, "nurse"), p.only(t, "pharmacist"), p.only(t, "cardiologist"), p.only(t, "gp")
	homeHelp := p.only(t, "home-help")
	if got := resource.RefString(homeHelp.GetOwner()); got != "HealthcareService/help-nord" {
		t.Fatalf("the home-help Task goes to %s (%s)", got, noteOf(homeHelp))
	}
	if r := s.do("PATCH", "/fhir/Task/"+cardio.GetId().GetValue(), `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", s.as("PractitionerRole/cardio-lille"), "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Fatalf("the cardiologist accepts: %d %s", r.status, r.body)
	}
	// The directory changes: the nurse, the cardiologist and the GP
	// stop, the home-help service closes, the pharmacist's role ends in
	// an hour.
	s.add(role("nurse-lille", "cabinet-lille", g15("60"), `,"active":false`))
	s.add(role("cardio-lille", "cabinet-lille", g15("10"), `,"active":false,"specialty":[{"coding":[`+r38("SM04")+`]}]`))
	s.add(role("gp-own", "cabinet-lille", g15("10"), `,"active":false,"specialty":[{"coding":[`+r38("SM54")+`]}]`))
	s.add(fmt.Sprintf(help, `,"active":false`))
	s.add(role("pharma-lille", "cabinet-lille", g15("21"), `,"active":true,"period":{"end":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`))
	s.write()
	departures(s.cfg.Routing, 4) // the nurse's and the home help's handed over, the cardiologist's and the GP's listed
	departures(s.cfg.Routing, 0) // once

	handed := func(old *tpb.Task, why, next string, status string) {
		t.Helper()
		id := old.GetId().GetValue()
		got := s.task(id)
		if taskStatus(got) != "cancelled" || got.GetStatusReason().GetText().GetValue() != routing.LeftDirectory+": "+why {
			t.Errorf("Task/%s of a recipient who left: %s, %q", id, taskStatus(got), got.GetStatusReason().GetText().GetValue())
		}
		nextID := strings.TrimSuffix(id, "-1") + "-2"
		nt := s.task(nextID)
		if resource.RefString(nt.GetOwner()) != next || taskStatus(nt) != status || follows(nt) != "Task/"+id {
			t.Errorf("the Task after Task/%s: %s for %s following %q; want %s for %s (%s)", id, taskStatus(nt), resource.RefString(nt.GetOwner()),
				follows(nt), status, next, noteOf(nt))
		}
		if n := noteOf(nt); !strings.Contains(n, "Task/"+id+" was cancelled ("+routing.LeftDirectory) || !strings.Contains(n, resource.RefString(old.GetOwner())+" (") {
			t.Errorf("the Task after Task/%s does not say %s left: %s", id, resource.RefString(old.GetOwner()), n)
		}
		if got := s.performerOf(resource.RefString(old.GetFocus())); got != next {
			t.Errorf("%s names %s as performer, want %s", resource.RefString(old.GetFocus()), got, next)
		}
	}
	handed(nurse, "inactive", "PractitionerRole/z-nurse-lille", "requested")
	handed(homeHelp, "inactive", "PractitionerRole/homehelp-nord", "on-hold")
	if got := s.myWork("PractitionerRole/z-nurse-lille"); !slices.Equal(got, []string{"Task/" + strings.TrimSuffix(nurse.GetId().GetValue(), "-1") + "-2"}) {
		t.Errorf("the next nurse's Tasks: %v", got)
	}
	// Accepted, or the GP's: left to their owner, listed for follow-up.
	var listed []string
	for _, m := range s.search("/fhir/Task?business-status="+routing.RoutingStatus+"|"+routing.RecipientLeft, nil) {
		listed = append(listed, resource.ID(m))
	}
	sort.Strings(listed)
	if want := []string{cardio.GetId().GetValue(), gp.GetId().GetValue()}; !slices.Equal(listed, want) {
		t.Errorf("the Tasks listed for follow-up: %v, want %v", listed, want)
	}
	if got := s.task(cardio.GetId().GetValue()); taskStatus(got) != "accepted" || resource.RefString(got.GetOwner()) != "PractitionerRole/cardio-lille" {
		t.Errorf("the accepted Task: %s for %s", taskStatus(got), resource.RefString(got.GetOwner()))
	}
	if got := s.task(pharma.GetId().GetValue()); taskStatus(got) != "requested" {
		t.Errorf("the pharmacist's Task before her role ends: %s", taskStatus(got))
	}

	// Her period over (the router's clock two hours on), the
	// pharmacist's Task goes to the next one.
	departures(s.laterPlanner(2*time.Hour), 1)
	handed(pharma, "its period ended (PractitionerRole.period)", "PractitionerRole/z-pharma-lille", "requested")

	after := s.planOf("e-p1")
	plan := string(after.raw["CarePlan/"+after.carePlan.GetId().GetValue()])
	if want := "Task/" + nurse.GetId().GetValue() + " cancelled, asked of PractitionerRole/nurse-lille (" + routing.LeftDirectory + ": inactive)"; !strings.Contains(plan, want) {
		t.Errorf("the CarePlan lacks %q: %s", want, plan)
	}
	// The follow-up done: the accepted Task given to another
	// cardiologist is no longer listed as its recipient's who left.
	if got := s.reassignByPut(cardio.GetId().GetValue(), "PractitionerRole/z-cardio-lille"); got.GetBusinessStatus() != nil {
		t.Errorf("the re-assigned Task keeps its businessStatus %v", got.GetBusinessStatus().GetCoding())
	}
	// The GP back in active use: her Task is hers again, off the list.
	s.add(role("gp-own", "cabinet-lille", g15("10"), `,"active":true,"specialty":[{"coding":[`+r38("SM54")+`]}]`))
	s.write()
	departures(s.cfg.Routing, 1)
	if got := s.task(gp.GetId().GetValue()); got.GetBusinessStatus() != nil {
		t.Errorf("the GP back, her Task keeps its businessStatus %v", got.GetBusinessStatus().GetCoding())
	}
	raw := map[string][]byte{}
	for _, id := range []string{nurse.GetId().GetValue(), strings.TrimSuffix(nurse.GetId().GetValue(), "-1") + "-2", cardio.GetId().GetValue()} {
		raw["Task/"+id] = mustEncode(t, s.task(id))
	}
	validate(t, raw)
}

// TestLeftDirectoryWithItsOrganization: a role is in active use only
// while the Organization it is for is (R4 Organization.active): the
// practice closing takes its nurse out of the directory, and her Task
// goes to the next candidate.
func TestLeftDirectoryWithItsOrganization(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.org("nord", territory("2", "59"))
	s.org("cabinet-wazemmes", territory("3", "59350"))
	s.professional("nurse-wazemmes", "cabinet-wazemmes", nil, []string{g15("60")})
	s.professional("a-nurse-nord", "nord", nil, []string{g15("60")})
	s.discharge(surgery("p1", lilleAddress))
	nurse := s.route("e-p1").only(t, "nurse")
	if got := resource.RefString(nurse.GetOwner()); got != "PractitionerRole/nurse-wazemmes" {
		t.Fatalf("the nurse's Task goes to %s (%s)", got, noteOf(nurse))
	}
	s.add(`{"resourceType":"Organization","id":"cabinet-wazemmes","active":false,"name":"cabinet-wazemmes"` + list("extension", []string{territory("3", "59350")}) + `}`)
	s.write()
	if n, err := s.cfg.Routing.Departures(context.Background()); err != nil || n != 1 {
		t.Fatalf("Departures: %d, %v; want the nurse's Task", n, err)
	}
	id := nurse.GetId().GetValue()
	if got := s.task(id); taskStatus(got) != "cancelled" || got.GetStatusReason().GetText().GetValue() != routing.LeftDirectory+": inactive (its Organization)" {
		t.Errorf("Task/%s: %s, %q", id, taskStatus(got), got.GetStatusReason().GetText().GetValue())
	}
	if next := s.task(strings.TrimSuffix(id, "-1") + "-2"); resource.RefString(next.GetOwner()) != "PractitionerRole/a-nurse-nord" || taskStatus(next) != "requested" {
		t.Errorf("the next Task: %s for %s (%s)", taskStatus(next), resource.RefString(next.GetOwner()), noteOf(next))
	}
}
