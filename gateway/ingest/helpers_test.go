package ingest

import (
	"context"
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

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openStore opens a real store in a temp dir, integrity-checked and closed
// at cleanup.
func openStore(t testing.TB) *store.Store {
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
	return st
}

// newTest opens a real store in a temp dir (integrity-checked at the end)
// and a started Ingester on it, closed before the store.
func newTest(t testing.TB) (*Ingester, *store.Store) {
	t.Helper()
	st := openStore(t)
	in, err := New(Config{Store: st, Logger: quietLogger(), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, in)
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

// start starts in and closes it at cleanup (before the store, whose
// cleanup was registered first).
func start(t testing.TB, in *Ingester) {
	t.Helper()
	if _, err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
}
