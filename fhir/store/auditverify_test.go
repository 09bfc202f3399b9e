package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/audit"
)

// tamperAudit copies the database at src and applies fn to the copy's
// audit buckets, as someone with the file would.
func tamperAudit(t *testing.T, src string, fn func(tx *bolt.Tx) error) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "tampered.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestVerifyAuditDetectsTampering: VerifyAudit names the first entry
// modified, removed, inserted or reordered; a truncation that rebuilt the
// tree verifies alone (a checkpoint held elsewhere catches it:
// gateway/auditlog).
func TestVerifyAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	leaves := appendTest(t, s, 0, 10, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyAudit(path, 4)
	if err != nil || len(rep.Problems) != 0 || rep.TreeSize != 10 || rep.Entries != 10 {
		t.Fatalf("untouched log: %+v, %v", rep, err)
	}
	if string(rep.RootsAt[4]) != string(refRoot(leaves[:4])) {
		t.Error("root at 4 differs from RFC 6962's")
	}
	get := func(tx *bolt.Tx, i uint64) []byte { return append([]byte(nil), tx.Bucket(bucketAudit).Get(u64(i))...) }
	cases := []struct {
		name   string
		fn     func(tx *bolt.Tx) error
		index  uint64
		kind   string
		wantSz uint64
	}{
		{"edit a byte", func(tx *bolt.Tx) error {
			v := get(tx, 3)
			v[len(v)-5] ^= 1
			return tx.Bucket(bucketAudit).Put(u64(3), v)
		}, 3, "modified", 10},
		{"delete one", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(u64(5)) }, 5, "removed", 10},
		{"delete one and renumber", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			for i := uint64(4); i < 9; i++ {
				if err := b.Put(u64(i), get(tx, i+1)); err != nil {
					return err
				}
			}
			return b.Delete(u64(9))
		}, 4, "removed", 10},
		{"swap two", func(tx *bolt.Tx) error {
			a, c := get(tx, 2), get(tx, 7)
			if err := tx.Bucket(bucketAudit).Put(u64(2), c); err != nil {
				return err
			}
			return tx.Bucket(bucketAudit).Put(u64(7), a)
		}, 2, "reordered", 10},
		// two neighbours swapped: the first holds the next one's entry, as
		// after a removal, but the next holds the first's
		{"swap two neighbours", func(tx *bolt.Tx) error {
			a, c := get(tx, 4), get(tx, 5)
			if err := tx.Bucket(bucketAudit).Put(u64(4), c); err != nil {
				return err
			}
			return tx.Bucket(bucketAudit).Put(u64(5), a)
		}, 4, "reordered", 10},
		{"insert one", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			for i := uint64(9); i > 6; i-- {
				if err := b.Put(u64(i), get(tx, i-1)); err != nil {
					return err
				}
			}
			e := testEvent("forged", time.Now(), "Patient/p0", "PractitionerRole/gp")
			r, _ := auditRecordOf(&e)
			return b.Put(u64(6), r.value)
		}, 6, "inserted", 10},
		{"rewrite an entry and its leaf hash", func(tx *bolt.Tx) error {
			e := testEvent("forged", time.Now(), "Patient/p0", "PractitionerRole/gp")
			r, _ := auditRecordOf(&e)
			_, body, _ := decodeAuditValue(r.value)
			js, _ := new(auditJSON).of(body)
			if err := tx.Bucket(bucketAudit).Put(u64(8), r.value); err != nil {
				return err
			}
			return tx.Bucket(bucketAuditNode).Put(auditNodeKey(0, 8), hasher.HashLeaf(js))
		}, 8, "node", 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyAudit(tamperAudit(t, path, c.fn))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 || rep.Problems[0].Index != c.index || rep.Problems[0].Kind != c.kind {
				t.Fatalf("problems %v, want first: entry %d %s", rep.Problems, c.index, c.kind)
			}
		})
	}
	t.Run("truncate the newest and rebuild the tree", func(t *testing.T) {
		p := tamperAudit(t, path, func(tx *bolt.Tx) error { return truncateAudit(tx, 7) })
		rep, err := VerifyAudit(p, 10)
		if err != nil || len(rep.Problems) != 0 || rep.TreeSize != 7 || rep.RootsAt[10] != nil {
			t.Fatalf("%+v %v: want a consistent log of 7 entries", rep, err)
		}
	})
}

// truncateAudit removes the entries from n on, their index keys, and
// rewrites the tree to n leaves, as a careful forger would.
func truncateAudit(tx *bolt.Tx, n uint64) error {
	tree, err := loadAuditTree(tx)
	if err != nil {
		return err
	}
	r := rangeFactory.NewEmptyRange(0)
	for i := uint64(0); i < tree.End(); i++ {
		if i < n {
			_ = r.Append(tx.Bucket(bucketAuditNode).Get(auditNodeKey(0, i)), nil)
			continue
		}
		h, _, err := decodeAuditValue(tx.Bucket(bucketAudit).Get(u64(i)))
		if err != nil {
			return err
		}
		for _, k := range auditIndexKeys(&h, i) {
			if err := tx.Bucket(bucketAuditIdx).Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketAudit).Delete(u64(i)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAuditNode).Delete(auditNodeKey(0, i)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyAuditTree, encodeAuditTree(r.End(), r.Hashes()))
}

// TestVerifyAuditIndex: VerifyAudit names the first entry whose index
// keys (by patient, agent, break-the-glass) are missing, or that an index
// key names without its event implying it, or whose stored search fields
// are not its event's, though every leaf hash still matches; an intact log
// verifies.
func TestVerifyAuditIndex(t *testing.T) {
	t.Parallel()
	path := grownAuditLog(t, 300) // entries 99, 199 and 299 break the glass
	if rep, err := VerifyAudit(path); err != nil || len(rep.Problems) != 0 || rep.Entries != 300 {
		t.Fatalf("untouched log: %+v, %v", rep.Problems, err)
	}
	head := func(tx *bolt.Tx, n uint64) auditHead {
		h, _, err := decodeAuditValue(tx.Bucket(bucketAudit).Get(u64(n)))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	deleteKeys := func(tx *bolt.Tx, n uint64) error {
		h := head(tx, n)
		for _, k := range auditIndexKeys(&h, n) {
			if err := tx.Bucket(bucketAuditIdx).Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
	cases := []struct {
		name    string
		fn      func(tx *bolt.Tx) error
		index   uint64
		want    string // in the first problem's detail
		entries []uint64
	}{
		{"delete a patient key", func(tx *bolt.Tx) error {
			h := head(tx, 42)
			return tx.Bucket(bucketAuditIdx).Delete(auditIndexKey(auditByPatient, h.patients[0], h.time, 42))
		}, 42, "1 of its 2 index keys are missing (patient Patient/p42)", nil},
		{"delete the keys of two break-the-glass entries", func(tx *bolt.Tx) error {
			if err := deleteKeys(tx, 99); err != nil {
				return err
			}
			return deleteKeys(tx, 199)
		}, 99, "3 of its 3 index keys are missing", []uint64{99, 199}},
		{"add a patient key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAuditIdx).Put(auditIndexKey(auditByPatient, "Patient/p7", head(tx, 10).time, 10), nil)
		}, 10, "does not imply (patient Patient/p7)", nil},
		{"add a break-the-glass key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAuditIdx).Put(auditIndexKey(auditByBreakGlass, "", head(tx, 5).time, 5), nil)
		}, 5, "does not imply (break-the-glass)", nil},
		{"move a key to another patient", func(tx *bolt.Tx) error {
			h := head(tx, 30)
			if err := tx.Bucket(bucketAuditIdx).Delete(auditIndexKey(auditByPatient, h.patients[0], h.time, 30)); err != nil {
				return err
			}
			return tx.Bucket(bucketAuditIdx).Put(auditIndexKey(auditByPatient, "Patient/p1", h.time, 30), nil)
		}, 30, "missing (patient Patient/p30)", nil},
		{"add a key of an entry that does not exist", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAuditIdx).Put(auditIndexKey(auditByAgent, "PractitionerRole/r1", head(tx, 0).time, 5000), nil)
		}, 5000, "the log has no such entry", nil},
		{"add a malformed key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAuditIdx).Put([]byte("x"), nil)
		}, 300, "malformed", nil},
		{"drop a patient from an entry's head and its key", func(tx *bolt.Tx) error {
			v := tx.Bucket(bucketAudit).Get(u64(20))
			h, body, err := decodeAuditValue(v)
			if err != nil {
				return err
			}
			if err := deleteKeys(tx, 20); err != nil {
				return err
			}
			h.patients = nil
			for _, k := range auditIndexKeys(&h, 20) {
				if err := tx.Bucket(bucketAuditIdx).Put(k, nil); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketAudit).Put(u64(20), encodeAuditValue(&h, bytes.Clone(body)))
		}, 20, "stored search fields", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyAudit(tamperAudit(t, path, c.fn))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 || rep.Problems[0].Index != c.index || rep.Problems[0].Kind != "index" ||
				!strings.Contains(rep.Problems[0].Detail, c.want) {
				t.Fatalf("problems %v, want first: entry %d index: …%s…", rep.Problems, c.index, c.want)
			}
			for _, n := range c.entries {
				if !slices.ContainsFunc(rep.Problems, func(p AuditProblem) bool { return p.Index == n && p.Kind == "index" }) {
					t.Errorf("problems %v name no entry %d", rep.Problems, n)
				}
			}
			if rep.Entries != 300 {
				t.Errorf("%d entries checked, want 300", rep.Entries)
			}
		})
	}
}

// grownAuditLog is a closed database whose audit log holds n entries as
// reads record them (audit.ReadEvent: 500 patients, 50 professionals),
// one in 100 a break-the-glass opening (audit.BreakGlassEvent), put
// through putAudit in commits of 10,000.
func grownAuditLog(tb testing.TB, n int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for from := 0; from < n; from += 10000 {
		var recs []auditRecord
		for i := from; i < min(from+10000, n); i++ {
			d := audit.Decision{ID: fmt.Sprint("d", i), Time: at.Add(time.Duration(i) * time.Second), Patient: fmt.Sprintf("Patient/p%d", i%500),
				Actor: fmt.Sprintf("PractitionerRole/r%d", i%50), Permit: true, Policy: "care-team", Purpose: "TREAT", Token: fmt.Sprint("jti-", i)}
			e := audit.ReadEvent(&d, audit.SubRead, "Observation/o1")
			if i%100 == 99 {
				e = audit.BreakGlassEvent(fmt.Sprint("btg", i), &d)
			}
			r, err := auditRecordOf(&e)
			if err != nil {
				tb.Fatal(err)
			}
			recs = append(recs, r)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return putAudit(tx, recs) }); err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkVerifyAudit100k verifies a log of 100,000 entries offline, as
// relais audit verify does.
func BenchmarkVerifyAudit100k(b *testing.B) {
	path := grownAuditLog(b, 100000)
	for b.Loop() {
		rep, err := VerifyAudit(path)
		if err != nil || len(rep.Problems) != 0 || rep.Entries != 100000 {
			b.Fatalf("%d entries, problems %v, %v", rep.Entries, rep.Problems, err)
		}
	}
}

// TestVerifyAuditRefusesNewerFile: a file a newer relais wrote is refused
// as Open refuses it, not reported as a log whose entries were all
// modified (its entries may be in a stored form this one cannot render).
func TestVerifyAuditRefusesNewerFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	appendTest(t, s, 0, 3, time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newer := tamperAudit(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyStorageVersion, u64(storageVersion+1))
	})
	rep, err := VerifyAudit(newer)
	if err == nil || !strings.Contains(err.Error(), "storage version") {
		t.Fatalf("a newer file verified: %+v, %v", rep, err)
	}
}
