package routing

import (
	"bytes"
	"context"
	"net/url"
	"slices"
	"strings"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	enpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/pathways"
)

// A cancelled discharge withdraws its plan. When a write takes a stay
// that was finished back to another status (HL7 v2 A13 cancel discharge,
// A11 cancel admit, a FHIR update), or takes away the expected discharge
// of a stay whose plan was prepared as a draft (A25), the routing plan of
// the stay is withdrawn in the same transaction: its CarePlan and
// ServiceRequests revoked, its Tasks not yet done cancelled with the
// reason DischargeCancelled (so that push delivery tells their owners, and
// nobody visits a patient still in hospital). A later discharge is routed
// again, into a plan of its own: the withdrawn one keeps its history.
//
// A discharge corrected to say that the patient did not go home (IHE PAM
// France section 5.3.2: a Z99 whose ZBE-6 is A03, its ZFM-2 a death or a
// transfer to another establishment, or a PV1-37 destination; a FHIR
// update of the stay's hospitalization) withdraws its plan the same way,
// with the reason NotGoingHome: a plan for that stay would not be made
// (notHome), and one made before the correction must not keep asking the
// community to care for her.
//
// A death reported after the discharge was routed (HL7 v2 A31 or A08 with
// PID-29/PID-30, a FHIR write of Patient.deceased[x], in any transaction
// that writes the Patient) withdraws, with the reason PatientDeceased, the
// plans of her stays that diedDuring takes her as dead for: the rule that
// keeps a plan from being made. A death dated before a stay began is an
// error of the record for that stay, and withdraws nothing.

//
// A diagnosis or procedure a plan was made on that is withdrawn (a
// Condition's verificationStatus turned entered-in-error or refuted, a
// Procedure's status entered-in-error or not-done: R4 modifier elements;
// a corrected discharge letter retires what only its replaced version
// stated, gateway/ingest replace.go) leaves the plan unsupported when the
// stay no longer takes its pathway: in the transaction that withdraws it,
// the plan is withdrawn with the reason DiagnosisWithdrawn, and the stay
// is routed along the pathway what remains supports, if any, into a plan
// of its own (replanWithdrawn). When the stay still takes the pathway, the
// plan stands and its requests stop naming what was withdrawn (restate).

// DischargeCancelled is the code, in RoutingStatus, of the status reason
// of a Task whose discharge was cancelled, and of ExtWithdrawn on its
// CarePlan.
const DischargeCancelled = "discharge-cancelled"

// ExtWithdrawn marks a routing CarePlan withdrawn by routing (valueCoding
// RoutingStatus|DischargeCancelled): R4 CarePlan has no status reason, and
// a plan revoked by anyone else is not routed again.
const ExtWithdrawn = pathways.Base + "/StructureDefinition/careplan-withdrawn"

// Superseded is the code, in RoutingStatus, of the status reason of a
// Task, and of ExtWithdrawn on its CarePlan, of a draft prepared for an
// expected discharge (A16) along another pathway than the one the
// discharge itself takes (its diagnoses came meanwhile): the discharge's
// plan replaces it (supersededDrafts).
const Superseded = "superseded"

// NotGoingHome is the code, in RoutingStatus, of the status reason of a
// Task whose stay was corrected to say the patient did not go home, and of
// ExtWithdrawn on its CarePlan.
const NotGoingHome = "not-going-home"

// PatientDeceased is the code, in RoutingStatus, of the status reason of
// a Task whose patient's death was reported after her discharge was
// routed, and of ExtWithdrawn on its CarePlan.
const PatientDeceased = "patient-deceased"

// DiagnosisWithdrawn is the code, in RoutingStatus, of the status reason
// of a Task, and of ExtWithdrawn on its CarePlan, of a plan whose
// pathway the stay no longer takes once a diagnosis or procedure it was
// made on was withdrawn.
const DiagnosisWithdrawn = "diagnosis-withdrawn"

// withdrawReason says why a plan is withdrawn, on its CarePlan and Tasks.
type withdrawReason struct{ code, display, text string }

var (
	dischargeCancelled = withdrawReason{DischargeCancelled, "Discharge cancelled", "the discharge was cancelled: the patient stays in hospital"}
	notGoingHome       = withdrawReason{NotGoingHome, "Not going home", "the discharge was corrected: the patient is not going home"}
	patientDeceased    = withdrawReason{PatientDeceased, "Patient deceased", "the patient died: there is nobody to visit"}
	superseded         = withdrawReason{Superseded, "Superseded", "the discharge was planned along another pathway than this draft"}
	diagnosisWithdrawn = withdrawReason{DiagnosisWithdrawn, "Diagnosis withdrawn", "a diagnosis or procedure this plan was made on was withdrawn: the stay no longer takes its pathway"}
)

func (r withdrawReason) coding() *dtpb.Coding {
	return &dtpb.Coding{System: &dtpb.Uri{Value: RoutingStatus}, Code: &dtpb.Code{Value: r.code}, Display: &dtpb.String{Value: r.display}}
}

// withdrawCancelled withdraws the plans of the stays the transaction f
// follows took back from finished (or from an expected discharge), or
// corrected to say that the patient did not go home, and of the stays of
// the patients it reports dead (withdrawDeaths); and, routing on write,
// replans the stays whose diagnoses or procedures it withdraws
// (replanWithdrawn).
// written maps "Type/id" to the last write of each resource.
func (pl *Planner) withdrawCancelled(ctx context.Context, f *store.Following, written map[string]store.Written) error {
	seen := map[string]bool{} // the stays written (by id), withdrawn or not
	var entries []store.TxEntry
	for _, w := range f.Written() {
		if w.Type != "Encounter" || seen[w.ID] {
			continue
		}
		seen[w.ID] = true
		// the stay as it was before this transaction (w is its first
		// write in it), and as the transaction leaves it
		if w.Version < 2 {
			continue
		}
		last := written["Encounter/"+w.ID]
		now, ok := last.Resource.(*enpb.Encounter)
		if last.Deleted || !ok || finished(now) && leftCare(now) == "" {
			continue // a discharge home (the common write) cancels none
		}
		rec, err := f.Snapshot().VRead("Encounter", w.ID, w.Version-1)
		if err != nil {
			continue // the version before was a deletion
		}
		m, err := pl.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return err
		}
		was, ok := m.(*enpb.Encounter)
		if !ok {
			continue
		}
		var why withdrawReason
		switch {
		case cancelsDischarge(was, now):
			why = dischargeCancelled
		case finished(now) && leftCare(was) == "":
			why = notGoingHome
		default:
			continue
		}
		es, err := pl.withdrawal(ctx, w.ID, why)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	deaths, err := pl.withdrawDeaths(ctx, f, written, seen)
	if err != nil {
		return err
	}
	entries = append(entries, deaths...)
	if pl.cfg.RouteOnWrite {
		replanned, err := pl.replanWithdrawn(ctx, f, written, seen)
		if err != nil {
			return err
		}
		entries = append(entries, replanned...)
	}
	if len(entries) == 0 {
		return nil
	}
	_, err = f.Put(entries)
	return err
}

// withdrawDeaths is the withdrawal of the plans not withdrawn yet of the
// stays of each patient the transaction f follows leaves dead, for each
// stay diedDuring takes her as dead for; stays in decided are left to
// withdrawCancelled's own rules (a stay this transaction corrects is
// decided on its own version).
func (pl *Planner) withdrawDeaths(ctx context.Context, f *store.Following, written map[string]store.Written, decided map[string]bool) ([]store.TxEntry, error) {
	var out []store.TxEntry
	for _, w := range f.Written() {
		if w.Type != "Patient" || decided["Patient/"+w.ID] {
			continue
		}
		decided["Patient/"+w.ID] = true
		last := written["Patient/"+w.ID]
		p, ok := last.Resource.(*patpb.Patient)
		if last.Deleted || !ok || p.GetDeceased() == nil {
			continue // the common write: a living patient
		}
		cps, err := pl.search(ctx, "CarePlan", url.Values{"patient": {"Patient/" + w.ID}})
		if err != nil {
			return nil, err
		}
		for _, m := range cps {
			cp, ok := m.(*cppb.CarePlan)
			if !ok || !strings.HasPrefix(resource.ID(cp), "route-") || done(cp.GetStatus().GetValue()) {
				continue
			}
			typ, id, _, ok := resource.RefTarget(cp.GetEncounter())
			if !ok || typ != "Encounter" || decided[id] {
				continue
			}
			decided[id] = true
			em, err := pl.read(ctx, "Encounter", id)
			if err != nil {
				return nil, err
			}
			e, ok := em.(*enpb.Encounter)
			if !ok || diedDuring(p, e) == "" {
				continue
			}
			es, err := pl.withdrawal(ctx, id, patientDeceased)
			if err != nil {
				return nil, err
			}
			out = append(out, es...)
		}
	}
	return out, nil
}

// revived are the stays a death kept from being handed over and that the
// transaction f follows corrects: a Patient written again whose version
// before it took her as dead for the stay (diedDuring) and whose last
// version no longer does. Their plans were withdrawn (PatientDeceased),
// or never made (a discharge that reported the death itself). (An HL7 v2
// A08 or A31 corrects a death with PID-30 N or the null "": HL7 v2.5
// section 2.5.3, an absent field leaves the stored value.) Follow routes
// them, a withdrawn plan's stay into a plan of its own: the withdrawn
// Tasks were cancelled, which R4's state machine makes final, and their
// owners were told.
func (pl *Planner) revived(ctx context.Context, f *store.Following, written map[string]store.Written) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, w := range f.Written() {
		if w.Type != "Patient" || seen[w.ID] || w.Version < 2 {
			continue
		}
		seen[w.ID] = true
		last := written["Patient/"+w.ID]
		p, ok := last.Resource.(*patpb.Patient)
		if last.Deleted || !ok || p.GetDeceased().GetBoolean().GetValue() {
			continue
		}
		rec, err := f.Snapshot().VRead("Patient", w.ID, w.Version-1)
		if err != nil || !bytes.Contains(rec.JSON, []byte(`"deceased`)) {
			continue // the common write: she was not dead before it either
		}
		m, err := pl.cfg.Codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, err
		}
		was, ok := m.(*patpb.Patient)
		if !ok || was.GetDeceased().GetDateTime() == nil && !was.GetDeceased().GetBoolean().GetValue() {
			continue // stated alive (PID-30 N) before it
		}
		stays, err := pl.search(ctx, "Encounter", url.Values{"patient": {"Patient/" + w.ID}})
		if err != nil {
			return nil, err
		}
		for _, sm := range stays {
			if e, ok := sm.(*enpb.Encounter); ok && diedDuring(was, e) != "" && diedDuring(p, e) == "" {
				out = append(out, resource.ID(e))
			}
		}
	}
	return out, nil
}

// cancelsDischarge reports whether a stay written as now, after was,
// no longer has the discharge it was routed or prepared for.
func cancelsDischarge(was, now *enpb.Encounter) bool {
	if finished(now) {
		return false
	}
	return finished(was) || expected(was) && !expected(now)
}

func finished(e *enpb.Encounter) bool {
	return e.GetStatus().GetValue() == codes.EncounterStatusCode_FINISHED
}

// withdrawal is the writes that withdraw the routing plans of Encounter/id
// not withdrawn yet: each CarePlan and its ServiceRequests revoked, their
// Tasks not done cancelled, for the reason why.
func (pl *Planner) withdrawal(ctx context.Context, encounterID string, why withdrawReason) ([]store.TxEntry, error) {
	plans, err := pl.routingPlans(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	return pl.withdraw(ctx, plans, why)
}

// supersededDrafts is the writes that withdraw the drafts of the stay of
// plan, a discharge's, that plan does not replace: a draft shares the ids
// of the discharge's plan only when both take the same pathway (plan
// ids), and one prepared along another would otherwise stay a draft for
// ever beside it, its Tasks in their owners' lists.
func (pl *Planner) supersededDrafts(ctx context.Context, plan *Plan) ([]store.TxEntry, error) {
	_, encounterID, _, ok := resource.RefTarget(plan.CarePlan.GetEncounter())
	if !ok {
		return nil, nil
	}
	plans, err := pl.routingPlans(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	plans = slices.DeleteFunc(plans, func(cp *cppb.CarePlan) bool {
		return !isDraft(cp) || resource.ID(cp) == resource.ID(plan.CarePlan)
	})
	return pl.withdraw(ctx, plans, superseded)
}

// withdraw is the writes that withdraw plans not withdrawn yet: each
// CarePlan and its ServiceRequests revoked, their Tasks not done
// cancelled, for the reason why.
func (pl *Planner) withdraw(ctx context.Context, plans []*cppb.CarePlan, why withdrawReason) ([]store.TxEntry, error) {
	var out []store.TxEntry
	put := func(m proto.Message) {
		out = append(out, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
	}
	for _, cp := range plans {
		if done(cp.GetStatus().GetValue()) {
			continue
		}
		cp = proto.Clone(cp).(*cppb.CarePlan)
		cp.Status.Value = codes.RequestStatusCode_REVOKED
		cp.Extension = append(cp.Extension, &dtpb.Extension{Url: &dtpb.Uri{Value: ExtWithdrawn},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: why.coding()}}})
		cp.Note = append(cp.Note, say("Withdrawn: "+why.text+".", Step{Code: why.code}).note())
		put(cp)
		for _, a := range cp.GetActivity() {
			typ, id, _, ok := resource.RefTarget(a.GetReference())
			if !ok || typ != "ServiceRequest" || !strings.HasPrefix(id, "route-") {
				continue // the discharge letter's own requests are the hospital's
			}
			sm, err := pl.read(ctx, "ServiceRequest", id)
			if err != nil {
				return nil, err
			}
			if sr, ok := sm.(*srpb.ServiceRequest); ok && !done(sr.GetStatus().GetValue()) {
				sr = proto.Clone(sr).(*srpb.ServiceRequest)
				sr.Status.Value = codes.RequestStatusCode_REVOKED
				put(sr)
			}
			tasks, err := pl.search(ctx, "Task", url.Values{"focus": {"ServiceRequest/" + id}})
			if err != nil {
				return nil, err
			}
			for _, tm := range tasks {
				t, ok := tm.(*tpb.Task)
				if !ok || !strings.HasPrefix(resource.ID(t), "route-") || !access.Cancellable(t) {
					continue
				}
				t = proto.Clone(t).(*tpb.Task)
				t.Status.Value = codes.TaskStatusCode_CANCELLED
				t.StatusReason = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{why.coding()}, Text: &dtpb.String{Value: why.text}}
				put(t)
			}
		}
	}
	return out, nil
}

// done reports whether a request is over: withdrawn, completed or
// entered in error.
func done(s codes.RequestStatusCode_Value) bool {
	return s == codes.RequestStatusCode_REVOKED || s == codes.RequestStatusCode_COMPLETED || s == codes.RequestStatusCode_ENTERED_IN_ERROR
}

// replanWithdrawn is the writes that withdraw, with the reason
// DiagnosisWithdrawn, the plans in force of the stays of the diagnoses
// and procedures the transaction f follows withdraws, when the stay no
// longer takes their pathway, and that route the stay along the one it
// takes now, if any. decided holds the stays already decided in the
// transaction (withdrawCancelled), and gets those this decides.
func (pl *Planner) replanWithdrawn(ctx context.Context, f *store.Following, written map[string]store.Written, decided map[string]bool) ([]store.TxEntry, error) {
	var out []store.TxEntry
	for _, w := range f.Written() {
		last := written[w.Type+"/"+w.ID]
		var enc *dtpb.Reference
		switch r := last.Resource.(type) {
		case *cdpb.Condition:
			if last.Deleted || !ruledOut(r) {
				continue
			}
			enc = r.GetEncounter()
		case *prpb.Procedure:
			if s := r.GetStatus().GetValue(); last.Deleted || s != codes.EventStatusCode_ENTERED_IN_ERROR && s != codes.EventStatusCode_NOT_DONE {
				continue
			}
			enc = r.GetEncounter()
		default:
			continue
		}
		typ, id, _, ok := resource.RefTarget(enc)
		if !ok || typ != "Encounter" || decided[id] {
			continue
		}
		decided[id] = true
		es, err := pl.replan(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
	}
	return out, nil
}

// replan is the writes that withdraw the plans in force of Encounter/id
// whose pathway the stay no longer takes, and route it along the one it
// takes now; when it takes the same one, those that restate its plan on
// the diagnoses that still stand; nothing when it has no plan in force.
func (pl *Planner) replan(ctx context.Context, encounterID string) ([]store.TxEntry, error) {
	all, err := pl.routingPlans(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	var inForce []*cppb.CarePlan
	withdrawn := 0
	for _, cp := range all {
		switch {
		case withdrawnPlan(cp):
			withdrawn++
		case !done(cp.GetStatus().GetValue()):
			inForce = append(inForce, cp)
		}
	}
	if len(inForce) == 0 {
		return nil, nil // never routed, or withdrawn already: routed as any stay
	}
	plan, err := pl.plan(ctx, encounterID, withdrawn+len(inForce))
	if err != nil && outcome.KindOf(err) != outcome.Unprocessable {
		return nil, err
	}
	var now string
	if plan != nil {
		now = pathwayURL(plan.Pathway)
	}
	var stands []*cppb.CarePlan
	inForce = slices.DeleteFunc(inForce, func(cp *cppb.CarePlan) bool {
		same := slices.ContainsFunc(cp.GetInstantiatesCanonical(), func(c *dtpb.Canonical) bool { return pathwayURL(c.GetValue()) == now })
		if same {
			stands = append(stands, cp)
		}
		return same
	})
	if len(inForce) == 0 {
		// the same pathway: the plan stands, on what still stands
		return pl.restate(ctx, encounterID, stands)
	}
	out, err := pl.withdraw(ctx, inForce, diagnosisWithdrawn)
	if err != nil || plan == nil {
		return out, err // no pathway now: nothing to hand over
	}
	es, err := pl.entries(ctx, plan)
	return append(out, es...), err
}

// restate is the writes that leave the requests of plans, which stand,
// naming as their reasons (ServiceRequest.reasonReference, R4 "explanation
// or justification for the requested service") only the diagnoses of the
// stay Encounter/id that still stand (stayOf: a Condition refuted or
// entered in error is none): a recipient is not pointed at a diagnosis the
// hospital withdrew. Nothing is added: a request routing gave no diagnosis
// (a social recipient's) gets none.
func (pl *Planner) restate(ctx context.Context, encounterID string, plans []*cppb.CarePlan) ([]store.TxEntry, error) {
	s, err := pl.stayOf(ctx, encounterID)
	if err != nil {
		return nil, err
	}
	standing := map[string]bool{}
	for _, d := range s.diagnoses {
		standing[resource.RefString(d)] = true
	}
	var out []store.TxEntry
	for _, cp := range plans {
		for _, a := range cp.GetActivity() {
			typ, id, _, ok := resource.RefTarget(a.GetReference())
			if !ok || typ != "ServiceRequest" || !strings.HasPrefix(id, "route-") {
				continue // the discharge letter's own requests are the hospital's
			}
			m, err := pl.read(ctx, "ServiceRequest", id)
			if err != nil {
				return nil, err
			}
			sr, ok := m.(*srpb.ServiceRequest)
			if !ok || done(sr.GetStatus().GetValue()) {
				continue
			}
			keep := slices.DeleteFunc(slices.Clone(sr.GetReasonReference()), func(r *dtpb.Reference) bool {
				return strings.HasPrefix(resource.RefString(r), "Condition/") && !standing[resource.RefString(r)]
			})
			if len(keep) == len(sr.GetReasonReference()) {
				continue
			}
			sr = proto.Clone(sr).(*srpb.ServiceRequest)
			sr.ReasonReference = keep
			out = append(out, store.TxEntry{Method: "PUT", Type: "ServiceRequest", ID: id, Resource: sr})
		}
	}
	return out, nil
}

// pathwayURL is the PlanDefinition URL of a canonical "url|version".
func pathwayURL(canonical string) string {
	u, _, _ := strings.Cut(canonical, "|")
	return u
}
