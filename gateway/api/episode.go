package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	ctpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_team_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// A health professional who accepts a Task about a stay joins the stay's
// care team, so that the French base policy then gives her what her role
// needs (DESIGN.md, "Pathways": a candidate sees the Task until she
// accepts; one who accepts joins the episode's CareTeam; one who rejects
// does not). The episode's CareTeam is the server's: its id comes from the
// Encounter, it is written in the same transaction as the acceptance, and
// only this rule changes it (nobody else may write a CareTeam but a system
// caller, gateway/access).

// join is a Task acceptance that adds its owner to the episode's team.
type join struct {
	patient, encounter *dtpb.Reference
	owner              *dtpb.Reference
}

// noteTaskMove remembers, for writeEntries, what a Task's move entails: an
// acceptance by a health professional adds her to the stay's team; a
// rejection of a routing Task asks the next candidate (rejections).
func (a *API) noteTaskMove(r *http.Request, old, new proto.Message) error {
	ot, ok1 := old.(*tpb.Task)
	nt, ok2 := new.(*tpb.Task)
	if !ok1 || !ok2 || ot.GetStatus().GetValue() == nt.GetStatus().GetValue() {
		return nil
	}
	c := callOf(r)
	c.moves = append(c.moves, nt)
	if nt.GetStatus().GetValue() == codes.TaskStatusCode_REJECTED {
		c.rejections = append(c.rejections, nt)
		return nil
	}
	if nt.GetEncounter() == nil || nt.GetOwner() == nil || nt.GetStatus().GetValue() != codes.TaskStatusCode_ACCEPTED {
		return nil
	}
	st, err := a.consent.Standing(r.Context(), resource.RefString(nt.GetOwner()))
	if err != nil || !st.Health {
		return err
	}
	if slices.Contains(st.Refs, resource.RefString(nt.GetRequester())) {
		// A Task she asked of herself (or her organisation did) is no one
		// else's request: accepting it must not open the patient's record.
		return nil
	}
	c.joins = append(c.joins, join{patient: nt.GetForValue(), encounter: nt.GetEncounter(), owner: nt.GetOwner()})
	return nil
}

// episodeEntries are the CareTeam writes of the acceptances noted, each
// pinned to the version it adds to.
func (a *API) episodeEntries(ctx context.Context, joins []join) ([]store.TxEntry, error) {
	var out []store.TxEntry
	at := map[string]int{} // CareTeam id -> its entry in out
	for _, j := range joins {
		enc := resource.RefString(j.encounter)
		h := sha256.Sum256([]byte(enc))
		id := "episode-" + hex.EncodeToString(h[:8])
		if i, ok := at[id]; ok { // two acceptances of one stay in one request
			t := out[i].Resource.(*ctpb.CareTeam)
			t.Participant = append(t.Participant, &ctpb.CareTeam_Participant{Member: j.owner})
			continue
		}
		team := &ctpb.CareTeam{
			Id:        &dtpb.Id{Value: id},
			Status:    &ctpb.CareTeam_StatusCode{Value: codes.CareTeamStatusCode_ACTIVE},
			Name:      &dtpb.String{Value: "Care team of the stay"},
			Subject:   j.patient,
			Encounter: j.encounter,
		}
		var ver uint64
		rec, err := a.store.Read("CareTeam", id)
		if err == nil {
			m, derr := a.codec.DecodeStored(rec.JSON)
			if derr != nil {
				return nil, derr
			}
			team, ver = m.(*ctpb.CareTeam), rec.Version
		}
		owner := resource.RefString(j.owner)
		if slices.ContainsFunc(team.GetParticipant(), func(p *ctpb.CareTeam_Participant) bool {
			return resource.RefString(p.GetMember()) == owner
		}) {
			continue
		}
		team.Participant = append(team.Participant, &ctpb.CareTeam_Participant{Member: j.owner})
		at[id] = len(out)
		out = append(out, store.TxEntry{Method: "PUT", Type: "CareTeam", ID: id, Resource: team, Pinned: true, Expect: ver})
	}
	return out, nil
}

// nextEntries are the Tasks for the next candidates of the routing Tasks
// rejected, each created only if its id is still free.
func (a *API) nextEntries(ctx context.Context, rejected []*tpb.Task) ([]store.TxEntry, error) {
	var out []store.TxEntry
	for _, t := range rejected {
		if a.routing == nil {
			break
		}
		next, err := a.routing.Next(ctx, t)
		if err != nil {
			return nil, err
		}
		if next != nil {
			out = append(out, store.TxEntry{Method: "PUT", Type: "Task", ID: next.GetId().GetValue(), Resource: next, Pinned: true})
		}
	}
	return out, nil
}

// planEntries write, on the CarePlan of each routing Task moved, a progress
// note on the activity of the Task's ServiceRequest ("Task/x accepted by
// PractitionerRole/y"): R4 forbids an activity both a reference and a
// detail with its status (cpl-3), so the plan follows its Tasks through
// CarePlan.activity.progress, and the GP, who reads the plan, sees who
// accepted. Each CarePlan is pinned to the version it adds to.
func (a *API) planEntries(moves []*tpb.Task) ([]store.TxEntry, error) {
	var out []store.TxEntry
	at := map[string]int{}
	for _, t := range moves {
		sr := resource.RefString(t.GetFocus())
		id := strings.TrimPrefix(sr, "ServiceRequest/")
		// routing's ids: the CarePlan "route-<16 hex>", its requests and
		// their Tasks below it (gateway/routing).
		if !strings.HasPrefix(id, "route-") || len(id) < 22 {
			continue
		}
		cpID := id[:22]
		var cp *cppb.CarePlan
		if i, ok := at[cpID]; ok {
			cp = out[i].Resource.(*cppb.CarePlan)
		} else {
			rec, err := a.store.Read("CarePlan", cpID)
			if err != nil {
				continue // no plan to show it on
			}
			msg, err := a.codec.DecodeStored(rec.JSON)
			if err != nil {
				return nil, err
			}
			cp = msg.(*cppb.CarePlan)
			at[cpID] = len(out)
			out = append(out, store.TxEntry{Method: "PUT", Type: "CarePlan", ID: cpID, Resource: cp, Pinned: true, Expect: rec.Version})
		}
		status := strings.ReplaceAll(strings.ToLower(t.GetStatus().GetValue().String()), "_", "-")
		note := &dtpb.Annotation{
			Text: &dtpb.Markdown{Value: "Task/" + t.GetId().GetValue() + " " + status + " by " + resource.RefString(t.GetOwner())},
			Time: &dtpb.DateTime{ValueUs: a.now().UnixMicro(), Timezone: "UTC", Precision: dtpb.DateTime_SECOND},
		}
		for _, act := range cp.GetActivity() {
			if resource.RefString(act.GetReference()) == sr {
				act.Progress = append(act.Progress, note)
			}
		}
	}
	return out, nil
}
