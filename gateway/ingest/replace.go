package ingest

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	dusp "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_use_statement_go_proto"
	diagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	goalpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/goal_go_proto"
	immpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_request_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/cda"
)

// A document that replaces another (CDA R2 section 4.2.3.1: relatedDocument
// typeCode RPLC, the same setId and a higher versionNumber; IHE ITI TF-3
// 4.2.4.1, where the replaced DocumentEntry becomes Deprecated) withdraws
// what the replaced version stated: a diagnosis, allergy or medication that
// only the replaced version stated is no longer asserted by anyone. Such
// statements stay in the store, their history intact, marked as FHIR R4
// marks a statement that should not have been made: a Condition's or an
// AllergyIntolerance's verificationStatus entered-in-error, without
// clinicalStatus (invariants con-5 and ait-2 forbid it then), the status
// entered-in-error of the other statements, and superseded for the
// replaced DocumentReference (R4 DocumentReferenceStatus). A clinical
// status (resolved, inactive) would state that the patient no longer has
// the condition, which neither version says: the replaced version's
// statement is withdrawn, not answered.
//
// The versions of a set are numbered (CDA R2 4.2.1.8): a version stored
// with a lower versionNumber is replaced as well, named by RPLC or not
// (earlierVersions).
//
// What the replaced version produced is its Provenance's targets (ids are
// deterministic: bundle.ProvenanceID); the targets the new version does
// not write are retired in the transaction that writes it.
//
// Versions may arrive in any order. A source's statements are ordered by
// the time it states them (bundle.Result.Asserted, a CDA document's
// effectiveTime) with the store's rule that an older event never
// overwrites newer data (store.TxEntry.EventTime): a replaced version
// arriving again, or for the first time, after its replacement does not
// overwrite what the replacement wrote or retired, and when its set's
// Composition already holds a later version its own statements are
// written retired.

// A document deleted (an HL7 v2 deletion: MDM T11, or the CI-SIS volet
// "Transmission de documents CDA en HL7 v2"'s OBX-11 D and ORC-1 CA;
// mappings/hl7v2 deletion.go) is withdrawn by the same rule, with nothing
// stated in its place: what it produced is retired as a replaced
// version's statements are, ordered by when it was deleted, and its
// DocumentReference becomes entered-in-error (R4 DocumentReferenceStatus:
// "this reference was created in error"; HL7 v2.5 section 9.2.1.2: a
// canceled document is "removed" from a patient's record "with no
// replacement"), not superseded, since no version supersedes it. The report of an order the deletion cancels
// (DiagnosticReport, R4 status entered-in-error: "the report has been
// withdrawn following a previous final release") is withdrawn with it.
// A deletion of a document never stored withdraws nothing.

// withdrawal says why a source withdraws what another produced.
type withdrawal int

const (
	replaced withdrawal = iota // a later version of the document replaces it
	deleted                    // the document is deleted, with no replacement
)

// retire returns a copy of a statement as withdrawn for why, or false
// when the type is not one a withdrawal reaches (a patient, a stay,
// people and organisations belong to every source and are never
// retired).
func retire(m proto.Message, why withdrawal) (proto.Message, bool) {
	withdraw, ok := withdrawals[resource.Type(m)]
	if !ok {
		return nil, false
	}
	m = proto.Clone(m)
	withdraw(m, why)
	return m, true
}

// statement reports whether entries of type typ are a document's
// statements: ordered by the time the document states them, and retired
// when a replacement no longer states them. A report is not one: an HL7
// v2 result message's DiagnosticReport is the message's, ordered by its
// event and withdrawn only when a deletion cancels its order.
func statement(typ string) bool {
	_, ok := withdrawals[typ]
	return ok && typ != "DiagnosticReport"
}

// withdrawals mark a resource of each type as withdrawn, in place.
var withdrawals = map[string]func(proto.Message, withdrawal){
	"Condition": func(m proto.Message, _ withdrawal) {
		r := m.(*cdpb.Condition)
		r.ClinicalStatus, r.VerificationStatus = nil, retiredConcept(condVerStatus)
	},
	"AllergyIntolerance": func(m proto.Message, _ withdrawal) {
		r := m.(*aipb.AllergyIntolerance)
		r.ClinicalStatus, r.VerificationStatus = nil, retiredConcept(allergyVerStatus)
	},
	"Observation": func(m proto.Message, _ withdrawal) {
		m.(*obspb.Observation).Status = &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_ENTERED_IN_ERROR}
	},
	"Procedure": func(m proto.Message, _ withdrawal) {
		m.(*procpb.Procedure).Status = &procpb.Procedure_StatusCode{Value: cpb.EventStatusCode_ENTERED_IN_ERROR}
	},
	"MedicationStatement": func(m proto.Message, _ withdrawal) {
		m.(*mspb.MedicationStatement).Status = &mspb.MedicationStatement_StatusCode{Value: cpb.MedicationStatementStatusCodes_ENTERED_IN_ERROR}
	},
	"MedicationRequest": func(m proto.Message, _ withdrawal) {
		m.(*mrpb.MedicationRequest).Status = &mrpb.MedicationRequest_StatusCode{Value: cpb.MedicationrequestStatusCode_ENTERED_IN_ERROR}
	},
	"Immunization": func(m proto.Message, _ withdrawal) {
		m.(*immpb.Immunization).Status = &immpb.Immunization_StatusCode{Value: vspb.ImmunizationStatusCodesValueSet_ENTERED_IN_ERROR}
	},
	"ServiceRequest": func(m proto.Message, _ withdrawal) {
		m.(*srpb.ServiceRequest).Status = &srpb.ServiceRequest_StatusCode{Value: cpb.RequestStatusCode_ENTERED_IN_ERROR}
	},
	"CarePlan": func(m proto.Message, _ withdrawal) {
		m.(*cppb.CarePlan).Status = &cppb.CarePlan_StatusCode{Value: cpb.RequestStatusCode_ENTERED_IN_ERROR}
	},
	"Goal": func(m proto.Message, _ withdrawal) {
		m.(*goalpb.Goal).LifecycleStatus = &goalpb.Goal_LifecycleStatusCode{Value: cpb.GoalLifecycleStatusCode_ENTERED_IN_ERROR}
	},
	"DeviceUseStatement": func(m proto.Message, _ withdrawal) {
		m.(*dusp.DeviceUseStatement).Status = &dusp.DeviceUseStatement_StatusCode{Value: cpb.DeviceUseStatementStatusCode_ENTERED_IN_ERROR}
	},
	"Composition": func(m proto.Message, _ withdrawal) {
		m.(*comppb.Composition).Status = &comppb.Composition_StatusCode{Value: cpb.CompositionStatusCode_ENTERED_IN_ERROR}
	},
	"DocumentReference": func(m proto.Message, why withdrawal) {
		status := cpb.DocumentReferenceStatusCode_SUPERSEDED
		if why == deleted {
			status = cpb.DocumentReferenceStatusCode_ENTERED_IN_ERROR
		}
		m.(*drpb.DocumentReference).Status = &drpb.DocumentReference_StatusCode{Value: status}
	},
	"DiagnosticReport": func(m proto.Message, _ withdrawal) {
		m.(*diagpb.DiagnosticReport).Status = &diagpb.DiagnosticReport_StatusCode{Value: cpb.DiagnosticReportStatusCode_ENTERED_IN_ERROR}
	},
}

// withdrawnTypes are the types a withdrawal may write, sorted.
func withdrawnTypes() []string {
	out := make([]string, 0, len(withdrawals))
	for typ := range withdrawals {
		out = append(out, typ)
	}
	slices.Sort(out)
	return out
}

// The code systems of R4 Condition.verificationStatus and
// AllergyIntolerance.verificationStatus.
const (
	condVerStatus    = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	allergyVerStatus = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
)

func retiredConcept(system string) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
		System:  &dtpb.Uri{Value: system},
		Code:    &dtpb.Code{Value: "entered-in-error"},
		Display: &dtpb.String{Value: "Entered in Error"},
	}}}
}

// document is what a source says of the document it is (a CDA document,
// posted on its own or carried in an HL7 v2 MDM message): when it states
// its content and the Provenances of the documents it replaces
// (bundle.Result.Asserted, Replaces).
type document struct {
	asserted time.Time
	replaces []string
	// byTime: the versions of the document's set are ordered by asserted
	// (bundle.Result.OrderedByTime), when it states no versionNumber
	byTime bool
	// documents are the DocumentReferences ("Type/id") the source's own
	// replace (relatesTo replaces: an HL7 v2 MDM T10's TXA-13, HL7 v2.5
	// section 9.5.10), whatever content it carries: superseded.
	documents []string
	// deletes are what the source deletes (bundle.Result.Deletes):
	// withdrawn, its DocumentReferences entered-in-error.
	deletes []string
}

func documentOf(res *bundle.Result) document {
	d := document{asserted: res.Asserted, replaces: res.Replaces, byTime: res.OrderedByTime, deletes: res.Deletes}
	for _, e := range res.Bundle.GetEntry() {
		dr, ok := resource.Unwrap(e.GetResource()).(*drpb.DocumentReference)
		if !ok {
			continue
		}
		for _, rt := range dr.GetRelatesTo() {
			if ref := resource.RefString(rt.GetTarget()); rt.GetCode().GetValue() == cpb.DocumentRelationshipTypeCode_REPLACES && strings.HasPrefix(ref, "DocumentReference/") {
				d.documents = append(d.documents, ref)
			}
		}
	}
	return d
}

// stated reports whether the source is a document whose statements are
// ordered or replace others (supersede).
func (d document) stated() bool {
	return !d.asserted.IsZero() || len(d.replaces) > 0 || len(d.documents) > 0 || len(d.deletes) > 0
}

// supersede orders entries, what the document src maps to, by the time
// src states them, retires them when a later version of their document
// is stored already, else appends the retirement of what the versions src
// replaces produced and src does not state again, and of what the
// documents src deletes produced, each pinned to the version read in r.
// It runs on the resolved entries, in the snapshot the transaction that
// writes them is decided on, whatever carried the document: one rule.
func (in *Ingester) supersede(r *store.Snapshot, entries []store.TxEntry, src document) ([]store.TxEntry, error) {
	at := src.asserted
	if !src.stated() {
		return entries, nil
	}
	stale, why := false, replaced
	written := make(map[string]bool, len(entries))
	for _, e := range entries {
		written[e.Type+"/"+e.ID] = true
		if e.Type == "Composition" && !at.IsZero() {
			if t, ok := r.EventTime(e.Type, e.ID); ok && t.After(at) {
				stale = true
				// a set whose later version was deleted holds its
				// Composition entered-in-error: what comes before the
				// deletion is deleted too, not replaced
				if deletedSet, err := in.deletedComposition(r, e.ID); err != nil {
					return nil, err
				} else if deletedSet {
					why = deleted
				}
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if !statement(e.Type) {
			continue
		}
		e.EventTime = at
		if stale {
			if m, ok := retire(e.Resource, why); ok {
				e.Resource = m
			}
		}
	}
	if stale {
		return entries, nil // what its replacement or deletion states is newer
	}
	earlier, err := in.earlierVersions(r, entries, src)
	if err != nil {
		return nil, err
	}
	n := len(entries)
	for _, id := range earlier {
		if entries, err = in.retireOutputs(r, id, written, at, replaced, entries); err != nil {
			return nil, err
		}
	}
	for _, ref := range src.documents {
		if entries, err = in.retireOne(r, ref, written, at, replaced, entries); err != nil {
			return nil, err
		}
	}
	for _, ref := range src.deletes {
		if entries, err = in.withdrawDeleted(r, ref, written, at, entries); err != nil {
			return nil, err
		}
	}
	claimRetired(entries[:n], entries[n:])
	return entries, nil
}

// withdrawDeleted appends the withdrawal of what a deletion names
// (document.deletes): a deleted document's own Provenance, whose targets
// are what it stated; a DocumentReference, with what the documents it
// carried stated (the Provenances whose source entity it is: a CDA
// document carried in an HL7 v2 message, mappings/hl7v2 embeddedCDA); a
// report whose order was cancelled.
func (in *Ingester) withdrawDeleted(r *store.Snapshot, ref string, written map[string]bool, at time.Time, entries []store.TxEntry) ([]store.TxEntry, error) {
	typ, id, _ := strings.Cut(ref, "/")
	switch typ {
	case "Provenance":
		return in.retireOutputs(r, id, written, at, deleted, entries)
	case "DocumentReference":
		carried, err := in.carriedBy(r, ref)
		if err != nil {
			return nil, err
		}
		for _, p := range carried {
			if entries, err = in.retireOutputs(r, p, written, at, deleted, entries); err != nil {
				return nil, err
			}
		}
	}
	return in.retireStored(r, ref, written, at, deleted, entries)
}

// carriedBy lists the ids of the Provenances of the documents the
// DocumentReference ref carried: those naming it among their targets and
// as an entity they were derived from.
func (in *Ingester) carriedBy(r *store.Snapshot, ref string) ([]string, error) {
	q, err := search.Parse("Provenance", url.Values{"target": {ref}}, true)
	if err != nil {
		return nil, err
	}
	hits, err := r.Search(q, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range hits {
		m, ok, err := in.readStored(r, "Provenance", h.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for _, en := range m.(*provpb.Provenance).GetEntity() {
			if resource.RefString(en.GetWhat()) == ref {
				out = append(out, h.ID)
				break
			}
		}
	}
	return out, nil
}

// deletedComposition reports whether the stored Composition id is
// withdrawn (entered-in-error): its document was deleted.
func (in *Ingester) deletedComposition(r *store.Snapshot, id string) (bool, error) {
	m, ok, err := in.readStored(r, "Composition", id)
	if err != nil || !ok {
		return false, err
	}
	return m.(*comppb.Composition).GetStatus().GetValue() == cpb.CompositionStatusCode_ENTERED_IN_ERROR, nil
}

// earlierVersions are the Provenances of the documents a document
// replaces: those it names (RPLC), and every version of its set stored
// under a lower versionNumber. CDA R2 numbers the versions of a set
// (setId, versionNumber: sections 4.2.1.7, 4.2.1.8), a higher one
// replacing a lower, and a sender may state no relatedDocument, or name a
// version that never came: the set's Composition (one per set, its
// versionNumber the extension cda.ExtVersionNumber) holds a lower number,
// and what stored it is found among the Provenances that name it. A
// Composition stored without a versionNumber (by an earlier Relais, or a
// document without one) is replaced only as RPLC says, unless the
// source's versions are ordered by time (a FHIR document: its set's
// Composition stored by an earlier Bundle.timestamp is an earlier
// version).
func (in *Ingester) earlierVersions(r *store.Snapshot, entries []store.TxEntry, src document) ([]string, error) {
	out := slices.Clone(src.replaces)
	own := map[string]bool{}
	for _, e := range entries {
		if e.Type == "Provenance" {
			own[e.ID] = true
		}
	}
	for _, e := range entries {
		comp, ok := e.Resource.(*comppb.Composition)
		if !ok {
			continue
		}
		earlier, err := in.earlierInSet(r, e.ID, comp, src)
		if err != nil {
			return nil, err
		}
		if !earlier {
			continue
		}
		q, err := search.Parse("Provenance", url.Values{"target": {"Composition/" + e.ID}}, true)
		if err != nil {
			return nil, err
		}
		hits, err := r.Search(q, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if !own[h.ID] && !slices.Contains(out, h.ID) {
				out = append(out, h.ID)
			}
		}
	}
	return out, nil
}

// earlierInSet reports whether the Composition id stored holds an
// earlier version of the set than comp, the one src writes: a lower
// versionNumber, or, both without one and src ordered by time, an earlier
// event time.
func (in *Ingester) earlierInSet(r *store.Snapshot, id string, comp *comppb.Composition, src document) (bool, error) {
	now, ok := versionNumber(comp)
	if !ok && !src.byTime {
		return false, nil
	}
	stored, found, err := in.readStored(r, "Composition", id)
	if err != nil || !found {
		return false, err
	}
	was, wasOK := versionNumber(stored.(*comppb.Composition))
	switch {
	case ok && wasOK:
		return was < now, nil
	case ok || wasOK || !src.byTime || src.asserted.IsZero():
		return false, nil
	}
	at, ok := r.EventTime("Composition", id)
	return ok && at.Before(src.asserted), nil
}

// versionNumber is the versionNumber of the document version a Composition
// holds (cda.ExtVersionNumber); false when it says none.
func versionNumber(c *comppb.Composition) (int, bool) {
	for _, x := range c.GetExtension() {
		if x.GetUrl().GetValue() == cda.ExtVersionNumber {
			n, err := strconv.Atoi(strings.TrimSpace(x.GetValue().GetStringValue().GetValue()))
			return n, err == nil
		}
	}
	return 0, false
}

// claimRetired names the retired statements among the targets of the
// source's Provenance: its activity updated them
// (https://hl7.org/fhir/R4/provenance-definitions.html#Provenance.target).
// The Provenance carries their labels, as it carries those of every
// output it names (mappings/bundle Finish): a reader who may not see a
// withdrawn statement (its category, or a sensitivity such as R or PSY)
// does not learn from the Provenance that it was there, which matters
// most for a deletion, whose own outputs are only its patient.
func claimRetired(entries, retired []store.TxEntry) {
	if len(retired) == 0 {
		return
	}
	for i, e := range entries {
		prov, ok := e.Resource.(*provpb.Provenance)
		if !ok {
			continue
		}
		prov = proto.Clone(prov).(*provpb.Provenance)
		for _, r := range retired {
			prov.Target = append(prov.Target, resource.Ref(r.Type, r.ID))
			if cats := category.Of(r.Resource); len(cats) > 0 {
				category.Label(prov, cats...)
			}
			category.LabelSensitive(prov, category.SensitivityOf(r.Resource)...)
		}
		entries[i].Resource = prov
	}
}

// retireOutputs appends to entries the retirement of what the Provenance
// id names and written does not hold. A replaced version never stored
// (it may come later: supersede) has nothing to retire. A target that a
// later source wrote after the replaced version (its event time is
// newer) is that source's statement now, and stays.
func (in *Ingester) retireOutputs(r *store.Snapshot, id string, written map[string]bool, at time.Time, why withdrawal, entries []store.TxEntry) ([]store.TxEntry, error) {
	prov, ok, err := in.readStored(r, "Provenance", id)
	if err != nil || !ok {
		return entries, err
	}
	targets := prov.(*provpb.Provenance).GetTarget()
	stated, known := replacedAt(r, targets)
	for _, t := range targets {
		ref := resource.RefString(t)
		typ, tid, _ := strings.Cut(ref, "/")
		if et, ok := r.EventTime(typ, tid); ok && known && et.After(stated) {
			continue
		}
		if entries, err = in.retireOne(r, ref, written, at, why, entries); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// retireOne appends to entries the retirement for why of the stored
// statement ref, pinned to the version read in r, unless entries write it
// already or it is retired, absent or not a statement.
func (in *Ingester) retireOne(r *store.Snapshot, ref string, written map[string]bool, at time.Time, why withdrawal, entries []store.TxEntry) ([]store.TxEntry, error) {
	if typ, _, _ := strings.Cut(ref, "/"); !statement(typ) {
		return entries, nil
	}
	return in.retireStored(r, ref, written, at, why, entries)
}

// retireStored is retireOne for any type a withdrawal reaches
// (withdrawals): a report too, which only a deletion names.
func (in *Ingester) retireStored(r *store.Snapshot, ref string, written map[string]bool, at time.Time, why withdrawal, entries []store.TxEntry) ([]store.TxEntry, error) {
	typ, tid, _ := strings.Cut(ref, "/")
	if _, ok := withdrawals[typ]; written[ref] || !ok {
		return entries, nil
	}
	rec, err := r.Read(typ, tid)
	if err != nil {
		if outcome.KindOf(err) == outcome.NotFound || outcome.KindOf(err) == outcome.Gone {
			return entries, nil
		}
		return nil, err
	}
	m, err := in.codec.DecodeStored(rec.JSON)
	if err != nil {
		return nil, err
	}
	ret, ok := retire(m, why)
	if !ok || proto.Equal(ret, m) {
		return entries, nil
	}
	written[ref] = true
	return append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: tid, Resource: ret,
		EventTime: at, Pinned: true, Expect: rec.Version}), nil
}

// replacedAt is when the replaced version stated what it did: the event
// time kept with its DocumentReference (the one whose status is not what
// retire makes it); false for a version stored before statements were
// ordered.
func replacedAt(r *store.Snapshot, targets []*dtpb.Reference) (time.Time, bool) {
	for _, t := range targets {
		if typ, id, _ := strings.Cut(resource.RefString(t), "/"); typ == "DocumentReference" {
			if et, ok := r.EventTime(typ, id); ok {
				return et, true
			}
		}
	}
	return time.Time{}, false
}

// readStored reads and decodes typ/id; false when it is absent or deleted.
func (in *Ingester) readStored(r *store.Snapshot, typ, id string) (proto.Message, bool, error) {
	rec, err := r.Read(typ, id)
	if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m, err := in.codec.DecodeStored(rec.JSON)
	return m, err == nil, err
}

// errRetry reports whether a write decided on a snapshot must be decided
// again: an identifier claimed, or a pinned resource changed, meanwhile.
func errRetry(err error) bool {
	return store.IsClaimed(err) || errors.Is(err, store.ErrMoved)
}
