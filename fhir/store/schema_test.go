package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/search"
)

// checkIndex verifies that the index holds exactly the keys of the values
// stored with the current pointers.
func checkIndex(t *testing.T, db *bolt.DB) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		var want [][]byte
		err := tx.Bucket(bucketCurrent).ForEach(func(k, pv []byte) error {
			typ, id, err := splitCurrentKey(k)
			if err != nil {
				return err
			}
			p, err := decodePointer(pv)
			if err != nil {
				return err
			}
			vs, err := decodeValues(pv[pointerSize:])
			if err != nil {
				return err
			}
			want = append(want, indexKeys(typ, id, p.created, vs)...)
			return nil
		})
		if err != nil {
			return err
		}
		slices.SortFunc(want, bytes.Compare)
		var have [][]byte
		err = tx.Bucket(bucketIndex).ForEach(func(k, _ []byte) error {
			have = append(have, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return err
		}
		if !slices.EqualFunc(want, have, bytes.Equal) {
			return fmt.Errorf("index has %d keys, the current values give %d", len(have), len(want))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkLeading verifies the order of every current value's groups: one
// group per parameter, the leading parameters' groups before the others.
func checkLeading(t *testing.T, db *bolt.DB) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCurrent).ForEach(func(k, pv []byte) error {
			r := groupReader{b: pv[pointerSize:]}
			seen, rank := map[string]bool{}, 0
			for g, ok := r.next(); ok; g, ok = r.next() {
				p := string(g.param)
				if seen[p] {
					return fmt.Errorf("%s: two groups of %s", k, p)
				}
				seen[p] = true
				if lr := leadRank(p); lr < rank {
					return fmt.Errorf("%s: %s after a later group", k, p)
				} else {
					rank = lr
				}
			}
			return r.err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestValuesRoundTrip(t *testing.T) {
	t.Parallel()
	vs := []search.Value{
		{Param: "_lastUpdated", Kind: search.Date, Start: -5, End: 1 << 40},
		{Param: "_security", Kind: search.Token, Text: "http://x|PSY"},
		{Param: "_security", Kind: search.Token, Text: "|R"},
		{Param: "name", Kind: search.String, Text: "dupont"},
		{Param: "subject", Kind: search.Reference, Text: "Patient/p1"},
		{Param: "_security", Kind: search.Token, Text: "http://y|CLIN"},
		{Param: "_security", Kind: search.Token, Text: "https://relais-health.github.io/fhir/CodeSystem/data-category|CLIN"},
		{Param: "_security", Kind: search.Token, Text: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|"},
		{Param: "code", Kind: search.Token, Text: "http://loinc.org|8867-4"},
		{Param: "code", Kind: search.Token, Text: "http://loinc.org"}, // no bar: not a system
	}
	b := encodeValues(vs)
	got, err := decodeValues(b)
	if err != nil || !slices.Equal(got, vs) {
		t.Fatalf("decodeValues = %v, %v; want %v", got, err, vs)
	}
	if bytes.Contains(b, []byte("data-category")) || bytes.Contains(b, []byte("v3-Confidentiality")) || bytes.Contains(b, []byte("loinc.org|")) {
		t.Errorf("packed systems spelled out in %q", b)
	}
	sv := &storedValues{b: b}
	want := []string{"http://x|PSY", "|R", "http://y|CLIN", "https://relais-health.github.io/fhir/CodeSystem/data-category|CLIN",
		"http://terminology.hl7.org/CodeSystem/v3-Confidentiality|"}
	for range 2 { // the second time from the search's interned texts
		if got := sv.Tokens("_security"); !slices.Equal(got, want) {
			t.Errorf("Tokens = %q", got)
		}
	}
	if got := sv.Tokens("code"); !slices.Equal(got, []string{"http://loinc.org|8867-4", "http://loinc.org"}) {
		t.Errorf("Tokens = %q", got)
	}
	if got := sv.Refs("subject"); !slices.Equal(got, []string{"Patient/p1"}) {
		t.Errorf("Refs = %q", got)
	}
	if got := sv.Dates("_lastUpdated"); !slices.Equal(got, [][2]int64{{-5, 1 << 40}}) {
		t.Errorf("Dates = %v", got)
	}
	for n := 1; n < len(b); n++ { // a cut between groups is a shorter list
		if got, err := decodeValues(b[:n]); err == nil && (len(got) == 0 || !slices.Equal(got, vs[:len(got)])) {
			t.Errorf("decodeValues(%d of %d bytes) = %v", n, len(b), got)
		}
	}
}

// TestIndexFollowsUpdates rewrites resources with changing, unchanged and
// removed values, deletes and revives one, and checks that the index holds
// exactly the keys of the current values.
func TestIndexFollowsUpdates(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	obs := func(id, code, sec string) string {
		return fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final",%s"code":{"coding":[{"system":"http://loinc.org","code":%q}]},
			"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2025-06-01"}`, id, sec, code)
	}
	psy := `"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},`
	for i, js := range []string{obs("o1", "1-1", ""), obs("o1", "1-1", ""), obs("o1", "2-2", psy), obs("o2", "3-3", psy), obs("o1", "1-1", "")} {
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		checkIndex(t, s.db)
		checkLeading(t, s.db)
	}
	if _, err := s.Delete(ctx, "Observation", "o2", 0); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s.db)
	if hits, _ := s.Search(query(t, "Observation", "code=2-2"), nil); len(hits) != 0 {
		t.Errorf("code=2-2 finds %v after it was replaced", ids(hits))
	}
	if _, _, err := s.Update(ctx, decode(t, obs("o2", "3-3", "")), 0); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s.db)
	if hits, _ := s.Search(query(t, "Observation", "_security=PSY"), nil); len(hits) != 0 {
		t.Errorf("_security=PSY finds %v", ids(hits))
	}
}

// TestMigrateIdxRev writes a store, turns its file back into storage
// version 1 (17-byte pointers, idxrev), reopens it and expects the same
// current values, no idxrev, a consistent index and working filters.
func TestMigrateIdxRev(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 30 {
		sec := ""
		if i%3 == 0 {
			sec = `"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},`
		}
		js := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d",%s"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},
			"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2025-06-0%d"}`, i, sec, i%4, 1+i%9)
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"p1","name":[{"family":"Dupont"}]}`), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "Observation", "o5", 0); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	err = s.db.Update(func(tx *bolt.Tx) error {
		rev, err := tx.CreateBucket(bucketIdxRev)
		if err != nil {
			return err
		}
		cur := tx.Bucket(bucketCurrent)
		if err := cur.ForEach(func(k, v []byte) error {
			// What the migration to version 5 makes of it: the creation
			// time is estimated by the last update.
			w := bytes.Clone(v)
			copy(w[17:25], w[9:17])
			want[string(k)] = w
			return nil
		}); err != nil {
			return err
		}
		for k, v := range want {
			typ, id, _ := splitCurrentKey([]byte(k))
			vs, err := decodeValues(v[pointerSize:])
			if err != nil {
				return err
			}
			var keys [][]byte // version 1 order: value by value
			for _, x := range vs {
				keys = append(keys, v2IndexKeys(typ, id, []search.Value{x})...)
			}
			if len(keys) > 0 {
				if err := rev.Put([]byte(k), v1Keys(keys)); err != nil {
					return err
				}
			}
			if err := cur.Put([]byte(k), v[:pointerSizeV4]); err != nil {
				return err
			}
		}
		if err := writeV2Index(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyStorageVersion, u64(1))
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	defer s.Close()
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIdxRev) != nil {
			t.Error("idxrev survives the migration")
		}
		if v := tx.Bucket(bucketMeta).Get(keyStorageVersion); binary.BigEndian.Uint64(v) != storageVersion {
			t.Errorf("storage version %x", v)
		}
		n := 0
		err := tx.Bucket(bucketCurrent).ForEach(func(k, v []byte) error {
			n++
			if !bytes.Equal(v, want[string(k)]) {
				t.Errorf("%s: current value %x, want %x", k, v, want[string(k)])
			}
			return nil
		})
		if n != len(want) {
			t.Errorf("%d current values, want %d", n, len(want))
		}
		for err := range tx.Check() {
			return err
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s.db)
	var psy int
	hits, err := s.Search(query(t, "Observation", "patient=p1"), func(_ *Snapshot, _, _ string, v IndexValues) bool {
		if len(v.Tokens("_security")) > 1 {
			psy++
		}
		return len(v.Refs("patient")) == 1
	})
	if err != nil || len(hits) != 7 || psy != 2 {
		t.Errorf("filtered search after migration: %v, %v, %d labelled", ids(hits), err, psy)
	}
	if _, _, err := s.Update(ctx, decode(t, `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}`), 0); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s.db)
}

// v1Keys encodes index keys as version 1 idxrev values did.
func v1Keys(keys [][]byte) []byte {
	var b []byte
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

// v2IndexKeys renders index keys as storage versions 1 and 2 did: tokens as
// system|code ('t') and code ('c'), references as Type/id ('r') and id
// ('i'), dates by start and by end.
func v2IndexKeys(typ, id string, values []search.Value) [][]byte {
	var keys [][]byte
	for _, v := range values {
		switch v.Kind {
		case search.Token:
			keys = append(keys, v2Key(typ, v.Param, 't', []byte(v.Text), id))
			if _, code, ok := cutBar(v.Text); ok {
				keys = append(keys, v2Key(typ, v.Param, 'c', []byte(code), id))
			}
		case search.String:
			keys = append(keys, v2Key(typ, v.Param, 's', []byte(v.Text), id))
		case search.Reference:
			keys = append(keys, v2Key(typ, v.Param, 'r', []byte(v.Text), id))
			if _, rid, ok := cutSlash(v.Text); ok {
				keys = append(keys, v2Key(typ, v.Param, 'i', []byte(rid), id))
			}
		case search.Date:
			keys = append(keys,
				v2Key(typ, v.Param, 'd', append(i64key(v.Start), i64key(v.End)...), id),
				v2Key(typ, v.Param, 'e', append(i64key(v.End), i64key(v.Start)...), id))
		}
	}
	return keys
}

// v2Key is an index key as storage versions 1 to 4 had them: type 0 param
// 0 tag value 0 id.
func v2Key(typ, param string, tag byte, value []byte, id string) []byte {
	k := indexPrefix(nil, typ, param, tag)
	k = append(append(k, value...), 0)
	return append(k, id...)
}

// historyToVersions moves every version to the versions bucket, keyed as
// storage versions 1 to 4 did.
func historyToVersions(tx *bolt.Tx) error {
	hist, vers := tx.Bucket(bucketHistory), tx.Bucket(bucketVersions)
	var moved [][2][]byte
	err := hist.ForEach(func(k, v []byte) error {
		typ, rest, _ := bytes.Cut(k, []byte{0})
		id, ver := rest[8:len(rest)-9], rest[len(rest)-8:]
		moved = append(moved, [2][]byte{append(versionPrefix(string(typ), string(id)), ver...), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range moved {
		if err := vers.Put(m[0], m[1]); err != nil {
			return err
		}
	}
	if err := tx.DeleteBucket(bucketHistory); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketHistory)
	return err
}

// writeV2Index replaces the index with the keys storage version 2 had for
// the values of the current pointers (of storage version 4's layout).
func writeV2Index(tx *bolt.Tx) error {
	return replaceIndex(tx, func(typ, id string, pv []byte) ([][]byte, error) {
		if len(pv) <= pointerSizeV4 {
			return nil, nil
		}
		vs, err := decodeValues(pv[pointerSizeV4:])
		if err != nil {
			return nil, err
		}
		return v2IndexKeys(typ, id, vs), nil
	})
}

// downgradeToV4 turns the current pointers back into storage version 4's:
// 17 bytes, the event times in a bucket of their own; and moves the
// versions back from history to versions.
func downgradeToV4(tx *bolt.Tx) error {
	if err := historyToVersions(tx); err != nil {
		return err
	}
	times, err := tx.CreateBucketIfNotExists(bucketEventTime)
	if err != nil {
		return err
	}
	cur := tx.Bucket(bucketCurrent)
	var updates []update
	err = cur.ForEach(func(k, pv []byte) error {
		p, err := decodePointer(pv)
		if err != nil {
			return err
		}
		if p.eventTime != noTime {
			if err := times.Put(bytes.Clone(k), i64key(p.eventTime)); err != nil {
				return err
			}
		}
		updates = append(updates, update{bytes.Clone(k), p.encodeV4(pv[pointerSize:])})
		return nil
	})
	if err != nil {
		return err
	}
	return putAll(cur, updates)
}

// nameOrderValues rewrites every current value with its groups in name
// order, as storage version 2 could hold them (patient after _lastUpdated,
// code and date).
func nameOrderValues(tx *bolt.Tx) error {
	cur := tx.Bucket(bucketCurrent)
	var updates []update
	err := cur.ForEach(func(k, pv []byte) error {
		vs, err := decodeValues(pv[pointerSizeV4:])
		if err != nil {
			return err
		}
		slices.SortStableFunc(vs, func(a, b search.Value) int { return strings.Compare(a.Param, b.Param) })
		updates = append(updates, update{bytes.Clone(k), append(bytes.Clone(pv[:pointerSizeV4]), encodeValues(vs)...)})
		return nil
	})
	if err != nil {
		return err
	}
	return putAll(cur, updates)
}

// TestMigrateIndexKeys turns a store's file back into storage version 2
// (two keys per token and reference), reopens it and expects the version 3
// index, with every kind of search answering as before.
func TestMigrateIndexKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		js := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"%d-5"},{"code":"x%d"}]},
			"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2025-06-0%d"}`, i, i%3, i%2, i%4, 1+i%9)
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{"code=1-5", "code=http://loinc.org|2-5", "code=http://loinc.org|", "code=|x1", "code=x0",
		"patient=p1", "subject=Patient/p2", "subject:Patient=p3", "date=ge2025-06-05", "date=lt2025-06-03"}
	want := answers(t, s, "Observation", queries...)
	for q, n := range map[string]int{"code=http://loinc.org|": 20, "code=|x1": 10, "code=x0": 10, "code=1-5": 7,
		"code=http://loinc.org|2-5": 6, "patient=p1": 5, "subject=Patient/p2": 5, "subject:Patient=p3": 5} {
		if len(want[q]) != n {
			t.Errorf("%s finds %d, want %d", q, len(want[q]), n)
		}
	}
	downgrade(t, s, 2, downgradeToV4, writeV2Index, nameOrderValues)
	s = reopen(t, s, path)
	defer s.Close()
	checkIndex(t, s.db)
	checkLeading(t, s.db)
	sameAnswers(t, s, "Observation", want)
}

// downgrade rewrites s's file with steps, in one transaction, and marks it
// as storage version v.
func downgrade(t *testing.T, s *Store, v uint64, steps ...func(*bolt.Tx) error) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, step := range steps {
			if err := step(tx); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyStorageVersion, u64(v))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// answers runs each query and returns the ids each finds; none may find
// nothing.
func answers(t *testing.T, s *Store, typ string, queries ...string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, q := range queries {
		hits, err := s.Search(query(t, typ, q), nil)
		if err != nil || len(hits) == 0 {
			t.Fatalf("%s: %v, %v", q, ids(hits), err)
		}
		out[q] = ids(hits)
	}
	return out
}

// sameAnswers checks that each query still finds what want says.
func sameAnswers(t *testing.T, s *Store, typ string, want map[string][]string) {
	t.Helper()
	for q, w := range want {
		if hits, err := s.Search(query(t, typ, q), nil); err != nil || !slices.Equal(ids(hits), w) {
			t.Errorf("%s after migration: %v, %v; want %v", q, ids(hits), err, w)
		}
	}
}

// reopen closes s and opens the file at path again, as a restart would.
func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMigrateToVersion5 turns a store's file back into storage version 4
// (17-byte pointers, event times in their own bucket, version 3 index keys)
// and expects, once reopened, the event times in the pointers (an older
// event still refused), no eventtime bucket, the version 5 index and the
// same search answers.
func TestMigrateToVersion5(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v4.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 12 {
		e := putEntry(t, fmt.Sprintf(`{"resourceType":"Encounter","id":"e%d","status":"in-progress","class":{"code":"IMP"},"subject":{"reference":"Patient/p%d"}}`, i, i%3))
		e.EventTime = at
		if _, err := s.TransactionWith(ctx, []TxEntry{e}, TxOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := answers(t, s, "Encounter", "patient=p1", "status=in-progress", "class=IMP", "subject=Patient/p2")
	downgrade(t, s, 4, downgradeToV4, writeV2Index)
	s = reopen(t, s, path)
	defer s.Close()
	checkIndex(t, s.db)
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketEventTime) != nil {
			t.Error("the eventtime bucket survives the migration")
		}
		return nil
	})
	sameAnswers(t, s, "Encounter", want)
	// A new version goes to history; the resource's history pages from
	// there into its versions from before.
	next := putEntry(t, `{"resourceType":"Encounter","id":"e2","status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/p2"}}`)
	if _, err := s.TransactionWith(ctx, []TxEntry{next}, TxOptions{}); err != nil {
		t.Fatal(err)
	}
	var vers []uint64
	for o := (HistoryOptions{Count: 1}); ; {
		h, err := s.InstanceHistory("Encounter", "e2", o)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range h.Records {
			vers = append(vers, r.Version)
		}
		if h.Next == 0 {
			break
		}
		o.Before = h.Next
	}
	if !slices.Equal(vers, []uint64{2, 1}) {
		t.Errorf("history across the buckets: versions %v, want [2 1]", vers)
	}
	if rec, err := s.VRead("Encounter", "e2", 1); err != nil || !strings.Contains(string(rec.JSON), "in-progress") {
		t.Errorf("vread of a version from before: %v", err)
	}
	older := putEntry(t, `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"code":"IMP"},"subject":{"reference":"Patient/p1"}}`)
	older.EventTime = at.Add(-time.Hour)
	rs, err := s.TransactionWith(ctx, []TxEntry{older}, TxOptions{})
	if err != nil || !rs[0].Older {
		t.Errorf("an older event after migration: %+v %v, want it refused", rs, err)
	}
}

// TestMigratePackedSystems turns the index back into storage version 10's
// (every token's system spelled out) and expects, once reopened, the
// index rebuilt with the common systems packed, shorter, and the same
// search answers: by system and code, by code alone, by system alone, by
// an explicitly absent system, for packed and other systems, labels
// included.
func TestMigratePackedSystems(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v10.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	systems := []string{"http://loinc.org", "http://example.org/local", ""}
	for i := range 12 {
		coding := fmt.Sprintf(`{"system":%q,"code":"c%d"}`, systems[i%3], i%2)
		if systems[i%3] == "" {
			coding = fmt.Sprintf(`{"code":"c%d"}`, i%2)
		}
		js := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[%s]},
			"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"%s"}]},
			"subject":{"reference":"Patient/p%d"}}`, i, coding, []string{"N", "R"}[i%2], i%4)
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{"code=http://loinc.org|c0", "code=http://loinc.org|", "code=c1", "code=http://example.org/local|c1",
		"code=http://example.org/local|", "code=|c0", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R",
		"_security=R", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|"}
	want := answers(t, s, "Observation", queries...)
	for q, n := range map[string]int{"code=http://loinc.org|c0": 2, "code=http://loinc.org|": 4, "code=c1": 6,
		"code=http://example.org/local|": 4, "code=|c0": 2, "_security=R": 6,
		"_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|": 12} {
		if len(want[q]) != n {
			t.Errorf("%s finds %d, want %d", q, len(want[q]), n)
		}
	}
	packed := indexBytes(t, s.db)
	downgrade(t, s, 10, spellSystems)
	spelled := indexBytes(t, s.db)
	s = reopen(t, s, path)
	defer s.Close()
	checkIndex(t, s.db)
	if got := indexBytes(t, s.db); got != packed || got >= spelled {
		t.Errorf("index of %d bytes after the migration, %d before it, %d packed before the downgrade", got, spelled, packed)
	}
	sameAnswers(t, s, "Observation", want)
}

// indexBytes is the size of the index's keys.
func indexBytes(t *testing.T, db *bolt.DB) (n int) {
	t.Helper()
	_ = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIndex).ForEach(func(k, _ []byte) error { n += len(k); return nil })
	})
	return n
}

// spellSystems rewrites every token key with its system spelled out, as
// storage versions 5 to 10 keyed them.
func spellSystems(tx *bolt.Tx) error {
	idx := tx.Bucket(bucketIndex)
	var old, spelled [][]byte
	err := idx.ForEach(func(k, _ []byte) error {
		i := bytes.IndexByte(k, 0)
		j := i + 1 + bytes.IndexByte(k[i+1:], 0)
		if k[j+1] != tagToken {
			return nil
		}
		code := j + 2 + bytes.IndexByte(k[j+2:], 0)
		if k[code+1] != packedSystem {
			return nil
		}
		sys := keySystems[k[code+2]]
		old = append(old, bytes.Clone(k))
		spelled = append(spelled, slices.Concat(k[:code+1], []byte(sys), k[code+3:]))
		return nil
	})
	if err != nil || len(old) == 0 {
		return fmt.Errorf("no packed system to spell out (%v)", err)
	}
	for i := range old {
		if err := idx.Delete(old[i]); err != nil {
			return err
		}
		if err := idx.Put(spelled[i], nil); err != nil {
			return err
		}
	}
	return nil
}

// TestMigratePackedValues turns the current values back into storage
// version 11's (token systems spelled out) and expects, once reopened,
// the values packed and smaller, the index unchanged, and the same search
// answers and values read back.
func TestMigratePackedValues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v11.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 8 {
		js := fmt.Sprintf(`{"resourceType":"Observation","id":"o%d","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"c%d"},{"system":"http://example.org","code":"e"}]},
			"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"%s"}]},
			"subject":{"reference":"Patient/p%d"}}`, i, i%2, []string{"N", "R"}[i%2], i%4)
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	queries := []string{"code=http://loinc.org|c0", "code=http://example.org|e", "_security=R", "patient=p1"}
	want := answers(t, s, "Observation", queries...)
	valuesOf := func() (n int, all map[string][]search.Value) {
		all = map[string][]search.Value{}
		_ = s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketCurrent).ForEach(func(k, pv []byte) error {
				n += len(pv)
				vs, err := decodeValues(pv[pointerSize:])
				if err != nil {
					t.Fatal(err)
				}
				all[string(k)] = vs
				return nil
			})
		})
		return n, all
	}
	packedSize, packed := valuesOf()
	index := indexBytes(t, s.db)
	downgrade(t, s, 11, spellValues)
	spelledSize, spelled := valuesOf()
	if spelledSize <= packedSize || !maps.EqualFunc(spelled, packed, slices.Equal) {
		t.Fatalf("downgraded values: %d bytes for %d packed, or other values", spelledSize, packedSize)
	}
	s = reopen(t, s, path)
	defer s.Close()
	if n, got := valuesOf(); n != packedSize || !maps.EqualFunc(got, packed, slices.Equal) {
		t.Errorf("values of %d bytes after the migration, want %d and the same values", n, packedSize)
	}
	if got := indexBytes(t, s.db); got != index {
		t.Errorf("index of %d bytes after the migration, %d before", got, index)
	}
	checkIndex(t, s.db)
	sameAnswers(t, s, "Observation", want)
}

// spellValues rewrites every current value with its token systems spelled
// out, as storage versions 2 to 11 kept them.
func spellValues(tx *bolt.Tx) error {
	cur := tx.Bucket(bucketCurrent)
	var updates []update
	err := cur.ForEach(func(k, pv []byte) error {
		var b []byte
		r := groupReader{b: pv[pointerSize:]}
		for g, ok := r.next(); ok; g, ok = r.next() {
			var body []byte
			err := g.each(func(text []byte, start, end int64) {
				if g.kind == search.Date {
					body = append(append(body, i64key(start)...), i64key(end)...)
					return
				}
				body = binary.AppendUvarint(body, uint64(len(text)))
				body = append(body, text...)
			})
			if err != nil {
				return err
			}
			b = binary.AppendUvarint(b, uint64(len(g.param)))
			b = append(append(b, g.param...), byte(g.kind))
			b = binary.AppendUvarint(b, uint64(g.count))
			b = binary.AppendUvarint(b, uint64(len(body)))
			b = append(b, body...)
		}
		if r.err != nil {
			return r.err
		}
		updates = append(updates, update{bytes.Clone(k), append(bytes.Clone(pv[:pointerSize]), b...)})
		return nil
	})
	if err != nil {
		return err
	}
	return putAll(cur, updates)
}

// TestMigrateFoldedStrings turns the string values back into storage
// version 14's fold (punctuation kept: "le-goff") and expects, once
// reopened, the values and the index folded as new writes fold them, so
// that a name typed with a space finds the one stored with a hyphen, and
// the other way round.
func TestMigrateFoldedStrings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v14.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for id, name := range map[string][2]string{"p1": {"Le-Goff", "Jean-Pierre"}, "p2": {"Le Goff", "Jean Pierre"}, "p3": {"Legrand", "Anne"}} {
		js := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":%q,"given":[%q]}],"address":[{"city":"Saint-Brieuc"}]}`, id, name[0], name[1])
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	folded := func() map[string][]search.Value {
		all := map[string][]search.Value{}
		_ = s.db.View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketCurrent).ForEach(func(k, pv []byte) error {
				vs, err := decodeValues(pv[pointerSize:])
				if err != nil {
					t.Fatal(err)
				}
				all[string(k)] = vs
				return nil
			})
		})
		return all
	}
	want := folded()
	// Version 14 kept the punctuation: p1's names as written with hyphens.
	old := map[string]string{"p1": "-"}
	downgrade(t, s, 14, oldValues(func(_, id string, vs []search.Value) []search.Value {
		for i, v := range vs {
			if v.Kind == search.String && (old[id] != "" || strings.Contains(v.Text, "saint")) {
				vs[i].Text = strings.ReplaceAll(v.Text, " ", "-")
			}
		}
		return vs
	}))
	if len(hits(t, s, "family=le goff")) == 2 {
		t.Fatal("the downgraded file finds the hyphenated name by its spaced spelling: nothing to migrate")
	}
	s = reopen(t, s, path)
	defer s.Close()
	checkIndex(t, s.db)
	if got := folded(); !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("values after the migration:\n%v\nwant\n%v", got, want)
	}
	for q, want := range map[string][]string{"family=le goff": {"p1", "p2"}, "family=le-goff": {"p1", "p2"},
		"family=LE GOFF&given=jean pierre": {"p1", "p2"}, "given=jean-p": {"p1", "p2"}, "name=le goff": {"p1", "p2"},
		"address-city=saint brieuc": {"p1", "p2", "p3"}} {
		got := ids(hits(t, s, q))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s after the migration: %v; want %v", q, got, want)
		}
	}
}

// hits is what the Patient search q finds in s.
func hits(t *testing.T, s *Store, q string) []Hit {
	t.Helper()
	h, err := s.Search(query(t, "Patient", q), nil)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return h
}

// TestMigrateIndexedTypes: version 16 indexes DiagnosticReport, and Binary
// by its securityContext's patient; a version 15 file, which kept no
// values for them, gets them from their stored JSON (a deleted one none),
// and searches find them.
func TestMigrateIndexedTypes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v15.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, js := range []string{
		`{"resourceType":"DiagnosticReport","id":"dr1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"58410-2"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-03-05"}`,
		`{"resourceType":"DiagnosticReport","id":"dr2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"24323-8"}]},"subject":{"reference":"Patient/p2"}}`,
		`{"resourceType":"Binary","id":"b1","contentType":"application/hl7-cda+xml","securityContext":{"reference":"Patient/p1"},"data":"PENsaW5pY2FsRG9jdW1lbnQvPg=="}`,
		`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`,
	} {
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "DiagnosticReport", "dr2", 0); err != nil {
		t.Fatal(err)
	}
	find := func(typ, q string) []string {
		t.Helper()
		h, err := s.Search(query(t, typ, q), nil)
		if err != nil {
			t.Fatalf("%s?%s: %v", typ, q, err)
		}
		return ids(h)
	}
	want := map[string][]string{}
	for _, q := range [][2]string{{"DiagnosticReport", "patient=p1"}, {"DiagnosticReport", "code=58410-2"}, {"DiagnosticReport", "date=2026-03-05"}, {"Binary", "patient=p1"}, {"Observation", "patient=p1"}} {
		want[q[0]+"?"+q[1]] = find(q[0], q[1])
		if len(want[q[0]+"?"+q[1]]) != 1 {
			t.Fatalf("%s?%s finds %v before the downgrade", q[0], q[1], want[q[0]+"?"+q[1]])
		}
	}
	// Version 15 kept no values for a DiagnosticReport, and a Binary's
	// common ones only.
	downgrade(t, s, 15, oldValues(func(typ, _ string, vs []search.Value) []search.Value {
		if typ != "DiagnosticReport" && typ != "Binary" {
			return vs
		}
		return slices.DeleteFunc(vs, func(v search.Value) bool { return typ == "DiagnosticReport" || v.Param == "patient" })
	}))
	if got := find("DiagnosticReport", "patient=p1"); len(got) != 0 {
		t.Fatalf("the downgraded file finds %v: nothing to migrate", got)
	}
	s = reopen(t, s, path)
	defer s.Close()
	checkIndex(t, s.db)
	for q, w := range want {
		typ, qs, _ := strings.Cut(q, "?")
		if got := find(typ, qs); !slices.Equal(got, w) {
			t.Errorf("%s after the migration: %v; want %v", q, got, w)
		}
	}
	if got := find("DiagnosticReport", "patient=p2"); len(got) != 0 {
		t.Errorf("the deleted report is found after the migration: %v", got)
	}
}

// oldValues is a downgrade step: the index values kept with each current
// pointer as an older version kept them (old, given the type, id and the
// current values), and the index rebuilt from them.
func oldValues(old func(typ, id string, vs []search.Value) []search.Value) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketCurrent)
		var updates []update
		err := cur.ForEach(func(k, pv []byte) error {
			typ, id, err := splitCurrentKey(k)
			if err != nil || len(pv) <= pointerSize {
				return err
			}
			vs, err := decodeValues(pv[pointerSize:])
			if err != nil {
				return err
			}
			updates = append(updates, update{bytes.Clone(k), append(bytes.Clone(pv[:pointerSize]), encodeValues(old(typ, id, vs))...)})
			return nil
		})
		if err != nil {
			return err
		}
		if err := putAll(cur, updates); err != nil {
			return err
		}
		return reindexAll(tx)
	}
}

// TestOpenNoUpgrade: with Options.NoUpgrade (relais backup) a file of an
// earlier storage version is refused and left byte for byte as it was,
// where Open would upgrade it in place.
func TestOpenNoUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(context.Background(), decode(t, `{"resourceType":"Patient","id":"p1"}`), 0); err != nil {
		t.Fatal(err)
	}
	downgrade(t, s, storageVersion-1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Codec: testCodec, NoUpgrade: true}); !errors.Is(err, ErrUpgradeNeeded) {
		t.Fatalf("Open(NoUpgrade) of version %d: %v, want ErrUpgradeNeeded", storageVersion-1, err)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
		t.Errorf("the file changed (%v)", err)
	}
	// A file of the current version opens.
	s, err = Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{Codec: testCodec, NoUpgrade: true})
	if err != nil {
		t.Fatalf("Open(NoUpgrade) of the current version: %v", err)
	}
	s.Close()
}

// TestOpenLogsUpgrade: an upgrade of the storage version, which runs
// before anything is served and takes time in proportion to the
// resources, is logged when it starts and when it is done, where the
// server used to be silent until it listened; a new database logs none.
func TestOpenLogsUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	var logs bytes.Buffer
	s, err := Open(path, Options{Codec: testCodec, NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "storage version") {
		t.Errorf("a new database logs an upgrade: %s", logs.String())
	}
	downgrade(t, s, storageVersion-1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{Codec: testCodec, NoSync: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	from, to := fmt.Sprintf("from=%d to=%d", storageVersion-1, storageVersion), fmt.Sprintf("to=%d", storageVersion)
	for _, want := range []string{`msg="upgrading the database's storage version`, `msg="storage version upgraded`, from, to} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
