package fhirtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
)

// LoadObservations stores n Observations o0..o<n-1> spread over n/20
// patients p0.. (20 each, with distinct dates) through 1000-entry
// transactions, for search benchmarks.
func LoadObservations(tb testing.TB, s *store.Store, n int) {
	tb.Helper()
	c := codec.MustNew()
	const per = 1000
	for start := 0; start < n; start += per {
		var entries []store.TxEntry
		for i := start; i < min(n, start+per); i++ {
			id := fmt.Sprintf("o%d", i)
			js := fmt.Sprintf(`{"resourceType":"Observation","id":"%s","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"%d"}]},"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2026-%02d-%02d"}`,
				id, 8000+i%50, i/20, 1+i%12, 1+i%28)
			m, err := c.Decode([]byte(js))
			if err != nil {
				tb.Fatal(err)
			}
			entries = append(entries, store.TxEntry{Method: "PUT", Type: "Observation", ID: id, Resource: m})
		}
		if _, err := s.Transaction(context.Background(), entries); err != nil {
			tb.Fatal(err)
		}
	}
}
