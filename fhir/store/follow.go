package store

import (
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// Followers write what follows from a write in the write's own
// transaction: what is committed together is never seen apart, and what
// rolls back leaves nothing behind. Discharge routing is one (the plan
// of a stay is stored with the discharge that finishes it); they run for
// every write path (Create, Update, Delete, Transaction, TransactionWith,
// the queue's batches), since every resource change goes through applyTo.
//
// A follower runs on the writer goroutine while it holds bbolt's write
// transaction: it reads only through Following.Snapshot (opening another
// transaction would wait for this one for ever, see Snapshot) and must be
// quick, since every other write waits for it.

// Written is one resource change of the transaction a Following follows.
type Written struct {
	Type, ID string
	Version  uint64
	Resource proto.Message // nil when Deleted
	Deleted  bool
}

// Following is what a Follower sees of the transaction it follows.
type Following struct {
	s       *Store
	tx      *bolt.Tx
	written []Written
	// idx holds the followers' index writes, made in key order before a
	// search reads the index and at the end (sortedIndex: inserting in
	// key order moves fewer keys in bbolt's nodes).
	idx sortedIndex
}

// Snapshot reads the transaction, its writes and the followers' so far
// included.
func (f *Following) Snapshot() *Snapshot { return &Snapshot{s: f.s, tx: f.tx, pending: &f.idx} }

// Unflushed reads the transaction as Snapshot does, but its searches leave
// the followers' index writes where they wait: they do not find what the
// followers wrote (reads by id do). For a follower whose searches never
// look for its own writes (routing plans stay after stay), so that all
// those writes reach the index together, in one pass in key order, at the
// end: flushed after each search, each pass would insert among the keys
// the passes before it left in bbolt's nodes, which split only at commit,
// and the moves grow with the square of the writes.
func (f *Following) Unflushed() *Snapshot { return &Snapshot{s: f.s, tx: f.tx} }

// Written lists the resource changes of the transaction so far, in order.
func (f *Following) Written() []Written { return f.written }

// AfterCommit registers fn to run once the transaction f follows has
// committed (fsync included), and never if it rolls back; a group commit
// that fails and whose writes are retried one by one runs the followers
// again, and with them the registrations of the writes that commit. fn
// runs on the writer goroutine before the writers are answered: it must
// be quick and must not write to the Store (that write would wait for the
// writer, which waits for fn). It may read, in a snapshot of its own.
func (f *Following) AfterCommit(fn func()) { f.tx.OnCommit(fn) }

// Put applies entries in the transaction, as Transaction does.
func (f *Following) Put(entries []TxEntry) ([]TxResult, error) {
	if err := checkTargets(entries); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IfNoneExist != nil { // it searches the index
			if err := f.idx.flush(writable(f.tx, bucketIndex)); err != nil {
				return nil, err
			}
			break
		}
	}
	return f.s.applyTx(f.tx, entries, &f.idx)
}

// Follower writes what follows from a transaction's writes. An error fails
// the write it follows: a follower that must not block writes (routing
// does not) returns nil and leaves its work for later.
type Follower interface {
	Follow(ctx context.Context, f *Following) error
}

// Follow registers fl; followers run in the order registered, each seeing
// what the ones before wrote. A write already under way is not followed.
func (s *Store) Follow(fl Follower) {
	s.followMu.Lock()
	defer s.followMu.Unlock()
	list := []Follower{}
	if cur := s.followers.Load(); cur != nil {
		list = append(list, *cur...)
	}
	list = append(list, fl)
	s.followers.Store(&list)
}

// errAbort marks a failure after a write, in a write that shares its
// bbolt transaction with others (runBatch): a follower's, or an audit
// record's (TransactionWith). Since the write may have left changes
// behind, the whole transaction is rolled back and each write retried
// alone.
var errAbort = errors.New("store: write failed after writing")

// runOp runs one write in tx, then the followers of what it changed.
// Called by the writer goroutine only: s.following belongs to it.
func (s *Store) runOp(tx *bolt.Tx, o *op) error {
	followers := s.followers.Load()
	if followers == nil {
		return o.fn(tx)
	}
	s.following = &Following{s: s, tx: tx, idx: s.takeIndex()}
	defer func() { s.giveIndex(s.following.idx); s.following = nil }()
	if err := o.fn(tx); err != nil {
		return err
	}
	f := s.following
	if len(f.written) == 0 {
		return nil
	}
	ctx := WithSnapshot(context.Background(), f.Snapshot())
	for _, fl := range *followers {
		if err := fl.Follow(ctx, f); err != nil {
			return errors.Join(errAbort, err)
		}
	}
	if err := f.idx.flush(writable(tx, bucketIndex)); err != nil {
		return errors.Join(errAbort, err)
	}
	return nil
}

// noteWritten tells the current Following (if any) of c, once written.
func (s *Store) noteWritten(c *change) {
	if s.following == nil {
		return
	}
	s.following.written = append(s.following.written, Written{
		Type: c.typ, ID: c.id, Version: c.version, Resource: c.res, Deleted: c.method == 'D',
	})
}
