package ingest

import (
	"google.golang.org/protobuf/proto"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/hl7v2"
)

// A stay stays discharged. An ADT update (A08 and the other movements
// that move a stay neither in nor out) whose PV1 lacks the discharge
// (PV1-45), or a movement that comes after the discharge (an A16, A25,
// A02, A21...: hl7v2.KeepsDischarge), maps to an Encounter in progress
// (or on leave, or planned): applied as it is to a stay an A03 finished,
// it would take the stay back, which only an A13 (cancel discharge) may do
// (HL7 v2.5 section 3.3.13), and withdraw its hand-over. Such a message is
// applied with the stay's discharge kept: its status, the end of its
// period, its discharge disposition (keepDischarge, applied with what a
// message leaves out: stay.go).
//
// The rule reads the stay as the batch writing the message sees it, so
// that a discharge written earlier in the same batch counts.

// reopens reports whether entries, the message h maps to, would take a
// stay r holds as finished back to another status.
func (in *Ingester) reopens(r *store.Snapshot, h hl7v2.Header, entries []store.TxEntry) bool {
	_, stored := in.dischargeKept(r, h, entries)
	return stored != nil
}

// dischargeKept finds the Encounter entry of a message h that would
// reopen the finished stay r holds: its index and the stored stay; nil
// when there is none.
func (in *Ingester) dischargeKept(r *store.Snapshot, h hl7v2.Header, entries []store.TxEntry) (int, *encpb.Encounter) {
	if h.MessageCode != "ADT" || !hl7v2.KeepsDischarge(h.TriggerEvent) || h.Encounter == "" {
		return -1, nil
	}
	for i, en := range entries {
		if en.Type+"/"+en.ID != h.Encounter {
			continue
		}
		e, ok := en.Resource.(*encpb.Encounter)
		if !ok || e.GetStatus().GetValue() == cpb.EncounterStatusCode_FINISHED {
			return -1, nil
		}
		rec, err := r.Read(en.Type, en.ID)
		if err != nil {
			return -1, nil // absent, deleted or unreadable: nothing to keep
		}
		m, err := in.codec.DecodeStored(rec.JSON)
		if err != nil {
			return -1, nil
		}
		if s, ok := m.(*encpb.Encounter); ok && s.GetStatus().GetValue() == cpb.EncounterStatusCode_FINISHED {
			return i, s
		}
		return -1, nil
	}
	return -1, nil
}

// A document discharges its stay whatever carries it. A discharge letter
// posted as CDA finishes the stay its encompassingEncounter ends (stay.go
// completes the stored stay with it); the same letter carried in an HL7 v2
// MDM (the ANS volet "Transmission de documents CDA en HL7 v2", the
// document in an OBX-5 of type ED) maps its end onto the message's stay
// (mappings/hl7v2), whose Encounter an MDM only creates when absent: the
// ADT feed owns the stay, and an MDM's PV1 without PV1-45 must not undo
// an A03. What the MDM states of the stay's end is no such undoing: it is
// applied to the stored stay that has not ended (documentDischarge), and
// nothing else of the MDM's PV1 is.

// documentDischarge is the write that applies the discharge an MDM
// message h states (its Encounter entry en finished: the letter it
// carries ends the stay, or its PV1-45 does) to the stay r holds
// unfinished: the stored stay, finished at that end, with the discharge
// disposition the message gives when it had none, its locations
// completed and no expected discharge left. Nil for any other entry, and
// when the stay is absent (en creates it), finished already, or cancelled.
func (in *Ingester) documentDischarge(r identity.Reader, h *hl7v2.Header, en store.TxEntry) *store.TxEntry {
	if h == nil || h.MessageCode != "MDM" || en.Type != "Encounter" || "Encounter/"+en.ID != h.Encounter {
		return nil
	}
	e, ok := en.Resource.(*encpb.Encounter)
	if !ok || e.GetStatus().GetValue() != cpb.EncounterStatusCode_FINISHED || e.GetPeriod().GetEnd() == nil {
		return nil
	}
	m, err := in.ident.Current(r, "Encounter", en.ID)
	if err != nil {
		return nil
	}
	stored, ok := m.(*encpb.Encounter)
	if !ok {
		return nil
	}
	switch stored.GetStatus().GetValue() {
	case cpb.EncounterStatusCode_FINISHED, cpb.EncounterStatusCode_CANCELLED, cpb.EncounterStatusCode_ENTERED_IN_ERROR:
		return nil
	}
	out := proto.Clone(stored).(*encpb.Encounter)
	if out.Meta != nil { // its labels stay; its version is the store's
		out.Meta.VersionId, out.Meta.LastUpdated = nil, nil
	}
	finishAs(out, e)
	if out.Period.Start == nil {
		out.Period.Start = e.GetPeriod().GetStart()
	}
	done := en
	done.Resource, done.IfAbsent = out, false
	return &done
}
