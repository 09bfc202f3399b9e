package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

// truncateAudit removes the entries from n on and rewrites the tree to n
// leaves, as a careful forger would.
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
		if err := tx.Bucket(bucketAudit).Delete(u64(i)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAuditNode).Delete(auditNodeKey(0, i)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyAuditTree, encodeAuditTree(r.End(), r.Hashes()))
}
