// Package auth authenticates FHIR API callers: it verifies their JWT bearer
// tokens, reads their SMART on FHIR scopes and fhirUser claim into a
// Principal, and mints development tokens. It is also the authorization
// server of SMART Backend Services (backend.go): registered clients trade
// a signed assertion for a short-lived token the Verifier accepts.
//
// Verification follows the SMART backend-services and RFC 9068 profiles:
// the signature must use ES256, RS256 or EdDSA with a key of the issuer
// the token names (a Verifier may trust several: an identity provider and
// this server's own token endpoint); exp is required; iss and aud must
// match; nbf and iat are honoured; clocks may disagree by a small leeway. A refused token yields an *outcome.Error of kind
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
	"encoding/base64"
	"encoding/json"
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
	// Also lists further issuers the Verifier trusts, each with its own
	// audience and keys, such as this server's token endpoint beside an
	// identity provider. A token is checked against the issuer its iss
	// names (Issuer when it names none of them), with that issuer's keys
	// only: one issuer's key cannot vouch for another's tokens. Every
	// issuer must be distinct.
	Also []Trust
	// Leeway is the clock skew tolerated on exp, nbf and iat; 0 means
	// DefaultLeeway, negative means none.
	Leeway time.Duration
	// CacheSize bounds the verified-token cache; 0 means DefaultCacheSize,
	// negative disables caching.
	CacheSize int
	Now       func() time.Time // nil means time.Now
}

// Trust is an issuer whose tokens a Verifier accepts: its iss, the
// audience its tokens must name and the keys that sign them.
type Trust struct {
	Issuer   string // required; compared with iss
	Audience string // required; must be one of aud
	Keys     []Key  // at least one
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	now     func() time.Time
	issuers []*issuer // Config's own first, then Also's
	cache   *tokenCache
}

// issuer is one trusted issuer with its parser, which checks iss and aud.
type issuer struct {
	name   string
	parser *jwt.Parser
	keys   map[string][]Key // by algorithm
}

// NewVerifier checks cfg and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{now: cfg.Now, cache: newTokenCache(cacheSize(cfg.CacheSize))}
	if v.now == nil {
		v.now = time.Now
	}
	trusts := append([]Trust{{Issuer: cfg.Issuer, Audience: cfg.Audience, Keys: cfg.Keys}}, cfg.Also...)
	seen := map[string]bool{}
	for i, tr := range trusts {
		is, err := newIssuer(tr, leeway(cfg.Leeway), v.now)
		if err != nil {
			if i > 0 {
				err = fmt.Errorf("%w (issuer %q)", err, tr.Issuer)
			}
			return nil, err
		}
		if seen[tr.Issuer] {
			return nil, fmt.Errorf("auth: issuer %q trusted twice", tr.Issuer)
		}
		seen[tr.Issuer] = true
		v.issuers = append(v.issuers, is)
	}
	return v, nil
}

func newIssuer(tr Trust, leeway time.Duration, now func() time.Time) (*issuer, error) {
	if tr.Issuer == "" || tr.Audience == "" {
		return nil, errors.New("auth: issuer and audience are required")
	}
	if len(tr.Keys) == 0 {
		return nil, errors.New("auth: no signing key configured")
	}
	is := &issuer{name: tr.Issuer, keys: make(map[string][]Key)}
	for i, k := range tr.Keys {
		k.Public = normalizeKey(k.Public)
		alg, err := keyAlg(k.Public)
		if err != nil {
			return nil, fmt.Errorf("auth: key %d: %w", i, err)
		}
		is.keys[alg] = append(is.keys[alg], k)
	}
	is.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{AlgES256, AlgRS256, AlgEdDSA}),
		jwt.WithIssuer(tr.Issuer),
		jwt.WithAudience(tr.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return is, nil
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

// verify does the full check, against the issuer the token names:
// signature, then claims.
func (v *Verifier) verify(raw string) (*Principal, error) {
	is := v.issuerOf(raw)
	var c claims
	tok, err := is.parser.ParseWithClaims(raw, &c, is.keyFor)
	if err != nil {
		return nil, refused(reason(err, tok, &c))
	}
	return c.principal()
}

// issuerOf returns the trusted issuer raw's iss names, the first one when
// it names none (or cannot be read): that issuer's parser then refuses
// the token as a single-issuer Verifier would. Nothing read here is
// trusted: it only chooses whose keys and claims to check against.
func (v *Verifier) issuerOf(raw string) *issuer {
	if len(v.issuers) == 1 {
		return v.issuers[0]
	}
	iss := unverifiedIssuer(raw)
	for _, is := range v.issuers[1:] {
		if iss == is.name {
			return is
		}
	}
	return v.issuers[0]
}

// unverifiedIssuer reads the iss claim of a JWS compact serialisation
// without checking anything; "" when there is none to read.
func unverifiedIssuer(raw string) string {
	_, rest, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Iss any `json:"iss"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	s, _ := c.Iss.(string)
	return s
}

// keyFor picks the keys that may have signed tok: those of the issuer's
// of its algorithm whose ID matches its kid (keys without an ID match any
// kid).
func (is *issuer) keyFor(tok *jwt.Token) (any, error) {
	cands := is.keys[tok.Method.Alg()]
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
