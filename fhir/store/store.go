// Package store is the versioned FHIR resource store on one bbolt file.
//
// Every version of every resource is kept with its validated JSON rendering,
// so reads never marshal; a current-version pointer per resource and search
// index entries are maintained in the same bbolt transaction as the write
// (see schema.go for the buckets and keys.go for the key layouts). The
// pointer also holds the resource's index values: a search filter reads
// them without another lookup, and a write replaces only the index keys
// that changed.
//
// Writes are grouped: a single writer goroutine takes every write waiting
// when the previous commit ends and applies them in one bbolt transaction,
// so concurrent clients share fsyncs without any added delay. The expensive
// part of a write (stamping meta, JSON encoding, index extraction) happens
// before the transaction, on the caller's goroutine.
//
// A feed that acknowledges message by message can also queue its writes
// (inbox.go): the message is made durable at once in a log file next to
// the database (inboxlog.go), outside bbolt, and applied with many others
// in one transaction; reads wait for what was queued before them. The
// consent decision log is kept the same way (journal.go): a decision is
// durable once its journal file is synced, and reaches bbolt in large
// groups.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
)

// Options configure a Store.
type Options struct {
	Codec  *codec.Codec     // required
	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
	// NoSync skips fsync on commit: for tests and benchmarks of everything else.
	NoSync bool
	// MaxBatch bounds how many writes share one commit (default 256).
	MaxBatch int
	// InitialMmapSize is the address space mapped for the file at Open
	// (default 1 GiB). The file grows inside it without remapping; past it
	// bbolt remaps, which waits for every open read transaction. Tests use
	// a small one to remap often.
	InitialMmapSize int
	// OnCommit, when set, is told how long each of the writer's commits
	// took, fsync included (a failed group commit and the retries of its
	// writes one by one are reported as one), for a latency histogram;
	// the counters of Stats need no hook. It runs on the writer goroutine,
	// which waits for it: it must be quick and must not use the Store.
	OnCommit func(time.Duration)
	// Existing opens only a database that exists: Open fails (the error
	// wraps fs.ErrNotExist) instead of creating an empty one, for the
	// commands that read a stopped server's data (relais backup), where an
	// empty database would be taken for the hospital's.
	Existing bool
	// NoUpgrade refuses a file of an earlier storage version (the error
	// wraps ErrUpgradeNeeded) instead of upgrading it in place, for
	// relais backup: the copy taken before an upgrade must be of the file
	// as it was, and the file must stay as it was.
	NoUpgrade bool
}

// DefaultInitialMmapSize is Options.InitialMmapSize's default.
const DefaultInitialMmapSize = 1 << 30

// Store is a FHIR resource store. It is safe for concurrent use.
type Store struct {
	db    *bolt.DB
	codec *codec.Codec
	zip   *codecs // compression of stored versions (compress.go)
	now   func() time.Time
	log   *slog.Logger

	ops      chan *op
	maxBatch int
	closing  chan struct{}
	closed   sync.WaitGroup
	once     sync.Once

	commits, writes  atomic.Uint64
	applied, batches atomic.Uint64 // ApplyQueued (inbox.go)
	same             sameCache     // TransactionWith's KeepUnchanged (txwith.go)

	// preparing counts writes between their start and their queueing;
	// lastCommit is how long the last commit took (ns). See gather.
	preparing  atomic.Int64
	lastCommit atomic.Int64
	onCommit   func(time.Duration) // Options.OnCommit
	// generation is the Generation of the last committed state
	// (Store.Generation); the writer sets it, the only committer once
	// the store is open.
	generation atomic.Uint64

	inbox inboxState // writes accepted and not applied yet (inbox.go)
	wal   *inboxLog  // where they are kept until then (inboxlog.go)

	decisions *journal // the decision log's records until in bbolt (journal.go)

	followers atomic.Pointer[[]Follower] // follow.go
	followMu  sync.Mutex                 // serialises Follow
	following *Following                 // the write being followed; the writer goroutine's
	spareIdx  []sortedIndex              // index buffers between transactions; the writer goroutine's (sortedIndex)
}

// pending marks one write being prepared (Store.preparing) until it is
// queued or given up; end is idempotent.
type pending struct {
	s    *Store
	done bool
}

func (s *Store) begin() *pending {
	s.preparing.Add(1)
	return &pending{s: s}
}

func (p *pending) end() {
	if p != nil && !p.done {
		p.done = true
		p.s.preparing.Add(-1)
	}
}

// Stats counts the store's work since Open.
type Stats struct {
	Commits uint64 // write transactions
	Writes  uint64 // write operations (several share a commit under load)
	Applied uint64 // queued writes applied (ApplyQueued), in Batches commits
	Batches uint64
	// PagesWritten counts the pages commits wrote (bbolt's own count):
	// what a commit costs grows with the pages it dirties.
	PagesWritten int64
	// FileSize is the size of the database file in bytes, as the file
	// system has it: what the disk must hold. bbolt grows the file ahead
	// of the pages it uses (up to 16 MiB at a time, more when a commit
	// failed for want of room), so it is larger than the database's
	// pages.
	FileSize int64
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{Commits: s.commits.Load(), Writes: s.writes.Load(), Applied: s.applied.Load(), Batches: s.batches.Load()}
	bs := s.db.Stats()
	st.PagesWritten = bs.TxStats.GetWrite()
	if fi, err := os.Stat(s.db.Path()); err == nil {
		st.FileSize = fi.Size()
	}
	return st
}

// op is one write waiting for the writer. fn must either fail before
// writing anything or succeed; solo ops (transactions) may fail after
// writing and so run in a bbolt transaction of their own.
type op struct {
	fn   func(tx *bolt.Tx) error
	solo bool
	done chan error
}

// ErrUpgradeNeeded is Open's error, with Options.NoUpgrade, for a file
// of an earlier storage version.
var ErrUpgradeNeeded = errors.New("storage upgrade needed")

// ErrClosed is returned for writes after Close.
var ErrClosed = outcome.New(outcome.Busy, "store closed")

// Open opens (creating if needed, unless Options.Existing) the store at
// path. A file another process holds fails with ErrInUse; an empty or
// truncated one is refused (file.go).
func Open(path string, opts Options) (*Store, error) {
	if opts.Codec == nil {
		return nil, errors.New("store: Options.Codec is required")
	}
	db, err := openBolt(path, opts.Existing, boltOptions(opts))
	if err != nil {
		return nil, err
	}
	zip, err := newCodecs()
	if err != nil {
		db.Close()
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := initSchema(db, schemaEnv{codec: opts.Codec, zip: zip, noUpgrade: opts.NoUpgrade, log: opts.Logger}); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{
		db: db, codec: opts.Codec, zip: zip, now: opts.Now, log: opts.Logger, onCommit: opts.OnCommit,
		ops: make(chan *op, 1024), maxBatch: opts.MaxBatch, closing: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	_ = db.View(func(tx *bolt.Tx) error { // initSchema made the bucket
		s.generation.Store(tx.Bucket(bucketLog).Sequence())
		return nil
	})
	if s.wal, err = openInboxLog(path, db, opts.NoSync, s.log); err != nil {
		db.Close()
		return nil, fmt.Errorf("read inbox: %w", err)
	}
	s.inbox.init(s.wal)
	if s.decisions, err = openJournal(path, db, opts.NoSync, s.log); err != nil {
		s.wal.close()
		db.Close()
		return nil, fmt.Errorf("read audit journal: %w", err)
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 256
	}
	s.closed.Add(1)
	go s.writer()
	s.decisions.start(s)
	return s, nil
}

// boltOptions tunes bbolt for a write-heavy store that must start fast
// however large its file:
//   - the freelist is written at each commit (NoFreelistSync false), so
//     that Open, and a commit that fails, read it from its pages instead of
//     walking every page of the file to rebuild it: with it unwritten,
//     opening a 2 GB file took over a second with the file cached, half a
//     minute from disk, and left the whole file resident (TestStartup).
//     The price is one more write per commit, of 8 bytes per free or
//     pending page: a few pages once the file has grown, more after large
//     deletions until their pages are reused. A file written without it
//     (relais before this option) is walked once, at its first Open, which
//     writes it;
//   - the hashmap freelist allocates in constant time however fragmented
//     the file is (the array freelist scans it on every allocation);
//   - the file is mapped with room to grow to InitialMmapSize (address
//     space only, resident only once read; the file itself grows as data
//     is written), so that growing does not remap, which would wait for
//     every open read transaction.
func boltOptions(opts Options) *bolt.Options {
	mmap := opts.InitialMmapSize
	if mmap <= 0 {
		mmap = DefaultInitialMmapSize
	}
	return &bolt.Options{
		Timeout:         2 * time.Second,
		NoSync:          opts.NoSync,
		FreelistType:    bolt.FreelistMapType,
		NoFreelistSync:  false,
		InitialMmapSize: mmap,
	}
}

// Close stops the writers after the writes already queued (the decision
// journal's, the inbox log's, then bbolt's) and closes the files.
func (s *Store) Close() error {
	s.decisions.close() // it moves its records through the writer
	s.once.Do(func() { close(s.closing) })
	s.wal.close()
	s.closed.Wait()
	return s.db.Close()
}

// Ready reports whether the database is open.
func (s *Store) Ready() bool {
	select {
	case <-s.closing:
		return false
	default:
		return true
	}
}

// commit queues fn for the writer and waits until it is durably committed
// (or has failed). Once queued, a write is waited for even if ctx ends, so
// the caller never reports failure for data that was stored. w (may be
// nil) is the write's mark as being prepared, ended once it is queued.
func (s *Store) commit(ctx context.Context, w *pending, fn func(tx *bolt.Tx) error, solo bool) error {
	o := &op{fn: fn, solo: solo, done: make(chan error, 1)}
	if !s.Ready() {
		// Checked first: the select below picks at random among ready
		// cases, and once the writer has drained the queue and returned,
		// a write queued after Close would wait for ever.
		w.end()
		return ErrClosed
	}
	select {
	case s.ops <- o:
		w.end()
	case <-s.closing:
		w.end()
		return ErrClosed
	case <-ctx.Done():
		w.end()
		return outcome.Wrap(outcome.Busy, "request cancelled before write", ctx.Err())
	}
	return <-o.done
}

func (s *Store) writer() {
	defer s.closed.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closing:
			s.drain()
			return
		}
		s.runBatch(s.gather(first, timer))
	}
}

// maxLinger bounds how long gather waits for writes being prepared.
const maxLinger = 2 * time.Millisecond

// gather collects the writes already waiting, up to maxBatch, stopping at a
// solo op (which runs alone). When none is waiting but some are being
// prepared (their callers have started them and will queue them shortly),
// it waits for them up to half the duration of the last commit (at most
// maxLinger): a write that joins this commit shares its fsync and its
// branch pages instead of paying a commit of its own. With no write under
// way it never waits, so a lone write is not delayed.
func (s *Store) gather(first *op, timer *time.Timer) []*op {
	batch := []*op{first}
	if first.solo {
		return batch
	}
	var deadline time.Time
	yielded := false
	for len(batch) < s.maxBatch {
		var o *op
		select {
		case o = <-s.ops:
		default:
			if s.preparing.Load() == 0 {
				if yielded {
					return batch
				}
				// Callers just answered by the last commit may not have
				// run yet to start their next write: let them.
				runtime.Gosched()
				yielded = true
				continue
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(min(maxLinger, time.Duration(s.lastCommit.Load()/2)))
			}
			wait := time.Until(deadline)
			if wait <= 0 {
				return batch
			}
			timer.Reset(wait)
			select {
			case o = <-s.ops:
				timer.Stop() // since Go 1.23 no stale tick can follow
			case <-timer.C:
				return batch
			}
		}
		if o.solo {
			s.runBatch(batch)
			return []*op{o}
		}
		batch = append(batch, o)
	}
	return batch
}

func (s *Store) drain() {
	for {
		select {
		case o := <-s.ops:
			s.runBatch([]*op{o})
		default:
			return
		}
	}
}

// runBatch applies ops in one transaction. An op's own error is its result
// and (by the op contract) left nothing behind; if the commit itself fails,
// every op is retried alone so one bad write cannot sink the others.
func (s *Store) runBatch(batch []*op) {
	results := make([]error, len(batch))
	s.writes.Add(uint64(len(batch)))
	err := s.timedUpdate(func(tx *bolt.Tx) error {
		for i, o := range batch {
			results[i] = s.runOp(tx, o)
			if results[i] != nil && (o.solo || errors.Is(results[i], errAbort)) {
				return results[i]
			}
		}
		return nil
	})
	switch {
	case err == nil:
		for i, o := range batch {
			o.done <- results[i]
		}
	case len(batch) == 1:
		batch[0].done <- err
	default:
		for _, o := range batch {
			o.done <- s.timedUpdate(func(tx *bolt.Tx) error { return s.runOp(tx, o) })
		}
	}
}

// timedUpdate runs fn in one write transaction and counts it (Stats.Commits,
// Options.OnCommit) before the writers it answers hear of it, so that
// whoever saw a write done sees its commit counted.
//
// An error of fn is returned as it is; one of the commit itself (bbolt
// writing and syncing the pages: a full disk, an I/O error) is wrapped as
// "database commit failed", so that what is logged of it names it and the
// system's error (outcome.Summary) rather than "internal error".
func (s *Store) timedUpdate(fn func(tx *bolt.Tx) error) error {
	s.commits.Add(1)
	t0 := time.Now()
	var gen uint64
	var fnErr error
	err := s.db.Update(func(tx *bolt.Tx) error {
		if fnErr = fn(tx); fnErr != nil {
			return fnErr
		}
		gen = tx.Bucket(bucketLog).Sequence()
		return nil
	})
	d := time.Since(t0)
	s.lastCommit.Store(int64(d))
	if err == nil {
		s.generation.Store(gen)
	}
	if s.onCommit != nil {
		s.onCommit(d)
	}
	if err != nil && fnErr == nil {
		err = outcome.Wrap(outcome.Internal, "database commit failed", err)
	}
	return err
}

// Generation is the Generation a snapshot taken now would have (once the
// writes queued before the call are applied, as View waits for them),
// without taking one: a value memoised under it is current when it equals
// the generation the value was derived at. A commit running at the same
// moment may or may not be counted, as it may or may not be seen by a
// snapshot begun then; every write acknowledged before the call is.
func (s *Store) Generation() (uint64, error) {
	if err := s.await(); err != nil {
		return 0, err
	}
	if !s.Ready() {
		return 0, ErrClosed
	}
	return s.generation.Load(), nil
}

// Check runs bbolt's consistency check over the whole file (every page
// reachable once, freelist and buckets agreeing) and returns the first
// problem found. It runs in a write transaction, rolled back: bbolt's check
// is only reliable when no other write commits meanwhile.
func (s *Store) Check() error {
	var found error
	err := s.db.Update(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			found = err
			break
		}
		return errRollback
	})
	if err != errRollback {
		return err
	}
	return found
}

var errRollback = errors.New("rollback")

// Backup writes a consistent copy of the database to w (bbolt's hot backup).
// The inbox log and the audit journal are not in it: Backup first waits,
// as reads do, until the messages accepted before it are applied, and
// moves the decisions recorded before it into bbolt, so that the copy
// holds them.
func (s *Store) Backup(w io.Writer) (int64, error) {
	if err := s.await(); err != nil {
		return 0, err
	}
	if err := s.decisions.flush(); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
