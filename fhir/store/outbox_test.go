package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// enqueueTest adds events in one write transaction, as a Follower does.
func enqueueTest(t *testing.T, s *Store, sub string, ids ...string) []uint64 {
	t.Helper()
	var ns []uint64
	err := s.commit(context.Background(), nil, func(tx *bolt.Tx) error {
		for _, id := range ids {
			n, err := enqueue(tx, s.now(), sub, "Task", id, 1)
			if err != nil {
				return err
			}
			ns = append(ns, n)
		}
		return nil
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func headNumber(t *testing.T, s *Store, sub string) uint64 {
	t.Helper()
	e, ok, err := s.OutboxHead(sub)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	return e.Number
}

func TestOutboxFIFOAndStates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if got := enqueueTest(t, s, "sa", "t1", "t2", "t3", "t4"); got[0] != 1 || got[3] != 4 {
		t.Fatalf("numbers %v, want 1..4", got)
	}
	enqueueTest(t, s, "sb", "t9")
	now := time.Now()

	// A failure keeps the head where it is.
	e, err := s.RecordAttempt(ctx, "sa", 1, Attempt{Time: now, State: EventPending, Next: now.Add(time.Second), Decision: "d1", Error: "HTTP 503"})
	if err != nil || e.Attempts != 1 || e.LastError != "HTTP 503" {
		t.Fatalf("attempt: %+v %v", e, err)
	}
	if h := headNumber(t, s, "sa"); h != 1 {
		t.Fatalf("head %d after a failure, want 1", h)
	}
	steps := []struct {
		n     uint64
		state EventState
		head  uint64
	}{
		{1, EventDelivered, 2}, {2, EventWithheld, 3}, {3, EventDead, 4}, {4, EventDelivered, 0},
	}
	for _, st := range steps {
		if _, err := s.RecordAttempt(ctx, "sa", st.n, Attempt{Time: now, State: st.state, Decision: "d"}); err != nil {
			t.Fatal(err)
		}
		if h := headNumber(t, s, "sa"); h != st.head {
			t.Fatalf("after %d %s: head %d, want %d", st.n, st.state, h, st.head)
		}
	}
	if _, err := s.RecordAttempt(ctx, "sa", 4, Attempt{Time: now, State: EventDelivered}); !errors.Is(err, errNotPending) {
		t.Fatalf("second delivery of one event: %v, want errNotPending", err)
	}
	c, err := s.OutboxCounts("sa")
	if err != nil {
		t.Fatal(err)
	}
	if want := (OutboxCounts{Last: 4, Delivered: 2, Withheld: 1, Dead: 1}); c != want {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
	pend, err := s.OutboxPending()
	if err != nil || len(pend) != 1 || pend[0] != "sb" {
		t.Fatalf("pending subscriptions %v %v, want [sb]", pend, err)
	}
	tries, err := s.Attempts("sa", 1)
	if err != nil || len(tries) != 2 || tries[0].Decision != "d1" || tries[1].State != EventDelivered {
		t.Fatalf("attempt log of event 1: %+v %v", tries, err)
	}

	// The dead letter, replayed, is the head again, ahead of nothing
	// newer: the events after it are done.
	dead, err := s.DeadLetters(10)
	if err != nil || len(dead) != 1 || dead[0].Subscription != "sa" || dead[0].Number != 3 {
		t.Fatalf("dead letters %+v %v", dead, err)
	}
	if _, err := s.Replay(ctx, "sa", 2); outcome.KindOf(err) != outcome.Conflict {
		t.Fatalf("replay of a withheld event: %v, want conflict", err)
	}
	if _, err := s.Replay(ctx, "sa", 3); err != nil {
		t.Fatal(err)
	}
	if h := headNumber(t, s, "sa"); h != 3 {
		t.Fatalf("head %d after replay, want 3", h)
	}
	if dead, _ := s.DeadLetters(10); len(dead) != 0 {
		t.Fatalf("dead letters after replay: %+v", dead)
	}
	if c, _ := s.OutboxCounts("sa"); c.Pending != 1 || c.Dead != 0 {
		t.Fatalf("counts after replay %+v", c)
	}

	evs, err := s.Events("sa", 2, 3, 10)
	if err != nil || len(evs) != 2 || evs[0].Number != 2 || evs[1].State != EventPending || evs[0].ID != "t2" {
		t.Fatalf("events 2..3: %+v %v", evs, err)
	}
}

func TestOutboxRollback(t *testing.T) {
	s := openTest(t)
	boom := errors.New("boom")
	err := s.commit(context.Background(), nil, func(tx *bolt.Tx) error {
		if _, err := enqueue(tx, s.now(), "sa", "Task", "t1", 1); err != nil {
			return err
		}
		return boom
	}, true)
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if c, _ := s.OutboxCounts("sa"); c != (OutboxCounts{}) {
		t.Fatalf("counts after a rolled-back write: %+v", c)
	}
	if got := enqueueTest(t, s, "sa", "t2"); got[0] != 1 {
		t.Fatalf("first committed event numbered %d, want 1", got[0])
	}
}

func TestOutboxPrune(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	ids := make([]string, pruneChunk+10)
	for i := range ids {
		ids[i] = "t" + itoa(uint64(i))
	}
	enqueueTest(t, s, "sa", ids...)
	now := time.Now()
	for n := uint64(1); n <= uint64(len(ids))-1; n++ {
		if _, err := s.RecordAttempt(ctx, "sa", n, Attempt{Time: now, State: EventDelivered}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneEvents(ctx, time.Now().Add(time.Hour))
	if err != nil || n != len(ids)-1 {
		t.Fatalf("pruned %d %v, want %d", n, err, len(ids)-1)
	}
	evs, _ := s.Events("sa", 0, 0, 100)
	if len(evs) != 1 || evs[0].State != EventPending {
		t.Fatalf("left after pruning: %+v", evs)
	}
	if tries, _ := s.Attempts("sa", 1); len(tries) != 0 {
		t.Fatalf("attempt log of a pruned event: %+v", tries)
	}
	if c, _ := s.OutboxCounts("sa"); c.Delivered != uint64(len(ids))-1 || c.Pending != 1 {
		t.Fatalf("counts after pruning %+v", c)
	}
}

func TestEventCodec(t *testing.T) {
	e := Event{Subscription: "s1", Number: 7, Type: "Task", ID: "t1", Version: 3, State: EventDead,
		Attempts: 9, Time: time.UnixMicro(1), Since: time.UnixMicro(2), Next: time.UnixMicro(3),
		LastError: "HTTP 500", Decision: "abc-1"}
	k, v := outboxKey(e.Subscription, e.Number), encodeEvent(&e)
	got, err := decodeEvent(k, v)
	if err != nil {
		t.Fatal(err)
	}
	got.Time, got.Since, got.Next = got.Time.Local(), got.Since.Local(), got.Next.Local()
	if !got.Time.Equal(e.Time) || got.Subscription != e.Subscription || got.Number != 7 || got.LastError != e.LastError || got.Decision != e.Decision || !got.Next.Equal(e.Next) || !got.Since.Equal(e.Since) {
		t.Fatalf("round trip: %+v, want %+v", got, e)
	}
	for name, bad := range map[string][]byte{
		"short":    v[:eventHeader-1],
		"trailing": append(append([]byte{}, v...), 0),
		"state":    append([]byte{'?'}, v[1:]...),
	} {
		if _, err := decodeEvent(k, bad); !errors.Is(err, errBadKey) {
			t.Errorf("%s: %v, want errBadKey", name, err)
		}
	}
	if _, err := decodeEvent([]byte("s1"), v); !errors.Is(err, errBadKey) {
		t.Errorf("key without a number: %v", err)
	}
}

// outboxFollower enqueues an event for Subscription "s1" per Task written,
// and fails the write of a Task whose id is "bad" after enqueueing it.
type outboxFollower struct{}

func (outboxFollower) Follow(ctx context.Context, f *Following) error {
	for _, w := range f.Written() {
		if w.Type != "Task" {
			continue
		}
		if _, err := f.Enqueue("s1", w); err != nil {
			return err
		}
		if w.ID == "bad" {
			return errors.New("refused")
		}
	}
	return nil
}

func TestEnqueueCommitsWithTheWrite(t *testing.T) {
	s := openTest(t)
	s.Follow(outboxFollower{})
	ctx := context.Background()
	task := func(id string) TxEntry {
		return putEntry(t, `{"resourceType":"Task","id":"`+id+`","status":"requested","intent":"order"}`)
	}
	if _, err := s.Transaction(ctx, []TxEntry{task("a"), task("b")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transaction(ctx, []TxEntry{task("c"), task("bad")}); err == nil {
		t.Fatal("the failing follower's write was stored")
	}
	if _, err := s.TransactionWith(ctx, []TxEntry{task("d")}, TxOptions{}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events("s1", 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.ID+"#"+itoa(e.Number))
	}
	if want := "[a#1 b#2 d#3]"; fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %s: none for the rolled-back write", got, want)
	}
}

// TestCancelEvents: cancelled events leave the head, count as cancelled,
// keep their number and are pruned like delivered ones; a later event is
// numbered after them.
func TestCancelEvents(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	enqueueTest(t, s, "s1", "a", "b", "c")
	if _, err := s.RecordAttempt(ctx, "s1", 1, Attempt{Time: time.Now(), State: EventDelivered}); err != nil {
		t.Fatal(err)
	}
	n, err := s.CancelEvents(ctx, "s1")
	if err != nil || n != 2 {
		t.Fatalf("cancelled %d %v, want 2", n, err)
	}
	if _, ok, err := s.OutboxHead("s1"); ok || err != nil {
		t.Fatalf("head after cancelling: %v %v", ok, err)
	}
	c, _ := s.OutboxCounts("s1")
	if c != (OutboxCounts{Last: 3, Delivered: 1, Cancelled: 2}) {
		t.Fatalf("counts %+v", c)
	}
	if _, err := s.RecordAttempt(ctx, "s1", 2, Attempt{Time: time.Now(), State: EventDelivered}); outcome.KindOf(err) != outcome.Conflict {
		t.Fatalf("an attempt on a cancelled event: %v", err)
	}
	evs, err := s.Events("s1", 2, 2, 10)
	if err != nil || len(evs) != 1 || evs[0].State != EventCancelled {
		t.Fatalf("event 2: %+v %v", evs, err)
	}
	if ns := enqueueTest(t, s, "s1", "d"); ns[0] != 4 || headNumber(t, s, "s1") != 4 {
		t.Fatalf("next event %v, head %d", ns, headNumber(t, s, "s1"))
	}
	if pruned, err := s.PruneEvents(ctx, time.Now().Add(time.Hour)); err != nil || pruned != 3 {
		t.Fatalf("pruned %d %v, want 3 (delivered and cancelled)", pruned, err)
	}
}

// TestSubCountsV1: 40-byte counts, written before cancelled events, read
// as none cancelled.
func TestSubCountsV1(t *testing.T) {
	c := subCounts{last: 5, head: 3, delivered: 1, withheld: 1, dead: 1, cancelled: 0}
	got, err := decodeSubCounts(c.encode()[:subCountsSizeV1])
	if err != nil || got != c {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := decodeSubCounts(make([]byte, 41)); err == nil {
		t.Fatal("a 41-byte value decoded")
	}
}
