package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestGeneration: every kind of resource write moves the generation on;
// a decision record, written on every consent-filtered read, does not.
// The store's Generation, read without a snapshot, is always the one a
// snapshot taken then reads: a value memoised under it would otherwise
// outlive a write.
func TestGeneration(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	gen := func() uint64 {
		t.Helper()
		var g uint64
		if err := s.View(func(r *Snapshot) error { g = r.Generation(); return nil }); err != nil {
			t.Fatal(err)
		}
		if sg, err := s.Generation(); err != nil || sg != g {
			t.Fatalf("Store.Generation = %d, %v; a snapshot's is %d", sg, err, g)
		}
		return g
	}
	rec, err := s.Create(ctx, decode(t, `{"resourceType":"Patient","name":[{"family":"Dupont"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		fn   func() error
	}{
		{"update", func() error {
			_, _, err := s.Update(ctx, decode(t, `{"resourceType":"Patient","id":"`+rec.ID+`","name":[{"family":"Durand"}]}`), 0)
			return err
		}},
		{"transaction", func() error {
			_, err := s.Transaction(ctx, []TxEntry{{Method: "PUT", Type: "Organization", ID: "org1",
				Resource: decode(t, `{"resourceType":"Organization","id":"org1","name":"Clinique"}`)}})
			return err
		}},
		{"delete", func() error { _, err := s.Delete(ctx, "Patient", rec.ID, 0); return err }},
	}
	for _, w := range writes {
		before := gen()
		if err := w.fn(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if gen() == before {
			t.Errorf("%s left the generation at %d", w.name, before)
		}
	}
	before := gen()
	if err := s.AppendAudit(ctx, testEvent("d1", time.Now(), "Patient/"+rec.ID, "PractitionerRole/gp")); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != before {
		t.Errorf("an audit entry moved the generation from %d to %d", before, g)
	}
}

// TestGenerationAfterReopen: a store opened on a file that holds writes
// starts from the file's generation, not from zero, which a value
// memoised from an empty store is filed under.
func TestGenerationAfterReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(context.Background(), decode(t, `{"resourceType":"Patient","name":[{"family":"Dupont"}]}`)); err != nil {
		t.Fatal(err)
	}
	want, err := s.Generation()
	if err != nil || want == 0 {
		t.Fatalf("Generation after a write = %d, %v", want, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generation(); err == nil {
		t.Error("a closed store answered Generation")
	}
	s, err = Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Generation(); err != nil || got != want {
		t.Errorf("Generation after reopening = %d, %v; want %d", got, err, want)
	}
}
