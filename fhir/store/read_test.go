package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// TestReadAllowedDecidesOnTheVersionRead flips a sensitivity label on and
// off while readers that must never see a labelled version read the
// resource: each answer is either not found or a version without the
// label, and the decision saw the values of exactly that version.
func TestReadAllowedDecidesOnTheVersionRead(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	obs := func(round int, psy bool) string {
		sec := ""
		if psy {
			sec = `"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]},`
		}
		return fmt.Sprintf(`{"resourceType":"Observation","id":"o1",%s"status":"final","code":{"text":"round %d"},"subject":{"reference":"Patient/p1"}}`, sec, round)
	}
	noPSY := func(_ *Snapshot, _, _ string, v IndexValues) bool {
		for _, tok := range v.Tokens("_security") {
			if tok == "http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY" {
				return false
			}
		}
		return true
	}
	if _, _, err := s.Update(ctx, decode(t, obs(0, true)), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAllowed("Observation", "o1", noPSY); outcome.KindOf(err) != outcome.NotFound {
		t.Fatalf("labelled version: %v, want not found", err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for round := 1; round <= 300; round++ {
			if _, _, err := s.Update(ctx, decode(t, obs(round, round%2 == 1)), 0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var seen atomic.Int64
	for reader := 0; reader < 2; reader++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				rec, err := s.ReadAllowed("Observation", "o1", noPSY)
				if outcome.KindOf(err) == outcome.NotFound {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				if bytes.Contains(rec.JSON, []byte("PSY")) {
					t.Errorf("version %d served with its PSY label", rec.Version)
					return
				}
				seen.Add(1)
			}
		}()
	}
	wg.Wait()
	if rec, err := s.ReadAllowed("Observation", "o1", noPSY); err != nil || bytes.Contains(rec.JSON, []byte("PSY")) {
		t.Fatalf("last version (unlabelled): %v", err)
	}
	t.Logf("%d unlabelled reads", seen.Load())
}
