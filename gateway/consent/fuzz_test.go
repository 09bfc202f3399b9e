package consent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
)

// FuzzConsent feeds Consent JSON (seeded with the corpus examples and the
// decision table's Consents) through the codec, Validate, compilation and
// a decision. Nothing may panic; Validate fails only with a 422; a Consent
// that is not active, or whose root cannot match, never changes the answer.
func FuzzConsent(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "r4-Consent-*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range decideCases() {
		for _, js := range tc.consents {
			f.Add([]byte(js))
		}
	}
	for _, js := range fiveNested() {
		f.Add([]byte(js))
	}
	m := world()
	e := newEngine(f, m, testNow)
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := testCodec.Decode(b)
		if err != nil {
			return
		}
		c, ok := msg.(*cpb.Consent)
		if !ok {
			return
		}
		if err := Validate(c); err != nil && !errors.Is(err, outcome.ErrUnprocessable) {
			t.Fatalf("Validate: %v is not a 422", err)
		}
		cc := compile(c)
		for _, actor := range []string{nurse, sw, physio} {
			req := Request{Patient: "Patient/p1", Actor: actor, Resource: obs, Draft: c, Explain: true}
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !cc.active() || cc.patient != "Patient/p1" {
				req.Draft = nil
				base, _ := e.Decide(context.Background(), req)
				if base.Permit != d.Permit || base.Policy != d.Policy {
					t.Fatalf("a Consent that cannot apply changed the decision: %+v vs %+v", d, base)
				}
			}
			if d.Permit && len(d.Obligations) == 0 {
				t.Fatalf("permit without obligations: %+v", d)
			}
		}
	})
}
