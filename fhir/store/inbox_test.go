package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

func patientEntry(t testing.TB, id, family string) TxEntry {
	return TxEntry{Method: "PUT", Type: "Patient", ID: id,
		Resource: decode(t, `{"resourceType":"Patient","id":"`+id+`","name":[{"family":"`+family+`"}]}`)}
}

// TestReadWaitsForQueuedWrites: a read that starts after Enqueue returned
// sees what the queued write stands for, once it is applied, never the
// state before it; a read with nothing queued does not wait.
func TestReadWaitsForQueuedWrites(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Read("Patient", "p1"); outcome.KindOf(err) != outcome.NotFound {
		t.Fatalf("empty store: %v", err)
	}
	seq, err := s.Enqueue(ctx, []byte("p1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rec *Record
		err error
	}
	read := make(chan result, 1)
	go func() {
		rec, err := s.Read("Patient", "p1")
		read <- result{rec, err}
	}()
	select {
	case r := <-read:
		t.Fatalf("read answered before the queued write was applied: %v %v", r.rec, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	err = s.ApplyQueued(ctx, []uint64{seq}, func(b *Batch) error {
		_, err := b.Put([]TxEntry{patientEntry(t, "p1", "Martin")}, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-read
	if r.err != nil || !bytes.Contains(r.rec.JSON, []byte("Martin")) {
		t.Fatalf("read after apply: %v %v", r.rec, r.err)
	}
	hits, err := s.Search(query(t, "Patient", "family=martin"), nil)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search: %v %v", hits, err)
	}
	if q, err := s.Queued(); err != nil || len(q) != 0 {
		t.Errorf("inbox after apply: %v %v", q, err)
	}
}

// TestInboxSurvivesReopen: what was queued and not applied is found again
// after the store is closed and opened, in order, and new entries follow it.
func TestInboxSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var seqs []uint64
	for _, p := range []string{"first", "second"} {
		seq, err := s.Enqueue(ctx, []byte(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := s.Queued()
	if err != nil || len(q) != 2 || string(q[0].Payload) != "first" || string(q[1].Payload) != "second" || q[0].Seq != seqs[0] || q[1].Seq != seqs[1] {
		t.Fatalf("queued after reopen: %+v %v", q, err)
	}
	if s.inbox.applied.Load() >= s.inbox.enqueued.Load() {
		t.Fatal("reads would not wait for the queued writes found at open")
	}
	err = s.ApplyQueued(ctx, seqs, func(b *Batch) error {
		_, err := b.Put([]TxEntry{patientEntry(t, "p2", "Durand")}, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("Patient", "p2"); err != nil {
		t.Fatal(err)
	}
	next, err := s.Enqueue(ctx, []byte("third"), nil)
	if err != nil || next <= seqs[1] {
		t.Errorf("new entry %d after %d: %v", next, seqs[1], err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestBatchRejectAndFailures: an entry list that fails before writing
// leaves the batch usable; a rejected entry moves to inboxfailed; an error
// from fn applies nothing and leaves the inbox as it was.
func TestBatchRejectAndFailures(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.Enqueue(ctx, []byte("a"), nil)
	b, _ := s.Enqueue(ctx, []byte("b"), nil)

	boom := errors.New("boom")
	err := s.ApplyQueued(ctx, []uint64{a, b}, func(bt *Batch) error {
		if _, err := bt.Put([]TxEntry{patientEntry(t, "x", "X")}, true); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if q, _ := s.Queued(); len(q) != 2 {
		t.Fatalf("a failed apply changed the inbox: %d left", len(q))
	}
	err = s.ApplyQueued(ctx, []uint64{a, b}, func(bt *Batch) error {
		dup := []TxEntry{patientEntry(t, "y", "Y"), patientEntry(t, "y", "Z")}
		if _, err := bt.Put(dup, true); err == nil {
			t.Error("two entries for one resource accepted")
		}
		bt.Reject(a)
		_, err := bt.Put([]TxEntry{patientEntry(t, "z", "Z")}, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]outcome.Kind{"x": outcome.NotFound, "y": outcome.NotFound} {
		if _, err := s.Read("Patient", id); outcome.KindOf(err) != want {
			t.Errorf("Patient/%s: %v", id, err)
		}
	}
	if _, err := s.Read("Patient", "z"); err != nil {
		t.Error(err)
	}
	var failed []string
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInboxFailed).ForEach(func(k, v []byte) error {
			failed = append(failed, string(v))
			return nil
		})
	})
	if len(failed) != 1 || failed[0] != "a" {
		t.Errorf("inboxfailed %q, want [a]", failed)
	}
	if q, _ := s.Queued(); len(q) != 0 {
		t.Errorf("%d left in the inbox", len(q))
	}
}

// TestRetryAndDiscardFailed: a set-aside write that fails again stays set
// aside with nothing of it written; one that succeeds leaves inboxfailed in
// the commit that writes it; a discarded one is gone; an unknown number is
// NotFound without running the write.
func TestRetryAndDiscardFailed(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.Enqueue(ctx, []byte("a"), nil)
	b, _ := s.Enqueue(ctx, []byte("b"), nil)
	if err := s.ApplyQueued(ctx, []uint64{a, b}, func(bt *Batch) error {
		bt.Reject(a)
		bt.Reject(b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.FailedPayload(a); err != nil || string(p) != "a" {
		t.Fatalf("FailedPayload(a) = %q, %v", p, err)
	}

	boom := errors.New("boom")
	err := s.RetryFailed(ctx, a, func(bt *Batch) error {
		if _, err := bt.Put([]TxEntry{patientEntry(t, "x", "X")}, true); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := s.Read("Patient", "x"); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("a failed retry wrote Patient/x: %v", err)
	}
	if f, _ := s.Failed(); len(f) != 2 {
		t.Fatalf("after a failed retry %d set aside, want 2", len(f))
	}

	if err := s.RetryFailed(ctx, a, func(bt *Batch) error {
		_, err := bt.Put([]TxEntry{patientEntry(t, "x", "X")}, true)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read("Patient", "x"); err != nil {
		t.Error(err)
	}
	if err := s.DiscardFailed(ctx, b); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Failed(); len(f) != 0 {
		t.Errorf("%d still set aside", len(f))
	}
	ran := false
	for _, seq := range []uint64{a, b, 99} {
		err := s.RetryFailed(ctx, seq, func(*Batch) error { ran = true; return nil })
		if outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("retry %d: %v", seq, err)
		}
		if err := s.DiscardFailed(ctx, seq); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("discard %d: %v", seq, err)
		}
		if _, err := s.FailedPayload(seq); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("payload %d: %v", seq, err)
		}
	}
	if ran {
		t.Error("a retry of a write not set aside ran")
	}
}

// TestEnqueueResent: a message whose ACK record is stored already is not
// queued, and the error holds the stored record; forgetting the record
// (a message set aside) lets the message be queued again.
func TestEnqueueResent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	k := MessageKey{App: "HIS", Facility: "CHU", Control: "42"}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	seq, err := s.Enqueue(ctx, []byte("x"), &MessageACK{Key: k, At: at, Record: []byte("ack-1")})
	if err != nil {
		t.Fatal(err)
	}
	var re *ResentError
	if _, err := s.Enqueue(ctx, []byte("y"), &MessageACK{Key: k, At: at, Record: []byte("ack-2")}); !errors.As(err, &re) || string(re.Record) != "ack-1" {
		t.Fatalf("resend: %v, want a ResentError with the first record", err)
	}
	if q, _ := s.Queued(); len(q) != 1 {
		t.Errorf("queued %d, want the first message only", len(q))
	}
	if rec, err := s.StoredACK(k); err != nil || string(rec) != "ack-1" {
		t.Errorf("StoredACK = %q, %v", rec, err)
	}
	err = s.ApplyQueued(ctx, []uint64{seq}, func(b *Batch) error {
		b.Reject(seq)
		return b.ForgetACK(k, at)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, tm, _ := s.ACKCounts(); n != 0 || tm != 0 {
		t.Errorf("after ForgetACK: %d records, %d time entries", n, tm)
	}
	if _, err := s.Enqueue(ctx, []byte("y"), &MessageACK{Key: k, At: at, Record: []byte("ack-2")}); err != nil {
		t.Errorf("enqueue after the record was forgotten: %v", err)
	}
}

// TestPruneACKsInChunks: more expired records than one transaction deletes
// are all deleted, the younger ones kept.
func TestPruneACKsInChunks(t *testing.T) {
	s := openTest(t)
	const expired, younger = 2*pruneChunk + 345, 10
	now := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	base := now.Add(-2 * time.Hour)
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range expired + younger {
			at := base.Add(time.Duration(i) * time.Microsecond)
			if i >= expired {
				at = now.Add(-time.Minute)
			}
			key, _ := ackKey(MessageKey{"HIS", "CHU", fmt.Sprintf("%06d", i)})
			if err := putACK(tx, key, at, []byte{1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneACKs(context.Background(), now.Add(-time.Hour)); n != expired || err != nil {
		t.Errorf("PruneACKs = %d, %v; want %d", n, err, expired)
	}
	if a, tm, _ := s.ACKCounts(); a != younger || tm != younger {
		t.Errorf("%d ACK records and %d time entries left, want %d", a, tm, younger)
	}
}

// TestPlannerChainsAndReplans: a Planner plans a resource from version to
// version across entry lists (an unchanged repeat is kept), Apply writes
// the plans, and a plan whose target another write changed meanwhile is
// planned again in the transaction instead of overwriting that write.
func TestPlannerChainsAndReplans(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	seq, _ := s.Enqueue(ctx, []byte("q"), nil)
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"raced","name":[{"family":"Before"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	pl, err := s.PlannerAfter(PlannedStates{})
	if err != nil {
		t.Fatal(err)
	}
	var plans []*Planned
	for _, e := range [][]TxEntry{
		{patientEntry(t, "p", "One")},
		{patientEntry(t, "p", "Two")},
		{patientEntry(t, "p", "Two")}, // unchanged: kept at version 2
		{patientEntry(t, "raced", "Queued")},
	} {
		p, err := pl.Put(e, true)
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	pl.Close()
	// A write that does not go through the queue, after the plans were made.
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"raced","name":[{"family":"Meanwhile"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	var versions []uint64
	err = s.ApplyQueued(ctx, []uint64{seq}, func(b *Batch) error {
		for _, p := range plans {
			res, err := b.Apply(p)
			if err != nil {
				return err
			}
			versions = append(versions, res[0].Record.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 2, 3}; !slices.Equal(versions, want) {
		t.Errorf("versions %v, want %v", versions, want)
	}
	rec, err := s.Read("Patient", "p")
	if err != nil || rec.Version != 2 || !bytes.Contains(rec.JSON, []byte("Two")) {
		t.Errorf("Patient/p %v %v", rec, err)
	}
	rec, err = s.Read("Patient", "raced")
	if err != nil || rec.Version != 3 || !bytes.Contains(rec.JSON, []byte("Queued")) {
		t.Errorf("Patient/raced %v %v", rec, err)
	}
	if h, err := s.InstanceHistory("Patient", "raced", HistoryOptions{}); err != nil || len(h.Records) != 3 {
		t.Errorf("raced history %v %v: the concurrent write was lost", h, err)
	}
}

// TestSortedIndexLastWriteWins: the buffered index writes reach bbolt as
// the same writes made one by one would leave it: for each key, its last
// write (a put or a deletion) stands, whatever the order and repeats, keys
// already in the bucket included; the buffer is reused after a flush.
func TestSortedIndexLastWriteWins(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "idx.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]bool{}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("i"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "m", "z"} {
			want[k] = true
			if err := b.Put([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var d sortedIndex
	for round := range 3 {
		// a deterministic shuffle of puts and deletions with repeats,
		// some of them prefixes of others
		for i := range 400 {
			k := []byte(fmt.Sprintf("%c%d", 'a'+byte((i*7+round)%26), (i*13)%17))
			if i%5 == 0 {
				k = k[:1]
			}
			put := (i*31+round)%3 != 0
			if put {
				_ = d.Put(k, nil)
			} else {
				_ = d.Delete(k)
			}
			want[string(k)] = put
		}
		if err := db.Update(func(tx *bolt.Tx) error { return d.flush(tx.Bucket([]byte("i"))) }); err != nil {
			t.Fatal(err)
		}
		if len(d.ops) != 0 || len(d.keys) != 0 {
			t.Fatalf("round %d: %d writes left after flush", round, len(d.ops))
		}
		var got, exp []string
		_ = db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("i")).ForEach(func(k, _ []byte) error { got = append(got, string(k)); return nil })
		})
		for k, put := range want {
			if put {
				exp = append(exp, k)
			}
		}
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Fatalf("round %d: bucket has %d keys, want %d\n got %q\nwant %q", round, len(got), len(exp), got, exp)
		}
	}
}
