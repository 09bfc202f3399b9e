package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// What an operator sees and does with the HL7 v2 inbox. A message that was
// acknowledged but could not be written (it no longer maps after an
// upgrade, or the store refused its resources) is set aside in the store's
// inboxfailed bucket, and its ACK record is dropped so that the sender can
// send it again. The operator lists those messages (Inbox), writes one
// again once the cause is fixed (RetryFailed), or drops it (DiscardFailed).
// Messages are named by sequence number and log id, never by content.

// InboxReport is what an operator sees of the HL7 v2 messages accepted and
// not yet written, and of those that could not be written.
type InboxReport struct {
	Queued int             `json:"queued"`
	Failed []FailedMessage `json:"failed"`
}

// FailedMessage is an accepted message kept in the store's inboxfailed
// bucket.
type FailedMessage struct {
	Seq      uint64    `json:"seq"`      // its inbox sequence number
	Received time.Time `json:"received"` // when it was accepted
	Message  string    `json:"message"`  // its log id
	// Maps says whether the message maps with the current mapping: if so,
	// what failed was writing it, and RetryFailed may now succeed; if not,
	// Reason says why (a location in the message, never its content).
	Maps   bool   `json:"maps"`
	Reason string `json:"reason,omitempty"`
}

// Inbox reports the state of the HL7 v2 inbox. It maps every set-aside
// message again to tell whether it maps now.
func (in *Ingester) Inbox() (*InboxReport, error) {
	queued, err := in.store.Queued()
	if err != nil {
		return nil, err
	}
	failed, err := in.store.Failed()
	if err != nil {
		return nil, err
	}
	r := &InboxReport{Queued: len(queued), Failed: make([]FailedMessage, 0, len(failed))}
	for _, f := range failed {
		it, received, err := in.remapPayload(f.Seq, f.Payload)
		m := FailedMessage{Seq: f.Seq, Received: received, Message: it.logID, Maps: err == nil}
		if err != nil {
			m.Reason = reason(err)
		}
		r.Failed = append(r.Failed, m)
	}
	return r, nil
}

// remapPayload maps a queued payload again, with the clock at its arrival.
func (in *Ingester) remapPayload(seq uint64, payload []byte) (*queued, time.Time, error) {
	it := &queued{seq: seq, logID: logID(nil)}
	received, data, err := decodeQueued(payload)
	if err != nil {
		return it, time.Time{}, err
	}
	it.received = received
	return it, received.UTC(), in.remap(it, data, received)
}

// Retried is the outcome of writing a set-aside message again.
type Retried struct {
	Seq     uint64 `json:"seq"`
	Message string `json:"message"` // its log id
	// Writes lists the resources ("Type/id") the message writes, as
	// Reply.Writes; Older how many of them kept a newer event's version.
	Writes []string `json:"writes"`
	Older  int      `json:"older"`
}

// RetryFailed maps the set-aside message seq again (the current mapping,
// with the clock at its arrival) and writes it in a transaction of its own,
// with the ordering rules of any message: an older event does not overwrite
// what a newer one wrote meanwhile. Written, it leaves inboxfailed. authz
// must allow writing what it maps to. A message that still does not map,
// or whose resources the store refuses, stays set aside and the error
// (Unprocessable) says why; an unknown seq is NotFound.
//
// The message's ACK record is not restored: a later resend of it is stored
// again, which the deterministic ids and the ordering make harmless.
func (in *Ingester) RetryFailed(ctx context.Context, seq uint64, authz Authorize) (*Retried, error) {
	payload, err := in.store.FailedPayload(seq)
	if err != nil {
		return nil, err
	}
	it, _, err := in.remapPayload(seq, payload)
	if err != nil {
		return nil, outcome.New(outcome.Unprocessable, "the message still does not map: "+reason(err))
	}
	if err := authorizeSource(authz, it.entries, it.doc); err != nil {
		return nil, err
	}
	var older int
	err = in.store.RetryFailed(ctx, seq, func(b *store.Batch) error {
		var err error
		if older, err = in.applyResolved(b, it); err != nil {
			return err
		}
		return b.AppendAudit(in.importEvent(it, false))
	})
	switch k := outcome.KindOf(err); {
	case err == nil:
	case k == outcome.NotFound, k == outcome.Busy, errors.Is(err, store.ErrBatchBroken):
		return nil, err
	default:
		in.log.Warn("hl7v2 set-aside message still not written", "seq", seq, "msg", it.logID, "error", reason(err))
		return nil, outcome.New(outcome.Unprocessable, "the message's resources are still refused: "+reason(err))
	}
	in.log.Info("hl7v2 set-aside message written on retry", "seq", seq, "msg", it.logID, "kept", older)
	return &Retried{Seq: seq, Message: it.logID, Writes: refs(it.entries), Older: older}, nil
}

// DiscardFailed drops the set-aside message seq for good; an unknown seq
// is NotFound.
func (in *Ingester) DiscardFailed(ctx context.Context, seq uint64) error {
	if err := in.store.DiscardFailed(ctx, seq); err != nil {
		return err
	}
	in.log.Info("hl7v2 set-aside message discarded", "seq", seq)
	return nil
}

// reason says why a message does not map or write, without its content:
// an er7.Error names a location, an outcome.Error has its summary.
func reason(err error) string {
	var ee *er7.Error
	var oe *outcome.Error
	switch {
	case errors.As(err, &ee):
		return ee.Error()
	case errors.As(err, &oe):
		return oe.Summary
	case errors.Is(err, errBadQueued):
		return errBadQueued.Error()
	case errors.Is(err, errUnmappable):
		return errUnmappable.Error()
	}
	return "internal error"
}
