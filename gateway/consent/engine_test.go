package consent

import (
	"context"
	"crypto/aes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// countRecorder counts the records it is given.
type countRecorder struct{ n int }

func (r *countRecorder) Record(_ context.Context, rs ...Record) error { r.n += len(rs); return nil }

// TestStats: the counters follow the decision log, one per Decide and one
// per patient of a filtered request, a failed Decide counting as a denial.
func TestStats(t *testing.T) {
	t.Parallel()
	m := world()
	rec := &countRecorder{}
	e, err := New(Config{Directory: m, CareTeams: m, Consents: m, HashKey: []byte("test-key"), Recorder: rec,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	decide := func(actor, patient string) {
		t.Helper()
		if _, err := e.Decide(ctx, Request{Patient: patient, Actor: actor, Resource: obs}); err != nil {
			t.Fatal(err)
		}
	}
	decide("PractitionerRole/nurse-role", "Patient/p1")  // care team: permit
	decide("PractitionerRole/physio-role", "Patient/p1") // outside it: deny
	decide("PractitionerRole/nurse-role", "")            // no patient: deny
	filter := func(actor string) {
		t.Helper()
		f := e.NewFilter(ctx, Request{Actor: actor})
		f.Allow(nil, "Observation", "o1", factIndex{obs})
		f.Allow(nil, "Observation", "o2", factIndex{obs})
		if _, err := f.Record(ctx); err != nil {
			t.Fatal(err)
		}
	}
	filter("PractitionerRole/nurse-role")  // one record, permit
	filter("PractitionerRole/physio-role") // one record, deny
	if got, want := e.Stats(), (Stats{Permits: 2, Denies: 3}); got != want || rec.n != 5 {
		t.Errorf("Stats = %+v after %d records, want %+v after 5", got, rec.n, want)
	}
}

// idEngine is an Engine that only makes decision IDs, with a fixed key
// and prefix, its clock reading *at.
func idEngine(t *testing.T, at *time.Time) *Engine {
	t.Helper()
	k, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{idKey: k, idPrefix: "p"}
	e.cfg.Now = func() time.Time { return *at }
	return e
}

// TestDecisionIDsAreUniqueWithoutOrder: newID's suffix is a permutation
// of the sequence, so IDs never repeat, and neither their order nor their
// distance follows the sequence.
func TestDecisionIDsAreUniqueWithoutOrder(t *testing.T) {
	at := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)
	e := idEngine(t, &at)
	seen := map[string]bool{}
	var prev uint64
	ascending := 0
	for i := range 100_000 {
		id := e.newID()
		if seen[id] {
			t.Fatalf("decision %d repeats ID %s", i, id)
		}
		seen[id] = true
		n, err := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 36, 64)
		if err != nil {
			t.Fatalf("ID %s: %v", id, err)
		}
		if n > prev {
			ascending++
		}
		if i > 0 && n > prev && n-prev < 1<<16 {
			t.Fatalf("IDs %d and %d are %d apart", i-1, i, n-prev)
		}
		prev = n
	}
	if ascending < 45_000 || ascending > 55_000 {
		t.Errorf("%d of 100000 IDs above the one before: they follow an order", ascending)
	}
}

// TestDecisionIDsSortBySecond: the IDs of a later second sort after
// those of an earlier one, whatever their sequence, so that the store's
// index of audit entries by ID grows at its end.
func TestDecisionIDsSortBySecond(t *testing.T) {
	at := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)
	e := idEngine(t, &at)
	var prev []string
	for range 50 {
		var ids []string
		for range 100 {
			ids = append(ids, e.newID())
		}
		for _, p := range prev {
			for _, id := range ids {
				if id <= p {
					t.Fatalf("ID %s made a second after %s sorts before it", id, p)
				}
			}
		}
		prev, at = ids, at.Add(time.Second)
	}
	// far enough ahead that the second needs all its digits
	at = time.Date(4000, 1, 1, 0, 0, 0, 0, time.UTC)
	if id := e.newID(); id <= prev[0] || len(id) > 64 {
		t.Errorf("ID %s of the year 4000 sorts before %s or is longer than a FHIR id may be", id, prev[0])
	}
}
