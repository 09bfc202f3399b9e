package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// The inbox holds writes that were accepted durably but not applied yet.
//
// A feed that must acknowledge each message only once it is on disk (HL7 v2
// over MLLP) would otherwise pay one commit of every B+tree page its
// resources touch — tens of pages per message, each written and fsync'd —
// for every handful of messages its connections keep in flight. Instead
// Enqueue appends the message itself to the inbox log (inboxlog.go), with
// the caller's ACK record, and returns once the log is synced; its owner
// applies the queued messages later, in the order they were queued, many in
// one transaction (ApplyQueued), where the pages they share are written
// once. The log is not bbolt's, so an acknowledgement never waits behind
// an apply holding bbolt's single writer.
//
// Nothing is lost or reordered by the deferral:
//   - a queued message is on disk before Enqueue returns, and the log keeps
//     it until the transaction that applies it commits (and with it the
//     meta key "inbox-applied" that says so), so after a crash its owner
//     finds it again (Queued) and applies it;
//   - every read of resources (Read, VRead, the histories, Search, Refs)
//     and every Transaction first waits until the messages queued before it
//     started are applied, so a client that was told its message is stored
//     reads what it wrote. With an empty inbox the wait is one atomic load;
//     while messages are applied it is at most one apply.
//
// Sequence numbers continue from the highest the file and the log know of,
// so they are never reused. A file written before the log may still hold
// messages in the bbolt inbox bucket: they are queued at Open like the
// log's and leave the bucket when applied; nothing new is written there.

// inboxWait bounds how long a read waits for queued writes: past it the
// reader gets Busy instead of an answer that would miss them.
const inboxWait = 10 * time.Second

// inboxState tracks the sequence numbers queued and applied.
type inboxState struct {
	enqueued atomic.Uint64 // the highest sequence committed to the inbox
	applied  atomic.Uint64 // every sequence up to this one is applied
	mu       sync.Mutex
	signal   chan struct{} // closed and replaced when applied grows
}

// init sets the inbox's marks from the log as read at Open: what is in
// it is queued, not applied.
func (in *inboxState) init(l *inboxLog) {
	in.signal = make(chan struct{})
	in.enqueued.Store(l.next - 1)
	in.applied.Store(l.applied)
}

func raise(v *atomic.Uint64, to uint64) {
	for {
		old := v.Load()
		if old >= to || v.CompareAndSwap(old, to) {
			return
		}
	}
}

func (in *inboxState) markApplied(seq uint64) {
	raise(&in.applied, seq)
	in.mu.Lock()
	close(in.signal)
	in.signal = make(chan struct{})
	in.mu.Unlock()
}

// await waits until every write queued before the call is applied.
func (s *Store) await() error {
	target := s.inbox.enqueued.Load()
	if s.inbox.applied.Load() >= target {
		return nil
	}
	timer := time.NewTimer(inboxWait)
	defer timer.Stop()
	for {
		s.inbox.mu.Lock()
		ch := s.inbox.signal
		s.inbox.mu.Unlock()
		if s.inbox.applied.Load() >= target {
			return nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return outcome.New(outcome.Busy, "accepted messages are still being stored; try again")
		case <-s.closing:
			return ErrClosed
		}
	}
}

// Enqueue durably appends payload to the inbox and returns its sequence
// number. With ack, the message's ACK record is kept with it (and stored in
// bbolt when it is applied), unless one is already kept or stored for
// ack.Key: then nothing is queued and the error is a *ResentError holding
// that record; of two concurrent Enqueues with one key, one gets it.
// Concurrent Enqueues share syncs. Enqueue keeps copies of payload and
// ack.Record. Once the message is appended, Enqueue waits for the sync even
// if ctx ends, so that it never reports failure for a message that was
// stored.
func (s *Store) Enqueue(ctx context.Context, payload []byte, ack *MessageACK) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, outcome.Wrap(outcome.Busy, "request cancelled before write", err)
	}
	e := &logEntry{payload: bytes.Clone(payload)}
	if ack != nil {
		if key, ok := ackKey(ack.Key); ok {
			e.ackKey, e.at, e.record = key, ack.At, bytes.Clone(ack.Record)
		}
	}
	seq, b, err := s.wal.append(s, e)
	if err != nil {
		return 0, err
	}
	<-b.done
	if b.err != nil {
		return 0, outcome.Wrap(outcome.Internal, "inbox log write failed", b.err)
	}
	raise(&s.inbox.enqueued, seq)
	return seq, nil
}

// putACK stores an ACK record and its time entry, replacing any for key.
func putACK(tx *bolt.Tx, key []byte, at time.Time, record []byte) error {
	if err := writable(tx, bucketHL7AckTime).Put(ackTimeKey(at, key), nil); err != nil {
		return err
	}
	return tx.Bucket(bucketHL7Ack).Put(key, record)
}

// Queued is one write in the inbox.
type Queued struct {
	Seq     uint64
	Payload []byte
}

// Queued lists the inbox in order: after Open, the writes that were
// accepted but not applied before the store was last closed.
func (s *Store) Queued() ([]Queued, error) {
	if !s.Ready() {
		return nil, ErrClosed
	}
	return s.wal.queued(), nil
}

// Failed lists, oldest first, the queued writes their owner set aside
// (Batch.Reject).
func (s *Store) Failed() ([]Queued, error) { return s.listQueued(bucketInboxFailed) }

func (s *Store) listQueued(bucket []byte) ([]Queued, error) {
	var out []Queued
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return errBadKey
			}
			out = append(out, Queued{Seq: binary.BigEndian.Uint64(k), Payload: bytes.Clone(v)})
			return nil
		})
	})
	return out, err
}

// FailedPayload returns the payload of the set-aside write seq, or a
// NotFound error.
func (s *Store) FailedPayload(seq uint64) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketInboxFailed).Get(u64(seq))
		if v == nil {
			return errNoFailed
		}
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}

var errNoFailed = outcome.New(outcome.NotFound, "no set-aside message with this number")

// RetryFailed applies the set-aside write seq again, in a transaction of its
// own: fn writes what it stands for through b, and seq leaves inboxfailed in
// the same commit. An error from fn, or a failed write through b, writes
// nothing and leaves seq set aside. A seq no longer set aside (discarded, or
// retried meanwhile) is NotFound and fn does not run.
func (s *Store) RetryFailed(ctx context.Context, seq uint64, fn func(b *Batch) error) error {
	return s.commit(ctx, nil, func(tx *bolt.Tx) error {
		failed := tx.Bucket(bucketInboxFailed)
		k := u64(seq)
		if failed.Get(k) == nil {
			return errNoFailed
		}
		if _, err := s.batch(tx, fn); err != nil {
			return err
		}
		return failed.Delete(k)
	}, true)
}

// DiscardFailed deletes the set-aside write seq: an operator decided it is
// not to be applied. A seq not set aside is NotFound.
func (s *Store) DiscardFailed(ctx context.Context, seq uint64) error {
	return s.RetryFailed(ctx, seq, func(*Batch) error { return nil }) // one that writes nothing
}

// ApplyQueued applies queued writes in one transaction of its own: fn
// writes what the queued entries seqs (ascending, the oldest in the inbox)
// stand for, through b, and they leave the inbox in the same commit, which
// also stores their ACK records (except those b forgot, Batch.ForgetACK)
// and moves those b rejected to inboxfailed. An error from fn, or a failed
// write through b, applies nothing and leaves them queued. fn runs once.
func (s *Store) ApplyQueued(ctx context.Context, seqs []uint64, fn func(b *Batch) error) error {
	if len(seqs) == 0 {
		return nil
	}
	entries, low := s.wal.entries(seqs)
	var applied uint64 // every sequence up to it is applied
	err := s.commit(ctx, nil, func(tx *bolt.Tx) error {
		b, err := s.batch(tx, fn)
		if err != nil {
			return err
		}
		if err := b.settle(seqs, entries); err != nil {
			return err
		}
		applied, err = putApplied(tx, low, seqs)
		return err
	}, true)
	if err != nil {
		return err
	}
	s.wal.markApplied(seqs, applied)
	s.inbox.markApplied(applied)
	s.applied.Add(uint64(len(seqs)))
	s.batches.Add(1)
	return nil
}

// settle writes what the inbox keeps of applied entries: the ACK records,
// the rejected payloads in inboxfailed, and the deletion of those from the
// bbolt inbox bucket of a file written before the log.
func (b *Batch) settle(seqs []uint64, entries []*logEntry) error {
	in, failed := b.tx.Bucket(bucketInbox), b.tx.Bucket(bucketInboxFailed)
	for i, seq := range seqs {
		e, k := entries[i], u64(seq)
		if e == nil {
			continue // not queued (applied already): nothing of it is kept
		}
		if b.rejected[seq] {
			if err := failed.Put(k, e.payload); err != nil {
				return err
			}
		}
		if e.ackKey != nil && !b.forgot[string(e.ackKey)] {
			if err := putACK(b.tx, e.ackKey, e.at, e.record); err != nil {
				return err
			}
		}
		if e.inBolt {
			if err := in.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// Batch is the transaction applying queued writes (ApplyQueued).
type Batch struct {
	s        *Store
	tx       *bolt.Tx
	now      time.Time
	broken   error
	rejected map[uint64]bool
	forgot   map[string]bool // hl7ack keys (ForgetACK)
	idx      sortedIndex     // the index writes, made at the end (batch)
}

// batch runs fn on a Batch in tx, then writes the index entries it made.
func (s *Store) batch(tx *bolt.Tx, fn func(b *Batch) error) (*Batch, error) {
	b := &Batch{s: s, tx: tx, now: s.now(), idx: s.takeIndex()}
	defer func() { s.giveIndex(b.idx) }()
	if err := fn(b); err != nil {
		return nil, err
	}
	if b.broken != nil {
		return nil, b.broken
	}
	return b, b.idx.flush(writable(tx, bucketIndex))
}

// index is where the batch's writes put their index entries.
func (b *Batch) index() indexWriter { return &b.idx }

// sortedIndex holds a Batch's index writes and makes them in key order at
// its end. bbolt inserts a key into a page's in-memory node by moving
// every key after it, and the keys of resources stored together go to the
// same pages (keys.go): in arrival order, each insert lands before the
// keys the previous ones added to the page, which costs time quadratic in
// the batch; in key order, each moves only the page's own keys. Nothing
// reads the index during a Batch. The last write of a key wins.
//
// The writes are appended to one buffer (a batch of HL7 v2 messages makes
// tens of thousands): a map of them cost about as much as sorting them.
type sortedIndex struct {
	keys []byte    // every key written, end to end
	ops  []indexOp // in the order they were written
}

type indexOp struct {
	end, n int  // the key is keys[end-n : end]
	put    bool // else a deletion
}

// Put implements indexWriter; index values are empty.
func (d *sortedIndex) Put(key, _ []byte) error { d.set(key, true); return nil }

// Delete implements indexWriter.
func (d *sortedIndex) Delete(key []byte) error { d.set(key, false); return nil }

func (d *sortedIndex) set(key []byte, put bool) {
	d.keys = append(d.keys, key...)
	d.ops = append(d.ops, indexOp{end: len(d.keys), n: len(key), put: put})
}

func (d *sortedIndex) key(o indexOp) []byte { return d.keys[o.end-o.n : o.end] }

// maxSpareIndex bounds the buffers a Store keeps between transactions: a
// batch of HL7 v2 messages writes about 10 KB of index keys per message,
// and growing the buffers anew in each transaction (copies and zeroed
// pages) cost as much as a tenth of applying the batch.
const maxSpareIndex = 16 << 20

// takeIndex returns an empty sortedIndex, with the buffers of an earlier
// transaction when one was given back. Writer goroutine only.
func (s *Store) takeIndex() sortedIndex {
	n := len(s.spareIdx)
	if n == 0 {
		return sortedIndex{}
	}
	d := s.spareIdx[n-1]
	s.spareIdx = s.spareIdx[:n-1]
	return d
}

// giveIndex keeps d's buffers for a later transaction, unless they grew
// past maxSpareIndex. Whatever d still holds (a rolled-back transaction)
// is dropped.
func (s *Store) giveIndex(d sortedIndex) {
	if cap(d.keys) > maxSpareIndex || len(s.spareIdx) >= 2 {
		return
	}
	d.keys, d.ops = d.keys[:0], d.ops[:0]
	s.spareIdx = append(s.spareIdx, d)
}

// flush makes the writes in key order, the last of each key, and empties
// d. bbolt copies the keys it is given, so the buffer is reused.
func (d *sortedIndex) flush(idx *bolt.Bucket) error {
	// Equal keys keep their order (end grows with each write): the last
	// one is the write that stands.
	slices.SortFunc(d.ops, func(a, b indexOp) int {
		if c := bytes.Compare(d.key(a), d.key(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.end, b.end)
	})
	for i, o := range d.ops {
		if i+1 < len(d.ops) && bytes.Equal(d.key(o), d.key(d.ops[i+1])) {
			continue // written again after
		}
		var err error
		if o.put {
			err = idx.Put(d.key(o), nil)
		} else {
			err = idx.Delete(d.key(o))
		}
		if err != nil {
			return errors.Join(ErrBatchBroken, err)
		}
		if i%flushYield == flushYield-1 {
			runtime.Gosched()
		}
	}
	d.keys, d.ops = d.keys[:0], d.ops[:0]
	return nil
}

// flushYield is how many index keys flush puts between two yields: a
// batch of queued messages puts thousands in one stretch of CPU, and the
// goroutines that acknowledge messages, made ready meanwhile, would wait
// for the runtime to preempt it (see gateway/ingest's queue, yield).
const flushYield = 512

// Reject marks the queued entry seq as one that cannot be applied: it
// leaves the inbox for the inboxfailed bucket, where an operator finds it.
func (b *Batch) Reject(seq uint64) {
	if b.rejected == nil {
		b.rejected = map[uint64]bool{}
	}
	b.rejected[seq] = true
}

// ErrBatchBroken wraps a failed bbolt write in a Batch: its transaction
// cannot commit.
var ErrBatchBroken = errors.New("batch write failed")

// Put stores PUT entries as TransactionWith does (KeepUnchanged as given,
// event times kept and compared), against the state the batch has written
// so far. An error before any write (an entry that cannot be rendered, two
// entries for one resource) leaves the batch usable and nothing of entries
// written; a failed write fails the whole batch.
func (b *Batch) Put(entries []TxEntry, keepUnchanged bool) ([]TxResult, error) {
	if b.broken != nil {
		return nil, b.broken
	}
	if err := checkPuts(entries); err != nil {
		return nil, err
	}
	p, err := readPlan(&Snapshot{s: b.s, tx: b.tx}, entries, keepUnchanged, nil)
	if err != nil {
		return nil, err
	}
	if err := p.prepareAll(b.s, entries, b.now); err != nil {
		return nil, err
	}
	return b.write(p)
}

// write applies p in the batch; a failure breaks it.
func (b *Batch) write(p *txPlan) ([]TxResult, error) {
	if err := checkClaims(b.tx, p.claims); err != nil {
		return nil, err // nothing written: the batch stays usable
	}
	if err := p.write(b.s, b.tx, b.index()); err != nil {
		b.broken = errors.Join(ErrBatchBroken, err)
		return nil, b.broken
	}
	return p.results, nil
}

// Planner prepares queued writes before their batch takes the writer:
// stamping, rendering and index extraction, the costly part of a write,
// then run beside the commits instead of inside them. It plans against one
// read snapshot plus what it planned so far, in order, so a resource that
// several queued messages write is planned from version to version, and
// event time to event time. Batch.Apply writes a plan if its targets are
// still as planned, and plans again in the transaction otherwise (a write
// that did not come through the queue changed them meanwhile).
//
// A Planner holds a read transaction until Close: its owner must open no
// other one meanwhile (see Snapshot).
//
// A queue may plan its next batch while the one before is being written
// (PlannerAfter): the next planner starts from what the previous one
// planned, in whichever state its snapshot finds the previous batch.
type Planner struct {
	s       *Store
	tx      *bolt.Tx
	now     time.Time
	overlay map[string]planState // current key -> state after the plans so far
	own     map[string]planState // the part of overlay this planner's Puts set
}

// PlannedStates are the states a Planner's own plans leave their targets
// in, for the planner of the next batch (PlannerAfter).
type PlannedStates struct{ m map[string]planState }

// Planned returns the states p's plans leave their targets in.
func (p *Planner) Planned() PlannedStates { return PlannedStates{p.own} }

// Planned is one entry list prepared by a Planner.
type Planned struct {
	entries []TxEntry
	keep    bool
	plan    *txPlan
}

// PlannerAfter opens a read snapshot for planning a batch written after
// the one prev was planned for (the zero PlannedStates: none), whether or
// not that one is written yet: its targets are read as prev leaves them.
// Close it when done. A plan made on a state that is not the one
// its batch finds (the previous batch failed, or another write came
// between) is not current, and Batch.Apply plans it again.
func (s *Store) PlannerAfter(prev PlannedStates) (*Planner, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	overlay := make(map[string]planState, len(prev.m))
	for k, st := range prev.m {
		overlay[k] = st
	}
	return &Planner{s: s, tx: tx, now: s.now(), overlay: overlay, own: map[string]planState{}}, nil
}

// Close releases the snapshot.
func (p *Planner) Close() { _ = p.tx.Rollback() }

// Put plans PUT entries as Batch.Put would write them after everything
// planned so far. Its errors are Batch.Put's: the plan is unusable.
func (p *Planner) Put(entries []TxEntry, keepUnchanged bool) (*Planned, error) {
	if err := checkPuts(entries); err != nil {
		return nil, err
	}
	tp, err := readPlan(&Snapshot{s: p.s, tx: p.tx}, entries, keepUnchanged, p.overlay)
	if err != nil {
		return nil, err
	}
	if err := tp.prepareAll(p.s, entries, p.now); err != nil {
		return nil, err
	}
	for i := range entries {
		st := planState{ptr: tp.expect[i], cur: tp.results[i].Record}
		if c := tp.changes[i]; c != nil {
			st.ptr = pointer{version: c.version, lastUpdated: c.lastUpdated, created: c.created, eventTime: st.ptr.eventTime}
		}
		if t := tp.writeTime[i]; t != noTime {
			st.ptr.eventTime = t
		}
		p.overlay[string(tp.keys[i])] = st
		p.own[string(tp.keys[i])] = st
	}
	return &Planned{entries: entries, keep: keepUnchanged, plan: tp}, nil
}

// Apply writes pl: its prepared changes when every target is as it was
// planned against, else the entries planned again here (Put).
func (b *Batch) Apply(pl *Planned) ([]TxResult, error) {
	if b.broken != nil {
		return nil, b.broken
	}
	ok, err := pl.plan.current(b.tx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return b.Put(pl.entries, pl.keep)
	}
	return b.write(pl.plan)
}
