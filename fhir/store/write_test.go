package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

// TestLargeVersionsCompressed: a large version is stored compressed and
// read back byte for byte, in reads, vreads and histories; a small one and
// one written uncompressed (before storage version 5) read as stored.
func TestLargeVersionsCompressed(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	var issues []string
	for i := range 200 {
		issues = append(issues, fmt.Sprintf(`{"severity":"warning","code":"not-supported","diagnostics":"PV1-%d not mapped"}`, i))
	}
	big := decode(t, `{"resourceType":"OperationOutcome","id":"oo","issue":[`+strings.Join(issues, ",")+`]}`)
	rec, _, err := s.Update(ctx, big, 0)
	if err != nil {
		t.Fatal(err)
	}
	small, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p","gender":"female"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(typ, id string) []byte {
		var v []byte
		_ = s.db.View(func(tx *bolt.Tx) error {
			p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey(typ, id)))
			v = bytes.Clone(tx.Bucket(bucketHistory).Get(historyKey(typ, p.created, id, 1)))
			return nil
		})
		return v
	}
	if v := raw("OperationOutcome", "oo"); v[0]&flagCompressed == 0 || len(v) > len(rec.JSON)/4 {
		t.Errorf("large version stored in %d bytes (flags %d) for %d of JSON", len(v), v[0], len(rec.JSON))
	}
	if v := raw("Patient", "p"); v[0]&flagCompressed != 0 || !bytes.Equal(v[versionHeader:], small.JSON) {
		t.Errorf("small version stored compressed or changed")
	}
	got, err := s.Read("OperationOutcome", "oo")
	if err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Fatalf("read back %d bytes (%v), want the %d written", len(got.JSON), err, len(rec.JSON))
	}
	h, err := s.InstanceHistory("OperationOutcome", "oo", HistoryOptions{})
	if err != nil || len(h.Records) != 1 || !bytes.Equal(h.Records[0].JSON, rec.JSON) {
		t.Errorf("history of the compressed version: %v", err)
	}
	// A version written by storage version 4: in versions, uncompressed.
	err = s.db.Update(func(tx *bolt.Tx) error {
		p, _ := decodePointer(tx.Bucket(bucketCurrent).Get(currentKey("OperationOutcome", "oo")))
		if err := tx.Bucket(bucketHistory).Delete(historyKey("OperationOutcome", p.created, "oo", 1)); err != nil {
			return err
		}
		return tx.Bucket(bucketVersions).Put(versionKey("OperationOutcome", "oo", 1), encodeVersion(false, 'C', rec.LastUpdated.UnixMicro(), rec.JSON, nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.VRead("OperationOutcome", "oo", 1); err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Errorf("uncompressed version read back: %v", err)
	}
}
