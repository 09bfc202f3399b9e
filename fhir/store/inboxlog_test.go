package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func msgACK(control string) *MessageACK {
	return &MessageACK{Key: MessageKey{App: "HIS", Facility: "CHU", Control: control},
		At: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), Record: []byte("ack-" + control)}
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// segmentFiles lists the log's segment files.
func segmentFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(path+logDirSuffix, "*"+logFileSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantQueued checks that Queued lists exactly payloads want, in order.
func wantQueued(t *testing.T, s *Store, want []string) []uint64 {
	t.Helper()
	q, err := s.Queued()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var seqs []uint64
	for _, e := range q {
		got = append(got, string(e.Payload))
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(got, want) || !slices.IsSorted(seqs) {
		t.Fatalf("queued %q (seqs %v), want %q in order", got, seqs, want)
	}
	return seqs
}

// wantResent checks that a message with control is answered as a resend,
// by Enqueue and StoredACK, with its first ACK record.
func wantResent(t *testing.T, s *Store, control string) {
	t.Helper()
	var re *ResentError
	if _, err := s.Enqueue(context.Background(), []byte("again"), &MessageACK{Key: msgACK(control).Key, At: time.Now(), Record: []byte("other")}); !errors.As(err, &re) || string(re.Record) != "ack-"+control {
		t.Errorf("resend of %s: %v, want a ResentError with its first record", control, err)
	}
	if rec, err := s.StoredACK(msgACK(control).Key); err != nil || string(rec) != "ack-"+control {
		t.Errorf("StoredACK(%s) = %q, %v", control, rec, err)
	}
}

// TestInboxLogCrash: messages acknowledged and not applied are queued
// again after a reopen, in order, and answer resends; a record cut short
// by a crash during its sync (never acknowledged) is dropped, and the log
// takes records after it; once applied, nothing is queued after a reopen
// and resends are answered from bbolt.
func TestInboxLogCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	s := openAt(t, path)
	ctx := context.Background()
	var want []string
	for i := range 5 {
		p := fmt.Sprintf("m%d", i)
		if _, err := s.Enqueue(ctx, []byte(p), msgACK(p)); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	if _, err := s.Enqueue(ctx, []byte("torn"), msgACK("torn")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: the last record only partly reached the disk.
	segs := segmentFiles(t, path)
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	tornLen := len(encodeRecord(nil, 6, &logEntry{payload: []byte("torn"), ackKey: []byte("HIS\x00CHU\x00torn"), record: []byte("ack-torn")}))
	end := 0
	for end < len(data) {
		_, _, n, ok := decodeRecord(data[end:])
		if !ok {
			break
		}
		end += n
	}
	if err := os.WriteFile(segs[0], data[:end-tornLen/2], 0o600); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	seqs := wantQueued(t, s, want)
	for _, c := range want {
		wantResent(t, s, c)
	}
	if rec, err := s.StoredACK(msgACK("torn").Key); err != nil || rec != nil {
		t.Errorf("the torn message's record: %q, %v", rec, err)
	}
	next, err := s.Enqueue(ctx, []byte("torn"), msgACK("torn"))
	if err != nil || next <= seqs[len(seqs)-1] {
		t.Fatalf("enqueue after the torn record: %d, %v", next, err)
	}
	want = append(want, "torn")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	seqs = wantQueued(t, s, want)
	if err := s.ApplyQueued(ctx, seqs, func(*Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	wantQueued(t, s, nil)
	for _, c := range want {
		wantResent(t, s, c)
	}
	if n, _, err := s.ACKCounts(); n != len(want) || err != nil {
		t.Errorf("%d ACK records in bbolt (%v), want %d", n, err, len(want))
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestInboxLogSegments: records spread over several segments; applied
// segments are deleted, the newest is reused from its start, and a reopen
// finds exactly what is not applied, whichever segment holds it.
func TestInboxLogSegments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	s := openAt(t, path)
	s.wal.segMax, s.wal.truncMin = 200, 100
	ctx := context.Background()
	var seqs []uint64
	var want []string
	for i := range 12 {
		p := fmt.Sprintf("message %02d, long enough to fill a segment in a few records", i)
		seq, err := s.Enqueue(ctx, []byte(p), nil)
		if err != nil {
			t.Fatal(err)
		}
		seqs, want = append(seqs, seq), append(want, p)
	}
	if n := len(segmentFiles(t, path)); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	if err := s.ApplyQueued(ctx, seqs[:8], func(*Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// tidy runs on the log's goroutine: make it run by writing.
	seq, err := s.Enqueue(ctx, []byte("last"), nil)
	if err != nil {
		t.Fatal(err)
	}
	seqs, want = append(seqs, seq), append(want, "last")
	left := len(segmentFiles(t, path))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if got := wantQueued(t, s, want[8:]); !slices.Equal(got, seqs[8:]) {
		t.Errorf("seqs %v, want %v", got, seqs[8:])
	}
	if left > 3 {
		t.Errorf("%d segments left after most were applied", left)
	}
	s.wal.segMax, s.wal.truncMin = 200, 100
	if err := s.ApplyQueued(ctx, seqs[8:], func(*Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // into the newest segment, reused from its start
		if _, err := s.Enqueue(ctx, []byte{byte('a' + i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segmentFiles(t, path)); n != 1 {
		t.Errorf("%d segments once all was applied, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	wantQueued(t, s, []string{"a", "b", "c"})
}

// TestEnqueueSameKeyConcurrently: of two identical messages enqueued at
// once, one is accepted and the other answered as its resend.
func TestEnqueueSameKeyConcurrently(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for i := range 50 {
		c := fmt.Sprintf("c%d", i)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for j := range errs {
			wg.Go(func() { _, errs[j] = s.Enqueue(ctx, []byte(c), msgACK(c)) })
		}
		wg.Wait()
		var re *ResentError
		ok := (errs[0] == nil) != (errs[1] == nil)
		if ok && !errors.As(errors.Join(errs...), &re) {
			ok = false
		}
		if !ok {
			t.Fatalf("two enqueues of %s: %v, %v; want one accepted, one ResentError", c, errs[0], errs[1])
		}
	}
	if q, _ := s.Queued(); len(q) != 50 {
		t.Errorf("%d queued, want 50", len(q))
	}
}

// TestEnqueueWhileApplying: Enqueues and applies running together (run
// with -race) lose nothing, answer every resend, and leave the log empty
// and the ACK records in bbolt once all is applied.
func TestEnqueueWhileApplying(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	s := openAt(t, path)
	ctx := context.Background()
	const senders, each = 4, 50
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				c := fmt.Sprintf("%d-%d", g, i)
				if _, err := s.Enqueue(ctx, []byte(c), msgACK(c)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					wantResent(t, s, c)
				}
			}
		})
	}
	applied := 0
	var applier sync.WaitGroup
	applier.Go(func() {
		for {
			q, err := s.Queued()
			if err != nil {
				t.Error(err)
				return
			}
			if len(q) == 0 {
				select {
				case <-done:
					return
				default:
					time.Sleep(time.Millisecond)
					continue
				}
			}
			seqs := make([]uint64, len(q))
			for i, e := range q {
				seqs[i] = e.Seq
			}
			if err := s.ApplyQueued(ctx, seqs, func(*Batch) error { return nil }); err != nil {
				t.Error(err)
				return
			}
			applied += len(seqs)
		}
	})
	wg.Wait()
	close(done)
	applier.Wait()
	if applied != senders*each {
		t.Errorf("applied %d, want %d", applied, senders*each)
	}
	if n, _, err := s.ACKCounts(); n != senders*each || err != nil {
		t.Errorf("%d ACK records (%v), want %d", n, err, senders*each)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	wantQueued(t, s, nil)
	wantResent(t, s, "3-49")
}

// TestInboxBucketFromBefore: messages a version before the log left in
// the bbolt inbox bucket are queued at Open, before new ones, and leave
// the bucket when applied (a rejected one for inboxfailed); new sequence
// numbers follow theirs.
func TestInboxBucketFromBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relais.db")
	s := openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		in := tx.Bucket(bucketInbox)
		for _, p := range []string{"old1", "old2"} {
			seq, _ := in.NextSequence()
			if err := in.Put(u64(seq), []byte(p)); err != nil {
				return err
			}
		}
		key, _ := ackKey(msgACK("old1").Key)
		return putACK(tx, key, msgACK("old1").At, []byte("ack-old1"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	ctx := context.Background()
	seq, err := s.Enqueue(ctx, []byte("new"), nil)
	if err != nil {
		t.Fatal(err)
	}
	seqs := wantQueued(t, s, []string{"old1", "old2", "new"})
	if seq != 3 || !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Errorf("seqs %v, new %d", seqs, seq)
	}
	wantResent(t, s, "old1")
	if err := s.ApplyQueued(ctx, seqs, func(b *Batch) error { b.Reject(2); return nil }); err != nil {
		t.Fatal(err)
	}
	wantQueued(t, s, nil)
	if f, err := s.Failed(); err != nil || len(f) != 1 || string(f[0].Payload) != "old2" {
		t.Errorf("failed %v, %v", f, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketInbox).Cursor().First(); k != nil {
			t.Errorf("inbox bucket still holds %x", k)
		}
		return nil
	})
}

// TestRejectedACK: a rejected message keeps its ACK record (resends are
// answered) unless the batch forgets it, and then may be sent again.
func TestRejectedACK(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	a, _ := s.Enqueue(ctx, []byte("a"), msgACK("a"))
	b, _ := s.Enqueue(ctx, []byte("b"), msgACK("b"))
	err := s.ApplyQueued(ctx, []uint64{a, b}, func(bt *Batch) error {
		bt.Reject(a)
		bt.Reject(b)
		return bt.ForgetACK(msgACK("b").Key, msgACK("b").At)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantResent(t, s, "a")
	if _, err := s.Enqueue(ctx, []byte("b"), msgACK("b")); err != nil {
		t.Errorf("a forgotten message sent again: %v", err)
	}
}
