package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
)

// taskFollower writes, for each Encounter written, a Task named after it,
// reading the Encounter back through the Following's snapshot (the write
// it follows must be visible there); with fail, it fails instead.
type taskFollower struct {
	t    testing.TB
	fail bool
}

func (tf *taskFollower) Follow(ctx context.Context, f *Following) error {
	var entries []TxEntry
	for _, w := range f.Written() {
		if w.Type != "Encounter" || w.Deleted {
			continue
		}
		if tf.fail {
			return errors.New("follower down")
		}
		if SnapshotFrom(ctx) == nil {
			return errors.New("no snapshot in ctx")
		}
		if _, err := f.Snapshot().Read("Encounter", w.ID); err != nil {
			return err
		}
		entries = append(entries, TxEntry{Method: "PUT", Type: "Task", ID: "t-" + w.ID, IfAbsent: true,
			Resource: decode(tf.t, fmt.Sprintf(`{"resourceType":"Task","id":"t-%s","status":"requested","intent":"order"}`, w.ID))})
	}
	if len(entries) == 0 {
		return nil
	}
	_, err := f.Put(entries)
	return err
}

func TestFollowerWritesInTheSameTransaction(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	tf := &taskFollower{t: t}
	s.Follow(tf)
	ctx := context.Background()
	enc := func(id string) string {
		return fmt.Sprintf(`{"resourceType":"Encounter","id":"%s","status":"finished","class":{"code":"IMP"}}`, id)
	}
	// every write path
	if _, err := s.Transaction(ctx, []TxEntry{putEntry(t, enc("a"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TransactionWith(ctx, []TxEntry{putEntry(t, enc("b"))}, TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, decode(t, enc("c")), 0); err != nil {
		t.Fatal(err)
	}
	seq, err := s.Enqueue(ctx, []byte("m"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyQueued(ctx, []uint64{seq}, func(b *Batch) error {
		_, err := b.Put([]TxEntry{putEntry(t, enc("d"))}, false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := s.Read("Task", "t-"+id); err != nil {
			t.Errorf("the Task following Encounter/%s: %v", id, err)
		}
	}
	// writing the Encounter again writes no second Task version
	if _, err := s.Transaction(ctx, []TxEntry{putEntry(t, enc("a"))}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.Read("Task", "t-a"); rec == nil || rec.Version != 1 {
		t.Errorf("the follower's IfAbsent Task was rewritten: %+v", rec)
	}
}

// TestFollowerFailureRollsBack: a follower's error fails the write it
// follows and leaves nothing of it, while the writes committed beside it
// (the writer groups concurrent writes in one bbolt transaction) stand.
func TestFollowerFailureRollsBack(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	s.Follow(&taskFollower{t: t, fail: true})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			js := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i)
			if i%4 == 0 {
				js = fmt.Sprintf(`{"resourceType":"Encounter","id":"e%d","status":"finished","class":{"code":"IMP"}}`, i)
			}
			_, errs[i] = s.TransactionWith(ctx, []TxEntry{putEntry(t, js)}, TxOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		typ, id := "Patient", fmt.Sprintf("p%d", i)
		if i%4 == 0 {
			typ, id = "Encounter", fmt.Sprintf("e%d", i)
			if err == nil {
				t.Errorf("write %d succeeded with its follower failing", i)
			}
			if _, rerr := s.Read(typ, id); outcome.KindOf(rerr) != outcome.NotFound {
				t.Errorf("%s/%s stored although its follower failed: %v", typ, id, rerr)
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d failed beside a failing follower: %v", i, err)
		}
		if _, rerr := s.Read(typ, id); rerr != nil {
			t.Errorf("%s/%s lost: %v", typ, id, rerr)
		}
	}
}

// commitFollower registers, for every Patient written, a callback that
// reads the Patient back in a snapshot of its own: it must see it
// committed. Encounters fail their write after registering.
type commitFollower struct {
	s         *Store
	mu        sync.Mutex
	seen, bad []string
}

func (cf *commitFollower) Follow(ctx context.Context, f *Following) error {
	for _, w := range f.Written() {
		f.AfterCommit(func() {
			_, err := cf.s.Read(w.Type, w.ID)
			cf.mu.Lock()
			defer cf.mu.Unlock()
			if err != nil {
				cf.bad = append(cf.bad, w.ID)
			}
			cf.seen = append(cf.seen, w.ID)
		})
		if w.Type == "Encounter" {
			return errors.New("follower refuses Encounters")
		}
	}
	return nil
}

// TestAfterCommit: a callback runs once its write is committed and
// visible, and never for a write that rolled back, also when it shared a
// group commit with the failing one.
func TestAfterCommit(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	cf := &commitFollower{s: s}
	s.Follow(cf)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			js := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i)
			if i%4 == 0 {
				js = fmt.Sprintf(`{"resourceType":"Encounter","id":"e%d","status":"finished","class":{"code":"IMP"}}`, i)
			}
			_, _ = s.TransactionWith(context.Background(), []TxEntry{putEntry(t, js)}, TxOptions{})
		}()
	}
	wg.Wait()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if len(cf.bad) > 0 {
		t.Errorf("callbacks ran before their write was visible: %v", cf.bad)
	}
	count := map[string]int{}
	for _, id := range cf.seen {
		count[id]++
	}
	for i := range 20 {
		id := fmt.Sprintf("p%d", i)
		if i%4 == 0 {
			id = fmt.Sprintf("e%d", i)
			if count[id] != 0 {
				t.Errorf("callback of rolled-back %s ran", id)
			}
			continue
		}
		if count[id] != 1 {
			t.Errorf("callback of %s ran %d times, want once", id, count[id])
		}
	}
}

// searchFollower writes a Task, then searches for it through the
// Following's two snapshots.
type searchFollower struct {
	t                  testing.TB
	unflushed, flushed int
}

func (sf *searchFollower) Follow(ctx context.Context, f *Following) error {
	if _, err := f.Put([]TxEntry{{Method: "PUT", Type: "Task", ID: "t1",
		Resource: decode(sf.t, `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`)}}); err != nil {
		return err
	}
	q, err := search.Parse("Task", url.Values{"status": {"requested"}}, true) // an index lookup
	if err != nil {
		return err
	}
	hits, err := f.Unflushed().Search(q, nil)
	if err != nil {
		return err
	}
	sf.unflushed = len(hits)
	if hits, err = f.Snapshot().Search(q, nil); err != nil {
		return err
	}
	sf.flushed = len(hits)
	return nil
}

// TestFollowingUnflushed: a search through Unflushed does not find the
// followers' writes waiting for the index; one through Snapshot does; all
// of them are in the index once the write commits.
func TestFollowingUnflushed(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	sf := &searchFollower{t: t}
	s.Follow(sf)
	if _, err := s.Transaction(context.Background(), []TxEntry{putEntry(t, `{"resourceType":"Patient","id":"p1"}`)}); err != nil {
		t.Fatal(err)
	}
	if sf.unflushed != 0 || sf.flushed != 1 {
		t.Errorf("unflushed found %d, flushed %d; want 0 and 1", sf.unflushed, sf.flushed)
	}
	hits, err := s.Search(&search.Query{Type: "Task"}, nil)
	if err != nil || len(hits) != 1 {
		t.Errorf("after the commit: %d Tasks, %v", len(hits), err)
	}
}
