package routing

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/directory"
)

// A routing Task's first note is routing's explanation of why its owner
// was asked (R4 Task.note, "information captured about the task as it
// progresses"). When its requester gives the Task to someone else (R4
// Task.owner: the requester decides who is asked; a round that is full, a
// role withdrawn, a recipient found by hand), the explanation follows the
// owner: the new one reads why she was asked, not why her predecessor
// was, and the Task's history keeps the explanation each version had. A
// Task that went to the discharging organisation for want of a candidate
// is no longer one once someone else owns it.

// Reassigned rewrites t, the new version of a routing Task whose owner
// differs from was's, its version before, for its new owner: routing's
// explanation (its first note, unless the write changed it itself) says
// who gave it to her (by, the writer, "" when unnamed) instead of whom,
// and how she fits the request (the patient's GP, her care team, the
// directory's candidates for the role); a businessStatus the write left
// as it was that listed the Task for follow-up because of its owner (no
// candidate, its recipient left the directory) goes. A Task not accepted yet waits for the
// patient's explicit permit as a routed one does (permitPending): on-hold
// with the status reason PermitRequired when its new owner needs one the
// patient has not given, requested when only her predecessor did. A Task
// her predecessor accepted (accepted, ready, in progress, on hold by her)
// and whose status the write left as it was is asked of the new owner
// the same way, requested or on-hold for the permit: she has accepted
// nothing. Her predecessor stays in the stay's CareTeam, which her
// acceptance joined her to (she did act), and the plan notes the move
// (progress). A Task routing did not make is left as it is.
func (pl *Planner) Reassigned(ctx context.Context, was, t *tpb.Task, by string) error {
	from, to := resource.RefString(was.GetOwner()), resource.RefString(t.GetOwner())
	if from == to || !strings.HasPrefix(resource.ID(t), "route-") || to == "" {
		return nil
	}
	return pl.within(ctx, func(ctx context.Context) error {
		fit, wait, err := pl.fits(ctx, t, to)
		if err != nil {
			return err
		}
		// What her predecessor accepted, the new owner has not (R4
		// task.html#statemachine: accepted, then ready, in progress, on
		// hold, are the owner's moves): a Task whose status the write left
		// as it was is asked of her anew.
		taken := accepted(t) && t.GetStatus().GetValue() == was.GetStatus().GetValue()
		switch st := t.GetStatus().GetValue(); {
		case wait && (st == codes.TaskStatusCode_REQUESTED || st == codes.TaskStatusCode_RECEIVED || WaitsForPermit(t) || taken):
			t.Status = &tpb.Task_StatusCode{Value: codes.TaskStatusCode_ON_HOLD}
			t.StatusReason = permitRequired()
		case !wait && (WaitsForPermit(t) || taken):
			t.Status = &tpb.Task_StatusCode{Value: codes.TaskStatusCode_REQUESTED}
			t.StatusReason = nil
		}
		w := say("re-assigned by its requester", Step{Code: "reassigned-by-requester"})
		if by != "" {
			w = say("re-assigned by "+by, Step{Code: "reassigned", Who: []string{by}})
		}
		if from != "" {
			w = w.then(" ", say("from "+from, Step{Code: "reassigned-from", Who: []string{from}}))
		}
		if len(t.Note) > 0 && len(was.Note) > 0 && proto.Equal(t.Note[0], was.Note[0]) {
			t.Note[0] = w.then(": ", fit).note()
		}
		if to != resource.RefString(t.GetRequester()) && proto.Equal(t.GetBusinessStatus(), was.GetBusinessStatus()) &&
			hasCode(t.GetBusinessStatus(), "no-candidate", RecipientLeft) {
			t.BusinessStatus = nil // the follow-up it listed the Task for is this re-assignment
		}
		return nil
	})
}

// accepted reports whether t's owner accepted it: accepted, ready, in
// progress, or on hold other than waiting for the patient's permit (R4
// task.html#statemachine: each follows an acceptance, and only the
// owner moves a Task there).
func accepted(t *tpb.Task) bool {
	switch t.GetStatus().GetValue() {
	case codes.TaskStatusCode_ACCEPTED, codes.TaskStatusCode_READY, codes.TaskStatusCode_IN_PROGRESS:
		return true
	case codes.TaskStatusCode_ON_HOLD:
		return !WaitsForPermit(t)
	}
	return false
}

// fits says how owner, given the routing Task t by hand, fits its request:
// by the rules that choose a recipient (recipient), whether she is the
// patient's GP, one of her own professionals with the role, a candidate of
// the directory (and why it keeps her) or one it skips (and why), and
// whether the patient objected to her or has yet to give the permit she
// needs to be asked (wait: permitPending).
func (pl *Planner) fits(ctx context.Context, t *tpb.Task, owner string) (w why, wait bool, err error) {
	m, err := pl.read(ctx, "ServiceRequest", strings.TrimPrefix(resource.RefString(t.GetFocus()), "ServiceRequest/"))
	if err != nil {
		return why{}, false, err
	}
	sr, ok := m.(*srpb.ServiceRequest)
	roles := rolesOf(sr.GetPerformerType())
	if !ok || len(roles) == 0 {
		return say(owner+", chosen by hand", Step{Code: "chosen-by-hand", Who: []string{owner}}), false, nil
	}
	s, err := pl.stayOf(ctx, strings.TrimPrefix(resource.RefString(sr.GetEncounter()), "Encounter/"))
	if err != nil {
		return why{}, false, err
	}
	if owner == resource.RefString(s.requester) {
		return followsUp, false, nil
	}
	kind, cats := needs(pl.actionOf(ctx, sr, roles[0]))
	for _, role := range roles {
		if w, err = pl.fitsRole(ctx, s, role, sr.GetOccurrence().GetPeriod(), owner); w.text != "" || err != nil {
			break
		}
	}
	if err != nil {
		return why{}, false, err
	}
	if w.text == "" {
		w = say(owner+", chosen by hand: not among the directory's candidates for role "+strings.Join(roles, " or "),
			Step{Code: "not-a-candidate", Who: []string{owner}, Roles: roles})
	}
	d, err := pl.cfg.Consent.Decide(ctx, consent.Request{Patient: s.patientRef, Actor: owner,
		Resource: consent.ResourceFacts{Type: "ServiceRequest", Categories: cats}})
	if err != nil {
		return why{}, false, err
	}
	if wait, err = pl.permitPending(ctx, s.patientRef, owner, kind, d); err != nil {
		return why{}, false, err
	}
	w = w.then("; ", narrowPermit(d))
	switch {
	case d.Objection:
		w = w.then("; ", say("the patient objected: "+joinRefs(d.Basis), Step{Code: "objected", Consents: d.Basis}))
	case wait:
		w = w.then("; ", say("the patient's explicit permit is still required", Step{Code: "waiting-permit"}))
	}
	return w, wait, nil
}

// fitsRole says how owner fits role for the stay s: nothing when she holds
// it neither as the patient's GP, nor in her care team, nor in the
// directory.
func (pl *Planner) fitsRole(ctx context.Context, s *stay, role string, win *dtpb.Period, owner string) (why, error) {
	if role == "gp" {
		if slices.ContainsFunc(s.patient.GetGeneralPractitioner(), func(r *dtpb.Reference) bool { return resource.RefString(r) == owner }) {
			return say("the patient's general practitioner (Patient.generalPractitioner)", Step{Code: "general-practitioner", Who: []string{owner}}), nil
		}
		// or her directory role, routing's choice for her
		gp, w, err := pl.generalPractitioner(ctx, s)
		if err != nil {
			return why{}, err
		}
		if gp != nil && resource.RefString(gp) == owner {
			return w, nil
		}
	}
	own, err := pl.ownProfessionals(ctx, s, directory.Role(role), nil, 0)
	if err != nil {
		return why{}, err
	}
	if slices.Contains(own, owner) {
		return say(owner+" is in the patient's care team with this role", Step{Code: "care-team", Who: []string{owner}}), nil
	}
	_, ex, err := pl.candidates(ctx, s, role, win, 0)
	if err != nil {
		return why{}, err
	}
	for _, k := range ex.Kept {
		if k.Ref == owner {
			return why{"a candidate of the directory for role " + role + ": " + owner + " (" + k.Why + ")",
				append([]Step{{Code: "directory-candidate", Who: []string{owner}, Roles: []string{role}}}, kept(k)...)}, nil
		}
	}
	for _, sk := range ex.Skipped {
		if sk.Ref == owner {
			w := say(owner+", chosen by hand: the directory would not propose her for role "+role,
				Step{Code: "not-proposed", Who: []string{owner}, Roles: []string{role}})
			r := directoryReason(sk).of(owner)
			return w.then(" ", why{"(" + sk.Why + ")", r.steps}), nil
		}
	}
	return why{}, nil
}
