package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
)

var testCodec = codec.MustNew()

// openTest opens a store in a temp dir and checks the file's integrity when
// the test ends.
func openTest(t testing.TB) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("bbolt integrity: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func decode(t testing.TB, js string) proto.Message {
	t.Helper()
	m, err := testCodec.Decode([]byte(js))
	if err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return m
}

func query(t testing.TB, typ, raw string) *search.Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(typ, v, true)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

func TestCRUDAndHistory(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	rec, err := s.Create(ctx, decode(t, `{"resourceType":"Patient","id":"ignored","name":[{"family":"Dupont"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID == "ignored" || rec.Version != 1 || rec.Method != "POST" {
		t.Fatalf("create record = %+v", rec)
	}
	id := rec.ID
	got, err := s.Read("Patient", id)
	if err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Fatalf("read = %v, %v", got, err)
	}
	if !bytes.Contains(got.JSON, []byte(`"versionId":"1"`)) || !bytes.Contains(got.JSON, []byte(`"code":"ADM"`)) {
		t.Errorf("stored JSON lacks versionId or category label: %s", got.JSON)
	}

	upd := decode(t, `{"resourceType":"Patient","id":"`+id+`","name":[{"family":"Durand"}]}`)
	if _, _, err := s.Update(ctx, upd, 5); !errors.Is(err, outcome.ErrPreconditionFailed) {
		t.Errorf("update with wrong If-Match: %v", err)
	}
	rec2, created, err := s.Update(ctx, upd, 1)
	if err != nil || created || rec2.Version != 2 {
		t.Fatalf("update = %+v %v %v", rec2, created, err)
	}
	if hits, _ := s.Search(query(t, "Patient", "family=dupont"), nil); len(hits) != 0 {
		t.Errorf("old index entry still matches: %v", ids(hits))
	}
	if hits, _ := s.Search(query(t, "Patient", "family=dur"), nil); len(hits) != 1 {
		t.Errorf("new index entry not found: %v", ids(hits))
	}
	if v1, err := s.VRead("Patient", id, 1); err != nil || !bytes.Contains(v1.JSON, []byte("Dupont")) {
		t.Errorf("vread 1 = %v %v", v1, err)
	}

	del, err := s.Delete(ctx, "Patient", id, 0)
	if err != nil || del.Version != 3 {
		t.Fatalf("delete = %+v %v", del, err)
	}
	if _, err := s.Read("Patient", id); !errors.Is(err, outcome.ErrGone) {
		t.Errorf("read deleted = %v, want Gone", err)
	}
	if again, err := s.Delete(ctx, "Patient", id, 0); err != nil || again != nil {
		t.Errorf("second delete = %v %v", again, err)
	}
	if hits, _ := s.Search(query(t, "Patient", "family=dur"), nil); len(hits) != 0 {
		t.Errorf("deleted resource still found")
	}
	h, err := s.InstanceHistory("Patient", id, HistoryOptions{})
	if err != nil || len(h.Records) != 3 || h.Records[0].Method != "DELETE" || h.Records[2].Version != 1 {
		t.Fatalf("history = %+v %v", h, err)
	}
	// Resurrect.
	rec4, created, err := s.Update(ctx, upd, 0)
	if err != nil || !created || rec4.Version != 4 {
		t.Errorf("update after delete = %+v %v %v", rec4, created, err)
	}
	if _, err := s.Read("Patient", "nope"); !errors.Is(err, outcome.ErrNotFound) {
		t.Errorf("read missing = %v", err)
	}
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		if _, err := s.Create(ctx, decode(t, `{"resourceType":"Patient"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, decode(t, `{"resourceType":"Organization","name":"x"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range []string{"Patient", ""} {
		all, err := s.TypeHistory(typ, HistoryOptions{Count: 1000})
		if err != nil {
			t.Fatal(err)
		}
		want := len(all.Records)
		seen := map[string]bool{}
		var cursor uint64
		pages := 0
		for {
			h, err := s.TypeHistory(typ, HistoryOptions{Before: cursor, Count: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range h.Records {
				if seen[r.Type+r.ID] {
					t.Fatalf("%q: %s repeated", typ, r.ID)
				}
				seen[r.Type+r.ID] = true
				if typ != "" && r.Type != typ {
					t.Fatalf("type history returned %s", r.Type)
				}
			}
			pages++
			// A write between pages must not disturb the remaining pages.
			if _, err := s.Create(ctx, decode(t, `{"resourceType":"Patient"}`)); err != nil {
				t.Fatal(err)
			}
			if h.Next == 0 {
				break
			}
			cursor = h.Next
		}
		if len(seen) != want || want < 50 && typ == "" {
			t.Errorf("%q history: %d entries over %d pages, want %d", typ, len(seen), pages, want)
		}
	}
}

func TestSearch(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	put := func(js string) {
		if _, _, err := s.Update(ctx, decode(t, js), 0); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"resourceType":"Patient","id":"p1","name":[{"family":"Lefèvre","given":["Anne"]}],"birthDate":"1938-05-04","address":[{"city":"Lille","postalCode":"59000"}],"identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"238055912312345"}]}`)
	put(`{"resourceType":"Patient","id":"p2","name":[{"family":"Lefort"}],"birthDate":"1950","gender":"male"}`)
	put(`{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-03-01T10:00:00+01:00"}`)
	put(`{"resourceType":"Observation","id":"o2","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},"subject":{"reference":"Patient/p2"},"effectiveDateTime":"2026-03-05"}`)
	put(`{"resourceType":"Observation","id":"o3","status":"preliminary","code":{"coding":[{"system":"http://snomed.info/sct","code":"8867-4"}]},"subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2026-02-01","end":"2026-02-10"}}`)

	tests := []struct {
		typ, q string
		want   []string
	}{
		{"Patient", "family=lef", []string{"p1", "p2"}},
		{"Patient", "family=lefevre", []string{"p1"}},
		{"Patient", "family:exact=lefe", nil},
		{"Patient", "name:contains=fort", []string{"p2"}},
		{"Patient", "address-city=LILLE", []string{"p1"}},
		{"Patient", "address-postalcode=59", []string{"p1"}},
		{"Patient", "identifier=urn:oid:1.2.250.1.213.1.4.8|238055912312345", []string{"p1"}},
		{"Patient", "identifier=238055912312345", []string{"p1"}},
		{"Patient", "identifier=urn:oid:1.2.250.1.213.1.4.8|", []string{"p1"}},
		{"Patient", "gender=male", []string{"p2"}},
		{"Patient", "birthdate=1938", []string{"p1"}},
		{"Patient", "birthdate=lt1940", []string{"p1"}},
		{"Patient", "birthdate=ge1950-06", []string{"p2"}},
		{"Patient", "_id=p2,zz", []string{"p2"}},
		{"Patient", "gender:missing=true", []string{"p1"}},
		{"Patient", "gender:missing=false", []string{"p2"}},
		{"Patient", "identifier:missing=false&family=lef", []string{"p1"}},
		{"Patient", "address-city:missing=true", []string{"p2"}},
		{"Observation", "subject:missing=false&status=final", []string{"o1", "o2"}},
		{"Observation", "date:missing=true", nil},
		{"Patient", "_sort=birthdate", []string{"p1", "p2"}},
		{"Patient", "_sort=-birthdate", []string{"p2", "p1"}},
		{"Observation", "patient=p1&_sort=date", []string{"o3", "o1"}},
		{"Observation", "subject=Patient/p2", []string{"o2"}},
		{"Observation", "subject=p2", []string{"o2"}},
		{"Observation", "code=8867-4&_sort=_id", []string{"o1", "o3"}},
		{"Observation", "code=http://loinc.org|8867-4", []string{"o1"}},
		{"Observation", "code=http://loinc.org|8867-4,http://loinc.org|8310-5&_sort=_id", []string{"o1", "o2"}},
		{"Observation", "status=final&patient=p1", []string{"o1"}},
		{"Observation", "date=2026-03-01", []string{"o1"}},
		{"Observation", "date=ge2026-03-02", []string{"o2"}},
		{"Observation", "date=lt2026-03&_sort=_id", []string{"o3"}},
		{"Observation", "date=2026-02-05", nil}, // a period is not within one day
		{"Observation", "date=gt2026-02-05&date=lt2026-02-06", []string{"o3"}},
		{"Observation", "date=2026-02", []string{"o3"}},
	}
	for _, tt := range tests {
		hits, err := s.Search(query(t, tt.typ, tt.q), nil)
		if err != nil {
			t.Errorf("%s?%s: %v", tt.typ, tt.q, err)
			continue
		}
		got := ids(hits)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			if !sameSet(got, tt.want) || hasSort(tt.q) {
				t.Errorf("%s?%s = %v, want %v", tt.typ, tt.q, got, tt.want)
			}
		}
	}
	// A filter sees index values and hides what it rejects.
	hits, _ := s.Search(query(t, "Observation", "patient=p1"), func(_ *Snapshot, typ, id string, v IndexValues) bool {
		return len(v.Refs("subject")) == 1 && v.Tokens("status")[0] != "|preliminary"
	})
	if fmt.Sprint(ids(hits)) != "[o1]" {
		t.Errorf("filtered = %v", ids(hits))
	}
}

func hasSort(q string) bool { return bytes.Contains([]byte(q), []byte("_sort")) }

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestConditionalCreateRace(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	q := query(t, "Patient", "identifier=urn:sys|42")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := s.ConditionalCreate(context.Background(),
				decode(t, `{"resourceType":"Patient","identifier":[{"system":"urn:sys","value":"42"}]}`), q)
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	hits, _ := s.Search(q, nil)
	if created != 1 || len(hits) != 1 {
		t.Errorf("created %d, stored %d; want exactly one", created, len(hits))
	}
}

func TestTransaction(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	entries := []TxEntry{
		{FullURL: "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a", Method: "POST", Type: "Patient",
			Resource: decode(t, `{"resourceType":"Patient","name":[{"family":"Martin"}]}`)},
		{Method: "POST", Type: "Observation", Resource: decode(t,
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}`)},
		{Method: "PUT", Type: "Organization", ID: "org1", Resource: decode(t, `{"resourceType":"Organization","id":"org1","name":"Clinique"}`)},
	}
	res, err := s.Transaction(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	pid := res[0].Record.ID
	if res[0].Status != "201 Created" || res[2].Status != "201 Created" {
		t.Errorf("statuses %s %s", res[0].Status, res[2].Status)
	}
	if !bytes.Contains(res[1].Record.JSON, []byte(`"Patient/`+pid+`"`)) {
		t.Errorf("urn:uuid not rewritten: %s", res[1].Record.JSON)
	}
	if hits, _ := s.Search(query(t, "Observation", "patient="+pid), nil); len(hits) != 1 {
		t.Errorf("observation not indexed by rewritten reference")
	}

	// One bad entry (a stale If-Match) leaves nothing behind.
	before := countVersions(t, s)
	bad := []TxEntry{
		{Method: "POST", Type: "Patient", Resource: decode(t, `{"resourceType":"Patient","name":[{"family":"Ghost"}]}`)},
		{Method: "PUT", Type: "Organization", ID: "org1", IfMatch: 7, Resource: decode(t, `{"resourceType":"Organization","id":"org1","name":"Changed"}`)},
	}
	if _, err := s.Transaction(ctx, bad); !errors.Is(err, outcome.ErrPreconditionFailed) {
		t.Fatalf("bad transaction = %v", err)
	}
	if after := countVersions(t, s); after != before {
		t.Errorf("failed transaction left %d versions behind", after-before)
	}
	if hits, _ := s.Search(query(t, "Patient", "family=ghost"), nil); len(hits) != 0 {
		t.Errorf("failed transaction left an index entry")
	}
	dup := []TxEntry{
		{Method: "PUT", Type: "Organization", ID: "a", Resource: decode(t, `{"resourceType":"Organization","id":"a"}`)},
		{Method: "DELETE", Type: "Organization", ID: "a"},
	}
	if _, err := s.Transaction(ctx, dup); !errors.Is(err, outcome.ErrInvalid) {
		t.Errorf("duplicate targets = %v", err)
	}
}

func countVersions(t *testing.T, s *Store) int {
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketVersions).Stats().KeyN + tx.Bucket(bucketHistory).Stats().KeyN
		return nil
	})
	return n
}

func TestConcurrentCreatesShareCommits(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	before := s.Stats().Commits
	var wg sync.WaitGroup
	const writers, each = 16, 40
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Create(context.Background(), &ppb.Patient{Active: &dtpb.Boolean{Value: true}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	hits, _ := s.Search(query(t, "Patient", "active=true"), nil)
	if len(hits) != writers*each {
		t.Fatalf("%d stored, want %d", len(hits), writers*each)
	}
	commits := s.Stats().Commits - before
	t.Logf("%d creates in %d commits", writers*each, commits)
	if commits >= writers*each {
		t.Errorf("no grouping: %d commits for %d creates", commits, writers*each)
	}
}

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	rec, err := s.Create(context.Background(), &obspb.Observation{
		Status: &obspb.Observation_StatusCode{Value: 1},
		Code:   &dtpb.CodeableConcept{Text: &dtpb.String{Value: "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An audit entry just recorded is still in the journal: the backup has it.
	if err := s.AppendAudit(context.Background(), testEvent("d1", time.Now(), "Patient/p1", "PractitionerRole/gp")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	restored, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	got, err := restored.Read("Observation", rec.ID)
	if err != nil || !bytes.Equal(got.JSON, rec.JSON) {
		t.Errorf("restored read = %v %v", got, err)
	}
	if ds := listAudit(t, restored, AuditQuery{Agent: "PractitionerRole/gp"}); len(ds) != 1 {
		t.Errorf("restored decisions: %v", ds)
	}
}

// TestOpenWithoutSyncedFreelist opens a file last written with the
// freelist unsynced (NoFreelistSync, as relais wrote files before): Open
// finds its free pages by walking it once, serves its data, and leaves the
// freelist on disk, so that later opens read it instead of walking the
// file. Check then proves the freelist read back agrees with the pages the
// file uses.
func TestOpenWithoutSyncedFreelist(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		p := &ppb.Patient{Id: &dtpb.Id{Value: fmt.Sprintf("p%d", i)}}
		for range 1 + i%3 {
			if _, _, err := s.Update(context.Background(), p, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old := boltOptions(Options{NoSync: true})
	old.NoFreelistSync = true
	db, err := bolt.Open(path, 0o600, old)
	if err != nil {
		t.Fatal(err)
	}
	// A commit of the old configuration frees the freelist page and records
	// none; its own pages add to the free pages only a walk finds.
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("x"), nil) })
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if pg := freelistPage(t, path); pg != noFreelist {
		t.Fatalf("setup: freelist at page %d, want none", pg)
	}
	for open := 1; open <= 2; open++ {
		s, err := Open(path, Options{Codec: testCodec, NoSync: true})
		if err != nil {
			t.Fatalf("open %d: %v", open, err)
		}
		for _, i := range []int{0, 1, 2, 199} {
			rec, err := s.Read("Patient", fmt.Sprintf("p%d", i))
			if err != nil || rec.Version != uint64(1+i%3) {
				t.Errorf("open %d: Patient/p%d = %v, %v; want version %d", open, i, rec, err, 1+i%3)
			}
		}
		if err := s.Check(); err != nil {
			t.Errorf("open %d: %v", open, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if pg := freelistPage(t, path); pg == noFreelist {
			t.Errorf("after open %d: no freelist on disk", open)
		}
	}
}

// noFreelist is the freelist page id of a file without one.
const noFreelist = math.MaxUint64

// freelistPage reads the freelist page id from the newer of the file's two
// meta pages. bbolt's layout: pages 0 and 1 are meta pages; each has a
// 16-byte page header, then magic, version, page size and flags (uint32),
// the root bucket (root pgid, sequence), the freelist pgid, the high-water
// pgid and the txid (uint64), in host byte order.
func freelistPage(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const magic = 0xED0CDAED
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return binary.NativeEndian.Uint64(b[off:]) }
	if len(b) < 4096 || u32(16) != magic {
		t.Fatalf("%s: no bbolt meta page", path)
	}
	pageSize := int(u32(24))
	freelist, txid := u64(48), u64(64)
	if p1 := pageSize; len(b) >= 2*p1 && u32(p1+16) == magic && u64(p1+64) > txid {
		freelist = u64(p1 + 48)
	}
	return freelist
}

func TestCorpusStoresAndSearches(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	files, _ := filepath.Glob("../../../shared/corpus/fhir/*.json")
	if len(files) < 90 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := decode(t, string(b))
		want := proto.Clone(m)
		rec, _, err := s.Update(context.Background(), m, 0)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back := decode(t, string(rec.JSON))
		for _, r := range []proto.Message{back, want} {
			if pm := resource.PeekMeta(r); pm != nil {
				pm.VersionId, pm.LastUpdated, pm.Security = nil, nil, nil
			}
		}
		clearEmptyMeta(back)
		clearEmptyMeta(want)
		if !proto.Equal(back, want) {
			t.Errorf("%s: stored resource differs beyond meta", filepath.Base(f))
		}
		hits, err := s.Search(query(t, rec.Type, "_id="+rec.ID+"&_lastUpdated=ge2000"), nil)
		if err != nil || len(hits) != 1 {
			t.Errorf("%s: not found by _id and _lastUpdated: %v", filepath.Base(f), err)
		}
	}
}

func clearEmptyMeta(m proto.Message) {
	if pm := resource.PeekMeta(m); pm != nil && proto.Equal(pm, &dtpb.Meta{}) {
		r := m.ProtoReflect()
		r.Clear(r.Descriptor().Fields().ByName("meta"))
	}
}
