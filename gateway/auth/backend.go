package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// The token endpoint of SMART App Launch v2 Backend Services
// (https://hl7.org/fhir/smart-app-launch/backend-services.html): a
// registered client authenticates with a JWT it signs with one of its
// registered keys (private_key_jwt, RFC 7523 section 2.2, RFC 7521 section
// 4.2) and receives a short-lived access token, signed with the server's
// IssuingKey, that the Verifier accepts beside the identity provider's.

// The request values of a client_credentials grant with a JWT assertion.
const (
	GrantClientCredentials = "client_credentials"
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// AccessTokenTTL is the lifetime of an issued access token, and
// MaxAssertionLifetime how far ahead an assertion's exp may be (SMART
// Backend Services: "no more than five minutes in the future").
const (
	AccessTokenTTL       = 5 * time.Minute
	MaxAssertionLifetime = 5 * time.Minute
)

// maxJTI bounds the jti of an assertion, which is kept until it expires.
const maxJTI = 255

// The error codes of RFC 6749 section 5.2, and server_error for a failure
// of the server's own (the jti record, the client registry).
const (
	ErrCodeInvalidRequest       = "invalid_request"
	ErrCodeInvalidClient        = "invalid_client"
	ErrCodeInvalidGrant         = "invalid_grant"
	ErrCodeInvalidScope         = "invalid_scope"
	ErrCodeUnsupportedGrantType = "unsupported_grant_type"
	ErrCodeServerError          = "server_error"
)

// TokenError is the token endpoint's refusal (RFC 6749 section 5.2).
// Description is static and never quotes the request: it may be logged
// and is sent as error_description.
type TokenError struct {
	Code        string
	Description string
}

func (e *TokenError) Error() string { return e.Code + ": " + e.Description }

// Status is the HTTP status of the refusal: 401 for invalid_client, 500
// for server_error, 400 otherwise.
func (e *TokenError) Status() int {
	switch e.Code {
	case ErrCodeInvalidClient:
		return http.StatusUnauthorized
	case ErrCodeServerError:
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

func tokenError(code, description string) *TokenError {
	return &TokenError{Code: code, Description: description}
}

// Registry is what the token endpoint needs of the store: the registered
// clients and a durable record of the assertions used. *store.Store
// implements it.
type Registry interface {
	// Client returns the client registered as id, an error of kind
	// NotFound when there is none.
	Client(id string) (store.Client, error)
	// UseJTI records an assertion until until, failing with an error of
	// kind Conflict if it was recorded and has not expired.
	UseJTI(ctx context.Context, key string, until time.Time) error
}

// BackendConfig configures a Backend.
type BackendConfig struct {
	Registry Registry    // required
	Key      *IssuingKey // required: signs the access tokens
	// Issuer and Audience are the iss and aud of the access tokens; the
	// Verifier must trust the Issuer with the Key and this Audience
	// (Backend.Trust).
	Issuer, Audience string
	// Leeway is the clock skew tolerated on an assertion's exp, nbf and
	// iat; 0 means DefaultLeeway, negative means none.
	Leeway time.Duration
	Now    func() time.Time // nil means time.Now
}

// Backend issues access tokens to registered backend-service clients.
// It is safe for concurrent use.
type Backend struct {
	reg              Registry
	key              *IssuingKey
	issuer, audience string
	leeway           time.Duration
	now              func() time.Time
}

// NewBackend checks cfg and returns a Backend.
func NewBackend(cfg BackendConfig) (*Backend, error) {
	if cfg.Registry == nil || cfg.Key == nil || cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("auth: a backend needs a registry, a key, an issuer and an audience")
	}
	b := &Backend{reg: cfg.Registry, key: cfg.Key, issuer: cfg.Issuer, audience: cfg.Audience,
		leeway: leeway(cfg.Leeway), now: cfg.Now}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// Trust is what a Verifier needs to accept the tokens b issues.
func (b *Backend) Trust() Trust {
	return Trust{Issuer: b.issuer, Audience: b.audience, Keys: []Key{b.key.Key()}}
}

// TokenRequest is a client_credentials token request with a client
// assertion (RFC 6749 section 4.4.2, RFC 7521 section 4.2).
type TokenRequest struct {
	GrantType     string
	AssertionType string // client_assertion_type
	Assertion     string // client_assertion: never logged, never quoted
	Scope         string
	ClientID      string // optional; when given, the assertion's iss
	// TokenURL is the absolute URL of the token endpoint as this server
	// is reached: the assertion's aud must name it.
	TokenURL string
}

// ParseTokenRequest reads the form parameters of a token request; a
// parameter given twice is refused (RFC 6749 section 3.2).
func ParseTokenRequest(form url.Values, tokenURL string) (TokenRequest, error) {
	for k, vs := range form {
		if len(vs) > 1 {
			return TokenRequest{}, tokenError(ErrCodeInvalidRequest, "a parameter is repeated: "+paramName(k))
		}
	}
	return TokenRequest{
		GrantType: form.Get("grant_type"), AssertionType: form.Get("client_assertion_type"),
		Assertion: form.Get("client_assertion"), Scope: form.Get("scope"), ClientID: form.Get("client_id"),
		TokenURL: tokenURL,
	}, nil
}

// paramName names a repeated parameter in a description only if it is one
// of the endpoint's own: any other name is request content.
func paramName(k string) string {
	switch k {
	case "grant_type", "client_assertion_type", "client_assertion", "scope", "client_id":
		return k
	}
	return "an unknown one"
}

// Token is a successful token response (RFC 6749 section 5.1).
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	// JTI is the token's ID, for the audit log; never sent.
	JTI string `json:"-"`
	// Client is the client the assertion proved.
	Client string `json:"-"`
}

// Token authenticates the client of req by its assertion and issues an
// access token for the scopes it asked for and was registered with.
// Refusals are *TokenError. An assertion is used once: it is recorded
// before the token is issued, and if the record cannot be read or written
// the request is refused.
func (b *Backend) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	client, c, err := b.authenticate(req.Assertion, req.TokenURL)
	if err != nil {
		return nil, err
	}
	if req.ClientID != "" && req.ClientID != client.ID {
		return nil, tokenError(ErrCodeInvalidClient, "client_id is not the assertion's issuer")
	}
	if err := b.useOnce(ctx, client.ID, c); err != nil {
		return nil, err
	}
	scope := GrantScopes(req.Scope, ParseScopes(client.Scope))
	if scope == "" {
		return nil, tokenError(ErrCodeInvalidScope, "none of the requested scopes is registered for the client")
	}
	jti, err := randomID()
	if err != nil {
		return nil, tokenError(ErrCodeServerError, "the access token could not be signed")
	}
	raw, err := b.key.mint(MintOptions{Scope: scope, FHIRUser: client.FHIRUser, Subject: client.ID, ClientID: client.ID,
		TTL: AccessTokenTTL, Issuer: b.issuer, Audience: b.audience, Now: b.now(), JTI: jti})
	if err != nil {
		return nil, tokenError(ErrCodeServerError, "the access token could not be signed")
	}
	return &Token{AccessToken: raw, TokenType: "bearer", ExpiresIn: int(AccessTokenTTL / time.Second), Scope: scope,
		JTI: jti, Client: client.ID}, nil
}

// checkRequest checks the parameters before anything is verified.
func checkRequest(req TokenRequest) error {
	switch {
	case req.GrantType == "":
		return tokenError(ErrCodeInvalidRequest, "grant_type is required")
	case req.GrantType != GrantClientCredentials:
		return tokenError(ErrCodeUnsupportedGrantType, "only the client_credentials grant is supported")
	case req.AssertionType != AssertionTypeJWTBearer:
		return tokenError(ErrCodeInvalidRequest, "client_assertion_type must be "+AssertionTypeJWTBearer)
	case req.Assertion == "":
		return tokenError(ErrCodeInvalidRequest, "client_assertion is required")
	case len(req.Assertion) > MaxTokenBytes:
		return tokenError(ErrCodeInvalidRequest, "client_assertion too large")
	case strings.TrimSpace(req.Scope) == "":
		return tokenError(ErrCodeInvalidRequest, "scope is required")
	}
	return nil
}

// authenticate verifies an assertion (RFC 7523 section 3): signed with an
// allowed algorithm by a registered key of the client its iss and sub
// name, for this token endpoint, with an exp at most MaxAssertionLifetime
// ahead and a jti.
func (b *Backend) authenticate(raw, tokenURL string) (store.Client, *jwt.RegisteredClaims, error) {
	var c jwt.RegisteredClaims
	var client store.Client
	var lookup error
	p := jwt.NewParser(
		jwt.WithValidMethods(assertionAlgs),
		jwt.WithAudience(tokenURL),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(b.leeway),
		jwt.WithTimeFunc(b.now),
		jwt.WithStrictDecoding(),
	)
	tok, err := p.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		if c.Issuer == "" || c.Subject != c.Issuer {
			return nil, errSubject
		}
		client, lookup = b.reg.Client(c.Issuer)
		if lookup != nil {
			return nil, lookup
		}
		return clientKey(client, tok)
	})
	if err != nil {
		return store.Client{}, nil, assertionError(err, lookup, tok, &c)
	}
	switch {
	case c.ExpiresAt.After(b.now().Add(MaxAssertionLifetime + b.leeway)):
		return store.Client{}, nil, tokenError(ErrCodeInvalidGrant, "assertion expires more than 5 minutes ahead")
	case c.ID == "":
		return store.Client{}, nil, tokenError(ErrCodeInvalidGrant, "assertion has no jti")
	case len(c.ID) > maxJTI:
		return store.Client{}, nil, tokenError(ErrCodeInvalidGrant, "assertion jti too long")
	}
	return client, &c, nil
}

var (
	errSubject  = errors.New("iss and sub differ")
	errNoJWKKey = errors.New("no registered key matches")
)

// clientKey picks the client's registered keys that may have signed tok:
// those verifying its algorithm and, when tok names a kid, of that kid.
func clientKey(client store.Client, tok *jwt.Token) (any, error) {
	keys, err := ParseJWKS(client.JWKS)
	if err != nil {
		return nil, errNoJWKKey // registration checked the set: this is not the caller's doing
	}
	kid, _ := tok.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range keys {
		if k.Alg == tok.Method.Alg() && (kid == "" || k.ID == kid) && keyFits(k.Public, k.Alg) == nil {
			set.Keys = append(set.Keys, k.Public)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errNoJWKKey
	}
	return set, nil
}

// assertionError turns a refusal of jwt's into the token endpoint's:
// invalid_client when the client is not authenticated (RFC 7523 section
// 3.2), invalid_grant when it is but the assertion's times are wrong,
// server_error when the registry failed. c holds whatever claims were
// decoded before the failure.
func assertionError(err, lookup error, tok *jwt.Token, c *jwt.RegisteredClaims) *TokenError {
	client := func(d string) *TokenError { return tokenError(ErrCodeInvalidClient, d) }
	// An unknown client, a key it did not register and a bad signature get
	// one answer: which client ids are registered is not told.
	const unauthenticated = "the assertion is not signed by a key registered for this client_id"
	switch {
	case lookup != nil && outcome.KindOf(lookup) != outcome.NotFound:
		return tokenError(ErrCodeServerError, "the client registry could not be read")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return client("malformed client assertion")
	case tok == nil || tok.Method == nil || !assertionAlg(tok.Method.Alg()):
		return client("assertion signing algorithm not allowed (ES256, ES384, RS384 or EdDSA)")
	case errors.Is(err, errSubject):
		return client("assertion iss and sub must both be the client_id")
	case lookup != nil, errors.Is(err, errNoJWKKey), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return client(unauthenticated)
	case c.ExpiresAt == nil:
		return tokenError(ErrCodeInvalidGrant, "assertion has no expiry (exp)")
	case len(c.Audience) == 0 || errors.Is(err, jwt.ErrTokenInvalidAudience):
		return client("assertion audience is not this token endpoint")
	case errors.Is(err, jwt.ErrTokenExpired):
		return tokenError(ErrCodeInvalidGrant, "assertion expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return tokenError(ErrCodeInvalidGrant, "assertion not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return tokenError(ErrCodeInvalidGrant, "assertion issued in the future (iat)")
	}
	return client("invalid client assertion")
}

// useOnce records the assertion's jti until it expires (plus the leeway
// its exp was checked with), refusing one already recorded. The key
// names the client, whose jti values are unique only among its own.
func (b *Backend) useOnce(ctx context.Context, clientID string, c *jwt.RegisteredClaims) error {
	err := b.reg.UseJTI(ctx, clientID+"\x00"+c.ID, c.ExpiresAt.Add(b.leeway))
	switch {
	case err == nil:
		return nil
	case outcome.KindOf(err) == outcome.Conflict:
		return tokenError(ErrCodeInvalidGrant, "assertion already used (jti)")
	}
	return tokenError(ErrCodeServerError, "the record of used assertions could not be written")
}

// GrantScopes returns the scopes of requested (a space-separated scope
// parameter) that registered allows, space-separated: for each SMART
// resource scope requested, the operations that registered scopes of the
// same context on its type (or on every type) allow. A scope wholly
// allowed is granted as requested; one partly allowed is granted with the
// allowed operations only, in SMART v2 syntax (system/Task.rs of a
// requested system/Task.cruds); anything else, including non-resource
// scopes, is left out.
func GrantScopes(requested string, registered Scopes) string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Fields(requested) {
		r, ok := ParseScope(f)
		if !ok {
			continue
		}
		var allowed Ops
		for _, g := range registered {
			if g.Context == r.Context && (g.ResourceType == "*" || g.ResourceType == r.ResourceType) {
				allowed |= g.Ops
			}
		}
		ops := r.Ops & allowed
		if ops == 0 {
			continue
		}
		if ops != r.Ops {
			f = Scope{Context: r.Context, ResourceType: r.ResourceType, Ops: ops}.String()
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// Covers reports whether ss grant every operation of s on s's type (on
// every type for "*") in s's context or a broader one: whether a caller
// holding ss may hand s on.
func (ss Scopes) Covers(s Scope) bool {
	for op := Create; op <= Search; op++ {
		if !s.Ops.Has(op) {
			continue
		}
		if c, ok := ss.Grant(s.ResourceType, op); !ok || c < s.Context {
			return false
		}
	}
	return true
}
