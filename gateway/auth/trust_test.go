package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const (
	ownIssuer   = "https://relais.example"
	ownAudience = "relais-own"
)

// TestVerifierTrustsSeveralIssuers: a Verifier with a second issuer
// accepts the tokens of both, each checked with its own issuer's keys and
// audience, and refuses a key vouching for the other issuer.
func TestVerifierTrustsSeveralIssuers(t *testing.T) {
	t.Parallel()
	idp := testKeys()[AlgES256]
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	own := signer{AlgES256, "own", jwt.SigningMethodES256, priv}
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, Keys: []Key{idp.key()},
		Also: []Trust{{Issuer: ownIssuer, Audience: ownAudience, Keys: []Key{own.key()}}}, Now: fixed(t0), CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	ownClaims := func() jwt.MapClaims { return with(goodClaims(), "iss", ownIssuer, "aud", ownAudience) }
	for name, raw := range map[string]string{
		"identity provider": idp.sign(t, goodClaims(), idp.kid),
		"own":               own.sign(t, ownClaims(), own.kid),
		"own without kid":   own.sign(t, ownClaims(), "-"),
	} {
		if _, err := v.Verify(raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	tests := []struct {
		name, raw, want string
	}{
		{"own key for the provider's issuer", own.sign(t, goodClaims(), own.kid), msgUnknownKey},
		{"own key without kid for the provider's issuer", own.sign(t, goodClaims(), "-"), msgSignature},
		{"provider's key for the own issuer", idp.sign(t, ownClaims(), idp.kid), msgUnknownKey},
		{"provider's key without kid for the own issuer", idp.sign(t, ownClaims(), "-"), msgSignature},
		{"own issuer, provider's audience", own.sign(t, with(ownClaims(), "aud", testAudience), own.kid), msgAudience},
		{"provider's issuer, own audience", idp.sign(t, with(goodClaims(), "aud", ownAudience), idp.kid), msgAudience},
		{"unknown issuer", idp.sign(t, with(goodClaims(), "iss", "https://evil.example"), idp.kid), msgIssuer},
		{"unknown issuer, own key", own.sign(t, with(ownClaims(), "iss", "https://evil.example"), own.kid), msgUnknownKey},
		{"iss not a string", own.sign(t, with(ownClaims(), "iss", 7), own.kid), msgMalformed},
		{"own issuer, alg none", noneToken(t, ownClaims()), msgAlgorithm},
		{"own issuer, HS256 with the public key", hmacWithPublicKey(t, own, jwt.SigningMethodHS256, false), msgAlgorithm},
		{"own issuer, no exp", own.sign(t, with(ownClaims(), "exp", nil), own.kid), msgNoExp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(tt.raw)
			if err == nil {
				t.Fatalf("accepted: %+v", *p)
			}
			checkRefusal(t, err, tt.want, tt.raw)
		})
	}
}

func TestNewVerifierChecksEveryIssuer(t *testing.T) {
	t.Parallel()
	k := testKeys()[AlgES256].key()
	base := Config{Issuer: testIssuer, Audience: testAudience, Keys: []Key{k}}
	tests := []struct {
		name string
		also []Trust
		want string
	}{
		{"same issuer twice", []Trust{{Issuer: testIssuer, Audience: "x", Keys: []Key{k}}}, "trusted twice"},
		{"no keys", []Trust{{Issuer: ownIssuer, Audience: ownAudience}}, "no signing key"},
		{"no audience", []Trust{{Issuer: ownIssuer, Keys: []Key{k}}}, "issuer and audience"},
		{"bad key", []Trust{{Issuer: ownIssuer, Audience: ownAudience, Keys: []Key{{Public: "x"}}}}, "unsupported public key"},
	}
	for _, tt := range tests {
		cfg := base
		cfg.Also = tt.also
		if _, err := NewVerifier(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewVerifier = %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}
