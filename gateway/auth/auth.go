// Package auth authenticates FHIR API callers: it verifies their JWT bearer
// tokens, reads their SMART on FHIR scopes and fhirUser claim into a
// Principal, and mints development tokens.
//
// Verification follows the SMART backend-services and RFC 9068 profiles:
// the signature must use ES256, RS256 or EdDSA with a configured key; exp
// is required; iss and aud must match; nbf and iat are honoured; clocks may
// disagree by a small leeway. A refused token yields an *outcome.Error of kind
// Unauthenticated whose summary says what was wrong in static words.
//
// The raw token never leaves this package: it is not logged, not wrapped in
// errors (jwt's parse errors can quote token content) and not put in the
// Principal. Verified tokens are cached until they expire, so a client that
// reuses its token pays for the signature check once.
//
// See https://hl7.org/fhir/smart-app-launch/ and RFC 7519, 8725.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for Config.
const (
	DefaultLeeway    = 30 * time.Second
	DefaultCacheSize = 10000
	// MaxTokenBytes bounds the accepted token size; real tokens are well
	// under 2 KiB.
	MaxTokenBytes = 8 << 10
)

// Config configures a Verifier.
type Config struct {
	Issuer   string // required; compared with iss
	Audience string // required; must be one of aud
	Keys     []Key  // trusted signing keys, at least one
	// Leeway is the clock skew tolerated on exp, nbf and iat; 0 means
	// DefaultLeeway, negative means none.
	Leeway time.Duration
	// CacheSize bounds the verified-token cache; 0 means DefaultCacheSize,
	// negative disables caching.
	CacheSize int
	Now       func() time.Time // nil means time.Now
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	now    func() time.Time
	parser *jwt.Parser
	keys   map[string][]Key // by algorithm
	cache  *tokenCache
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("auth: no signing key configured")
	}
	v := &Verifier{now: cfg.Now, keys: make(map[string][]Key), cache: newTokenCache(cacheSize(cfg.CacheSize))}
	if v.now == nil {
		v.now = time.Now
	}
	for i, k := range cfg.Keys {
		k.Public = normalizeKey(k.Public)
		alg, err := keyAlg(k.Public)
		if err != nil {
			return nil, fmt.Errorf("auth: key %d: %w", i, err)
		}
		v.keys[alg] = append(v.keys[alg], k)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{AlgES256, AlgRS256, AlgEdDSA}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway(cfg.Leeway)),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

func leeway(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultLeeway
	case d < 0:
		return 0
	}
	return d
}

func cacheSize(n int) int {
	if n == 0 {
		return DefaultCacheSize
	}
	return n
}

// Verify checks a raw JWT and returns its principal. The returned Principal
// may be shared with other callers of the same token: do not modify it.
func (v *Verifier) Verify(raw string) (*Principal, error) {
	if raw == "" {
		return nil, refused(msgNoToken)
	}
	if len(raw) > MaxTokenBytes {
		return nil, refused(msgTooLarge)
	}
	now := v.now()
	if v.cache != nil {
		if p, ok := v.cache.get(raw, now.UnixNano()); ok {
			return p, nil
		}
	}
	p, err := v.verify(raw)
	if err != nil {
		return nil, err
	}
	if v.cache != nil && now.Before(p.ExpiresAt) {
		v.cache.put(raw, p, p.ExpiresAt.UnixNano(), now.UnixNano())
	}
	return p, nil
}

// VerifyHeader verifies the token of an Authorization header value
// ("Bearer <token>"; the scheme is case-insensitive, RFC 6750 section 2.1).
func (v *Verifier) VerifyHeader(authorization string) (*Principal, error) {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, refused(msgNoToken)
	}
	return v.Verify(strings.TrimLeft(tok, " "))
}

// verify does the full check: signature, then claims.
func (v *Verifier) verify(raw string) (*Principal, error) {
	var c claims
	tok, err := v.parser.ParseWithClaims(raw, &c, v.keyFor)
	if err != nil {
		return nil, refused(reason(err, tok, &c))
	}
	return c.principal()
}

// keyFor picks the keys that may have signed tok: those of its algorithm
// whose ID matches its kid (keys without an ID match any kid).
func (v *Verifier) keyFor(tok *jwt.Token) (any, error) {
	cands := v.keys[tok.Method.Alg()]
	kid, _ := tok.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range cands {
		if kid == "" || k.ID == "" || k.ID == kid {
			set.Keys = append(set.Keys, k.Public)
		}
	}
	switch len(set.Keys) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return set.Keys[0], nil
	}
	return set, nil
}
