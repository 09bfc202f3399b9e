package ingest

import (
	"context"
	"time"
)

// ACK records are what resend detection reads (hl7v2.go). Senders resend
// within minutes or hours (a lost ACK, a connection cut) and replay at most
// a few days after an outage, so a record is kept for DefaultACKRetention
// and then deleted: otherwise a busy feed would grow the database by a few
// hundred bytes per message for ever. A resend that arrives after its
// record is gone is stored again, which the deterministic ids and the
// event-time ordering make harmless (same resources, same or newer data).
//
// The store keeps each record with the time it was written, so that
// pruning reads only what expired (store.PruneACKs).

// DefaultACKRetention is how long ACK records are kept unless
// Config.ACKRetention says otherwise.
const DefaultACKRetention = 30 * 24 * time.Hour

const (
	pruneFirst = time.Minute // after Start: the first messages go first
	pruneEvery = time.Hour
)

// PruneACKs deletes the ACK records written longer than the retention ago
// and returns how many it deleted.
func (in *Ingester) PruneACKs(ctx context.Context) (int, error) {
	if in.keep < 0 {
		return 0, nil
	}
	return in.store.PruneACKs(ctx, in.opts.Now().Add(-in.keep))
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
