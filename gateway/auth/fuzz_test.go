package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, never
// accept anything it was not given a valid signature for, and always refuse
// with a static summary.
func FuzzVerify(f *testing.F) {
	es := testKeys()[AlgES256]
	good := es.sign(f, goodClaims(), es.kid)
	f.Add(good)
	f.Add(noneToken(f, goodClaims()))
	f.Add("a.b.c")
	f.Add(strings.Replace(good, ".", "..", 1))
	v := newTestVerifier(f, fixed(t0), 0)
	signed := good[:strings.LastIndexByte(good, '.')]
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := v.Verify(raw)
		if err == nil {
			// ECDSA signatures are malleable ((r, s) and (r, n-s) both
			// verify), so only the signed part must be the one we signed.
			if !strings.HasPrefix(raw, signed+".") {
				t.Fatalf("accepted a token never signed: %q -> %+v", raw, *p)
			}
			return
		}
		var oe *outcome.Error
		if !errors.As(err, &oe) || oe.Kind != outcome.Unauthenticated || oe.Err != nil || len(oe.Issues) != 0 {
			t.Fatalf("refusal is not a bare Unauthenticated summary: %#v", err)
		}
	})
}
