package store

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// Snapshot is one consistent read view of the store: every method sees the
// same committed state, whatever commits meanwhile. It is valid only during
// the View call that made it, on that call's goroutine.
//
// A Filter is passed the Snapshot its search runs in, and whatever it reads
// to decide (a consent filter reads the patient's care team and Consents)
// it must read through that Snapshot, never through the Store. A goroutine
// that holds a read transaction must not begin another: when a writer has
// to grow bbolt's memory map it waits for every open read transaction, and
// the second one waits for the writer, so every read and write of the
// process stops for good. The Store's own read methods each take a
// snapshot of their own, so they are for code that holds none.
type Snapshot struct {
	s  *Store
	tx *bolt.Tx
	// pending, in a Following's snapshot, holds index writes made in
	// key order when a search needs them (Following.Put).
	pending *sortedIndex
	// gen is Generation once read (genRead): the consent engine asks for
	// it at every lookup it memoises, several per read
	gen     uint64
	genRead bool
}

// View runs fn with a snapshot taken once the writes queued before the
// call (inbox.go) are applied. The snapshot, and every byte slice its
// methods document as the store's own, is valid only until fn returns.
func (s *Store) View(fn func(r *Snapshot) error) error {
	if err := s.await(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Snapshot{s: s, tx: tx}) })
}

// ViewNow is View without waiting for the HL7 v2 messages accepted and not
// written yet: for values derived from the committed state and checked
// against it before use (the directory's index, by TypesUnchangedSince),
// which may be a little behind but must not wait behind a queue.
func (s *Store) ViewNow(fn func(r *Snapshot) error) error { return s.view(fn) }

// view is View without waiting for queued writes, for records the inbox
// does not touch (ACK records, the decision log). A closed store is
// ErrClosed.
func (s *Store) view(fn func(r *Snapshot) error) error {
	if !s.Ready() {
		return ErrClosed
	}
	err := s.db.View(func(tx *bolt.Tx) error { return fn(&Snapshot{s: s, tx: tx}) })
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Generation identifies the resources the snapshot reads: it is the same
// for two snapshots exactly when no resource was created, updated or
// deleted between them, so that a value derived from the resources of one
// (their versions, current pointers and index) can be reused in the other.
// It is the change log's sequence (appendLogs), which every resource write
// advances in its own transaction. The other records (the decision log,
// ACK records, the inbox) leave it as it is: a consent decision recorded
// by each read must not make the next read resolve its actor again.
//
// A snapshot inside a write transaction (a conditional create matching
// under a filter) reads state that is not committed yet: its generation
// is 0, which names no committed state (as an empty store's does), and
// nothing derived from it may be kept.
func (r *Snapshot) Generation() uint64 {
	if r.tx.Writable() {
		return 0
	}
	if !r.genRead {
		r.gen, r.genRead = r.tx.Bucket(bucketLog).Sequence(), true
	}
	return r.gen
}

type snapshotKey struct{}

// WithSnapshot returns ctx carrying r, for code called from inside a
// Filter that reaches the store through interfaces taking only a context
// (the consent engine's sources): it must read r, not open a snapshot of
// its own (see Snapshot).
func WithSnapshot(ctx context.Context, r *Snapshot) context.Context {
	return context.WithValue(ctx, snapshotKey{}, r)
}

// SnapshotFrom returns the snapshot ctx carries (WithSnapshot), or nil.
func SnapshotFrom(ctx context.Context) *Snapshot {
	r, _ := ctx.Value(snapshotKey{}).(*Snapshot)
	return r
}
