package store

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HL7 v2 acknowledgement records. A feed that resends a message (a lost
// ACK, a connection cut) must get the ACK it was sent the first time and
// store nothing, so the record of a message's ACK is committed together
// with the message (Enqueue): it exists if and only if the message does. It
// is kept with the message in the inbox log until the message is applied,
// then in bbolt's hl7ack bucket, written by the transaction that applies
// the message.
// Each record has an entry in hl7acktime keyed by when it was written, so
// that records past their retention are found without a scan (PruneACKs).

// MessageKey names an HL7 v2 message for resend detection: its sending
// application (MSH-3), sending facility (MSH-4) and control ID (MSH-10),
// as sent.
type MessageKey struct{ App, Facility, Control string }

// MessageACK is the record kept for a committed message.
type MessageACK struct {
	Key MessageKey
	At  time.Time // when it was committed: its retention counts from then
	// Record is the owner's record, returned as is: the ACK bytes sent and
	// the content digest that tells a resend from another message under
	// the same key (gateway/ingest encodes it, with a version byte so that
	// records written before the digest stay readable).
	Record []byte
}

// ResentError is Enqueue's answer for a message whose ACK record is
// already stored: nothing was queued, and Record is the stored record.
type ResentError struct{ Record []byte }

func (*ResentError) Error() string { return "message already committed" }

// StoredACK returns a copy of the ACK record stored for k, or nil.
func (s *Store) StoredACK(k MessageKey) ([]byte, error) {
	key, ok := ackKey(k)
	if !ok {
		return nil, nil
	}
	return s.wal.storedACK(s, key)
}

// ForgetACK deletes the ACK record of k written at at, in the batch, and
// keeps the batch from storing it for a message it applies: the message
// it acknowledged is being set aside (Reject), so that its sender can send
// it again instead of being answered as for a resend.
func (b *Batch) ForgetACK(k MessageKey, at time.Time) error {
	key, ok := ackKey(k)
	if !ok {
		return nil
	}
	if b.forgot == nil {
		b.forgot = map[string]bool{}
	}
	b.forgot[string(key)] = true
	if err := b.tx.Bucket(bucketHL7AckTime).Delete(ackTimeKey(at, key)); err != nil {
		return err
	}
	return b.tx.Bucket(bucketHL7Ack).Delete(key)
}

// pruneChunk is how many ACK records PruneACKs deletes per transaction, so
// that other writes interleave.
const pruneChunk = 1000

// PruneACKs deletes the ACK records written before before, a chunk per
// transaction, and returns how many it deleted. Records written before
// hl7acktime existed have no time entry and are kept. It first waits, as
// reads do, until the messages queued before it are applied, so that the
// records still in the inbox log with them are pruned too.
func (s *Store) PruneACKs(ctx context.Context, before time.Time) (int, error) {
	if err := s.await(); err != nil {
		return 0, err
	}
	cutoff := timeKey(before)
	return s.pruneInChunks(ctx, func(tx *bolt.Tx) (int, error) {
		n := 0
		times, acks := tx.Bucket(bucketHL7AckTime), tx.Bucket(bucketHL7Ack)
		c := times.Cursor()
		for k, _ := c.First(); k != nil && n < pruneChunk && bytes.Compare(k, cutoff) < 0; k, _ = c.First() {
			if len(k) > 8 {
				if err := acks.Delete(k[8:]); err != nil {
					return n, err
				}
			}
			if err := c.Delete(); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}

// pruneInChunks runs prune, which deletes at most pruneChunk entries, in
// one write transaction after another until it deletes fewer, so that
// other writes interleave; it returns how many were deleted.
func (s *Store) pruneInChunks(ctx context.Context, prune func(tx *bolt.Tx) (int, error)) (int, error) {
	total := 0
	for {
		n := 0
		err := s.commit(ctx, nil, func(tx *bolt.Tx) error {
			var err error
			n, err = prune(tx)
			return err
		}, true)
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// ACKCounts reports how many ACK records and time entries are stored,
// once the messages queued before the call, which hold theirs, are
// applied.
func (s *Store) ACKCounts() (records, times int, err error) {
	if err := s.await(); err != nil {
		return 0, 0, err
	}
	err = s.view(func(r *Snapshot) error {
		records = r.tx.Bucket(bucketHL7Ack).Stats().KeyN
		times = r.tx.Bucket(bucketHL7AckTime).Stats().KeyN
		return nil
	})
	return records, times, err
}
