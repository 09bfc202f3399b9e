package ingest

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/store"
)

// ACK records are what resend detection reads (hl7v2.go). Senders resend
// within minutes or hours (a lost ACK, a connection cut) and replay at most
// a few days after an outage, so a record is kept for DefaultACKRetention
// and then deleted: otherwise a busy feed would grow the database by a few
// hundred bytes per message for ever. A resend that arrives after its
// record is gone is stored again, which the deterministic ids and the
// event-time ordering make harmless (same resources, same or newer data).
//
// Each record has an entry in store.BucketHL7AckTime keyed by the time it
// was written, so that pruning reads only what expired. Records written
// before that bucket existed have no entry and are kept.

// DefaultACKRetention is how long ACK records are kept unless
// Config.ACKRetention says otherwise.
const DefaultACKRetention = 30 * 24 * time.Hour

const (
	pruneFirst = time.Minute // after Start: the first messages go first
	pruneEvery = time.Hour
	pruneChunk = 1000 // records deleted per transaction, so that writes interleave
)

// ackTimeKey is the BucketHL7AckTime key of an ACK record written at t.
func ackTimeKey(t time.Time, key []byte) []byte {
	return append(encodeTime(t), key...)
}

// PruneACKs deletes the ACK records written longer than the retention ago,
// a chunk per transaction, and returns how many it deleted.
func (in *Ingester) PruneACKs(ctx context.Context) (int, error) {
	if in.keep < 0 {
		return 0, nil
	}
	cutoff := encodeTime(in.opts.Now().Add(-in.keep))
	total := 0
	for {
		n := 0
		err := in.store.UpdateOwn(ctx, func(tx *bolt.Tx) error {
			n = 0
			times, acks := tx.Bucket(store.BucketHL7AckTime), tx.Bucket(store.BucketHL7Ack)
			c := times.Cursor()
			for k, _ := c.First(); k != nil && n < pruneChunk && bytes.Compare(k, cutoff) < 0; k, _ = c.First() {
				if len(k) > 8 {
					if err := acks.Delete(k[8:]); err != nil {
						return err
					}
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}

// pruneLoop prunes ACK records pruneFirst after start and then every
// pruneEvery, until ctx ends (Close); a prune under way then stops between
// two chunks.
func (in *Ingester) pruneLoop(ctx context.Context) {
	timer := time.NewTimer(pruneFirst)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		n, err := in.PruneACKs(ctx)
		switch {
		case err != nil && ctx.Err() == nil && in.store.Ready():
			in.log.Error("hl7v2 ACK records not pruned", "error", summary(err))
		case n > 0:
			in.log.Info("hl7v2 ACK records past their retention deleted", "records", n)
		}
		timer.Reset(pruneEvery)
	}
}
