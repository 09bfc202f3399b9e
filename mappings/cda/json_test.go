package cda

import (
	"bytes"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
)

// TestEncodeJSONMatchesJSONFormat: the fast printer prints every corpus
// Bundle exactly as the project's jsonformat codec does.
func TestEncodeJSONMatchesJSONFormat(t *testing.T) {
	t.Parallel()
	cd := codec.MustNew()
	for _, in := range inputs(t) {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			b := convertFile(t, in.path)
			fast, err := EncodeJSON(b) // before jsonformat, which rewrites references in place
			if err != nil {
				t.Fatal(err)
			}
			want, err := cd.Encode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fast, want) {
				i := 0
				for i < len(fast) && i < len(want) && fast[i] == want[i] {
					i++
				}
				lo := max(0, i-120)
				t.Errorf("differs at byte %d:\nfast: %s\nwant: %s", i, fast[lo:min(len(fast), i+80)], want[lo:min(len(want), i+80)])
			}
		})
	}
}
