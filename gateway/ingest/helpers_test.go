package ingest

import (
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
)

var testCodec = codec.MustNew()

// tick is a clock that advances a second per call, so that an ACK built
// twice would differ in MSH-7.
func tick() func() time.Time {
	var n atomic.Int64
	base := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

// newTest opens a real store in a temp dir (integrity-checked at the end)
// and an Ingester on it.
func newTest(t testing.TB) (*Ingester, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !st.Ready() {
			return
		}
		if err := st.Check(); err != nil {
			t.Errorf("bbolt integrity: %v", err)
		}
		st.Close()
	})
	in, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	return in, st
}

// changes counts the versions the store wrote (system history).
func changes(t testing.TB, st *store.Store) int {
	t.Helper()
	n, before := 0, uint64(0)
	for {
		h, err := st.TypeHistory("", store.HistoryOptions{Count: 1000, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		n += len(h.Records)
		if h.Next == 0 {
			return n
		}
		before = h.Next
	}
}
