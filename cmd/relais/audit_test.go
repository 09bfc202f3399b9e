package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auditlog"
)

// TestAuditVerifyTruncation: a forger who removes the newest entries and
// rebuilds the tree (and drops the checkpoints kept in the database)
// leaves a log that verifies on its own, and that `relais audit verify
// --checkpoint` refuses against a checkpoint held elsewhere, naming the
// first entry removed.
func TestAuditVerifyTruncation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, auditlog.DBFile), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		d := audit.Decision{ID: fmt.Sprintf("d-%d", i), Time: time.Now(), Actor: "PractitionerRole/gp", Patient: "Patient/p1", Permit: true}
		if err := st.AppendAudit(ctx, audit.ReadEvent(&d, audit.SubRead, "Observation/o1")); err != nil {
			t.Fatal(err)
		}
	}
	l, err := auditlog.New(auditlog.Config{Store: st, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil || cp.TreeSize != 10 {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	js, _ := json.Marshal(cp)
	held := filepath.Join(t.TempDir(), "checkpoint.json")
	if err := os.WriteFile(held, js, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (string, error) {
		var out strings.Builder
		err := auditCmd(ctx, append([]string{"verify", "--data", dir}, args...), &out, io.Discard)
		return out.String(), err
	}
	if out, err := verify("--checkpoint", held); err != nil {
		t.Fatalf("the intact log: %v\n%s", err, out)
	}
	truncate(t, filepath.Join(dir, auditlog.DBFile), 7)
	if out, err := verify(); err != nil {
		t.Fatalf("a consistently truncated log without a held checkpoint: %v\n%s", err, out)
	}
	out, err := verify("--checkpoint", held)
	if err == nil || !strings.Contains(out, "entry 7 removed: the log was truncated") {
		t.Errorf("truncation against the held checkpoint: %v\n%s", err, out)
	}
}

// TestAuditVerifyIndex: a forger who deletes the search index keys of a
// break-the-glass access (its read and its Emergency Override event, six
// keys) hides it from $disclosures, /admin/decisions?breakGlass=true and
// AuditEvent?patient= without touching an entry; `relais audit verify`
// refuses the log, naming the first of the two entries.
func TestAuditVerifyIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, auditlog.DBFile)
	st, err := store.Open(path, store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := range 8 {
		d := audit.Decision{ID: fmt.Sprintf("d-%d", i), Time: at.Add(time.Duration(i) * time.Minute), Actor: "PractitionerRole/gp", Patient: "Patient/p1", Permit: true}
		events := []audit.Event{audit.ReadEvent(&d, audit.SubRead, "Observation/o1")}
		if i == 5 {
			d.Actor, d.Purpose, d.BreakGlass = "PractitionerRole/er", "BTG", true
			events = []audit.Event{audit.ReadEvent(&d, audit.SubRead, "Observation/o1"), audit.BreakGlassEvent("btg-5", &d)}
		}
		if err := st.AppendAudit(ctx, events...); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	verify := func() (string, error) {
		var out strings.Builder
		err := auditCmd(ctx, []string{"verify", "--data", dir}, &out, io.Discard)
		return out.String(), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("the intact log: %v\n%s", err, out)
	}
	if n := deleteBreakGlassKeys(t, path); n != 6 {
		t.Fatalf("deleted %d index keys, want the 6 of the two break-the-glass entries", n)
	}
	out, err := verify()
	if err == nil || !strings.Contains(out, "entry 5 index: 3 of its 3 index keys are missing") || !strings.Contains(out, "entry 6 index:") {
		t.Errorf("a break-the-glass access taken out of the index: %v\n%s", err, out)
	}
}

// deleteBreakGlassKeys deletes every auditidx key of the entries the
// break-the-glass keys name (tag 'b', then time(8) index(8): keys.go),
// as a forger with the file would, and says how many.
func deleteBreakGlassKeys(t *testing.T, path string) int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.Update(func(tx *bolt.Tx) error {
		idx := tx.Bucket([]byte("auditidx"))
		hidden := map[string]bool{}
		var keys [][]byte
		_ = idx.ForEach(func(k, _ []byte) error {
			if k[0] == 'b' {
				hidden[string(k[len(k)-8:])] = true
			}
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		for _, k := range keys {
			if hidden[string(k[len(k)-8:])] {
				n++
				if err := idx.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// truncate removes the entries from n on and their index keys, rewrites
// the tree's compact range for n leaves and drops the kept checkpoints,
// through the byte layout fhir/store documents (schema.go, keys.go), as a
// careful forger with the file would.
func truncate(t *testing.T, path string, n uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	err = db.Update(func(tx *bolt.Tx) error {
		entries, nodes, meta := tx.Bucket([]byte("audit")), tx.Bucket([]byte("auditnode")), tx.Bucket([]byte("meta"))
		size := binary.BigEndian.Uint64(meta.Get([]byte("audit-tree")))
		r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
		for i := uint64(0); i < size; i++ {
			leaf := append(u64(i+1), 0) // end(8) level(1)
			if i < n {
				if err := r.Append(nodes.Get(leaf), nil); err != nil {
					return err
				}
				continue
			}
			if err := entries.Delete(u64(i)); err != nil {
				return err
			}
			if err := nodes.Delete(leaf); err != nil {
				return err
			}
		}
		idx := tx.Bucket([]byte("auditidx"))
		var gone [][]byte
		_ = idx.ForEach(func(k, _ []byte) error { // index(8) ends each key
			if binary.BigEndian.Uint64(k[len(k)-8:]) >= n {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range gone {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		tree := u64(r.End())
		for _, h := range r.Hashes() {
			tree = append(tree, h...)
		}
		if err := meta.Put([]byte("audit-tree"), tree); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("auditcp")); err != nil {
			return err
		}
		_, err := tx.CreateBucket([]byte("auditcp"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyKeyHeldElsewhere: whoever holds the data directory can
// remove its audit key; a checkpoint whose signature was tampered with
// then verifies with no key at all unless the auditor gives hers
// (--key, as GET /admin/audit/key serves it): without a key the check
// fails, with hers the bad signature is found, and the intact checkpoint
// verifies with it.
func TestAuditVerifyKeyHeldElsewhere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, auditlog.DBFile), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := audit.Decision{ID: "d-1", Time: time.Now(), Actor: "PractitionerRole/gp", Patient: "Patient/p1", Permit: true}
	if err := st.AppendAudit(ctx, audit.ReadEvent(&d, audit.SubRead, "Observation/o1")); err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.New(auditlog.Config{Store: st, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keyJSON, _ := json.Marshal(l.PublicKey())
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(elsewhere, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, _ := json.Marshal(cp)
	cp.Signature[0] ^= 1
	bad, _ := json.Marshal(cp)
	goodFile, badFile, keyFile := write("good.json", good), write("bad.json", bad), write("key.json", keyJSON)
	verifierFile := write("key.note", []byte(l.PublicKey()["verifierKey"]+"\n"))
	if err := os.Remove(filepath.Join(dir, auditlog.KeyFile)); err != nil {
		t.Fatal(err)
	}
	verify := func(args ...string) (string, error) {
		var out strings.Builder
		err := auditCmd(ctx, append([]string{"verify", "--data", dir}, args...), &out, io.Discard)
		return out.String(), err
	}
	if out, err := verify("--checkpoint", badFile); err == nil {
		t.Errorf("a tampered checkpoint with no key to check it verified:\n%s", out)
	}
	for _, key := range []string{keyFile, verifierFile} {
		if out, err := verify("--checkpoint", badFile, "--key", key); err == nil || !strings.Contains(out, "not signed by the auditor's key") {
			t.Errorf("a tampered checkpoint with the key %s: %v\n%s", key, err, out)
		}
		if out, err := verify("--checkpoint", goodFile, "--key", key); err != nil {
			t.Errorf("the intact checkpoint with the key %s: %v\n%s", key, err, out)
		}
	}
}
