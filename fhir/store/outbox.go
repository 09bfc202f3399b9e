package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// The notification outbox. A notification exists because of a write, so
// its event is stored in the bbolt transaction of that write (enqueue,
// called from a Follower): no event is lost between the commit and the
// delivery, and none exists for a write that rolled back. Each
// Subscription's events are numbered 1, 2, 3… in the order of the writes,
// which is the order the Subscriptions backport IG's
// eventsSinceSubscriptionStart and notification event numbers follow
// (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/components.html#subscriptionstatus-notifications).
// What a notification carries, and to whom, is the delivery package's;
// the store keeps the events, their states and every attempt.

// EventState is where an event stands.
type EventState byte

// The states of an event. An event is pending until it is delivered,
// withheld (the consent decision of an attempt denied it: nothing of it is
// sent), dead (its delivery failed until the sender gave up) or cancelled
// (its Subscription was deleted or set off: it is never sent). A dead
// letter replayed is pending again.
const (
	EventPending   EventState = 'p'
	EventDelivered EventState = 'd'
	EventWithheld  EventState = 'w'
	EventDead      EventState = 'x'
	EventCancelled EventState = 'c'
)

func (s EventState) valid() bool {
	return s == EventPending || s == EventDelivered || s == EventWithheld || s == EventDead || s == EventCancelled
}

func (s EventState) String() string {
	switch s {
	case EventPending:
		return "pending"
	case EventDelivered:
		return "delivered"
	case EventWithheld:
		return "withheld"
	case EventDead:
		return "dead"
	case EventCancelled:
		return "cancelled"
	}
	return "unknown"
}

// Event is one notification event of a Subscription.
type Event struct {
	Subscription string // the Subscription's id
	Number       uint64 // 1, 2, 3… per Subscription
	Type, ID     string // the resource written
	Version      uint64 // the version the write made
	Time         time.Time
	State        EventState
	Attempts     uint32
	// Since is when the current round of attempts began: the write, or
	// the replay of a dead letter. The sender gives up counting from it.
	Since time.Time
	// Next is when a pending event is due.
	Next time.Time
	// LastError is the last failed attempt's reason (PHI-free: a status
	// code or a network error kind, never a body).
	LastError string
	// Decision is the consent decision ID of the last attempt.
	Decision string
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	Time time.Time
	// State is the event's state after the attempt: delivered, withheld,
	// pending (failed, tried again at Next) or dead (failed, given up).
	State    EventState
	Next     time.Time
	Decision string // the consent decision ID the attempt went by
	Error    string // PHI-free
}

// OutboxCounts count a Subscription's events.
type OutboxCounts struct {
	// Last is the number of the newest event: the backport IG's
	// eventsSinceSubscriptionStart.
	Last                                          uint64
	Pending, Delivered, Withheld, Dead, Cancelled uint64
}

// Enqueue adds an event for Subscription sub about w, a change of f's
// transaction, and returns its number: the event commits, or rolls back,
// with the write.
func (f *Following) Enqueue(sub string, w Written) (uint64, error) {
	return enqueue(f.tx, f.s.now(), sub, w.Type, w.ID, w.Version)
}

// enqueue adds an event for sub in tx, the write transaction of the write
// it comes from, and returns its number.
func enqueue(tx *bolt.Tx, now time.Time, sub, typ, id string, version uint64) (uint64, error) {
	if !ValidID(sub) || typ == "" || !ValidID(id) {
		return 0, fmt.Errorf("outbox: bad event %q %s/%s", sub, typ, id)
	}
	subs := tx.Bucket(bucketOutboxSub)
	c, err := decodeSubCounts(subs.Get([]byte(sub)))
	if err != nil {
		return 0, err
	}
	c.last++
	e := Event{Subscription: sub, Number: c.last, Type: typ, ID: id, Version: version,
		Time: now, Since: now, Next: now, State: EventPending}
	if err := writable(tx, bucketOutbox).Put(outboxKey(sub, c.last), encodeEvent(&e)); err != nil {
		return 0, err
	}
	return c.last, subs.Put([]byte(sub), c.encode())
}

// OutboxHead returns the oldest pending event of sub, the one its sender
// must deliver next (FIFO); ok is false when none is pending.
func (s *Store) OutboxHead(sub string) (e Event, ok bool, err error) {
	err = s.view(func(r *Snapshot) error {
		c, err := decodeSubCounts(r.tx.Bucket(bucketOutboxSub).Get([]byte(sub)))
		if err != nil {
			return err
		}
		e, ok, err = head(r.tx, sub, c)
		return err
	})
	return e, ok, err
}

// head finds the first pending event of sub from c.head on.
func head(tx *bolt.Tx, sub string, c subCounts) (Event, bool, error) {
	if c.head == 0 || c.head > c.last {
		return Event{}, false, nil
	}
	prefix := append([]byte(sub), 0)
	cur := tx.Bucket(bucketOutbox).Cursor()
	for k, v := cur.Seek(outboxKey(sub, c.head)); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if len(v) > 0 && EventState(v[0]) == EventPending {
			e, err := decodeEvent(k, v)
			return e, err == nil, err
		}
	}
	return Event{}, false, nil
}

// OutboxPending lists the Subscriptions that have pending events, for a
// sender starting up: delivery resumes where it stopped.
func (s *Store) OutboxPending() (subs []string, err error) {
	err = s.view(func(r *Snapshot) error {
		return r.tx.Bucket(bucketOutboxSub).ForEach(func(k, v []byte) error {
			c, err := decodeSubCounts(v)
			if err != nil {
				return err
			}
			if c.pending() > 0 {
				subs = append(subs, string(k))
			}
			return nil
		})
	})
	return subs, err
}

func (c subCounts) pending() uint64 {
	return c.last - c.delivered - c.withheld - c.dead - c.cancelled
}

// OutboxCounts returns sub's counts; a Subscription without events has
// zero counts.
func (s *Store) OutboxCounts(sub string) (oc OutboxCounts, err error) {
	err = s.view(func(r *Snapshot) error {
		c, err := decodeSubCounts(r.tx.Bucket(bucketOutboxSub).Get([]byte(sub)))
		oc = OutboxCounts{Last: c.last, Pending: c.pending(), Delivered: c.delivered, Withheld: c.withheld,
			Dead: c.dead, Cancelled: c.cancelled}
		return err
	})
	return oc, err
}

// RecordAttempt stores the outcome of an attempt to deliver event n of
// sub, which must be pending, and returns the event as updated. The
// attempt joins the event's attempt log (Attempts); a dead event becomes
// a dead letter (DeadLetters).
func (s *Store) RecordAttempt(ctx context.Context, sub string, n uint64, a Attempt) (e Event, err error) {
	if a.State == EventPending && a.Next.IsZero() || !a.State.valid() || a.State == EventCancelled {
		return Event{}, fmt.Errorf("outbox: attempt without next time or with state %q", a.State)
	}
	w := s.begin()
	defer w.end()
	err = s.commit(ctx, w, func(tx *bolt.Tx) error {
		var err error
		e, err = recordAttempt(tx, sub, n, a)
		return err
	}, false)
	return e, err
}

// errNotPending refuses an attempt on an event that is not pending (a
// second sender, or a replay of what was not a dead letter).
var errNotPending = outcome.New(outcome.Conflict, "the event is not pending")

func recordAttempt(tx *bolt.Tx, sub string, n uint64, a Attempt) (Event, error) {
	key := outboxKey(sub, n)
	box := writable(tx, bucketOutbox)
	v := box.Get(key)
	if v == nil {
		return Event{}, outcome.New(outcome.NotFound, "no such event")
	}
	e, err := decodeEvent(key, v)
	if err != nil {
		return Event{}, err
	}
	if e.State != EventPending {
		return Event{}, errNotPending
	}
	e.Attempts++
	e.State, e.Decision = a.State, a.Decision
	if a.Error != "" {
		e.LastError = a.Error
	}
	if a.State == EventPending {
		e.Next = a.Next
	}
	if err := box.Put(key, encodeEvent(&e)); err != nil {
		return Event{}, err
	}
	if err := writable(tx, bucketOutboxTry).Put(tryKey(sub, n, e.Attempts), encodeTry(a)); err != nil {
		return Event{}, err
	}
	if a.State == EventPending {
		return e, nil
	}
	subs := tx.Bucket(bucketOutboxSub)
	c, err := decodeSubCounts(subs.Get([]byte(sub)))
	if err != nil {
		return Event{}, err
	}
	switch a.State {
	case EventDelivered:
		c.delivered++
	case EventWithheld:
		c.withheld++
	case EventDead:
		c.dead++
		if err := tx.Bucket(bucketOutboxDead).Put(key, nil); err != nil {
			return Event{}, err
		}
	}
	if n == c.head {
		next, ok, err := head(tx, sub, subCounts{last: c.last, head: n + 1})
		if err != nil {
			return Event{}, err
		}
		c.head = c.last + 1
		if ok {
			c.head = next.Number
		}
	}
	return e, subs.Put([]byte(sub), c.encode())
}

// Attempts returns the attempt log of event n of sub, oldest first.
func (s *Store) Attempts(sub string, n uint64) (out []Attempt, err error) {
	err = s.view(func(r *Snapshot) error {
		prefix := outboxKey(sub, n)
		c := r.tx.Bucket(bucketOutboxTry).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a, err := decodeTry(v)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// Events returns sub's events numbered from from to to (inclusive; 0: no
// bound), at most limit, oldest first. Pruned events are absent.
func (s *Store) Events(sub string, from, to uint64, limit int) (out []Event, err error) {
	err = s.view(func(r *Snapshot) error {
		prefix := append([]byte(sub), 0)
		c := r.tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.Seek(outboxKey(sub, from)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			e, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			if to != 0 && e.Number > to {
				return nil
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// DeadLetters returns at most limit dead letters, by Subscription then
// number.
func (s *Store) DeadLetters(limit int) (out []Event, err error) {
	err = s.view(func(r *Snapshot) error {
		box := r.tx.Bucket(bucketOutbox)
		c := r.tx.Bucket(bucketOutboxDead).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			v := box.Get(k)
			if v == nil {
				continue
			}
			e, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Replay makes dead letter n of sub pending again, due now, for a new
// round of attempts (Since is now); its earlier attempts stay in its log.
func (s *Store) Replay(ctx context.Context, sub string, n uint64) (e Event, err error) {
	w := s.begin()
	defer w.end()
	now := s.now()
	err = s.commit(ctx, w, func(tx *bolt.Tx) error {
		key := outboxKey(sub, n)
		v := tx.Bucket(bucketOutbox).Get(key)
		if v == nil {
			return outcome.New(outcome.NotFound, "no such event")
		}
		var err error
		if e, err = decodeEvent(key, v); err != nil {
			return err
		}
		if e.State != EventDead {
			return outcome.New(outcome.Conflict, "the event is not a dead letter")
		}
		e.State, e.Since, e.Next = EventPending, now, now
		if err := writable(tx, bucketOutbox).Put(key, encodeEvent(&e)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketOutboxDead).Delete(key); err != nil {
			return err
		}
		subs := tx.Bucket(bucketOutboxSub)
		c, err := decodeSubCounts(subs.Get([]byte(sub)))
		if err != nil {
			return err
		}
		c.dead--
		c.head = min(c.head, n)
		return subs.Put([]byte(sub), c.encode())
	}, false)
	return e, err
}

// CancelEvents cancels the pending events of Subscription sub in f's
// transaction (sub was deleted or set off, by the write f follows), and
// returns how many: they are never sent, and count as cancelled.
func (f *Following) CancelEvents(sub string) (int, error) { return cancelEvents(f.tx, sub) }

// CancelEvents cancels the pending events of Subscription sub, in a
// transaction of its own, and returns how many.
func (s *Store) CancelEvents(ctx context.Context, sub string) (n int, err error) {
	err = s.commit(ctx, nil, func(tx *bolt.Tx) error {
		var err error
		n, err = cancelEvents(tx, sub)
		return err
	}, true)
	return n, err
}

func cancelEvents(tx *bolt.Tx, sub string) (int, error) {
	subs := tx.Bucket(bucketOutboxSub)
	c, err := decodeSubCounts(subs.Get([]byte(sub)))
	if err != nil || c.pending() == 0 {
		return 0, err
	}
	box := writable(tx, bucketOutbox)
	type kv struct{ k, v []byte }
	var changed []kv
	prefix := append([]byte(sub), 0)
	cur := box.Cursor()
	for k, v := cur.Seek(outboxKey(sub, c.head)); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
		if len(v) == 0 || EventState(v[0]) != EventPending {
			continue
		}
		e, err := decodeEvent(k, v)
		if err != nil {
			return 0, err
		}
		e.State, e.Next = EventCancelled, time.Time{}
		changed = append(changed, kv{bytes.Clone(k), encodeEvent(&e)})
	}
	for _, x := range changed {
		if err := box.Put(x.k, x.v); err != nil {
			return 0, err
		}
	}
	c.cancelled += uint64(len(changed))
	c.head = c.last + 1
	return len(changed), subs.Put([]byte(sub), c.encode())
}

// PruneEvents deletes the delivered, withheld and cancelled events written before
// before, with their attempt logs, a chunk per transaction so that other
// writes interleave, and returns how many it deleted. Pending events and
// dead letters are kept whatever their age; the counts ($status) keep
// counting what was pruned.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	total := 0
	var from []byte // where the next chunk's scan starts; nil: the first key
	for {
		n, next := 0, []byte(nil)
		err := s.commit(ctx, nil, func(tx *bolt.Tx) error {
			var err error
			n, next, err = pruneEvents(tx, from, before)
			return err
		}, true)
		if err != nil {
			return total, err
		}
		total += n
		if next == nil {
			return total, nil
		}
		from = next
	}
}

// pruneEvents scans at most pruneChunk events from from on, deletes those
// PruneEvents drops and returns how many, and the key to scan from next
// (nil at the end).
func pruneEvents(tx *bolt.Tx, from []byte, before time.Time) (int, []byte, error) {
	var keys [][]byte
	c := tx.Bucket(bucketOutbox).Cursor()
	k, v := c.First()
	if from != nil {
		k, v = c.Seek(from)
	}
	for scanned := 0; k != nil && scanned < pruneChunk; k, v = c.Next() {
		scanned++
		e, err := decodeEvent(k, v)
		if err != nil {
			return 0, nil, err
		}
		if (e.State == EventDelivered || e.State == EventWithheld || e.State == EventCancelled) && e.Time.Before(before) {
			keys = append(keys, bytes.Clone(k))
		}
	}
	next := bytes.Clone(k)
	box, tries := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxTry)
	for _, key := range keys {
		if err := box.Delete(key); err != nil {
			return 0, nil, err
		}
		if err := deletePrefix(tries, key); err != nil {
			return 0, nil, err
		}
	}
	return len(keys), next, nil
}

// deletePrefix deletes b's keys that start with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
