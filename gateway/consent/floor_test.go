package consent

import (
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// BenchmarkIndexValuesFloor measures what any store.Filter pays before it
// decides anything: the same 1,000-Observation search as
// BenchmarkSearchFilter with trivial filters that only read index values.
// "security+patient" reads what the consent filter needs through the
// IndexValues methods; "groups" reads the same in one store.Groups walk,
// which is what the filter does: its floor. The gap to "nil" is the
// store's values, not the engine.
func BenchmarkIndexValuesFloor(b *testing.B) {
	st := openStore(b)
	storeWorld(b, st, 1000)
	q := &search.Query{Type: "Observation"}
	for _, bc := range []struct {
		name string
		f    store.Filter
	}{
		{"nil", nil},
		{"true", func(*store.Snapshot, string, string, store.IndexValues) bool { return true }},
		{"security", func(_ *store.Snapshot, _, _ string, v store.IndexValues) bool { return len(v.Tokens("_security")) >= 0 }},
		{"security+patient", func(_ *store.Snapshot, _, _ string, v store.IndexValues) bool {
			return len(v.Tokens("_security"))+len(v.Refs("patient")) >= 0
		}},
		{"groups", func(_ *store.Snapshot, _, _ string, v store.IndexValues) bool {
			n := 0
			gs, _ := store.GroupsOf(v)
			for gs.NextLeading("patient", "_security") {
				n += len(gs.Raw())
			}
			return n >= 0
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := st.Search(q, bc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
