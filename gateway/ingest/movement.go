package ingest

import (
	"slices"
	"strings"

	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/hl7v2"
)

// A movement needs its stay. IHE PAM (ITI-31) describes a venue as a
// sequence of movements that begins with its entry; a transfer, a leave,
// a pending discharge, a cancellation or a correction of a venue the
// receiver never heard of is not a new stay but a message it cannot
// apply. Which events may create their stay is the mapping's to say
// (hl7v2.OpensStay, Header.StayRequired); checkStay refuses the others
// before the message is acknowledged, with an AE carrying HL7 table 0357
// code 204 (unknown key identifier) at PV1-19, and stores nothing of it:
// the sender sees the error and sends the admission first.

// checkStay reports hl7v2.ErrUnknownStay when h requires a stored stay
// and none is the one entries write once their identities are resolved
// (a visit number another source's stay claims, a stay of another patient
// under the same number: gateway/identity). The snapshot holds every
// message acknowledged before (viewAccepted), so an A02 sent right after
// its A01 finds it.
func (in *Ingester) checkStay(entries []store.TxEntry, h hl7v2.Header) error {
	if !h.StayRequired || h.Encounter == "" {
		return nil
	}
	return in.viewAccepted(func(r *store.Snapshot) error {
		res, err := in.ident.Resolve(r, entries, identity.HL7v2)
		if err != nil {
			return err
		}
		typ, id, _ := strings.Cut(resolvedHeader(h, res).Encounter, "/")
		m, err := in.ident.Current(r, typ, id)
		if err != nil {
			return err
		}
		enc, ok := m.(*encpb.Encounter)
		if !ok {
			return hl7v2.ErrUnknownStay()
		}
		return checkMovement(enc, h)
	})
}

// viewAccepted runs fn on a snapshot that holds every HL7 v2 message
// acknowledged before (store.View waits for the queue to write them).
// The message being checked stops counting as one being accepted while it
// waits, and the queue is woken: it would otherwise linger for it
// (queue.go, take) and keep the snapshot waiting for its linger.
func (in *Ingester) viewAccepted(fn func(r *store.Snapshot) error) error {
	q := in.q
	q.accepting.Add(-1)
	defer q.accepting.Add(1)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return in.store.View(fn)
}

// checkMovement reports hl7v2.ErrUnknownMovement when h corrects (Z99) or
// cancels a movement (ZBE-1) that the stored stay does not have, although
// it has movements: IHE PAM France identifies the movement a correction
// or a cancellation applies to by ZBE-1, and one the receiver was never
// sent cannot be corrected or undone. A stay that records no movement
// (made by a CDA letter, or by messages without ZBE) has nothing to
// check against: the message is applied as before.
func checkMovement(enc *encpb.Encounter, h hl7v2.Header) error {
	known := hl7v2.Movements(enc.GetIdentifier())
	if len(known) == 0 {
		return nil
	}
	for _, mv := range []string{h.CorrectedMovement, h.CancelledMovement} {
		if mv != "" && !slices.Contains(known, mv) {
			return hl7v2.ErrUnknownMovement()
		}
	}
	return nil
}
