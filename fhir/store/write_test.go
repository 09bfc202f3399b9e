package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	var ids []string
	seen := map[string]bool{}
	for range 50 {
		id := NewID()
		if !ValidID(id) || len(id) != 32 || seen[id] {
			t.Fatalf("NewID() = %q (seen: %v)", id, seen[id])
		}
		seen[id] = true
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("ids made 2 ms apart do not sort in creation order: %v", ids)
	}
}

// TestPreparingCount checks that every write, failed or not, stops counting
// as being prepared, so the writer never waits for writes that will not come.
func TestPreparingCount(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, decode(t, `{"resourceType":"Patient"}`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p1"}`), 7); err == nil {
		t.Fatal("Update with a wrong If-Match succeeded")
	}
	if _, err := s.Delete(ctx, "Patient", "nobody", 0); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = s.Create(cancelled, decode(t, `{"resourceType":"Patient"}`))
	if n := s.preparing.Load(); n != 0 {
		t.Errorf("%d writes still counted as being prepared", n)
	}
}
