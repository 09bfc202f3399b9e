package store

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func taskJSON(id, status, owner string) string {
	js := fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":%q,"intent":"order"`, id, status)
	if owner != "" {
		js += fmt.Sprintf(`,"owner":{"reference":%q}`, owner)
	}
	return js + "}"
}

// openTasks reads the counts of owners in a snapshot of s.
func openTasks(t *testing.T, s *Store, owners ...string) []int {
	t.Helper()
	var got []int
	err := s.View(func(r *Snapshot) error {
		var err error
		got, err = r.OpenTasks(owners)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkTaskLoad compares the taskload bucket with the counts rebuilt from
// the current values.
func checkTaskLoad(t *testing.T, s *Store) {
	t.Helper()
	read := func(tx *bolt.Tx) map[string]uint64 {
		m := map[string]uint64{}
		_ = tx.Bucket(bucketTaskLoad).ForEach(func(k, v []byte) error {
			n, err := taskLoadCount(v)
			if err != nil || n == 0 {
				t.Errorf("taskload %s: %d, %v", k, n, err)
			}
			m[string(k)] = n
			return nil
		})
		return m
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		kept := read(tx)
		if err := rebuildTaskLoad(tx); err != nil {
			return err
		}
		if rebuilt := read(tx); !maps.Equal(kept, rebuilt) {
			t.Errorf("taskload %v, rebuilt from the current values %v", kept, rebuilt)
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
}

// TestOpenTasks follows the counts of two owners through every kind of
// write of a Task: create, update, a move out of and back into an open
// status, a change of owner, on-hold, delete, revival, a transaction and a
// restart.
func TestOpenTasks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()
	const a, b = "PractitionerRole/a", "HealthcareService/b"
	put := func(id, status, owner string) {
		t.Helper()
		if _, _, err := s.Update(ctx, decode(t, taskJSON(id, status, owner)), 0); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name string
		do   func()
		a, b int
	}{
		{"requested", func() { put("t1", "requested", a) }, 1, 0},
		{"created under a server id", func() {
			if _, err := s.Create(ctx, decode(t, taskJSON("x", "received", a))); err != nil {
				t.Fatal(err)
			}
		}, 2, 0},
		{"accepted is still open", func() { put("t1", "accepted", a) }, 2, 0},
		{"the same again", func() { put("t1", "accepted", a) }, 2, 0},
		{"in progress", func() { put("t1", "in-progress", a) }, 2, 0},
		{"another owner", func() { put("t1", "in-progress", b) }, 1, 1},
		{"on-hold does not count", func() { put("t2", "on-hold", b) }, 1, 1},
		{"released", func() { put("t2", "ready", b) }, 1, 2},
		{"completed", func() { put("t1", "completed", b) }, 1, 1},
		{"reopened", func() { put("t1", "requested", a) }, 2, 1},
		{"draft does not count", func() { put("t3", "draft", a) }, 2, 1},
		{"no owner", func() { put("t4", "requested", "") }, 2, 1},
		{"deleted", func() {
			if _, err := s.Delete(ctx, "Task", "t1", 0); err != nil {
				t.Fatal(err)
			}
		}, 1, 1},
		{"revived", func() { put("t1", "requested", b) }, 1, 2},
		{"a transaction", func() {
			_, err := s.Transaction(ctx, []TxEntry{
				putEntry(t, taskJSON("t5", "requested", a)),
				{Method: "DELETE", Type: "Task", ID: "t2"},
			})
			if err != nil {
				t.Fatal(err)
			}
		}, 2, 1},
		{"TransactionWith", func() {
			_, err := s.TransactionWith(ctx, []TxEntry{
				putEntry(t, taskJSON("t5", "rejected", a)),
				putEntry(t, taskJSON("t6", "requested", b)),
			}, TxOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}, 1, 2},
		{"restart", func() { s = reopen(t, s, path) }, 1, 2},
	}
	for _, st := range steps {
		st.do()
		if got := openTasks(t, s, a, b, "PractitionerRole/none"); !slices.Equal(got, []int{st.a, st.b, 0}) {
			t.Fatalf("%s: open Tasks %v, want [%d %d 0]", st.name, got, st.a, st.b)
		}
		checkTaskLoad(t, s)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestOpenTasksInWriteSnapshot reads the counts in the snapshot of the
// write transaction that writes the Tasks: what discharge routing does
// when it runs inside the discharge's transaction.
func TestOpenTasksInWriteSnapshot(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c, err := s.prepare(decode(t, taskJSON("w1", "requested", "PractitionerRole/a")), 'C', 1, s.now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		r := &Snapshot{s: s, tx: tx}
		before, err := r.OpenTasks([]string{"PractitionerRole/a"})
		if err != nil {
			return err
		}
		if err := s.apply(tx, c); err != nil {
			return err
		}
		after, err := r.OpenTasks([]string{"PractitionerRole/a"})
		if err != nil {
			return err
		}
		if before[0] != 0 || after[0] != 1 {
			t.Errorf("in the write transaction: %d before the Task, %d after; want 0, 1", before[0], after[0])
		}
		return errRollback
	})
	if err != errRollback {
		t.Fatal(err)
	}
	if got := openTasks(t, s, "PractitionerRole/a"); got[0] != 0 {
		t.Errorf("after a rollback: %d open Tasks, want 0", got[0])
	}
}

// TestMigrateTaskLoad turns a store's file back into storage version 6
// (no taskload bucket) and expects the counts rebuilt at Open.
func TestMigrateTaskLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var entries []TxEntry
	statuses := []string{"requested", "accepted", "on-hold", "completed", "in-progress"}
	for i := range 20 {
		entries = append(entries, putEntry(t, taskJSON(fmt.Sprintf("m%d", i), statuses[i%5], fmt.Sprintf("PractitionerRole/r%d", i%3))))
	}
	if _, err := s.Transaction(ctx, entries); err != nil {
		t.Fatal(err)
	}
	owners := []string{"PractitionerRole/r0", "PractitionerRole/r1", "PractitionerRole/r2"}
	want := openTasks(t, s, owners...)
	if slices.Equal(want, []int{0, 0, 0}) {
		t.Fatal("no open Tasks to migrate")
	}
	downgrade(t, s, 6, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketTaskLoad) })
	s = reopen(t, s, path)
	defer s.Close()
	if got := openTasks(t, s, owners...); !slices.Equal(got, want) {
		t.Errorf("after migration: %v, want %v", got, want)
	}
	checkTaskLoad(t, s)
}

// taskStore fills a store with n Tasks of owners random roles, three in
// four open.
func taskStore(b *testing.B, n, owners int) *Store {
	s := openTest(b)
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{"requested", "accepted", "in-progress", "completed"}
	for done := 0; done < n; {
		var entries []TxEntry
		for ; done < n && len(entries) < 1000; done++ {
			entries = append(entries, putEntry(b, taskJSON(fmt.Sprintf("t%d", done), statuses[rng.IntN(4)], fmt.Sprintf("PractitionerRole/r%d", rng.IntN(owners)))))
		}
		if _, err := s.Transaction(context.Background(), entries); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkOpenTasks reads the counts of 50 owners (a nurse query's
// candidates in a dense commune) in one snapshot, in a store of 30,000
// Tasks over 10,000 owners.
func BenchmarkOpenTasks(b *testing.B) {
	s := taskStore(b, 30000, 10000)
	owners := make([]string, 50)
	for i := range owners {
		owners[i] = fmt.Sprintf("PractitionerRole/r%d", i*197)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		err := s.View(func(r *Snapshot) error {
			_, err := r.OpenTasks(owners)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskStatusWrites moves 100 Tasks of a 30,000-Task store to
// another status per transaction (no fsync): the writes whose counts
// change.
func BenchmarkTaskStatusWrites(b *testing.B) {
	s := taskStore(b, 30000, 10000)
	statuses := []string{"requested", "completed"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		var entries []TxEntry
		for j := range 100 {
			k := (i*100 + j) % 30000
			entries = append(entries, putEntry(b, taskJSON(fmt.Sprintf("t%d", k), statuses[i%2], fmt.Sprintf("PractitionerRole/r%d", k%10000))))
		}
		if _, err := s.Transaction(context.Background(), entries); err != nil {
			b.Fatal(err)
		}
	}
}
