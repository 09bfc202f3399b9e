package consent

import (
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// BenchmarkIndexValuesFloor measures what any store.Filter pays before it
// decides anything: the same 1,000-Observation search as
// BenchmarkSearchFilter with trivial filters that only read index values.
// The consent filter reads _security and patient, so "security+patient" is
// its floor; the gap to "nil" is the store's per-resource idxrev load, not
// the engine.
func BenchmarkIndexValuesFloor(b *testing.B) {
	st := openStore(b)
	storeWorld(b, st, 1000)
	q := &search.Query{Type: "Observation"}
	for _, bc := range []struct {
		name string
		f    store.Filter
	}{
		{"nil", nil},
		{"true", func(string, string, store.IndexValues) bool { return true }},
		{"security", func(_, _ string, v store.IndexValues) bool { return len(v.Tokens("_security")) >= 0 }},
		{"security+patient", func(_, _ string, v store.IndexValues) bool {
			return len(v.Tokens("_security"))+len(v.Refs("patient")) >= 0
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := st.Search(q, bc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
