package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ctpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_team_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/routing"
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
	if nt.GetStatus().GetValue() == codes.TaskStatusCode_REJECTED || routing.ReRouted(nt) {
		// refused by its owner, or taken off her by its requester to
		// re-route it: the next candidate is asked in the same write
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

// explainOwner has routing explain, on a routing Task its requester gives
// to someone else, why the new owner is asked (routing.Reassigned): the
// write is allowed by then (access.Change keeps a caller from rewriting
// the explanation herself), and the version it replaces keeps the old one.
func (a *API) explainOwner(r *http.Request, old, new proto.Message) error {
	ot, ok1 := old.(*tpb.Task)
	nt, ok2 := new.(*tpb.Task)
	if !ok1 || !ok2 || a.routing == nil {
		return nil
	}
	return a.routing.Reassigned(r.Context(), ot, nt, callOf(r).p.FHIRUser)
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
