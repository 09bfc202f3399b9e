package api_test

import (
	"slices"
	"strings"
	"testing"

	ctpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_team_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// TestReassignedAcceptedTaskIsAskedAgain: the discharge coordinator gives
// a routing Task its owner had accepted (or started) to someone else: the
// round of the nurse who accepted changed, the visit goes to another. The
// new owner has accepted nothing (R4 task.html#statemachine: accepted,
// then in progress, are the owner's moves), so the Task is requested of
// her, or waits on-hold for the patient's permit when she needs one; the
// nurse who accepted stays in the stay's CareTeam, which her acceptance
// joined her to (she did act), and the plan notes the move. The new owner
// then accepts it herself.
func TestReassignedAcceptedTaskIsAskedAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, moves, to, want string
	}{
		{name: "accepted, to another nurse", moves: "accepted", to: "PractitionerRole/z-nurse-lille", want: "requested"},
		{name: "in progress, to another nurse", moves: "accepted,in-progress", to: "PractitionerRole/z-nurse-lille", want: "requested"},
		{name: "in progress, to the social worker", moves: "accepted,in-progress", to: "PractitionerRole/social-nord", want: "on-hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.community()
			s.coordinator()
			s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
			s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1950-01-01", diagnoses: []string{"I50.9"}})
			p := s.route("e-p1")
			nurse, first := p.only(t, "nurse"), "PractitionerRole/nurse-lille"
			id := nurse.GetId().GetValue()
			if got := resource.RefString(nurse.GetOwner()); got != first {
				t.Fatalf("the nurse's Task goes to %s", got)
			}
			for _, st := range strings.Split(tc.moves, ",") {
				s.move(id, first, st)
			}

			got := s.reassign(id, tc.to)
			if tc.want == "on-hold" {
				s.waiting(t, got, "p1")
			} else if taskStatus(got) != tc.want || got.GetStatusReason() != nil {
				t.Errorf("the Task given to %s: %s (%q); want %s", tc.to, taskStatus(got), got.GetStatusReason().GetText().GetValue(), tc.want)
			}
			// The nurse who accepted stays in the stay's team.
			var members []string
			for _, m := range s.search("/fhir/CareTeam?patient=Patient/p1", nil) {
				for _, pt := range m.(*ctpb.CareTeam).GetParticipant() {
					members = append(members, resource.RefString(pt.GetMember()))
				}
			}
			if !slices.Contains(members, first) || slices.Contains(members, tc.to) {
				t.Errorf("the stay's CareTeam after the re-assignment: %v; want %s in it, not %s", members, first, tc.to)
			}
			// The plan notes the change of owner and the new status.
			cp := string(s.do("GET", "/fhir/CarePlan/"+p.carePlan.GetId().GetValue(), "").body)
			for _, want := range []string{"Task/" + id + " re-assigned from " + first + " to " + tc.to, "Task/" + id + " " + tc.want + " "} {
				if !strings.Contains(cp, want) {
					t.Errorf("the plan's progress lacks %q: %s", want, cp)
				}
			}
			if tc.want == "requested" {
				s.move(id, tc.to, "accepted") // hers to accept now
			}
		})
	}
}

// move is the owner's JSON Patch of Task/id to status.
func (s *scenario) move(id, owner, status string) {
	s.t.Helper()
	r := s.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/status","value":"`+status+`"}]`,
		"Authorization", s.as(owner), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		s.t.Fatalf("%s moves Task/%s to %s: %d %s", owner, id, status, r.status, r.body)
	}
}
