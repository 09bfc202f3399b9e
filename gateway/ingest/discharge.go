package ingest

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/store"
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
