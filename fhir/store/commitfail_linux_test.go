package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// TestCommitFailureNamesTheCause: a commit the file system refuses (here
// a file size limit, RLIMIT_FSIZE, standing in for a full disk: bbolt
// gets the error number from the same write) fails with "database commit
// failed" and the system's error in what is logged of it, where the log
// said "internal error"; once the file system takes writes again, so does
// the store. Not parallel: the limit is the process's (SIGXFSZ is ignored
// by the Go runtime, so the write returns EFBIG).
func TestCommitFailureNamesTheCause(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p0"}`), 0); err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// The next commit writes pages past the high-water mark.
	var used int64
	if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	limit := syscall.Rlimit{Cur: uint64(used), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()
	// random text, which no compression shrinks
	noise := make([]byte, 128<<10)
	rand.Read(noise)
	big := `{"resourceType":"Patient","id":"p1","name":[{"text":"` + hex.EncodeToString(noise) + `"}]}`
	_, _, err := s.Update(ctx, decode(t, big), 0)
	restore()
	if err == nil {
		t.Fatal("a write past the file size limit succeeded")
	}
	if got, want := outcome.Summary(err), "database commit failed: "+syscall.EFBIG.Error(); got != want {
		t.Errorf("logged: %q, want %q", got, want)
	}
	if _, _, err := s.Update(ctx, decode(t, big), 0); err != nil {
		t.Errorf("write once the limit is lifted: %v", err)
	}
}
