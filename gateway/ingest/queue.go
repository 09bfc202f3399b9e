package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// The queue writes the resources of accepted HL7 v2 messages. A message is
// acknowledged once it is in the store's inbox (hl7v2.go); the queue then
// applies the inbox in arrival order, as many messages per transaction as
// have arrived, so that the B+tree pages they share are written once. It
// plans a batch (identities, rendering, index values: store.Planner) while
// the batch before it is being committed, so that the one writer and the
// planning share the two halves of the work (pipe).
//
// While messages keep arriving it waits up to applyLinger after the oldest
// one, so that a burst is applied in few large transactions; once none is
// being accepted and none arrived for applyIdle, it applies at once, so a
// lone message is written almost without delay. Store reads wait for what
// was acknowledged before them (store.Enqueue), so the deferral is never
// seen as missing data.
//
// A transaction holds at most applyMax messages. bbolt writes every page
// a transaction changes to a free place and frees the old copy, so the
// file keeps about one transaction's pages free for the next. After
// 20,000 corpus discharges over MLLP, the data directory was 1.48 times
// the JSON it stores with at most 512 messages a transaction (about 300
// under a steady feed, 40 pages each), 1.40 with 256 and 1.36 with 128;
// the most pages written per message went from 52 to 57 and 66, and
// throughput did not change measurably.
//
// The queue holds at most maxBacklog messages: past that, accepting waits
// (the sender waits for its ACK) until a batch is written, so that a feed
// faster than the store fills no unbounded backlog for reads to wait on.
const (
	applyLinger = 100 * time.Millisecond
	applyIdle   = 2 * time.Millisecond
	applyMax    = 256 // messages per transaction
	pipeMin     = 64  // messages worth planning while a batch is written (pipe)
	maxBacklog  = 2 * applyMax
	admitWait   = 30 * time.Second
)

// queued is an accepted message waiting to be written.
type queued struct {
	seq      uint64
	header   hl7v2.Header
	entries  []store.TxEntry        // nil: it could not be mapped again (recoverQueued)
	doc      document               // of the CDA document it carries (replace.go)
	mapErr   error                  // why, then
	reviews  []store.IdentityReview // what planning its identities listed (identity.go)
	patient  string                 // "Patient/id" its identities resolved to (its AuditEvent's)
	key      *store.MessageKey      // its ACK record's key (nil: no control ID)
	logID    string
	received time.Time // its arrival, as the inbox and its ACK record have it
	at       time.Time // when it was queued, for the linger
}

type queue struct {
	in        *Ingester
	accepting atomic.Int64 // HL7v2 calls between their start and their enqueue
	mu        sync.Mutex
	items     []*queued
	last      time.Time     // when the newest item arrived
	wake      chan struct{} // one pending wake-up
	idle      *sync.Cond    // on mu: signalled when items empties
	room      chan struct{} // closed and replaced when items shrinks
	inflight  int           // batches taken and not written yet
	closing   bool          // Close: apply without lingering
	stop      chan struct{}
	done      chan struct{}

	// Owned by run: the write of the batch before, and what its planning
	// carries for the next one (pipe).
	writing chan struct{}
	carried *carry
}

// newQueue builds the queue; Start runs it.
func newQueue(in *Ingester) *queue {
	q := &queue{in: in, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	q.idle = sync.NewCond(&q.mu)
	q.room = make(chan struct{})
	return q
}

// admit waits until the backlog has room for one more message. A sender
// kept waiting past admitWait, or whose ctx ends, gets Busy: it is not
// acknowledged and sends again.
func (q *queue) admit(ctx context.Context) error {
	var timer *time.Timer
	for {
		q.mu.Lock()
		room, full := q.room, len(q.items) >= maxBacklog && !q.closing
		q.mu.Unlock()
		if !full {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(admitWait)
			defer timer.Stop()
		}
		select {
		case <-room:
		case <-timer.C:
			return outcome.New(outcome.Busy, "messages are arriving faster than they can be stored; send again")
		case <-ctx.Done():
			return outcome.Wrap(outcome.Busy, "request cancelled while the store was busy", ctx.Err())
		}
	}
}

// shrunk wakes the senders admit keeps waiting; q.mu is held.
func (q *queue) shrunk() {
	close(q.room)
	q.room = make(chan struct{})
}

// add queues it in sequence order: concurrent messages may be handed over
// out of the order their shared commit gave them.
func (q *queue) add(it *queued) {
	it.at = time.Now()
	q.mu.Lock()
	i := len(q.items)
	for i > 0 && q.items[i-1].seq > it.seq {
		i--
	}
	q.items = slices.Insert(q.items, i, it)
	q.last = it.at
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) run() {
	defer close(q.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-q.wake:
		case <-q.stop:
			q.wait()
			q.flush()
			return
		}
		for {
			batch := q.take(timer)
			if batch == nil {
				break
			}
			q.pipe(batch)
		}
	}
}

// pipe plans batch while the batch taken before it is being written, then,
// once that one is written, writes batch on a goroutine of its own and
// returns: the next batch is planned meanwhile. Batches are written in the
// order they are taken.
func (q *queue) pipe(batch []*queued) {
	plans, next := q.in.plan(batch, q.carried)
	q.wait()
	done := make(chan struct{})
	q.writing, q.carried = done, next
	go func() {
		defer close(done)
		defer q.written()
		q.apply(batch, plans)
	}()
}

// writingNow reports whether the batch pipe last started is still being
// written.
func (q *queue) writingNow() bool {
	select {
	case <-q.writing:
		return false
	default:
		return q.writing != nil
	}
}

// wait returns once the batch pipe last started is written.
func (q *queue) wait() {
	if q.writing != nil {
		<-q.writing
		q.writing = nil
	}
}

// written counts a taken batch as written.
func (q *queue) written() {
	q.mu.Lock()
	q.inflight--
	if len(q.items) == 0 && q.inflight == 0 {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
}

// take waits for the batch to fill (see the package comment above) and
// removes it from the queue; nil when the queue is empty.
func (q *queue) take(timer *time.Timer) []*queued {
	for {
		q.mu.Lock()
		n := len(q.items)
		if n == 0 {
			q.idle.Broadcast()
			q.mu.Unlock()
			return nil
		}
		wait := applyLinger - time.Since(q.items[0].at)
		quiet := applyIdle - time.Since(q.last)
		ready := q.accepting.Load() == 0 && quiet <= 0 || n >= applyMax || wait <= 0 || q.closing
		if ready && n < pipeMin && wait > 0 && !q.closing && q.writingNow() {
			// A few messages planned beside a write would be the next
			// commit alone: they wait for the write and join what comes
			// meanwhile, as when the writer was busy before pipelining.
			ready = false
		}
		if ready {
			batch := q.items[:min(n, applyMax):min(n, applyMax)]
			q.items = q.items[len(batch):]
			q.inflight++
			q.shrunk()
			q.mu.Unlock()
			return batch
		}
		q.mu.Unlock()
		if quiet > 0 {
			wait = min(wait, quiet)
		}
		var written <-chan struct{} // nil (never ready) when no write is in progress
		if q.writingNow() {
			written = q.writing
		}
		timer.Reset(wait)
		select {
		case <-q.wake:
			timer.Stop()
		case <-written:
			timer.Stop()
		case <-timer.C:
		case <-q.stop:
			timer.Stop()
			q.mu.Lock()
			q.closing = true // no lingering: Close writes what is queued
			q.mu.Unlock()
		}
	}
}

// apply writes batch in one transaction, with plans when planned before
// (pipe), else planning it. A message that cannot be written is set aside
// in the store (Batch.Reject) and logged; if the transaction itself fails,
// the batch is tried again, one message at a time after the first failure,
// until the store is closed.
func (q *queue) apply(batch []*queued, plans []*store.Planned) {
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		err := q.write(batch, plans)
		if err == nil {
			return
		}
		plans = nil // planned again: what they were planned on has changed
		if !q.in.store.Ready() {
			return // the inbox keeps them: Start applies them at the next start
		}
		q.in.log.Error("hl7v2 queued messages not written; retrying", "messages", len(batch), "error", summary(err))
		if len(batch) > 1 {
			for i := range batch {
				q.apply(batch[i:i+1], nil)
			}
			return
		}
		select {
		case <-time.After(pause):
		case <-q.stop:
			return
		}
	}
}

func (q *queue) write(batch []*queued, plans []*store.Planned) error {
	if plans == nil {
		plans, _ = q.in.plan(batch, nil)
	}
	seqs := make([]uint64, len(batch))
	for i, it := range batch {
		seqs[i] = it.seq
	}
	type note struct {
		logID string
		older int
		err   error
	}
	var notes []note
	err := q.in.store.ApplyQueued(context.Background(), seqs, func(b *store.Batch) error {
		notes = notes[:0]
		for i, it := range batch {
			if it.entries == nil {
				if err := reject(b, it); err != nil {
					return err
				}
				if err := b.AppendAudit(q.in.importEvent(it, true)); err != nil {
					return err
				}
				notes = append(notes, note{logID: it.logID, err: errors.Join(errUnmappable, it.mapErr)})
				continue
			}
			older, err := q.in.applyQueued(b, it, plans[i])
			if err != nil {
				if errors.Is(err, store.ErrBatchBroken) {
					return err
				}
				if err := reject(b, it); err != nil {
					return err
				}
			}
			if err := b.AppendAudit(q.in.importEvent(it, err != nil)); err != nil {
				return err
			}
			if err != nil || older > 0 {
				notes = append(notes, note{it.logID, older, err})
			}
			yield()
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range notes {
		if n.err != nil {
			q.in.log.Error("hl7v2 accepted message could not be written; kept in inboxfailed", "msg", n.logID, "error", reason(n.err))
		} else {
			q.in.log.Info("hl7v2 event older than stored data", "msg", n.logID, "kept", n.older)
		}
	}
	return nil
}

// plan prepares batch in order against one snapshot (store.Planner): each
// message sees the versions and event times the ones before it will write,
// and, after a carry, those the batch written before it will write
// (whether or not it is written yet). A message it cannot plan gets nil
// and is handled in the transaction (applyMessage). It returns what the
// next batch carries.
func (in *Ingester) plan(batch []*queued, after *carry) ([]*store.Planned, *carry) {
	plans := make([]*store.Planned, len(batch))
	if after == nil {
		after = &carry{ov: &identity.Overlay{}}
	}
	pl, err := in.store.PlannerAfter(after.states)
	if err != nil {
		return plans, nil
	}
	defer pl.Close()
	ov := after.ov
	for i, it := range batch {
		if it.entries != nil {
			plans[i], _ = in.planResolved(pl, ov, it)
		}
		yield()
	}
	return plans, &carry{states: pl.Planned(), ov: ov.Next()}
}

// carry is what a batch's planning leaves for the next batch's, planned
// while the first one is being written.
type carry struct {
	states store.PlannedStates
	ov     *identity.Overlay
}

var errUnmappable = errors.New("queued message no longer maps")

// yield lets other goroutines run between two messages of a batch being
// planned or applied. Planning and applying a batch keep both of a small
// server's cores busy for tens of milliseconds; the goroutines that
// accept messages and send their ACKs, made ready by the network poller
// meanwhile, would otherwise wait for the runtime to preempt them (every
// 10 ms), at each of the hops an ACK takes (read, inbox sync, write), and
// a sender's ACK for its next message with them. runtime.Gosched makes
// the scheduler look at its queues and poll the network, at the cost of
// well under a microsecond a message. At 300 corpus discharges a second
// (gateway/mllp BenchmarkMLLPAckLatency, two cores), the ACKs' p99 went
// from 56 and 63 ms to 33 and 29, their p50 from 4.3 and 5.3 ms to 2.9.
func yield() { runtime.Gosched() }

// reject sets a message that cannot be written aside (store.Batch.Reject)
// and forgets its ACK record, so that the sender can send it again once
// the cause is fixed, instead of being answered as for a resend.
func reject(b *store.Batch, it *queued) error {
	b.Reject(it.seq)
	if it.key == nil {
		return nil
	}
	return b.ForgetACK(*it.key, it.received)
}

// flush applies what is queued (at Close).
func (q *queue) flush() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	q.mu.Lock()
	q.closing = true
	q.shrunk()
	q.mu.Unlock()
	for {
		batch := q.take(timer)
		if batch == nil {
			return
		}
		q.apply(batch, nil)
		q.written()
	}
}

// Sync waits until every HL7 v2 message accepted so far is written.
func (in *Ingester) Sync() {
	q := in.q
	q.mu.Lock()
	for len(q.items) > 0 || q.inflight > 0 {
		q.idle.Wait()
	}
	q.mu.Unlock()
}

// recoverQueued writes the HL7 v2 messages that were accepted but not
// written before the store was last closed, mapping each again with the
// clock at its arrival, before the queue runs (Start): they come before
// anything accepted now. It returns how many it wrote; if the store fails
// to write them, the error, and they stay queued.
func (in *Ingester) recoverQueued(ctx context.Context) (int, error) {
	pending, err := in.store.Queued()
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	// Nothing is served meanwhile, for a minute or more after a crash
	// under load: the log says why.
	in.log.Info("writing the HL7 v2 messages accepted before the last stop", "messages", len(pending))
	items := make([]*queued, len(pending))
	for i, p := range pending {
		it, _, err := in.remapPayload(p.Seq, p.Payload)
		it.mapErr = err // it.entries nil: set aside
		items[i] = it
	}
	for len(items) > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		batch := items[:min(len(items), applyMax)]
		if err := in.q.write(batch, nil); err != nil {
			return 0, err // the inbox keeps them for the next start
		}
		items = items[len(batch):]
	}
	return len(pending), nil
}

// remap fills it by mapping its message again as it was mapped when
// accepted; it.entries stays nil when that fails, and the error says why.
func (in *Ingester) remap(it *queued, data []byte, received time.Time) error {
	it.logID = logID(nil)
	msg, err := er7.Parse(data)
	if err != nil {
		return err
	}
	it.logID, it.key, it.received = logID(msg), ackKey(msg), received
	opts := in.opts
	opts.Now = func() time.Time { return received }
	cv, err := hl7v2.ConvertMessage(msg, data, opts.hl7v2())
	if err != nil {
		return err
	}
	entries, err := Entries(cv.Result)
	if err != nil {
		return err
	}
	order(entries, cv.Header)
	it.header, it.entries, it.doc = cv.Header, entries, documentOf(cv.Result)
	return nil
}

// The inbox payload of an HL7 v2 message: version(1)=1, arrival time
// (Unix µs, int64 BE), the message as received.
func encodeQueued(received time.Time, data []byte) []byte {
	b := make([]byte, 9, 9+len(data))
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], uint64(received.UnixMicro()))
	return append(b, data...)
}

var errBadQueued = errors.New("unreadable inbox record")

func decodeQueued(b []byte) (time.Time, []byte, error) {
	if len(b) < 9 || b[0] != 1 {
		return time.Time{}, nil, errBadQueued
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:]))), b[9:], nil
}
