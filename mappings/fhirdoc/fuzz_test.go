package fhirdoc

import (
	"errors"
	"os"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// FuzzConvert feeds mutated documents to Convert: it must never panic
// (Convert turns a panic into an Internal error, which fails here), refuse
// only with Invalid or TooLarge, and produce Bundles that print.
func FuzzConvert(f *testing.F) {
	for _, name := range []string{"testdata/discharge-summary.json", fatherExample} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Bundle","type":"document","identifier":{"system":"urn:x","value":"1"},"timestamp":"2026-01-01T00:00:00Z",` +
		`"entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Composition","status":"final","type":{"text":"t"},"date":"2026","title":"t",` +
		`"author":[{"display":"a"}],"subject":{"reference":"urn:uuid:2"}}},{"fullUrl":"urn:uuid:2","resource":{"resourceType":"Patient"}}]}`))
	o := opts()
	o.MaxSize = 1 << 20
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := Convert(doc, o)
		if err != nil {
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid && oe.Kind != outcome.TooLarge {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if _, err := testCodec.Encode(res.Bundle); err != nil {
			t.Fatalf("bundle does not print: %v", err)
		}
	})
}
