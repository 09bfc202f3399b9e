package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
)

func putEntry(t testing.TB, js string) TxEntry {
	t.Helper()
	res := decode(t, js)
	return TxEntry{Method: "PUT", Type: resource.Type(res), ID: resource.ID(res), Resource: res}
}

func statuses(rs []TxResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s v%d", r.Status, r.Record.Version))
	}
	return out
}

func TestTransactionWith(t *testing.T) {
	t.Parallel()
	const pat = `{"resourceType":"Patient","id":"p1","gender":"female"}`
	const dev = `{"resourceType":"Device","id":"d1","status":"active"}`
	tests := []struct {
		name  string
		first []string // stored before, with TransactionWith
		put   []string
		ifAbs []bool
		keep  bool
		want  []string
	}{
		{name: "create", put: []string{pat, dev}, want: []string{"201 Created v1", "201 Created v1"}},
		{name: "update makes versions", first: []string{pat, dev}, put: []string{pat, dev},
			want: []string{"200 OK v2", "200 OK v2"}},
		{name: "keep unchanged", first: []string{pat, dev}, keep: true,
			put:  []string{`{"resourceType":"Patient","id":"p1","gender":"male"}`, dev},
			want: []string{"200 OK v2", "200 OK v1"}},
		{name: "if absent keeps existing", first: []string{pat}, ifAbs: []bool{true, true},
			put:  []string{`{"resourceType":"Patient","id":"p1","gender":"male"}`, dev},
			want: []string{"200 OK v1", "201 Created v1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			ctx := context.Background()
			if tc.first != nil {
				var es []TxEntry
				for _, js := range tc.first {
					es = append(es, putEntry(t, js))
				}
				if _, err := s.TransactionWith(ctx, es, TxOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			var es []TxEntry
			for i, js := range tc.put {
				e := putEntry(t, js)
				e.IfAbsent = tc.ifAbs != nil && tc.ifAbs[i]
				es = append(es, e)
			}
			rs, err := s.TransactionWith(ctx, es, TxOptions{KeepUnchanged: tc.keep})
			if err != nil {
				t.Fatal(err)
			}
			if got := statuses(rs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("results %v, want %v", got, tc.want)
			}
			for _, r := range rs {
				rec, err := s.Read(r.Record.Type, r.Record.ID)
				if err != nil || rec.Version != r.Record.Version || string(rec.JSON) != string(r.Record.JSON) {
					t.Errorf("%s/%s: stored %v (err %v), result says v%d", r.Record.Type, r.Record.ID, rec, err, r.Record.Version)
				}
			}
		})
	}
}

// TestEventTimeOrdering: a PUT from an older event than the one that last
// wrote its target is not applied, and the Provenance written with it no
// longer claims it; an equal or newer event applies; entries without an
// event time are not ordered.
func TestEventTimeOrdering(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	write := func(at time.Time, gender string) []TxResult {
		t.Helper()
		p := putEntry(t, `{"resourceType":"Patient","id":"p1","gender":"`+gender+`"}`)
		p.EventTime = at
		prov := putEntry(t, `{"resourceType":"Provenance","id":"prov-`+gender+`","recorded":"2026-03-01T10:00:00Z","agent":[{"who":{"display":"x"}}],"target":[{"reference":"Patient/p1"},{"reference":"Binary/b"}]}`)
		rs, err := s.TransactionWith(ctx, []TxEntry{p, prov}, TxOptions{KeepUnchanged: true})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	gender := func() string {
		t.Helper()
		rec, err := s.Read("Patient", "p1")
		if err != nil {
			t.Fatal(err)
		}
		return string(rec.JSON)
	}
	write(t0, "female")
	if rs := write(t0.Add(-time.Minute), "male"); !rs[0].Older || rs[0].Record.Version != 1 || rs[1].Older {
		t.Errorf("older event: results %+v %+v, want the patient kept at v1", rs[0], rs[1])
	}
	if g := gender(); !strings.Contains(g, "female") {
		t.Errorf("an older event overwrote the patient: %s", g)
	}
	prov, err := s.Read("Provenance", "prov-male")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(prov.JSON), "Patient/p1") || !strings.Contains(string(prov.JSON), "Binary/b") {
		t.Errorf("the older event's Provenance still claims the patient, or lost its other target: %s", prov.JSON)
	}
	if rs := write(t0, "other"); rs[0].Older || rs[0].Record.Version != 2 {
		t.Errorf("equal time: %+v, want applied as v2", rs[0])
	}
	// Without an event time the PUT is not ordered.
	p := putEntry(t, `{"resourceType":"Patient","id":"p1","gender":"unknown"}`)
	if rs, err := s.TransactionWith(ctx, []TxEntry{p}, TxOptions{}); err != nil || rs[0].Older {
		t.Fatalf("unordered PUT: %+v %v", rs, err)
	}
	// The stored event time stays the newest ordered one.
	if rs := write(t0.Add(-time.Second), "male"); !rs[0].Older {
		t.Error("an unordered PUT reset the stored event time")
	}
}

func TestTransactionWithRefuses(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	p := putEntry(t, `{"resourceType":"Patient","id":"p1"}`)
	post := p
	post.Method, post.ID = "POST", ""
	other := p
	other.Type = "Observation"
	for name, es := range map[string][]TxEntry{
		"post":          {post},
		"type mismatch": {other},
		"same target":   {p, p},
	} {
		if _, err := s.TransactionWith(context.Background(), es, TxOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := s.Read("Patient", "p1"); outcome.KindOf(err) != outcome.NotFound {
		t.Errorf("refused transactions stored something: %v", err)
	}
}

// TestTransactionWithConcurrent: concurrent transactions that share an
// unchanged resource and each write their own share commits and all
// succeed; racing updates of one resource are retried, not lost.
func TestTransactionWithConcurrent(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	const n, racers = 64, 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := []TxEntry{
				putEntry(t, `{"resourceType":"Device","id":"mapping","status":"active"}`),
				putEntry(t, fmt.Sprintf(`{"resourceType":"Patient","id":"p%d"}`, i)),
			}
			if i < racers {
				es = append(es, putEntry(t, fmt.Sprintf(`{"resourceType":"Encounter","id":"shared","status":"in-progress","class":{"code":"IMP"},"identifier":[{"value":"%d"}]}`, i)))
			}
			_, err := s.TransactionWith(ctx, es, TxOptions{KeepUnchanged: true})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if dev, err := s.Read("Device", "mapping"); err != nil || dev.Version != 1 {
		t.Errorf("unchanged Device: %v %v, want one version", dev, err)
	}
	if enc, err := s.Read("Encounter", "shared"); err != nil || enc.Version != racers {
		t.Errorf("Encounter: %v %v, want version %d", enc, err, racers)
	}
	if st := s.Stats(); st.Commits >= st.Writes {
		t.Logf("no commit was shared (%+v): possible on a slow machine, not an error", st)
	}
}

func TestTransactionIfAbsent(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	first := putEntry(t, `{"resourceType":"Patient","id":"p1","gender":"female"}`)
	if _, err := s.Transaction(ctx, []TxEntry{first}); err != nil {
		t.Fatal(err)
	}
	again := putEntry(t, `{"resourceType":"Patient","id":"p1","gender":"male"}`)
	again.IfAbsent = true
	rs, err := s.Transaction(ctx, []TxEntry{again})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Status != "200 OK" || rs[0].Record.Version != 1 {
		t.Errorf("IfAbsent PUT over an existing resource: %s v%d, want 200 OK v1", rs[0].Status, rs[0].Record.Version)
	}
}

// TestPostWithGivenID: a POST created under an id NewID gave keeps it
// (references to its fullUrl follow), and one whose id is in use is
// refused with nothing written.
func TestPostWithGivenID(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	id := NewID()
	post := TxEntry{Method: "POST", Type: "Patient", ID: id, FullURL: "urn:uuid:0b5e2d9c-4c1e-4f7a-9d7e-1f2a3b4c5d6e", Resource: decode(t, `{"resourceType":"Patient","gender":"female"}`)}
	obs := TxEntry{Method: "POST", Type: "Observation", Resource: decode(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0b5e2d9c-4c1e-4f7a-9d7e-1f2a3b4c5d6e"}}`)}
	rs, err := s.Transaction(ctx, []TxEntry{post, obs})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Status != "201 Created" || rs[0].Record.ID != id || !strings.Contains(string(rs[1].Record.JSON), `"Patient/`+id+`"`) {
		t.Fatalf("POST with a given id: %s %s, %s", rs[0].Status, rs[0].Record.ID, rs[1].Record.JSON)
	}
	again := TxEntry{Method: "POST", Type: "Patient", ID: id, Resource: decode(t, `{"resourceType":"Patient","gender":"male"}`)}
	if _, err := s.Transaction(ctx, []TxEntry{again}); outcome.KindOf(err) != outcome.Conflict {
		t.Errorf("POST under an id in use: %v, want a conflict", err)
	}
	if rec, err := s.Read("Patient", id); err != nil || rec.Version != 1 {
		t.Errorf("the resource after the refused POST: %v %v", rec, err)
	}
}

// TestKeepUnchangedCache: a resource found unchanged is then recognised by
// its hash; a change is still written, and a write by another path is
// noticed.
func TestKeepUnchangedCache(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	put := func(js string) uint64 {
		t.Helper()
		rs, err := s.TransactionWith(ctx, []TxEntry{putEntry(t, js)}, TxOptions{KeepUnchanged: true})
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Record.Version
	}
	const active = `{"resourceType":"Device","id":"d1","status":"active"}`
	const inactive = `{"resourceType":"Device","id":"d1","status":"inactive"}`
	var got []uint64
	for _, js := range []string{active, active, active, inactive, inactive, active} {
		got = append(got, put(js))
	}
	if fmt.Sprint(got) != "[1 1 1 2 2 3]" {
		t.Errorf("versions %v, want [1 1 1 2 2 3]", got)
	}
	if _, _, err := s.Update(ctx, decode(t, active), 0); err != nil { // v4, same content
		t.Fatal(err)
	}
	if v := put(active); v != 4 {
		t.Errorf("after an update elsewhere: version %d, want 4 (kept, re-checked)", v)
	}
}

// TestTransactionWithAudit: the AuditEvents given with a transaction are
// committed with it; a transaction refused before writing records none.
func TestTransactionWithAudit(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	count := func() int {
		n := 0
		if err := s.AuditEvents(AuditQuery{}, func(AuditHead, []byte) (bool, error) { n++; return true, nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ev := testEvent("import-1", time.Now(), "Patient/p1", "")
	if _, err := s.TransactionWith(ctx, []TxEntry{putEntry(t, `{"resourceType":"Patient","id":"p1"}`)}, TxOptions{Audit: []audit.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d audit entries after the transaction, want 1", n)
	}
	bad := putEntry(t, `{"resourceType":"Patient","id":"p2"}`)
	bad.IfMatch = 7 // p2 does not exist: refused before anything is written
	if _, err := s.TransactionWith(ctx, []TxEntry{bad}, TxOptions{Audit: []audit.Event{testEvent("import-2", time.Now(), "Patient/p2", "")}}); err == nil {
		t.Fatal("a transaction with a failed precondition succeeded")
	}
	if n := count(); n != 1 {
		t.Errorf("%d audit entries after a refused transaction, want 1", n)
	}
}

// TestTransactionWithLargeIsLinear stores one transaction of many
// resources, as a large CDA document makes, then four times as many: the
// second must not take much more than four times as long. Index keys put
// in entry order into bbolt's in-memory nodes, which split only at commit,
// made this quadratic (a 16 MB document held the writer for minutes).
func TestTransactionWithLargeIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 25,000 resources")
	}
	s := openTest(t)
	run := func(prefix string, n int) time.Duration {
		es := make([]TxEntry, n)
		for i := range es {
			es[i] = putEntry(t, fmt.Sprintf(`{"resourceType":"Observation","id":"%s%d","status":"final",
				"identifier":[{"system":"urn:oid:1.2.3","value":"%s-%d"}],
				"code":{"coding":[{"system":"http://loinc.org","code":"33762-6"}]},
				"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2027-01-14"}`, prefix, i, prefix, i))
		}
		start := cpuTime(t)
		if _, err := s.TransactionWith(context.Background(), es, TxOptions{}); err != nil {
			t.Fatal(err)
		}
		return cpuTime(t) - start
	}
	run("warm", 200)
	small, large := run("s", 5000), run("l", 40000)
	t.Logf("5,000 resources %v, 40,000 %v", small, large)
	if large > 16*small {
		t.Errorf("40,000 resources took %v of CPU, more than twice eight times the %v of 5,000", large, small)
	}
	q, err := search.Parse("Observation", url.Values{"identifier": {"urn:oid:1.2.3|l-39999"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if hits, err := s.Search(q, nil); err != nil || len(hits) != 1 {
		t.Fatalf("search after the large transaction: %d hits, %v", len(hits), err)
	}
}

// cpuTime is the CPU time the test process has used: unlike the time
// elapsed, it hardly depends on what else the machine runs.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestTransactionWithPinned: a pinned entry writes only over the version
// it was decided on, as it does in Transaction; otherwise nothing of the
// transaction is written and the error is ErrMoved.
func TestTransactionWithPinned(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	const pat = `{"resourceType":"Patient","id":"p1","gender":"female"}`
	if _, err := s.TransactionWith(ctx, []TxEntry{putEntry(t, pat)}, TxOptions{}); err != nil {
		t.Fatal(err)
	}
	moved := putEntry(t, `{"resourceType":"Patient","id":"p1","gender":"male"}`)
	moved.Pinned, moved.Expect = true, 2
	dev := putEntry(t, `{"resourceType":"Device","id":"d1","status":"active"}`)
	if _, err := s.TransactionWith(ctx, []TxEntry{dev, moved}, TxOptions{}); !errors.Is(err, ErrMoved) {
		t.Fatalf("pinned to a version that is not current: %v, want ErrMoved", err)
	}
	if _, err := s.Read("Device", "d1"); err == nil {
		t.Error("a transaction that failed wrote its other entry")
	}
	moved.Expect = 1
	rs, err := s.TransactionWith(ctx, []TxEntry{moved}, TxOptions{})
	if err != nil || rs[0].Record.Version != 2 {
		t.Fatalf("pinned to the current version: %v, %v", statuses(rs), err)
	}
}

// TestTransactionKeepUnchanged: in Transaction, a PUT entry with
// KeepUnchanged whose resource equals the current version (but for
// meta.versionId and meta.lastUpdated) writes nothing and answers the
// current version; one that changes, one without the flag and one to a
// deleted resource make versions; If-Match is checked first.
func TestTransactionKeepUnchanged(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	const pat = `{"resourceType":"Patient","id":"p1","gender":"female"}`
	const dev = `{"resourceType":"Device","id":"d1","status":"active"}`
	if _, err := s.Transaction(ctx, []TxEntry{putEntry(t, pat), putEntry(t, dev)}); err != nil {
		t.Fatal(err)
	}
	keep := func(js string) TxEntry { e := putEntry(t, js); e.KeepUnchanged = true; return e }
	same := keep(pat)
	resource.SetVersion(same.Resource, 7, time.Unix(1, 0)) // a client's stale meta is not content
	rs, err := s.Transaction(ctx, []TxEntry{same, keep(`{"resourceType":"Device","id":"d1","status":"inactive"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(statuses(rs)); got != "[200 OK v1 200 OK v2]" {
		t.Errorf("results %s, want the unchanged Patient kept at v1 and the Device at v2", got)
	}
	if rec, err := s.Read("Patient", "p1"); err != nil || rec.Version != 1 {
		t.Errorf("Patient stored at %v (%v), want v1", rec, err)
	}
	rs, err = s.Transaction(ctx, []TxEntry{putEntry(t, pat)})
	if err != nil || fmt.Sprint(statuses(rs)) != "[200 OK v2]" {
		t.Errorf("without KeepUnchanged: %v %v, want a version", statuses(rs), err)
	}
	stale := keep(pat)
	stale.IfMatch = 1
	if _, err := s.Transaction(ctx, []TxEntry{stale}); outcome.KindOf(err) != outcome.PreconditionFailed {
		t.Errorf("an unchanged PUT with a stale If-Match: %v, want 412", err)
	}
	if _, err := s.Transaction(ctx, []TxEntry{{Method: "DELETE", Type: "Patient", ID: "p1"}}); err != nil {
		t.Fatal(err)
	}
	rs, err = s.Transaction(ctx, []TxEntry{keep(pat)})
	if err != nil || fmt.Sprint(statuses(rs)) != "[201 Created v4]" {
		t.Errorf("PUT after a delete: %v %v, want it created again", statuses(rs), err)
	}
}
