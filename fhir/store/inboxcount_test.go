package store

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestInboxCountsAndOnCommit: InboxCounts follows the inbox as writes are
// queued, applied and set aside; OnCommit hears of every bbolt commit
// Stats counts (applies, not Enqueues, which go to the inbox log), with a
// positive duration.
func TestInboxCountsAndOnCommit(t *testing.T) {
	t.Parallel()
	var commits atomic.Uint64
	var shortest atomic.Int64
	shortest.Store(int64(time.Hour))
	s, err := Open(filepath.Join(t.TempDir(), "relais.db"), Options{Codec: testCodec, NoSync: true,
		OnCommit: func(d time.Duration) {
			commits.Add(1)
			if int64(d) < shortest.Load() {
				shortest.Store(int64(d))
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	counts := func(wantQueued, wantFailed int) {
		t.Helper()
		q, f, err := s.InboxCounts()
		if err != nil || q != wantQueued || f != wantFailed {
			t.Errorf("InboxCounts = %d queued, %d failed, %v; want %d, %d", q, f, err, wantQueued, wantFailed)
		}
	}
	counts(0, 0)
	var seqs []uint64
	for range 3 {
		seq, err := s.Enqueue(ctx, []byte("x"), nil)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	counts(3, 0)
	err = s.ApplyQueued(ctx, seqs[:2], func(b *Batch) error {
		b.Reject(seqs[1])
		_, err := b.Put([]TxEntry{patientEntry(t, "p1", "Martin")}, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	counts(1, 1)

	st := s.Stats()
	if got := commits.Load(); got != st.Commits || got < 1 {
		t.Errorf("OnCommit called %d times, Stats counts %d commits (want at least 1)", got, st.Commits)
	}
	if shortest.Load() <= 0 {
		t.Errorf("a commit took %v", time.Duration(shortest.Load()))
	}
	if st.PagesWritten <= 0 || st.FileSize <= 0 {
		t.Errorf("Stats %+v: pages written and file size must be positive", st)
	}
}
