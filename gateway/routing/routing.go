// Package routing plans a discharge: which pathway (gateway/pathways) the
// stay follows, and for each of its actions, a ServiceRequest and a Task
// addressed to a chosen recipient (gateway/directory), under a CarePlan that
// instantiates the pathway. Plan reads and decides; Write stores the plan.
//
// The recipient of an action: the GP is always Patient.generalPractitioner;
// anyone else is a member of the patient's CareTeams holding the role (her
// own professionals first), else the first candidate of the directory
// (role, territory, language, availability; its documented rank) whom the
// patient has not objected to. A rejection, or no answer within the
// time-out, asks the next one (Next, TimeOut). A social recipient, and
// anyone across the border, needs the patient's explicit permit: her Task
// is on-hold with a status reason saying so until one is recorded, however
// it came to her (permitPending). No candidate left: the Task goes to the discharging
// organisation (the Encounter's serviceProvider) with a businessStatus
// saying why. Every choice is explained in the Task's note, in English
// and coded (explain.go), as the plan's progress notes and the status
// reasons routing gives are.
//
// Ids are derived from the Encounter, the pathway and the action, and Write
// creates only what does not exist yet (PUT if absent): routing a stay
// again adds what is missing and never duplicates or resets what a
// recipient already answered.
//
// Routing runs on its own, in the transaction that stores the discharge
// (Planner.Follow, a store.Follower): the write that finishes a stay, from
// any source (HL7 v2 A03, a discharge letter, a FHIR Encounter set to
// finished), commits its plan with it; an A16's expected discharge commits
// a draft. On demand, POST /fhir/Encounter/{id}/$route plans again. Run
// routes, from the store's change log, what the transaction left for later
// (a stay whose Patient came afterwards, a discharge stored before the
// planner was following), times out unanswered Tasks, and hands over
// the Tasks of recipients who left the directory (Departures).
//
// Caveats: the plan reads what the discharge's transaction holds, so the
// diagnoses a later message adds to a stay routed already do not change
// its pathway ($route adds what a new plan would); one it withdraws does
// (withdraw.go). The eligibility
// criteria procedure and delivery are read from the stay's Procedures and
// diagnoses only.
package routing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	ctpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_team_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	enpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	obpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"
	practpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/terminology"
)

// PermitRequired is the statusReason of a social recipient's Task waiting
// for the patient's explicit permit (coded RoutingStatus|permit-required):
// recording one releases it (gateway/api releases such Tasks in the
// transaction that writes it).
const PermitRequired = "the patient's explicit permit is required"

// permitRequired is the statusReason PermitRequired.
func permitRequired() *dtpb.CodeableConcept { return reasonOf(PermitRequiredCode, PermitRequired) }

// WaitsForPermit reports whether t is a routing Task held for the
// patient's explicit permit (permitPending): on-hold with the status
// reason PermitRequired (its code, or its text alone, as versions before
// it was coded wrote it).
func WaitsForPermit(t *tpb.Task) bool {
	r := t.GetStatusReason()
	return t.GetStatus().GetValue() == codes.TaskStatusCode_ON_HOLD && (hasCode(r, PermitRequiredCode) || r.GetText().GetValue() == PermitRequired)
}

// Config configures a Planner.
type Config struct {
	Store     *store.Store
	Codec     *codec.Codec
	Directory *directory.Directory
	Communes  *directory.Communes
	Consent   *consent.Engine
	Now       func() time.Time // default time.Now
	// RouteOnWrite routes each discharge in the transaction that stores
	// it (Follow); without, stays are routed by Run and on demand.
	RouteOnWrite bool
	// TaskTimeout is how long a recipient has to answer a routing Task
	// before it is cancelled and the next candidate asked (default
	// DefaultTaskTimeout).
	TaskTimeout time.Duration
}

// DefaultTaskTimeout is how long a recipient has to answer by default.
const DefaultTaskTimeout = 24 * time.Hour

// Planner plans discharges. It is safe for concurrent use.
type Planner struct {
	cfg Config
	// the active PlanDefinitions, parsed, and the PlanDefinition
	// generation they were read at (store.Snapshot.TypesGeneration)
	mu         sync.Mutex
	plans      []*pdpb.PlanDefinition
	plansGen   uint64
	refreshing atomic.Bool // the committed PlanDefinitions are being parsed
	// swept is when Departures last looked for the roles whose period
	// ended (Unix µs; 0: never)
	swept atomic.Int64
}

// New returns a Planner.
func New(cfg Config) (*Planner, error) {
	if cfg.Store == nil || cfg.Codec == nil || cfg.Directory == nil || cfg.Communes == nil || cfg.Consent == nil {
		return nil, fmt.Errorf("routing: Store, Codec, Directory, Communes and Consent are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TaskTimeout <= 0 {
		cfg.TaskTimeout = DefaultTaskTimeout
	}
	return &Planner{cfg: cfg}, nil
}

// Plan is what routing a stay makes: the CarePlan, and per pathway action
// its ServiceRequest and Task, in order, with the reasons.
type Plan struct {
	Pathway  string // canonical URL|version of the PlanDefinition
	CarePlan *cppb.CarePlan
	Requests []*srpb.ServiceRequest
	Tasks    []*tpb.Task
	Reasons  []string // why this pathway, and each choice
	Draft    bool     // prepared ahead of an expected discharge
}

// Resources returns the plan's resources: the CarePlan, then each
// ServiceRequest and its Task.
func (p *Plan) Resources() []proto.Message {
	out := []proto.Message{p.CarePlan}
	for i := range p.Requests {
		out = append(out, p.Requests[i], p.Tasks[i])
	}
	return out
}

// stay is what routing knows of a discharge.
type stay struct {
	encounter  *enpb.Encounter
	patient    *patpb.Patient
	patientRef string
	discharge  time.Time
	requester  *dtpb.Reference // the discharging organisation
	diagnoses  []*dtpb.Reference
	codes      []string // ICD-10 codes of the stay's diagnoses
	procedures []string // "system|code" of its procedures
	surgery    bool
	age        int // years at discharge, -1 unknown
	gir        int // the latest GIR, 0 unknown
	// draft: the stay is not finished yet, its discharge only expected
	// (HL7 v2 A16): the plan is prepared as a draft.
	draft bool
	// place is where the patient lives, resolved once for all the
	// stay's actions (placeOf).
	place  directory.Place
	placed bool
}

// placeOf is where the patient of s lives (directory.Communes.PlaceOf).
func (pl *Planner) placeOf(s *stay) directory.Place {
	if !s.placed {
		s.place, s.placed = pl.cfg.Communes.PlaceOf(s.patient), true
	}
	return s.place
}

// ExpectedDischargeURL is the extension an A16 puts on the Encounter in
// progress: the expected discharge date.
const ExpectedDischargeURL = hl7v2.ExpectedDischargeURL

// Plan plans the stay of Encounter/id. A stay that fits no pathway is an
// outcome.Unprocessable error saying so.
func (pl *Planner) Plan(ctx context.Context, encounterID string) (plan *Plan, err error) {
	return pl.planAfter(ctx, encounterID, -1)
}

// planAfter is Plan knowing how many plans of the stay were withdrawn
// (routed), or counting them when withdrawn < 0.
func (pl *Planner) planAfter(ctx context.Context, encounterID string, withdrawn int) (plan *Plan, err error) {
	err = pl.within(ctx, func(ctx context.Context) error {
		if withdrawn < 0 {
			if _, withdrawn, err = pl.routed(ctx, encounterID); err != nil {
				return err
			}
		}
		plan, err = pl.plan(ctx, encounterID, withdrawn)
		return err
	})
	return plan, err
}

func (pl *Planner) plan(ctx context.Context, encounterID string, withdrawn int) (*Plan, error) {
	s, err := pl.stayOf(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	if listed, err := pl.listedOnly(ctx, encounterID); err != nil {
		return nil, err
	} else if listed {
		return nil, outcome.New(outcome.Unprocessable, "the Encounter is one a document recounts, not the stay it hands over: nothing to route")
	}
	if why := notHome(s); why != "" {
		return nil, outcome.New(outcome.Unprocessable, "the patient is not going home: nothing to hand over to the community",
			outcome.Issue{Severity: outcome.SevError, Text: why})
	}
	pd, why, err := pl.pathway(ctx, s)
	if err != nil {
		return nil, err
	}
	plan := &Plan{Reasons: []string{why}}
	plan.Pathway = pd.GetUrl().GetValue() + "|" + pd.GetVersion().GetValue()
	base := "route-" + digest(encounterID, pd.GetUrl().GetValue())
	if withdrawn > 0 {
		// a discharge again after one cancelled: a plan of its own,
		// beside the withdrawn one, whose Tasks stay cancelled
		base = "route-" + digest(encounterID, pd.GetUrl().GetValue(), strconv.Itoa(withdrawn))
	}
	plan.CarePlan = carePlan(base, plan.Pathway, s)
	for _, a := range pd.GetAction() {
		sr, task, reason, err := pl.action(ctx, base, s, a)
		if err != nil {
			return nil, err
		}
		plan.Requests, plan.Tasks = append(plan.Requests, sr), append(plan.Tasks, task)
		plan.Reasons = append(plan.Reasons, reason)
		plan.CarePlan.Activity = append(plan.CarePlan.Activity, &cppb.CarePlan_Activity{Reference: resource.Ref("ServiceRequest", resource.ID(sr))})
	}
	// The requests the discharge itself carries (a discharge letter's
	// "Suites à donner", LOINC 18776-5; a C-CDA plan of treatment) join the
	// plan as activities of their own: they are the hospital's, and routing
	// neither changes them nor asks anyone for them.
	own, err := pl.search(ctx, "ServiceRequest", url.Values{"encounter": {"Encounter/" + encounterID}})
	if err != nil {
		return nil, err
	}
	for _, m := range own {
		if id := resource.ID(m); !strings.HasPrefix(id, "route-") {
			plan.CarePlan.Activity = append(plan.CarePlan.Activity, &cppb.CarePlan_Activity{Reference: resource.Ref("ServiceRequest", id)})
			plan.Reasons = append(plan.Reasons, "ServiceRequest/"+id+" of the discharge joins the plan")
		}
	}
	if s.draft {
		// Prepared ahead of an expected discharge (A16): nothing is asked
		// of anyone until the stay is finished, a social recipient waiting
		// for the patient's permit included (a permit recorded meanwhile
		// releases nothing: the discharge plans her Task again).
		plan.Draft = true
		plan.CarePlan.Status.Value = codes.RequestStatusCode_DRAFT
		for i := range plan.Requests {
			plan.Requests[i].Status.Value = codes.RequestStatusCode_DRAFT
			switch plan.Tasks[i].GetStatus().GetValue() {
			case codes.TaskStatusCode_REQUESTED, codes.TaskStatusCode_ON_HOLD:
				plan.Tasks[i].Status.Value = codes.TaskStatusCode_DRAFT
			}
		}
		plan.Reasons = append(plan.Reasons, "a draft: the discharge is expected, not done")
	}
	return plan, nil
}

// Write stores the plan: each resource is created if it does not exist yet
// and left as it is otherwise, in one transaction.
func (pl *Planner) Write(ctx context.Context, plan *Plan) ([]store.TxResult, error) {
	var entries []store.TxEntry
	err := pl.within(ctx, func(ctx context.Context) error {
		var err error
		entries, err = pl.entries(ctx, plan)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pl.cfg.Store.Transaction(ctx, entries)
}

// entries are the writes of plan: each resource created if absent, but a
// draft prepared before the discharge (A16) replaced by the plan, pinned
// to the version read, and a draft along another pathway withdrawn
// (supersededDrafts).
func (pl *Planner) entries(ctx context.Context, plan *Plan) ([]store.TxEntry, error) {
	var entries []store.TxEntry
	for _, m := range plan.Resources() {
		e := store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m, IfAbsent: true}
		if !plan.Draft {
			rec, err := store.SnapshotFrom(ctx).Read(e.Type, e.ID)
			if err == nil {
				stored, err := pl.cfg.Codec.DecodeStored(rec.JSON)
				if err != nil {
					return nil, err
				}
				if isDraft(stored) {
					e.IfAbsent, e.Pinned, e.Expect = false, true, rec.Version
				}
			}
		}
		entries = append(entries, e)
	}
	if !plan.Draft {
		drafts, err := pl.supersededDrafts(ctx, plan)
		if err != nil {
			return nil, err
		}
		entries = append(entries, drafts...)
	}
	return entries, nil
}

// Follow writes, in the transaction of a write, what routing makes of it
// (a store.Follower). With Config.RouteOnWrite, it routes each stay the
// write finished (or gave an expected discharge: a draft plan) and that
// was not routed yet (routed), so that the plan is committed with the
// discharge it follows from, whatever the source; it never fails the
// discharge: a stay it cannot plan now (no pathway, no Patient yet, an
// error) is left to the router's next pass (RouteFinished), which logs
// why. And the CarePlan notes every move of its Tasks (progress).
func (pl *Planner) Follow(ctx context.Context, f *store.Following) error {
	// Most writes are neither a stay, a patient (whose death withdraws
	// her plans) nor a routing Task: nothing to do.
	if !slices.ContainsFunc(f.Written(), func(w store.Written) bool {
		return ((w.Type == "Encounter" || w.Type == "Patient" || w.Type == "Condition" || w.Type == "Procedure") && pl.cfg.RouteOnWrite) ||
			(w.Type == "Task" && strings.HasPrefix(w.ID, "route-"))
	}) {
		return nil
	}
	written := make(map[string]store.Written, len(f.Written()))
	for _, w := range f.Written() {
		written[w.Type+"/"+w.ID] = w
	}
	// What the transaction wrote is read as written, not decoded again.
	ctx = context.WithValue(ctx, writtenKey{}, written)
	// Planning searches nothing a plan wrote (a stay's own CarePlan, by
	// routed, at most, which ids written if absent make harmless): the
	// plans' index entries are made together at the end.
	ctx = store.WithSnapshot(ctx, f.Unflushed())
	if err := pl.withdrawCancelled(ctx, f, written); err != nil {
		return err
	}
	var stays []string // the stays to route, each once
	for _, w := range f.Written() {
		if pl.cfg.RouteOnWrite && w.Type == "Encounter" && !slices.Contains(stays, w.ID) {
			stays = append(stays, w.ID)
		}
	}
	revived, err := pl.revived(ctx, f, written)
	if err != nil {
		return err
	}
	for _, id := range revived {
		if !slices.Contains(stays, id) {
			stays = append(stays, id)
		}
	}
	for _, id := range stays {
		if err := pl.routeWritten(ctx, f, id); err != nil {
			return err
		}
	}
	requests, err := pl.performers(ctx, f.Written())
	if err != nil {
		return err
	}
	if len(requests) > 0 {
		if _, err := f.Put(requests); err != nil {
			return err
		}
	}
	notes, err := pl.progress(ctx, f.Snapshot(), f.Written())
	if err != nil || len(notes) == 0 {
		return nil // the plan shows fewer moves; the Tasks stand
	}
	_, err = f.Put(notes)
	return err
}

// performers has each routing ServiceRequest name as its performer the
// owner of its Task that written last asks it of (one neither cancelled,
// rejected, failed nor entered in error): in R4's workflow the Task's
// focus is the request, and ServiceRequest.performer "the desired
// performer for doing the requested service" (workflow.html,
// servicerequest.html), so that whoever the Task went to, by routing, the
// next candidate after a refusal, a time-out or a departure, or a
// re-assignment by hand, the request names her and not the first one
// asked. A request that already names her is left as it is.
func (pl *Planner) performers(ctx context.Context, written []store.Written) ([]store.TxEntry, error) {
	owners := map[string]string{} // ServiceRequest id -> its Task's owner
	var order []string
	// the requests written with their Tasks (a plan's) are read as
	// written, not decoded again: the context's written map predates them
	requests := map[string]*srpb.ServiceRequest{}
	for _, w := range written {
		if sr, ok := w.Resource.(*srpb.ServiceRequest); ok && !w.Deleted {
			requests[w.ID] = sr
		}
	}
	for _, w := range written {
		t, ok := w.Resource.(*tpb.Task)
		if !ok || !strings.HasPrefix(w.ID, "route-") || t.GetOwner() == nil {
			continue
		}
		switch t.GetStatus().GetValue() {
		case codes.TaskStatusCode_CANCELLED, codes.TaskStatusCode_REJECTED, codes.TaskStatusCode_FAILED, codes.TaskStatusCode_ENTERED_IN_ERROR:
			continue // asked of nobody now, or of the Task after it
		}
		id := strings.TrimPrefix(resource.RefString(t.GetFocus()), "ServiceRequest/")
		if !strings.HasPrefix(id, "route-") {
			continue
		}
		if _, ok := owners[id]; !ok {
			order = append(order, id)
		}
		owners[id] = resource.RefString(t.GetOwner())
	}
	var out []store.TxEntry
	for _, id := range order {
		sr, ok := requests[id]
		if !ok {
			m, err := pl.read(ctx, "ServiceRequest", id)
			if err != nil {
				return nil, err
			}
			if sr, ok = m.(*srpb.ServiceRequest); !ok {
				continue
			}
		}
		if p := sr.GetPerformer(); len(p) == 1 && resource.RefString(p[0]) == owners[id] {
			continue
		}
		sr = proto.Clone(sr).(*srpb.ServiceRequest)
		sr.Performer = []*dtpb.Reference{refOf(owners[id])}
		out = append(out, store.TxEntry{Method: "PUT", Type: "ServiceRequest", ID: id, Resource: sr})
	}
	return out, nil
}

// routeWritten routes, in the transaction f follows, the stay
// Encounter/id if it is finished (or expects its discharge) and has no
// plan in force; a stay it cannot plan now is left to the router's next
// pass. Only a failed write fails the transaction.
func (pl *Planner) routeWritten(ctx context.Context, f *store.Following, id string) error {
	m, err := pl.read(ctx, "Encounter", id)
	if err != nil {
		return nil
	}
	enc, ok := m.(*enpb.Encounter)
	if !ok || !(enc.GetStatus().GetValue() == codes.EncounterStatusCode_FINISHED || expected(enc)) {
		return nil
	}
	done, withdrawn, err := pl.routed(ctx, id)
	if err != nil || done {
		return nil
	}
	plan, err := pl.planAfter(ctx, id, withdrawn)
	if err != nil {
		return nil
	}
	entries, err := pl.entries(ctx, plan)
	if err != nil {
		return nil
	}
	_, err = f.Put(entries)
	return err
}

// progress notes each status change of a routing Task among written, by
// whomever made it (its owner, its requester, a time-out), and each
// change of its owner (a re-assignment), on the activity of its
// ServiceRequest ("Task/x accepted by PractitionerRole/y", "Task/x
// re-assigned from A to B"): R4 forbids an activity both a reference and a
// detail with its status (cpl-3), so the plan follows its Tasks through
// CarePlan.activity.progress, and the GP, who reads the plan, sees who
// accepted.
func (pl *Planner) progress(ctx context.Context, r *store.Snapshot, written []store.Written) ([]store.TxEntry, error) {
	var out []store.TxEntry
	at := map[string]int{}
	for _, w := range written {
		t, ok := w.Resource.(*tpb.Task)
		if !ok || w.Version < 2 || !strings.HasPrefix(w.ID, "route-") {
			continue
		}
		rec, err := r.VRead("Task", w.ID, w.Version-1)
		if err != nil {
			continue
		}
		m, err := pl.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, err
		}
		prev := m.(*tpb.Task)
		moved := prev.GetStatus().GetValue() != t.GetStatus().GetValue()
		from, to := resource.RefString(prev.GetOwner()), resource.RefString(t.GetOwner())
		if !moved && from == to {
			continue
		}
		// routing's ids: the CarePlan "route-<16 hex>", its requests and
		// their Tasks below it.
		sr := resource.RefString(t.GetFocus())
		id := strings.TrimPrefix(sr, "ServiceRequest/")
		if !strings.HasPrefix(id, "route-") || len(id) < 22 {
			continue
		}
		cpID := id[:22]
		var cp *cppb.CarePlan
		if i, ok := at[cpID]; ok {
			cp = out[i].Resource.(*cppb.CarePlan)
		} else {
			m, err := pl.read(ctx, "CarePlan", cpID)
			if err != nil {
				return nil, err
			}
			if m == nil {
				continue // no plan to show it on
			}
			cp = proto.Clone(m).(*cppb.CarePlan)
			at[cpID] = len(out)
			out = append(out, store.TxEntry{Method: "PUT", Type: "CarePlan", ID: cpID, Resource: cp})
		}
		now := &dtpb.DateTime{ValueUs: pl.cfg.Now().UnixMicro(), Timezone: "UTC", Precision: dtpb.DateTime_SECOND}
		var notes []*dtpb.Annotation
		if from != to {
			// given to someone else by its requester (R4 Task.owner)
			task := "Task/" + w.ID
			n := say(task+" re-assigned from "+from+" to "+to, Step{Code: "task-reassigned", Who: []string{task, from, to}}).note()
			n.Time = now
			notes = append(notes, n)
		}
		if moved {
			n := moveNote(w.ID, t).note()
			n.Time = now
			notes = append(notes, n)
		}
		for _, act := range cp.GetActivity() {
			if resource.RefString(act.GetReference()) == sr {
				act.Progress = append(act.Progress, notes...)
			}
		}
	}
	return out, nil
}

// moveNote is progress's note of a routing Task's new status.
func moveNote(id string, t *tpb.Task) why {
	status := strings.ReplaceAll(strings.ToLower(t.GetStatus().GetValue().String()), "_", "-")
	task, owner := "Task/"+id, resource.RefString(t.GetOwner())
	w := say(task+" "+status+" by "+owner, Step{Code: "task-" + status, Who: []string{task, owner}})
	switch t.GetStatus().GetValue() {
	case codes.TaskStatusCode_CANCELLED:
		// cancelled by its requester or by the time-out, not its owner
		w = say(task+" cancelled, asked of "+owner, Step{Code: "task-cancelled", Who: []string{task, owner}})
	case codes.TaskStatusCode_REQUESTED:
		// asked again (released by a permit, say), not by its owner
		w = say(task+" requested of "+owner, Step{Code: "task-requested", Who: []string{task, owner}})
	case codes.TaskStatusCode_ON_HOLD:
		if WaitsForPermit(t) {
			// held for the patient's permit, not by its owner
			w = say(task+" on-hold for "+owner, Step{Code: "task-held", Who: []string{task, owner}})
		}
	}
	if r := t.GetStatusReason(); r.GetText().GetValue() != "" {
		w = w.then(" ", why{"(" + r.GetText().GetValue() + ")", reasonSteps(r)})
	}
	return w
}

type writtenKey struct{}

// writtenIn is what the transaction ctx follows wrote, by "Type/id": its
// last version (Follow).
func writtenIn(ctx context.Context) map[string]store.Written {
	m, _ := ctx.Value(writtenKey{}).(map[string]store.Written)
	return m
}

// routed reports whether the stay Encounter/id has its routing plan: one
// not withdrawn (withdrawCancelled), and not a draft once the stay is
// finished (the discharge then replaces the draft); and how many of its
// plans were withdrawn, so that a plan made now gets ids of its own.
func (pl *Planner) routed(ctx context.Context, id string) (done bool, withdrawn int, err error) {
	enc, err := pl.read(ctx, "Encounter", id)
	if err != nil || enc == nil {
		return false, 0, err
	}
	finished := enc.(*enpb.Encounter).GetStatus().GetValue() == codes.EncounterStatusCode_FINISHED
	plans, err := pl.routingPlans(ctx, id)
	if err != nil {
		return false, 0, err
	}
	for _, cp := range plans {
		switch {
		case withdrawnPlan(cp):
			withdrawn++
		case !finished || !isDraft(cp):
			done = true
		}
	}
	return done, withdrawn, nil
}

// routingPlans are the routing CarePlans of the stay Encounter/id,
// withdrawn ones included.
func (pl *Planner) routingPlans(ctx context.Context, id string) ([]*cppb.CarePlan, error) {
	ms, err := pl.search(ctx, "CarePlan", url.Values{"encounter": {"Encounter/" + id}})
	if err != nil {
		return nil, err
	}
	var out []*cppb.CarePlan
	for _, m := range ms {
		if cp, ok := m.(*cppb.CarePlan); ok && strings.HasPrefix(resource.ID(cp), "route-") {
			out = append(out, cp)
		}
	}
	return out, nil
}

// withdrawnPlan reports whether m is a routing CarePlan routing withdrew
// because its discharge was cancelled (withdrawCancelled, ExtWithdrawn).
func withdrawnPlan(cp *cppb.CarePlan) bool {
	if cp.GetStatus().GetValue() != codes.RequestStatusCode_REVOKED {
		return false
	}
	for _, e := range cp.GetExtension() {
		if e.GetUrl().GetValue() == ExtWithdrawn {
			return true
		}
	}
	return false
}

// isDraft reports whether a routing resource is a draft.
func isDraft(m proto.Message) bool {
	switch r := m.(type) {
	case *cppb.CarePlan:
		return r.GetStatus().GetValue() == codes.RequestStatusCode_DRAFT
	case *srpb.ServiceRequest:
		return r.GetStatus().GetValue() == codes.RequestStatusCode_DRAFT
	case *tpb.Task:
		return r.GetStatus().GetValue() == codes.TaskStatusCode_DRAFT
	}
	return false
}

func digest(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

// within runs fn with ctx carrying a snapshot: the one ctx carries (a
// Follower's is the discharge's write transaction itself), else one of its
// own, so that everything a plan reads, the consent engine's and the
// directory's reads included, comes from one state.
func (pl *Planner) within(ctx context.Context, fn func(ctx context.Context) error) error {
	if store.SnapshotFrom(ctx) != nil {
		return fn(ctx)
	}
	return pl.cfg.Store.View(func(r *store.Snapshot) error { return fn(store.WithSnapshot(ctx, r)) })
}

// read decodes the current typ/id; nil when absent or deleted.
func (pl *Planner) read(ctx context.Context, typ, id string) (proto.Message, error) {
	if w, ok := writtenIn(ctx)[typ+"/"+id]; ok {
		if w.Deleted {
			return nil, nil
		}
		return w.Resource, nil
	}
	var rec *store.Record
	var err error
	if r := store.SnapshotFrom(ctx); r != nil {
		rec, err = r.Read(typ, id)
	} else {
		rec, err = pl.cfg.Store.Read(typ, id)
	}
	switch outcome.KindOf(err) {
	case outcome.NotFound, outcome.Gone:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pl.cfg.Codec.DecodeStored(rec.JSON)
}

// search returns the current resources of typ matching v.
func (pl *Planner) search(ctx context.Context, typ string, v url.Values) ([]proto.Message, error) {
	q, err := search.Parse(typ, v, true)
	if err != nil {
		return nil, err
	}
	// The hits and their versions are read in one snapshot.
	var recs []*store.Record
	var out []proto.Message
	err = pl.within(ctx, func(ctx context.Context) error {
		r := store.SnapshotFrom(ctx)
		hits, err := r.Search(q, nil)
		if err != nil {
			return err
		}
		written := writtenIn(ctx)
		for _, h := range hits {
			if w, ok := written[typ+"/"+h.ID]; ok && w.Version == h.Version && !w.Deleted {
				out = append(out, w.Resource)
				continue
			}
			rec, err := r.VRead(typ, h.ID, h.Version)
			if err != nil {
				continue // deleted since the index said otherwise: not there
			}
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		m, err := pl.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (pl *Planner) stayOf(ctx context.Context, id string) (*stay, error) {
	m, err := pl.read(ctx, "Encounter", id)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, outcome.New(outcome.NotFound, "resource not found")
	}
	enc := m.(*enpb.Encounter)
	s := &stay{encounter: enc, patientRef: resource.RefString(enc.GetSubject()), age: -1, requester: enc.GetServiceProvider()}
	if !strings.HasPrefix(s.patientRef, "Patient/") {
		return nil, outcome.New(outcome.Unprocessable, "the Encounter names no Patient")
	}
	pm, err := pl.read(ctx, "Patient", strings.TrimPrefix(s.patientRef, "Patient/"))
	if err != nil {
		return nil, err
	}
	if pm == nil {
		return nil, outcome.New(outcome.Unprocessable, "the Encounter's Patient is not stored")
	}
	s.patient = pm.(*patpb.Patient)
	s.discharge = pl.cfg.Now()
	// The discharge keeps the offset it was written with: its calendar
	// day, on which the patient's age is counted, is the hospital's.
	if end := enc.GetPeriod().GetEnd(); end != nil {
		s.discharge = time.UnixMicro(end.GetValueUs()).In(resource.Location(end.GetTimezone()))
	}
	if enc.GetStatus().GetValue() != codes.EncounterStatusCode_FINISHED {
		for _, e := range enc.GetExtension() {
			if e.GetUrl().GetValue() == ExpectedDischargeURL && e.GetValue().GetDateTime() != nil {
				dt := e.GetValue().GetDateTime()
				s.draft, s.discharge = true, time.UnixMicro(dt.GetValueUs()).In(resource.Location(dt.GetTimezone()))
			}
		}
	}
	if bd := s.patient.GetBirthDate(); bd != nil {
		s.age = ageAt(bd, s.discharge)
	}
	encRef := "Encounter/" + id
	conds, err := pl.search(ctx, "Condition", url.Values{"encounter": {encRef}})
	if err != nil {
		return nil, err
	}
	for _, c := range conds {
		if ruledOut(c.(*cdpb.Condition)) {
			continue
		}
		s.diagnoses = append(s.diagnoses, resource.Ref("Condition", resource.ID(c)))
		for _, cd := range c.(*cdpb.Condition).GetCode().GetCoding() {
			// named by URI or by OID, as procedures are (terminology.Canonical)
			switch terminology.Canonical(cd.GetSystem().GetValue()) {
			case terminology.ICD10, terminology.CIM10, terminology.ICD10CM:
				s.codes = append(s.codes, strings.ToUpper(cd.GetCode().GetValue()))
			}
		}
	}
	procs, err := pl.search(ctx, "Procedure", url.Values{"encounter": {encRef}})
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		switch p.(*prpb.Procedure).GetStatus().GetValue() {
		case codes.EventStatusCode_NOT_DONE, codes.EventStatusCode_ENTERED_IN_ERROR:
			// R4 Procedure.status is a modifier: a procedure not done, or
			// recorded in error, was not performed during the stay.
			continue
		}
		s.surgery = true
		for _, cd := range p.(*prpb.Procedure).GetCode().GetCoding() {
			s.procedures = append(s.procedures, terminology.Canonical(cd.GetSystem().GetValue())+"|"+cd.GetCode().GetValue())
		}
	}
	s.gir, err = pl.gir(ctx, s.patientRef)
	return s, err
}

// condVerStatus is R4's Condition.verificationStatus code system.
const condVerStatus = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

// ruledOut reports whether a Condition is no diagnosis of the stay: R4
// Condition.verificationStatus is a modifier, and "refuted" (ruled out)
// or "entered-in-error" means the patient does not have it, so it neither
// makes a stay eligible for a pathway nor is the reason of a request.
func ruledOut(c *cdpb.Condition) bool {
	for _, cd := range c.GetVerificationStatus().GetCoding() {
		if cd.GetSystem().GetValue() != condVerStatus {
			continue
		}
		switch cd.GetCode().GetValue() {
		case "refuted", "entered-in-error":
			return true
		}
	}
	return false
}

// listedOnly reports whether Encounter/id is only recounted by documents:
// an entry of a Composition's section (an Encounters section listing the
// patient's earlier stays: C-CDA's 46240-8, the CI-SIS "Historique des
// rencontres") and no document's encounter: R4 Composition.encounter, the
// context a document is about (a CDA letter's stay, posted or carried in
// an HL7 v2 MDM), or DocumentReference.context.encounter (a letter that
// came as a PDF in an MDM, or as a FHIR DocumentReference). Her history is
// not a discharge: routing it would ask the community to follow up stays
// that ended years ago.
func (pl *Planner) listedOnly(ctx context.Context, id string) (bool, error) {
	ref := url.Values{"entry": {"Encounter/" + id}}
	listing, err := pl.search(ctx, "Composition", ref)
	if err != nil || len(listing) == 0 {
		return false, err
	}
	for _, typ := range []string{"Composition", "DocumentReference"} {
		// a document recorded in error is about nothing (R4 status, a
		// modifier)
		about, err := pl.search(ctx, typ, url.Values{"encounter": {"Encounter/" + id}})
		if err != nil || slices.ContainsFunc(about, documentInForce) {
			return false, err
		}
	}
	return true, nil
}

// documentInForce reports whether a document is not one recorded in error.
func documentInForce(m proto.Message) bool {
	switch d := m.(type) {
	case *comppb.Composition:
		return d.GetStatus().GetValue() != codes.CompositionStatusCode_ENTERED_IN_ERROR
	case *drpb.DocumentReference:
		return d.GetStatus().GetValue() != codes.DocumentReferenceStatusCode_ENTERED_IN_ERROR
	}
	return true
}

// notHome says why a stay's patient is not handed over to community care,
// "" when she is: she died (diedDuring), or the stay says she left
// for another establishment or died (Encounter.hospitalization's
// destination, or its discharge disposition: FHIR's codes, which the HL7
// v2 and PAM France mappings give, or HL7 v2 table 0112's codes as US
// senders use them, which are NUBC UB-04 FL17's patient status codes that
// C-CDA discharge summaries send: 20 and 40 to 42 expired; 02 to 05, 43,
// 51, 61 to 66, 70, 82 to 85 and 88 to 95 another facility, and PAM
// France's B, to acute care). A system named by its OID counts as its URI.
func notHome(s *stay) string {
	if why := diedDuring(s.patient, s.encounter); why != "" {
		return why
	}
	return leftCare(s.encounter)
}

// diedDuring says why the patient is taken as dead for the stay e (notHome,
// and the withdrawal of its plan when her death is reported after it was
// routed), "" when she is not: Patient.deceasedBoolean true, or a
// deceasedDateTime that is not before the stay began. A death dated
// before the stay contradicts the stay the hospital reports and is taken
// as an error of the record. A date stands for the whole period its
// precision names (R4 datatypes.html#dateTime): a death dated the day the
// stay began is not before it.
func diedDuring(p *patpb.Patient, e *enpb.Encounter) string {
	d := p.GetDeceased()
	if d.GetBoolean().GetValue() {
		return "the patient died (Patient.deceased)"
	}
	if at := d.GetDateTime(); at != nil {
		start := e.GetPeriod().GetStart()
		if start == nil || resource.DateTimeEnd(at) > start.GetValueUs() {
			return "the patient died (Patient.deceasedDateTime)"
		}
	}
	return ""
}

// leftCare says why a stay's Encounter tells that its patient did not go
// home (notHome), "" when it does not.
func leftCare(e *enpb.Encounter) string {
	h := e.GetHospitalization()
	for _, c := range h.GetDischargeDisposition().GetCoding() {
		code := c.GetCode().GetValue()
		switch terminology.Canonical(c.GetSystem().GetValue()) {
		case hl7v2.DischargeDispositionSystem:
			switch code {
			case "exp":
				return "the patient died in hospital (discharge disposition exp)"
			case "hosp", "other-hcf", "long", "psy", "rehab", "snf":
				return "the patient left for another establishment (discharge disposition " + code + ")"
			}
		case terminology.TAASIP, terminology.TRER66, terminology.SNOMED:
			if why := ciSISLeft(terminology.Canonical(c.GetSystem().GetValue()), code); why != "" {
				return why
			}
		case terminology.V2DischargeDisp, terminology.NUBCPatientStatus:
			// HL7 v2 table 0112's US codes are NUBC's patient status
			// codes, which C-CDA documents send (dischargeDispositionCode):
			// 82 to 85 and 88 to 95 are the transfers with a planned
			// readmission.
			switch code {
			case "20", "40", "41", "42":
				return "the patient died (discharge disposition " + code + ")"
			case "02", "03", "04", "05", "43", "51", "61", "62", "63", "64", "65", "66", "70", "B",
				"82", "83", "84", "85", "88", "89", "90", "91", "92", "93", "94", "95":
				return "the patient left for another establishment (discharge disposition " + code + ")"
			}
		}
	}
	if h.GetDestination() != nil {
		return "the patient left for another establishment (Encounter.hospitalization.destination)"
	}
	return ""
}

// ciSISLeft says why a CI-SIS mode of discharge tells that the patient
// did not go home, "" when it does not (home, another destination, or a
// code of another value set). A CI-SIS discharge letter (LDL-SES) states it
// in its FR-Modalite-sortie entry (templateId 1.2.250.1.213.1.1.3.48.7,
// code TA_ASIP ORG-074), whose value comes from ANS's
// JDV_ModaliteSortie_CISIS (OID 1.2.250.1.213.1.1.5.74, revision of
// 2023-11-14: SNOMED CT 160849004 home; TRE_R66 109 rehabilitation (SSR),
// 127 hospitalisation at home (HAD), 500 nursing home (EHPAD); TA_ASIP
// GEN-092.06.01 another health establishment, GEN-092.06.03 another
// destination; its revision of 2023-08 coded SSR, HAD and EHPAD as TA_ASIP
// ORG-071, ORG-072 and ORG-100) "or another value set of the volet":
// ANS's JDV_ModeSortie_CISIS (1.2.250.1.213.1.1.5.204) adds TA_ASIP
// ORG-102 to ORG-104 (SSR), ORG-162 (MCO) and SNOMED CT 419620001
// (death). FR Core binds Encounter.hospitalization.dischargeDisposition to
// the same value set (jdv-modalite-sortie-cisis), so FHIR writers send
// these codes too. As for PAM France's PMSI transfers (mappings/hl7v2
// pmsiDischarge), hospitalisation at home and a nursing home are care
// other than the community's.
func ciSISLeft(system, code string) string {
	var left bool
	switch system {
	case terminology.SNOMED:
		if code == "419620001" {
			return "the patient died (discharge disposition SNOMED CT 419620001)"
		}
	case terminology.TRER66:
		left = code == "109" || code == "127" || code == "500"
	case terminology.TAASIP:
		switch code {
		case "GEN-092.06.01", "ORG-071", "ORG-072", "ORG-100", "ORG-102", "ORG-103", "ORG-104", "ORG-162":
			left = true
		}
	}
	if !left {
		return ""
	}
	return "the patient left for another establishment (discharge disposition " + code + ")"
}

// gir reads the patient's latest GIR: the AGGIR "perte d'autonomie"
// Observation (TA_ASIP MED-346) whose value is MED-339 (GIR 1) to MED-344
// (GIR 6); 0 when there is none.
func (pl *Planner) gir(ctx context.Context, patient string) (int, error) {
	// TA_ASIP by its URI or by its OID, as CI-SIS documents name it
	obs, err := pl.search(ctx, "Observation", url.Values{"patient": {patient}, "code": {terminology.TAASIP + "|MED-346,urn:oid:" + terminology.TAASIPOID + "|MED-346"}})
	if err != nil {
		return 0, err
	}
	var latest time.Time
	gir := 0
	for _, m := range obs {
		o := m.(*obpb.Observation)
		at := time.UnixMicro(o.GetEffective().GetDateTime().GetValueUs())
		for _, cd := range o.GetValue().GetCodeableConcept().GetCoding() {
			code := cd.GetCode().GetValue()
			if n, err := strconv.Atoi(strings.TrimPrefix(code, "MED-")); err == nil && n >= 339 && n <= 344 && !at.Before(latest) {
				gir, latest = n-338, at
			}
		}
	}
	return gir, nil
}

// pathway chooses the active PlanDefinition of lowest priority that the
// stay is eligible for.
// definitions returns the stored PlanDefinitions, parsed once per change
// of any of them.
func (pl *Planner) definitions(ctx context.Context) ([]*pdpb.PlanDefinition, error) {
	var gen uint64
	var fresh bool
	pl.mu.Lock()
	plans, plansGen := pl.plans, pl.plansGen
	pl.mu.Unlock()
	if err := pl.within(ctx, func(ctx context.Context) error {
		r := store.SnapshotFrom(ctx)
		gen, fresh = r.TypesGeneration("PlanDefinition"), r.TypesUnchangedSince(plansGen, "PlanDefinition")
		return nil
	}); err != nil {
		return nil, err
	}
	if plans != nil && fresh {
		return plans, nil
	}
	ms, err := pl.search(ctx, "PlanDefinition", url.Values{})
	if err != nil {
		return nil, err
	}
	pds := make([]*pdpb.PlanDefinition, 0, len(ms))
	for _, m := range ms {
		pds = append(pds, m.(*pdpb.PlanDefinition))
	}
	if gen != 0 {
		pl.mu.Lock()
		pl.plans, pl.plansGen = pds, gen
		pl.mu.Unlock()
	} else if pl.refreshing.CompareAndSwap(false, true) {
		// Parsed from a write transaction's uncommitted state: they serve
		// it alone, and the committed ones are parsed beside it for the
		// next ones.
		go func() {
			defer pl.refreshing.Store(false)
			_ = pl.cfg.Store.ViewNow(func(r *store.Snapshot) error {
				// not ctx: it carries the write transaction
				_, err := pl.definitions(store.WithSnapshot(context.Background(), r))
				return err
			})
		}()
	}
	return pds, nil
}

func (pl *Planner) pathway(ctx context.Context, s *stay) (*pdpb.PlanDefinition, string, error) {
	pds, err := pl.definitions(ctx)
	if err != nil {
		return nil, "", err
	}
	type cand struct {
		pd   *pdpb.PlanDefinition
		prio int
		why  string
	}
	var cs []cand
	for _, pd := range pds {
		if pd.GetStatus().GetValue() != codes.PublicationStatusCode_ACTIVE {
			continue
		}
		prio := 1 << 30
		var eligs []*dtpb.Extension
		for _, e := range pd.GetExtension() {
			switch e.GetUrl().GetValue() {
			case pathways.ExtPriority:
				prio = int(e.GetValue().GetInteger().GetValue())
			case pathways.ExtEligibility:
				eligs = append(eligs, e)
			}
		}
		for _, e := range eligs {
			if ok, why := eligible(s, e); ok {
				cs = append(cs, cand{pd, prio, why})
				break
			}
		}
	}
	if len(cs) == 0 {
		return nil, "", outcome.New(outcome.Unprocessable, "the stay fits no pathway",
			outcome.Issue{Severity: outcome.SevError, Text: "no active PlanDefinition's eligibility holds for this stay (diagnoses, procedures, age, GIR)"})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].prio != cs[j].prio {
			return cs[i].prio < cs[j].prio
		}
		return resource.ID(cs[i].pd) < resource.ID(cs[j].pd)
	})
	c := cs[0]
	return c.pd, "pathway " + resource.ID(c.pd) + ": " + c.why, nil
}

// procedureIs reports whether p ("system|code", system canonical) is the
// criterion's procedure: the same SNOMED CT concept, or for a classification
// whose codes are built by position (CCAM: organ, action, approach;
// ICD-10-PCS: section, body system, operation, body part) a code the
// criterion's code begins, as NEKA (hip replacement, open approach) or
// 0SR9 (replacement of the right hip joint).
func procedureIs(p, system, code string) bool {
	ps, pc, _ := strings.Cut(p, "|")
	if ps != system || code == "" {
		return false
	}
	if system == terminology.SNOMED {
		return pc == code
	}
	norm := func(c string) string { return strings.ToUpper(strings.ReplaceAll(c, ".", "")) }
	return strings.HasPrefix(norm(pc), norm(code))
}

// deliveryProcedures are the procedures that are a delivery: CCAM JQGD
// (vaginal delivery) and JQGA (caesarean extraction), ICD-10-PCS 10D0
// (caesarean) and 10E0 (delivery), and the SNOMED CT delivery procedure,
// caesarean section and normal delivery.
var deliveryProcedures = [][2]string{
	{terminology.CCAM, "JQGD"}, {terminology.CCAM, "JQGA"},
	{terminology.ICD10PCS, "10D0"}, {terminology.ICD10PCS, "10E0"},
	{terminology.SNOMED, "236973005"}, {terminology.SNOMED, "11466000"}, {terminology.SNOMED, "48782003"},
}

// delivered reports whether the stay includes a delivery: ICD-10 O80–O84
// (the delivery chapter block; O85–O92 are puerperal complications) or Z37
// (outcome of delivery), or a delivery procedure.
func delivered(s *stay) bool {
	for _, c := range s.codes {
		c = strings.ReplaceAll(c, ".", "")
		if len(c) >= 3 && c[:2] == "O8" && c[2] >= '0' && c[2] <= '4' || strings.HasPrefix(c, "Z37") {
			return true
		}
	}
	for _, p := range s.procedures {
		for _, d := range deliveryProcedures {
			if procedureIs(p, d[0], d[1]) {
				return true
			}
		}
	}
	return false
}

// ageAt is the age in whole years on the calendar day of t: the day in
// t's own offset (the discharge as the hospital wrote it), or, for a time
// in UTC, where the patient was born: a year is counted on the birthday
// (by month and day, not day of the year, which a leap year shifts after
// February), and one born on 29 February is a year older on 1 March of
// other years.
func ageAt(birth *dtpb.Date, t time.Time) int {
	loc := resource.Location(birth.GetTimezone())
	born, now := time.UnixMicro(birth.GetValueUs()).In(loc), t
	if t.Location() == time.UTC {
		now = t.In(loc)
	}
	age := now.Year() - born.Year()
	if now.Month() < born.Month() || now.Month() == born.Month() && now.Day() < born.Day() {
		age--
	}
	return age
}

// eligible checks one pathway-eligibility extension: every criterion it
// states must hold.
func eligible(s *stay, e *dtpb.Extension) (bool, string) {
	var why []string
	diag, proc := false, false
	var diagOK, procOK bool
	for _, sub := range e.GetExtension() {
		v := sub.GetValue()
		switch sub.GetUrl().GetValue() {
		case "diagnosis":
			diag = true
			prefix := strings.ToUpper(v.GetCoding().GetCode().GetValue())
			for _, c := range s.codes {
				if prefix != "" && strings.HasPrefix(strings.ReplaceAll(c, ".", ""), strings.ReplaceAll(prefix, ".", "")) {
					diagOK = true
					why = append(why, "diagnosis "+c)
				}
			}
		case "procedure":
			proc = true
			for _, p := range s.procedures {
				if procedureIs(p, terminology.Canonical(v.GetCoding().GetSystem().GetValue()), v.GetCoding().GetCode().GetValue()) {
					procOK = true
					why = append(why, "procedure "+p)
				}
			}
		case "minAge":
			if s.age < 0 || s.age < int(v.GetInteger().GetValue()) {
				return false, ""
			}
			why = append(why, "aged "+strconv.Itoa(s.age))
		case "maxGIR":
			if s.gir == 0 || s.gir > int(v.GetInteger().GetValue()) {
				return false, ""
			}
			why = append(why, "GIR "+strconv.Itoa(s.gir))
		case "surgery":
			if !s.surgery {
				return false, ""
			}
			why = append(why, "a procedure during the stay")
		case "delivery":
			if !delivered(s) {
				return false, ""
			}
			why = append(why, "a delivery")
		}
	}
	if diag && !diagOK || proc && !procOK || len(why) == 0 {
		return false, ""
	}
	return true, strings.Join(why, ", ")
}

// carePlan is the plan's CarePlan, its activities added per action.
func carePlan(id, canonical string, s *stay) *cppb.CarePlan {
	return &cppb.CarePlan{
		Id:                    &dtpb.Id{Value: id},
		Status:                &cppb.CarePlan_StatusCode{Value: codes.RequestStatusCode_ACTIVE},
		Intent:                &cppb.CarePlan_IntentCode{Value: vspb.CarePlanIntentValueSet_PLAN},
		InstantiatesCanonical: []*dtpb.Canonical{{Value: canonical}},
		Title:                 &dtpb.String{Value: "Discharge plan"},
		Subject:               resource.Ref("Patient", strings.TrimPrefix(s.patientRef, "Patient/")),
		Encounter:             resource.Ref("Encounter", resource.ID(s.encounter)),
		Period:                &dtpb.Period{Start: dateTime(s.discharge)},
		Author:                s.requester,
	}
}

func dateTime(t time.Time) *dtpb.DateTime {
	return &dtpb.DateTime{ValueUs: t.UnixMicro(), Timezone: "UTC", Precision: dtpb.DateTime_SECOND}
}

// window is an action's time window from discharge (timingRange).
func window(s *stay, a *pdpb.PlanDefinition_Action) *dtpb.Period {
	high := a.GetTiming().GetRange().GetHigh()
	n := high.GetValue().GetValue()
	d, err := strconv.ParseFloat(n, 64)
	if err != nil {
		d = 7
	}
	end := s.discharge
	if high.GetCode().GetValue() == "mo" && d == float64(int(d)) {
		// calendar months (UCUM mo is a mean month; "within 2 months"
		// means the same day two months on)
		end = end.AddDate(0, int(d), 0)
	} else {
		unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "wk": 7 * 24 * time.Hour, "mo": 30 * 24 * time.Hour}[high.GetCode().GetValue()]
		if unit == 0 {
			unit = 24 * time.Hour
		}
		end = end.Add(time.Duration(d * float64(unit)))
	}
	return &dtpb.Period{Start: dateTime(s.discharge), End: dateTime(end)}
}

// action makes one action's ServiceRequest and Task.
func (pl *Planner) action(ctx context.Context, base string, s *stay, a *pdpb.PlanDefinition_Action) (*srpb.ServiceRequest, *tpb.Task, string, error) {
	var roles []string
	if cs := a.GetCode(); len(cs) > 0 {
		roles = rolesOf(cs[0])
	}
	if len(roles) == 0 {
		return nil, nil, "", outcome.New(outcome.Unprocessable, "a pathway action names no role")
	}
	role := roles[0]
	kind, cats := needs(a)
	aid := a.GetId().GetValue()
	if aid == "" {
		aid = role
	}
	win := window(s, a)
	sr := &srpb.ServiceRequest{
		Id:            &dtpb.Id{Value: base + "-" + aid},
		Status:        &srpb.ServiceRequest_StatusCode{Value: codes.RequestStatusCode_ACTIVE},
		Intent:        &srpb.ServiceRequest_IntentCode{Value: codes.RequestIntentCode_ORDER},
		Code:          &dtpb.CodeableConcept{Text: &dtpb.String{Value: a.GetTitle().GetValue()}},
		Subject:       resource.Ref("Patient", strings.TrimPrefix(s.patientRef, "Patient/")),
		Encounter:     resource.Ref("Encounter", resource.ID(s.encounter)),
		BasedOn:       []*dtpb.Reference{resource.Ref("CarePlan", base)},
		PerformerType: a.GetCode()[0],
		Occurrence:    &srpb.ServiceRequest_OccurrenceX{Choice: &srpb.ServiceRequest_OccurrenceX_Period{Period: win}},
		AuthoredOn:    dateTime(pl.cfg.Now()),
		Requester:     s.requester,
	}
	if kind != "social" {
		sr.ReasonReference = s.diagnoses // a social recipient's request carries no diagnosis
	}
	owner, status, reason, w, err := pl.recipientAmong(ctx, s, roles, kind, cats, win, nil)
	if err != nil {
		return nil, nil, "", err
	}
	if owner != nil {
		sr.Performer = []*dtpb.Reference{owner}
	}
	task := &tpb.Task{
		Id:          &dtpb.Id{Value: base + "-" + aid + "-1"},
		Status:      &tpb.Task_StatusCode{Value: status},
		Intent:      &tpb.Task_IntentCode{Value: vspb.TaskIntentValueSet_ORDER},
		Code:        fulfil(),
		Focus:       resource.Ref("ServiceRequest", base+"-"+aid),
		ForValue:    resource.Ref("Patient", strings.TrimPrefix(s.patientRef, "Patient/")),
		Encounter:   resource.Ref("Encounter", resource.ID(s.encounter)),
		Requester:   s.requester,
		Owner:       owner,
		AuthoredOn:  dateTime(pl.cfg.Now()),
		Restriction: &tpb.Task_Restriction{Period: win},
		Note:        []*dtpb.Annotation{w.note()},
		Description: &dtpb.String{Value: a.GetDescription().GetValue()},
	}
	if reason != "" {
		task.StatusReason = permitRequired()
	}
	if owner == nil || resource.RefString(owner) == resource.RefString(s.requester) {
		task.BusinessStatus = noCandidate()
	}
	return sr, task, role + ": " + w.text, nil
}

// RoutingStatus is the code system of routing Tasks' businessStatus:
// "no-candidate" lists those the discharging organisation follows up
// (GET /fhir/Task?business-status=RoutingStatus|no-candidate).
const RoutingStatus = pathways.Base + "/CodeSystem/routing-status"

// ReRoute is the code, in RoutingStatus, of the statusReason with which a
// routing Task's requester cancels it to have the next candidate asked:
// the same write creates the next Task (gateway/api), as a rejection does.
const ReRoute = "re-route"

// ReRouted reports whether t is a routing Task its requester cancelled to
// have the next candidate asked.
func ReRouted(t *tpb.Task) bool {
	if t.GetStatus().GetValue() != codes.TaskStatusCode_CANCELLED {
		return false
	}
	for _, c := range t.GetStatusReason().GetCoding() {
		if c.GetSystem().GetValue() == RoutingStatus && c.GetCode().GetValue() == ReRoute {
			return true
		}
	}
	return false
}

// PlanRequest reports whether m is a ServiceRequest of a routing plan:
// based on its CarePlan, whose id prefixes its own. Routing gives it its
// stay's diagnoses as reasonReference without their sensitivity (README
// "Sensitivity labels": a recipient without the label cannot follow
// them), so that its recipient reads what she is asked: relabelling
// labels it by its own codes alone.
func PlanRequest(m proto.Message) bool {
	sr, ok := m.(*srpb.ServiceRequest)
	if !ok || len(sr.GetBasedOn()) != 1 {
		return false
	}
	typ, id, _, ok := resource.RefTarget(sr.GetBasedOn()[0])
	return ok && typ == "CarePlan" && strings.HasPrefix(sr.GetId().GetValue(), id+"-")
}

// fulfil is the code of a routing Task: R4 task-code "fulfill", its
// owner is asked to carry out its focus, the ServiceRequest. Stating it
// lets a Consent's exception for other codes (provision.code) be told not
// to apply to the Task.
func fulfil() *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{
		Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: terminology.TaskCode}, Code: &dtpb.Code{Value: terminology.TaskFulfil}, Display: &dtpb.String{Value: "Fulfill the focal request"}}},
	}
}

// noCandidate is the businessStatus of a Task nobody in the directory
// could take.
func noCandidate() *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{
		Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: RoutingStatus}, Code: &dtpb.Code{Value: "no-candidate"}, Display: &dtpb.String{Value: "No candidate"}}},
		Text:   &dtpb.String{Value: "no candidate"},
	}
}

// needs reads what a pathway action's recipient is (pathway-recipient-kind,
// "health" when unsaid) and the data categories she needs
// (pathway-data-category); a nil action: a health recipient.
func needs(a *pdpb.PlanDefinition_Action) (kind string, cats []category.Code) {
	kind = "health"
	for _, e := range a.GetExtension() {
		switch e.GetUrl().GetValue() {
		case pathways.ExtKind:
			kind = e.GetValue().GetCode().GetValue()
		case pathways.ExtDataCategory:
			cats = append(cats, category.Code(e.GetValue().GetCoding().GetCode().GetValue()))
		}
	}
	return kind, cats
}

// rolesOf lists the pathway roles of an action's code, in order.
func rolesOf(cc *dtpb.CodeableConcept) []string {
	var out []string
	for _, c := range cc.GetCoding() {
		if v := c.GetCode().GetValue(); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// recipientAmong is recipient for the first of roles that has one: an
// action may name alternatives in order (a neurologist, else a
// rehabilitation physician); with none, the discharging organisation,
// with every role's explanation.
func (pl *Planner) recipientAmong(ctx context.Context, s *stay, roles []string, kind string, cats []category.Code, win *dtpb.Period, refused map[string]reason) (*dtpb.Reference, codes.TaskStatusCode_Value, string, why, error) {
	var tried why
	for i, role := range roles {
		owner, status, reason, w, err := pl.recipient(ctx, s, role, kind, cats, win, refused)
		if err != nil {
			return nil, 0, "", why{}, err
		}
		found := owner != nil && resource.RefString(owner) != resource.RefString(s.requester)
		if found || i == len(roles)-1 {
			if len(tried.steps) > 0 {
				w = tried.then("; then ", why{role + ": " + w.text, w.steps})
			}
			return owner, status, reason, w, nil
		}
		// the next role is tried: the hospital does not follow up yet
		w.text = strings.TrimSuffix(w.text, "; "+followsUp.text)
		w.steps = slices.DeleteFunc(slices.Clone(w.steps), func(st Step) bool { return st.Code == followsUp.steps[0].Code })
		tried = tried.then("; ", why{role + ": " + w.text, w.steps})
	}
	return s.requester, codes.TaskStatusCode_REQUESTED, "", say("no role", Step{Code: "no-role"}), nil
}

// followsUp closes an explanation with no candidate.
var followsUp = say("the discharging organisation follows up", Step{Code: "hospital-follows-up"})

// waitingPermit closes the explanation of a recipient waiting for the
// patient's permit.
var waitingPermit = say("waiting for the patient's permit", Step{Code: "waiting-permit"})

// recipient chooses who receives an action, and the Task's status: the GP
// from Patient.generalPractitioner; anyone else from the directory, the
// first candidate the patient has not objected to who is available at
// some time in the action's window win (from discharge; nil: at
// discharge), her hours read in the patient's local time; a social
// recipient without the patient's permit waits on-hold.
func (pl *Planner) recipient(ctx context.Context, s *stay, role, kind string, cats []category.Code, win *dtpb.Period, refused map[string]reason) (*dtpb.Reference, codes.TaskStatusCode_Value, string, why, error) {
	requested := codes.TaskStatusCode_REQUESTED
	if role == "gp" && len(refused) == 0 {
		gp, w, err := pl.generalPractitioner(ctx, s)
		if err != nil || gp != nil {
			return gp, requested, "", w, err
		}
	}
	own, err := pl.ownProfessional(ctx, s, directory.Role(role), refused)
	if err != nil {
		return nil, 0, "", why{}, err
	}
	if own != "" {
		d, err := pl.cfg.Consent.Decide(ctx, consent.Request{Patient: s.patientRef, Actor: own,
			Resource: consent.ResourceFacts{Type: "ServiceRequest", Categories: cats}})
		if err != nil {
			return nil, 0, "", why{}, err
		}
		if !d.Objection {
			w := say(own+" is in the patient's care team with this role (her own professionals come first)",
				Step{Code: "care-team", Who: []string{own}}).then("; ", narrowPermit(d))
			if wait, err := pl.permitPending(ctx, s.patientRef, own, kind, d); err != nil || wait {
				return refOf(own), codes.TaskStatusCode_ON_HOLD, PermitRequired, w.then("; ", waitingPermit), err
			}
			return refOf(own), requested, "", w, nil
		}
		// She objected to her own professional: the directory then.
		refused = maps.Clone(refused)
		if refused == nil {
			refused = map[string]reason{}
		}
		refused[own] = reason{"the patient objected", Step{Code: "objection", Consents: d.Basis}}
	}
	place := pl.placeOf(s)
	cands, ex, err := pl.candidates(ctx, s, role, win, 20)
	if err != nil {
		return nil, 0, "", why{}, err
	}
	var skipped why
	for _, sk := range ex.Skipped {
		skipped = skipped.then("; ", directoryReason(sk).of(sk.Ref))
	}
	for _, c := range cands {
		if r, ok := refused[c.Ref]; ok {
			skipped = skipped.then("; ", r.of(c.Ref))
			continue
		}
		d, err := pl.cfg.Consent.Decide(ctx, consent.Request{
			Patient: s.patientRef, Actor: c.Ref,
			Resource: consent.ResourceFacts{Type: "ServiceRequest", Categories: cats},
		})
		if err != nil {
			return nil, 0, "", why{}, err
		}
		if d.Objection {
			skipped = skipped.then("; ", reason{"the patient objected: " + joinRefs(d.Basis), Step{Code: "objection", Consents: d.Basis}}.of(c.Ref))
			continue
		}
		w := pl.firstCandidate(ex, c.Ref).then("; ", narrowPermit(d)).then("; skipped: ", skipped)
		if wait, err := pl.permitPending(ctx, s.patientRef, c.Ref, kind, d); err != nil || wait {
			return refOf(c.Ref), codes.TaskStatusCode_ON_HOLD, PermitRequired, w.then("; ", waitingPermit), err
		}
		return refOf(c.Ref), requested, "", w, nil
	}
	w := say("no candidate in the directory for role "+role, Step{Code: "no-candidate-for-role", Roles: []string{role}})
	if place.How == "" {
		w = w.then(" ", say("(the patient's address names no known commune)", Step{Code: "unknown-commune"}))
	}
	return s.requester, requested, "", w.then("; skipped: ", skipped).then("; ", followsUp), nil
}

// permitPending is the rule for a recipient who needs the patient's
// explicit permit to be asked at all (DESIGN.md, "Consent model": a
// non-health professional, anyone across the border): the recipient of
// an action of kind social (pathway-recipient-kind), or one whom the base
// policy asks only on a permit (consent.Standing.AskedOnPermit: a social
// role, one across the border, whatever the action), waits unless d, the
// consent decision about what she is asked, permits her, or the patient's
// Consents permit her to act on the Task (consent.PermitToAct, the test
// by which recording a permit releases a waiting Task): a permit that
// does not name every category the action asks (CLIN and MED only when
// the patient ticks them) is a permit, and consent gives her on each
// read what it covers. Her Task is otherwise on-hold with the status
// reason PermitRequired until a permit is recorded (gateway/api releases
// it). Every way a routing Task gets an owner applies it: the plan
// (recipient), the next candidate after a refusal, a time-out or a
// departure (Next), a re-assignment by hand (Reassigned).
func (pl *Planner) permitPending(ctx context.Context, patient, owner, kind string, d consent.Decision) (bool, error) {
	if d.Permit {
		return false, nil
	}
	if kind != "social" {
		st, err := pl.cfg.Consent.Standing(ctx, owner)
		if err != nil || !st.AskedOnPermit {
			return false, err
		}
	}
	act, err := pl.cfg.Consent.Decide(ctx, consent.Request{Patient: patient, Actor: owner, Resource: consent.PermitToAct()})
	return !act.Permit, err
}

// narrowPermit says, when the patient's permit does not pass every data
// category asked (consent.Decision.Uncovered), which ones: the recipient
// is asked all the same, and receives on each read what it covers.
func narrowPermit(d consent.Decision) why {
	if len(d.Uncovered) == 0 {
		return why{}
	}
	cats := make([]string, len(d.Uncovered))
	for i, c := range d.Uncovered {
		cats[i] = string(c)
	}
	return say("the patient's permit ("+joinRefs(d.Basis)+") does not cover "+strings.Join(cats, ", "),
		Step{Code: "narrow-permit", Consents: d.Basis, Categories: d.Uncovered})
}

// candidates asks the directory for the first limit candidates of role
// (0: all) for the patient of s, available at some time in the window win
// (from discharge; nil: at discharge), her hours read in the patient's
// local time.
func (pl *Planner) candidates(ctx context.Context, s *stay, role string, win *dtpb.Period, limit int) ([]directory.Candidate, directory.Explanation, error) {
	place := pl.placeOf(s)
	at, until := s.discharge, time.Time{}
	if win != nil {
		at = time.UnixMicro(win.GetStart().GetValueUs())
		if win.GetEnd() != nil {
			until = time.UnixMicro(win.GetEnd().GetValueUs())
		}
	}
	return pl.cfg.Directory.Candidates(ctx, directory.Query{
		Role: directory.Role(role), Place: place, Languages: directory.PatientLanguages(s.patient),
		At: at.In(place.Location()), Until: until, Limit: limit,
	})
}

// generalPractitioner is who receives the GP's action of the stay s: the
// patient's general practitioner (nil when she names none). A source
// names her as the person (HL7 v2 PD1-4, a CDA participant PCP): her
// software signs in as, and looks for its work under, her directory role
// (directory.Index.RoleHeldBy), when she holds one GP role.
func (pl *Planner) generalPractitioner(ctx context.Context, s *stay) (*dtpb.Reference, why, error) {
	gps := s.patient.GetGeneralPractitioner()
	if len(gps) == 0 {
		return nil, why{}, nil
	}
	gp := resource.RefString(gps[0])
	w := say("the patient's general practitioner (Patient.generalPractitioner)", Step{Code: "general-practitioner", Who: []string{gp}})
	if !strings.HasPrefix(gp, "Practitioner/") {
		return gps[0], w, nil
	}
	x, err := pl.cfg.Directory.Index(ctx)
	if err != nil {
		return nil, why{}, err
	}
	if r := x.RoleHeldBy(gp, directory.GP, s.discharge); r != "" {
		return refOf(r), w.then(", ", say("in her role in the directory: "+r, Step{Code: "general-practitioner-role", Who: []string{r}})), nil
	}
	return gps[0], w, nil
}

// firstCandidate is the explanation of ref, the first candidate of the
// directory: the directory's reason for keeping her.
func (pl *Planner) firstCandidate(ex directory.Explanation, ref string) why {
	w := say("first candidate of the directory: "+ref, Step{Code: "first-candidate", Who: []string{ref}})
	for _, k := range ex.Kept {
		if k.Ref == ref {
			w.text += " (" + k.Why + ")"
			w.steps = append(w.steps, kept(k)...)
		}
	}
	return w
}

func refOf(ref string) *dtpb.Reference {
	typ, id, _ := strings.Cut(ref, "/")
	return resource.Ref(typ, id)
}

// CursorName is the routing consumer's name in the store's change log
// (store.Cursor).
const CursorName = "routing"

// RouteFinished routes every stay whose Encounter became finished since the
// last call, in the order of the change log, and records how far it went:
// a discharge stored by any source (HL7 v2 A03, a discharge letter, a
// FHIR Encounter set to finished) is routed once, even across a restart,
// and routing again never duplicates (Write). A stay that fits no pathway
// is passed over. It returns how many stays it routed; on an error it
// stops where it was, to try again.
func (pl *Planner) RouteFinished(ctx context.Context) (int, error) {
	st := pl.cfg.Store
	after, err := st.Cursor(CursorName)
	if err != nil {
		return 0, err
	}
	routed := 0
	for {
		changes, err := st.ChangesAfter("Encounter", after, 256)
		if err != nil || len(changes) == 0 {
			return routed, err
		}
		for _, ch := range changes {
			m, err := pl.read(ctx, "Encounter", ch.ID)
			if err != nil {
				return routed, err
			}
			done, withdrawn, err := pl.routed(ctx, ch.ID)
			if err != nil {
				return routed, err
			}
			if enc, ok := m.(*enpb.Encounter); ok && !done && (enc.GetStatus().GetValue() == codes.EncounterStatusCode_FINISHED || expected(enc)) {
				plan, err := pl.planAfter(ctx, ch.ID, withdrawn)
				switch {
				case outcome.KindOf(err) == outcome.Unprocessable:
					// no pathway, or no Patient: nothing to route
				case err != nil:
					return routed, err
				default:
					if _, err := pl.Write(ctx, plan); err != nil {
						return routed, err
					}
					routed++
				}
			}
			after = ch.Seq
		}
		if err := st.SetCursor(ctx, CursorName, after); err != nil {
			return routed, err
		}
	}
}

// Run calls RouteFinished, TimeOut and Departures every interval until
// ctx ends; errors are logged (never with patient data) and retried at
// the next tick.
func (pl *Planner) Run(ctx context.Context, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := pl.RouteFinished(ctx); err != nil && ctx.Err() == nil {
			log.Warn("routing: finished stays not routed yet", "status", outcome.KindOf(err).Status())
		} else if n > 0 {
			log.Info("routing: stays routed", "stays", n)
		}
		if n, err := pl.TimeOut(ctx); err != nil && ctx.Err() == nil {
			log.Warn("routing: timed-out Tasks not handled yet", "status", outcome.KindOf(err).Status())
		} else if n > 0 {
			log.Info("routing: Tasks timed out and asked of the next candidate", "tasks", n)
		}
		if n, err := pl.Departures(ctx); err != nil && ctx.Err() == nil {
			log.Warn("routing: Tasks of recipients who left the directory not handled yet", "status", outcome.KindOf(err).Status())
		} else if n > 0 {
			log.Info("routing: Tasks of recipients who left the directory handed over or listed", "tasks", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExtReplaces links a routing Task to the one it follows for the same
// ServiceRequest, after a rejection.
const ExtReplaces = pathways.Base + "/StructureDefinition/task-follows"

// Next is the Task for the next candidate of a routing Task's request,
// after its owner rejected it: the same ServiceRequest, the next candidate
// of the directory that the patient has not objected to and that has not
// refused this request before, or the discharging organisation. It is nil
// for a Task routing did not make. The caller writes it with the
// rejection.
func (pl *Planner) Next(ctx context.Context, rejected *tpb.Task) (next *tpb.Task, err error) {
	err = pl.within(ctx, func(ctx context.Context) error {
		next, err = pl.next(ctx, rejected)
		return err
	})
	return next, err
}

func (pl *Planner) next(ctx context.Context, rejected *tpb.Task) (*tpb.Task, error) {
	srID := strings.TrimPrefix(resource.RefString(rejected.GetFocus()), "ServiceRequest/")
	if !strings.HasPrefix(srID, "route-") {
		return nil, nil
	}
	m, err := pl.read(ctx, "ServiceRequest", srID)
	if err != nil || m == nil {
		return nil, err
	}
	sr := m.(*srpb.ServiceRequest)
	s, err := pl.stayOf(ctx, strings.TrimPrefix(resource.RefString(sr.GetEncounter()), "Encounter/"))
	if err != nil {
		return nil, err
	}
	roles := rolesOf(sr.GetPerformerType())
	if len(roles) == 0 {
		return nil, nil
	}
	kind, cats := needs(pl.actionOf(ctx, sr, roles[0]))
	// Who refused this request, and how many Tasks it had.
	tasks, err := pl.search(ctx, "Task", url.Values{"focus": {"ServiceRequest/" + srID}})
	if err != nil {
		return nil, err
	}
	refused := map[string]reason{}
	for _, t := range append(tasks, rejected) {
		if r := answered(t.(*tpb.Task)); r.text != "" {
			refused[resource.RefString(t.(*tpb.Task).GetOwner())] = r
		}
	}
	// The next candidate is asked from now on, within what is left of
	// the request's window.
	win := sr.GetOccurrence().GetPeriod()
	if now := pl.cfg.Now(); win != nil && time.UnixMicro(win.GetStart().GetValueUs()).Before(now) && (win.GetEnd() == nil || now.Before(time.UnixMicro(win.GetEnd().GetValueUs()))) {
		win = &dtpb.Period{Start: dateTime(now), End: win.GetEnd()}
	}
	owner, status, reason, w, err := pl.recipientAmong(ctx, s, roles, kind, cats, win, refused)
	if err != nil {
		return nil, err
	}
	next := proto.Clone(rejected).(*tpb.Task)
	next.Id = &dtpb.Id{Value: srID + "-" + strconv.Itoa(len(tasks)+1)}
	next.Meta, next.Text = nil, nil
	next.Status = &tpb.Task_StatusCode{Value: status}
	next.StatusReason, next.BusinessStatus, next.Output, next.ExecutionPeriod = nil, nil, nil, nil
	if reason != "" {
		next.StatusReason = permitRequired()
	}
	if owner == nil || resource.RefString(owner) == resource.RefString(s.requester) {
		next.BusinessStatus = noCandidate()
	}
	next.Owner = owner
	next.AuthoredOn = dateTime(pl.cfg.Now())
	was := "Task/" + resource.ID(rejected)
	after := say("after "+was+" was rejected", Step{Code: "after-rejected", Who: []string{was}})
	if ReRouted(rejected) {
		after = say("after "+was+" was re-routed by its requester", Step{Code: "after-rerouted", Who: []string{was}})
	} else if rejected.GetStatus().GetValue() == codes.TaskStatusCode_CANCELLED {
		after = say("after "+was+" was cancelled", Step{Code: "after-cancelled", Who: []string{was}})
		if r := rejected.GetStatusReason(); r.GetText().GetValue() != "" {
			after = after.then(" ", why{"(" + r.GetText().GetValue() + ")", reasonSteps(r)})
		}
	}
	next.Note = []*dtpb.Annotation{after.then(": ", w).note()}
	next.Extension = append(next.Extension[:0:0], &dtpb.Extension{
		Url:   &dtpb.Uri{Value: ExtReplaces},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: resource.Ref("Task", resource.ID(rejected))}},
	})
	return next, nil
}

// answered says why the owner of a routing Task is not asked again for its
// request: she refused it, or did not answer in time (no text for
// neither). Its status reason says which, by its code or, as versions
// before it was coded wrote it, its text.
func answered(t *tpb.Task) reason {
	switch t.GetStatus().GetValue() {
	case codes.TaskStatusCode_REJECTED:
		return reason{"refused this request before", Step{Code: "refused-before"}}
	case codes.TaskStatusCode_CANCELLED:
		sr := t.GetStatusReason()
		switch r := sr.GetText().GetValue(); {
		case hasCode(sr, NoAnswerCode), strings.HasPrefix(r, NoAnswer):
			return reason{"did not answer this request in time", Step{Code: "no-answer-before"}}
		case hasCode(sr, NotDeliveredCode), r == notDelivered:
			return reason{"could not be reached for this request", Step{Code: "unreachable-before"}}
		case hasCode(sr, RecipientLeft), strings.HasPrefix(r, LeftDirectory):
			return reason{"left the directory", Step{Code: "left-before"}}
		}
		return reason{"was taken off this request before", Step{Code: "taken-off-before"}}
	}
	return reason{}
}

// NoAnswer starts the status reason of a Task that timed out (TimeOut).
const NoAnswer = "no answer within "

// actionOf finds the pathway action a routing ServiceRequest was made for:
// its CarePlan's PlanDefinition, the action of the same role.
func (pl *Planner) actionOf(ctx context.Context, sr *srpb.ServiceRequest, role string) *pdpb.PlanDefinition_Action {
	if len(sr.GetBasedOn()) == 0 {
		return nil
	}
	m, err := pl.read(ctx, "CarePlan", strings.TrimPrefix(resource.RefString(sr.GetBasedOn()[0]), "CarePlan/"))
	if err != nil || m == nil {
		return nil
	}
	cp := m.(*cppb.CarePlan)
	if len(cp.GetInstantiatesCanonical()) == 0 {
		return nil
	}
	url, _, _ := strings.Cut(cp.GetInstantiatesCanonical()[0].GetValue(), "|")
	pds, err := pl.definitions(ctx)
	if err != nil {
		return nil
	}
	for _, pd := range pds {
		if pd.GetUrl().GetValue() != url {
			continue
		}
		for _, a := range pd.GetAction() {
			if cs := a.GetCode(); len(cs) > 0 && len(cs[0].GetCoding()) > 0 && cs[0].GetCoding()[0].GetCode().GetValue() == role {
				return a
			}
		}
	}
	return nil
}

// TimeOut cancels every routing Task still requested when its time to
// answer has passed since it was made (authoredOn): its pathway action's
// (pathways.ExtAnswerWithin), else TaskTimeout. It cancels it with a
// status reason saying so and creates the Task for the next candidate of
// its request, who is not the one who did not answer (Next), in the same
// transaction. The deadline is derived from what is stored, so it holds
// across restarts. A Task whose notification could not be delivered
// (UndeliveredStatus) is moved the same way, without waiting. It returns
// how many Tasks it moved.
func (pl *Planner) TimeOut(ctx context.Context) (int, error) {
	shortest, err := pl.shortestAnswer(ctx)
	if err != nil {
		return 0, err
	}
	now := pl.cfg.Now()
	due := now.Add(-shortest).UTC().Format(time.RFC3339)
	n, err := pl.askNextFor(ctx, url.Values{"status": {"requested"}, "authored-on": {"lt" + due}},
		func(old *tpb.Task, a *pdpb.PlanDefinition_Action) *dtpb.CodeableConcept {
			within := pl.answerWithin(a)
			if now.Before(time.UnixMicro(old.GetAuthoredOn().GetValueUs()).Add(within)) {
				return nil
			}
			return reasonOf(NoAnswerCode, NoAnswer+within.String(), Step{Code: "no-answer-within", Detail: []string{within.String()}})
		})
	if err != nil {
		return n, err
	}
	// A Task whose notification push delivery gave up on (a dead letter)
	// was never seen: its recipient is not waited for.
	m, err := pl.askNextFor(ctx, url.Values{"status": {"requested"}, "business-status": {UndeliveredStatus}},
		func(*tpb.Task, *pdpb.PlanDefinition_Action) *dtpb.CodeableConcept {
			return reasonOf(NotDeliveredCode, notDelivered)
		})
	return n + m, err
}

// UndeliveredStatus is the token of the businessStatus push delivery
// gives a Task whose notification became a dead letter.
const UndeliveredStatus = delivery.DeliveryStatusSystem + "|undelivered"

// notDelivered is the status reason of a Task cancelled because its
// notification could not be delivered.
const notDelivered = "its notification could not be delivered"

// askNextFor cancels each routing Task matching v that why gives a status
// reason for (nil: left as it is), with that reason, and creates the Task for
// the next candidate of its request (Next), in one transaction pinned to
// the version read. The GP's Task and the hospital's own follow-up are
// never moved. It returns how many Tasks it moved.
func (pl *Planner) askNextFor(ctx context.Context, v url.Values, why func(old *tpb.Task, a *pdpb.PlanDefinition_Action) *dtpb.CodeableConcept) (int, error) {
	found, err := pl.routingTasks(v)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rt := range found {
		h, rec, old := rt.hit, rt.rec, rt.task
		if resource.RefString(old.GetOwner()) == resource.RefString(old.GetRequester()) {
			continue // the hospital's own follow-up: nobody after it
		}
		sm, err := pl.read(ctx, "ServiceRequest", strings.TrimPrefix(resource.RefString(old.GetFocus()), "ServiceRequest/"))
		if err != nil {
			return n, err
		}
		sr, ok := sm.(*srpb.ServiceRequest)
		roles := rolesOf(sr.GetPerformerType())
		if !ok || len(roles) == 0 || roles[0] == "gp" {
			continue // the GP always receives the plan
		}
		reason := why(old, pl.actionOf(ctx, sr, roles[0]))
		if reason == nil {
			continue
		}
		cancelled := proto.Clone(old).(*tpb.Task)
		cancelled.Status.Value = codes.TaskStatusCode_CANCELLED
		cancelled.StatusReason = reason
		next, err := pl.Next(ctx, cancelled)
		if err != nil {
			return n, err
		}
		entries := []store.TxEntry{{Method: "PUT", Type: "Task", ID: h.ID, Resource: cancelled, Pinned: true, Expect: rec.Version}}
		if next != nil {
			entries = append(entries, store.TxEntry{Method: "PUT", Type: "Task", ID: resource.ID(next), Resource: next, Pinned: true})
		}
		_, err = pl.cfg.Store.Transaction(ctx, entries)
		if errors.Is(err, store.ErrMoved) {
			continue // answered meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// answerWithin is how long the recipient of action a has to answer.
func (pl *Planner) answerWithin(a *pdpb.PlanDefinition_Action) time.Duration {
	for _, e := range a.GetExtension() {
		if e.GetUrl().GetValue() != pathways.ExtAnswerWithin {
			continue
		}
		d := e.GetValue().GetDuration()
		unit := map[string]time.Duration{"min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[d.GetCode().GetValue()]
		if v, err := strconv.ParseFloat(d.GetValue().GetValue(), 64); err == nil && v > 0 && unit > 0 {
			return time.Duration(v * float64(unit))
		}
	}
	return pl.cfg.TaskTimeout
}

// shortestAnswer is the shortest time to answer of any active pathway's
// action, TaskTimeout at most: no Task can time out before it.
func (pl *Planner) shortestAnswer(ctx context.Context) (time.Duration, error) {
	pds, err := pl.definitions(ctx)
	if err != nil {
		return 0, err
	}
	shortest := pl.cfg.TaskTimeout
	var walk func(as []*pdpb.PlanDefinition_Action)
	walk = func(as []*pdpb.PlanDefinition_Action) {
		for _, a := range as {
			shortest = min(shortest, pl.answerWithin(a))
			walk(a.GetAction())
		}
	}
	for _, pd := range pds {
		walk(pd.GetAction())
	}
	return shortest, nil
}

// expected reports whether a stay under way has an expected discharge
// (A16): its plan is prepared as a draft. A planned stay (a pre-admission,
// A05) is not under way: its discharge is planned with it, and nothing is
// prepared until it begins.
func expected(enc *enpb.Encounter) bool {
	for _, e := range enc.GetExtension() {
		if e.GetUrl().GetValue() == ExpectedDischargeURL {
			s := enc.GetStatus().GetValue()
			return s != codes.EncounterStatusCode_CANCELLED && s != codes.EncounterStatusCode_PLANNED && s != codes.EncounterStatusCode_ENTERED_IN_ERROR
		}
	}
	return false
}

// ownProfessional is a member of the patient's active CareTeams holding
// role, who has not refused this request: the patient's own professionals
// come before the directory's (DESIGN.md, "Pathways"). "" when none.
func (pl *Planner) ownProfessional(ctx context.Context, s *stay, role directory.Role, refused map[string]reason) (string, error) {
	own, err := pl.ownProfessionals(ctx, s, role, refused, 1)
	if len(own) == 0 {
		return "", err
	}
	return own[0], err
}

// ownProfessionals are the first limit members (0: all) of the patient's
// active CareTeams holding role who have not refused this request, in
// order (ownProfessional).
func (pl *Planner) ownProfessionals(ctx context.Context, s *stay, role directory.Role, refused map[string]reason, limit int) ([]string, error) {
	teams, err := pl.search(ctx, "CareTeam", url.Values{"patient": {s.patientRef}, "status": {"active"}})
	if err != nil {
		return nil, err
	}
	var members []string
	for _, m := range teams {
		for _, p := range m.(*ctpb.CareTeam).GetParticipant() {
			if ref := resource.RefString(p.GetMember()); strings.HasPrefix(ref, "PractitionerRole/") && refused[ref].text == "" {
				members = append(members, ref)
			}
		}
	}
	sort.Strings(members)
	members = slices.Compact(members)
	var out []string
	for _, ref := range members {
		m, err := pl.read(ctx, "PractitionerRole", strings.TrimPrefix(ref, "PractitionerRole/"))
		if err != nil {
			return nil, err
		}
		if m == nil {
			continue
		}
		if pr, ok := m.(*prrpb.PractitionerRole); ok && pr.GetActive() != nil && !pr.GetActive().GetValue() {
			continue
		}
		pr, _ := m.(*prrpb.PractitionerRole)
		// The role may be stated by its Practitioner's qualifications
		// only (directory.RolesOf).
		var holder *practpb.Practitioner
		if ref := resource.RefString(pr.GetPractitioner()); strings.HasPrefix(ref, "Practitioner/") {
			h, err := pl.read(ctx, "Practitioner", strings.TrimPrefix(ref, "Practitioner/"))
			if err != nil {
				return nil, err
			}
			holder, _ = h.(*practpb.Practitioner)
		}
		if slices.Contains(directory.RolesOf(m, holder), role) {
			if out = append(out, ref); len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// routingTask is one of routing's own Tasks as a search found it: the
// hit, the version read and the Task it holds (not to be modified).
type routingTask struct {
	hit  store.Hit
	rec  *store.Record
	task *tpb.Task
}

// routingTasks are routing's own Tasks (ids route-…) the Task search v
// finds, each read at the version found; one gone since is left out.
func (pl *Planner) routingTasks(v url.Values) ([]routingTask, error) {
	q, err := search.Parse("Task", v, true)
	if err != nil {
		return nil, err
	}
	hits, err := pl.cfg.Store.Search(q, nil)
	if err != nil {
		return nil, err
	}
	var out []routingTask
	for _, h := range hits {
		if !strings.HasPrefix(h.ID, "route-") {
			continue // routing's own Tasks only
		}
		rec, err := pl.cfg.Store.VRead("Task", h.ID, h.Version)
		if err != nil {
			continue
		}
		m, err := pl.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, routingTask{hit: h, rec: rec, task: m.(*tpb.Task)})
	}
	return out, nil
}
