package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

const (
	tokenURL     = "https://relais.example/auth/token"
	clientScopes = "system/Task.rs system/Patient.read system/Observation.cruds"
)

// backendEnv is a Backend over a real store, with a client registered
// with one key of each assertion algorithm, and a Verifier trusting the
// test identity provider and the Backend.
type backendEnv struct {
	st     *store.Store
	b      *Backend
	v      *Verifier
	client store.Client
	clock  *clock
}

func newBackendEnv(t testing.TB) *backendEnv {
	t.Helper()
	dir := t.TempDir()
	c := &clock{now: t0}
	st, err := store.Open(filepath.Join(dir, "relais.db"), store.Options{Codec: codec.MustNew(), NoSync: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := LoadOrCreateIssuingKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBackend(BackendConfig{Registry: st, Key: key, Issuer: ownIssuer, Audience: testAudience, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, Keys: []Key{testKeys()[AlgES256].key()},
		Also: []Trust{b.Trust()}, Now: c.Now, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	client, err := RegisterClient(context.Background(), st, Registration{Name: "lab", JWKS: jwks(t, allClientKeys()...),
		Scope: clientScopes, FHIRUser: "PractitionerRole/pr-7"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return &backendEnv{st: st, b: b, v: v, client: client, clock: c}
}

var jtiSeq atomic.Int64

// assertionClaims are a valid assertion of client id at t0.
func assertionClaims(id string) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": id, "sub": id, "aud": tokenURL,
		"exp": t0.Add(4 * time.Minute).Unix(), "iat": t0.Unix(),
		"jti": "jti-" + strconv.FormatInt(jtiSeq.Add(1), 10),
	}
}

// assert signs claims with s, naming its kid unless kid is "-".
func (s clientSigner) assert(t testing.TB, c jwt.Claims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	if kid != "-" {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (e *backendEnv) request(assertion, scope string) TokenRequest {
	return TokenRequest{GrantType: GrantClientCredentials, AssertionType: AssertionTypeJWTBearer,
		Assertion: assertion, Scope: scope, TokenURL: tokenURL}
}

// TestBackendIssues: an assertion of each algorithm gets a token the
// Verifier accepts, carrying the client, the granted scopes and the
// registered fhirUser.
func TestBackendIssues(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	for _, k := range allClientKeys() {
		for _, kid := range []string{k.kid, "-"} {
			t.Run(k.alg+"/kid="+kid, func(t *testing.T) {
				raw := k.assert(t, assertionClaims(e.client.ID), kid)
				tok, err := e.b.Token(context.Background(), e.request(raw, "system/Task.rs system/Patient.rs"))
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "bearer" || tok.ExpiresIn != 300 || tok.Scope != "system/Task.rs system/Patient.rs" {
					t.Errorf("token response = %+v", *tok)
				}
				p, err := e.v.Verify(tok.AccessToken)
				if err != nil {
					t.Fatalf("the Verifier refuses the issued token: %v", err)
				}
				if p.Subject != e.client.ID || p.ClientID != e.client.ID || p.FHIRUser != "PractitionerRole/pr-7" ||
					p.Scopes.String() != "system/Task.rs system/Patient.rs" || !p.ExpiresAt.Equal(t0.Add(AccessTokenTTL)) || p.TokenID == "" {
					t.Errorf("principal = %+v", *p)
				}
			})
		}
	}
}

// TestBackendRefuses: every refusal carries its RFC 6749 code and a
// description that quotes nothing of the request.
func TestBackendRefuses(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	ks := clientKeys()
	es, es384, rs, ed := ks[AlgES256], ks[AlgES384], ks[AlgRS384], ks[AlgEdDSA]
	id := e.client.ID
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerES := clientSigner{AlgES256, es.kid, jwt.SigningMethodES256, stranger}
	claims := func(kv ...any) jwt.MapClaims { return with(assertionClaims(id), kv...) }
	good := es.assert(t, claims(), es.kid)
	parts := strings.Split(good, ".")
	ok := func(raw string) TokenRequest { return e.request(raw, "system/Task.rs") }
	tests := []struct {
		name string
		req  TokenRequest
		code string
	}{
		{"no grant_type", func() TokenRequest { r := ok(good); r.GrantType = ""; return r }(), ErrCodeInvalidRequest},
		{"authorization_code", func() TokenRequest { r := ok(good); r.GrantType = "authorization_code"; return r }(), ErrCodeUnsupportedGrantType},
		{"wrong assertion type", func() TokenRequest { r := ok(good); r.AssertionType = "urn:x"; return r }(), ErrCodeInvalidRequest},
		{"no assertion", ok(""), ErrCodeInvalidRequest},
		{"no scope", e.request(good, " "), ErrCodeInvalidRequest},
		{"assertion too large", ok(strings.Repeat("a", MaxTokenBytes+1)), ErrCodeInvalidRequest},
		{"client_id of another", func() TokenRequest { r := ok(es.assert(t, claims(), es.kid)); r.ClientID = "other"; return r }(), ErrCodeInvalidClient},
		{"malformed", ok("a.b.c"), ErrCodeInvalidClient},
		{"unknown client", ok(es.assert(t, with(assertionClaims("nobody")), es.kid)), ErrCodeInvalidClient},
		{"sub differs", ok(es.assert(t, claims("sub", "other"), es.kid)), ErrCodeInvalidClient},
		{"no iss", ok(es.assert(t, claims("iss", nil), es.kid)), ErrCodeInvalidClient},
		{"wrong key", ok(strangerES.assert(t, claims(), es.kid)), ErrCodeInvalidClient},
		{"wrong key without kid", ok(strangerES.assert(t, claims(), "-")), ErrCodeInvalidClient},
		{"unknown kid", ok(es.assert(t, claims(), "nope")), ErrCodeInvalidClient},
		{"kid of a key of another algorithm", ok(es.assert(t, claims(), ed.kid)), ErrCodeInvalidClient},
		{"ES384 header on an ES256 key", ok(b64json(`{"alg":"ES384","kid":"`+es.kid+`"}`) + "." + parts[1] + "." + parts[2]), ErrCodeInvalidClient},
		{"alg none", ok(noneToken(t, claims())), ErrCodeInvalidClient},
		{"HS256 with the public key as secret", ok(hmacAssertion(t, es, claims())), ErrCodeInvalidClient},
		{"RS256", ok(clientSigner{AlgRS384, rs.kid, jwt.SigningMethodRS256, rs.priv}.assert(t, claims(), rs.kid)), ErrCodeInvalidClient},
		{"PS384", ok(clientSigner{AlgRS384, rs.kid, jwt.SigningMethodPS384, rs.priv}.assert(t, claims(), rs.kid)), ErrCodeInvalidClient},
		{"tampered jti", ok(parts[0] + "." + replaceInSegment(t, parts[1], `"jti":"jti-`, `"jti":"new-`) + "." + parts[2]), ErrCodeInvalidClient},
		{"aud wrong", ok(es384.assert(t, claims("aud", "https://other.example/auth/token"), es384.kid)), ErrCodeInvalidClient},
		{"aud the FHIR base", ok(es384.assert(t, claims("aud", "https://relais.example/fhir"), es384.kid)), ErrCodeInvalidClient},
		{"no aud", ok(es384.assert(t, claims("aud", nil), es384.kid)), ErrCodeInvalidClient},
		{"exp missing", ok(rs.assert(t, claims("exp", nil), rs.kid)), ErrCodeInvalidGrant},
		{"exp over 5 minutes ahead", ok(rs.assert(t, claims("exp", t0.Add(6*time.Minute).Unix()), rs.kid)), ErrCodeInvalidGrant},
		{"expired", ok(ed.assert(t, claims("exp", t0.Add(-time.Minute).Unix()), ed.kid)), ErrCodeInvalidGrant},
		{"not yet valid", ok(ed.assert(t, claims("nbf", t0.Add(time.Minute).Unix()), ed.kid)), ErrCodeInvalidGrant},
		{"issued in the future", ok(ed.assert(t, claims("iat", t0.Add(time.Minute).Unix()), ed.kid)), ErrCodeInvalidGrant},
		{"no jti", ok(ed.assert(t, claims("jti", nil), ed.kid)), ErrCodeInvalidGrant},
		{"jti too long", ok(ed.assert(t, claims("jti", strings.Repeat("j", maxJTI+1)), ed.kid)), ErrCodeInvalidGrant},
		{"scope not registered", e.request(es.assert(t, claims(), es.kid), "system/Encounter.rs system/Condition.c"), ErrCodeInvalidScope},
		{"only user scopes", e.request(es.assert(t, claims(), es.kid), "user/Task.rs openid"), ErrCodeInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := e.b.Token(context.Background(), tt.req)
			if err == nil {
				t.Fatalf("issued %+v", *tok)
			}
			checkTokenError(t, err, tt.code, tt.req.Assertion)
		})
	}
}

func checkTokenError(t *testing.T, err error, code, assertion string) {
	t.Helper()
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a *TokenError", err)
	}
	if te.Code != code {
		t.Errorf("code = %s (%s), want %s", te.Code, te.Description, code)
	}
	for _, seg := range strings.Split(assertion, ".") {
		if len(seg) > 8 && strings.Contains(te.Description, seg) {
			t.Errorf("description quotes the assertion: %s", te.Description)
		}
	}
}

// hmacAssertion forges an HS256 assertion keyed with the client's public
// key (DER), the classic algorithm confusion.
func hmacAssertion(t *testing.T, s clientSigner, c jwt.Claims) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(der)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestBackendReplay: an assertion is used once, also after the store is
// reopened, and a token issued to one client, tampered to name another,
// is refused.
func TestBackendReplay(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	ctx := context.Background()
	raw := clientKeys()[AlgES384].assert(t, assertionClaims(e.client.ID), clientKeys()[AlgES384].kid)
	if _, err := e.b.Token(ctx, e.request(raw, "system/Task.rs")); err != nil {
		t.Fatal(err)
	}
	_, err := e.b.Token(ctx, e.request(raw, "system/Task.rs"))
	checkTokenError(t, err, ErrCodeInvalidGrant, raw)
	// Within the leeway after exp the record is still there.
	e.clock.Add(4*time.Minute + DefaultLeeway/2)
	_, err = e.b.Token(ctx, e.request(raw, "system/Task.rs"))
	checkTokenError(t, err, ErrCodeInvalidGrant, raw)
}

// TestBackendFailsClosed: when the record of used assertions cannot be
// written, or the registry read, no token is issued.
func TestBackendFailsClosed(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	closed, err := store.Open(filepath.Join(t.TempDir(), "closed.db"), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	b, err := NewBackend(BackendConfig{Registry: splitRegistry{clients: e.st, jtis: closed}, Key: e.b.key,
		Issuer: ownIssuer, Audience: testAudience, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	es := clientKeys()[AlgES256]
	raw := es.assert(t, assertionClaims(e.client.ID), es.kid)
	_, err = b.Token(context.Background(), e.request(raw, "system/Task.rs"))
	checkTokenError(t, err, ErrCodeServerError, raw)
	b.reg = splitRegistry{clients: closed, jtis: e.st}
	_, err = b.Token(context.Background(), e.request(raw, "system/Task.rs"))
	checkTokenError(t, err, ErrCodeServerError, raw)
}

// splitRegistry reads clients from one store and records assertions in
// another, so that one of them can be closed.
type splitRegistry struct{ clients, jtis *store.Store }

func (r splitRegistry) Client(id string) (store.Client, error) { return r.clients.Client(id) }

func (r splitRegistry) UseJTI(ctx context.Context, key string, until time.Time) error {
	return r.jtis.UseJTI(ctx, key, until)
}

func TestGrantScopes(t *testing.T) {
	t.Parallel()
	registered := ParseScopes("system/Task.rs system/Observation.cruds system/*.r user/Patient.read")
	tests := []struct{ requested, want string }{
		{"system/Task.rs", "system/Task.rs"},
		{"system/Task.read", "system/Task.read"},
		{"system/Task.cruds", "system/Task.rs"},
		{"system/Encounter.r", "system/Encounter.r"},  // under system/*.r
		{"system/Encounter.rs", "system/Encounter.r"}, // only r on every type
		{"system/*.r", "system/*.r"},                  // the wildcard itself
		{"system/*.rs", "system/*.r"},                 // not system/*.s
		{"system/Observation.* system/Task.c", "system/Observation.*"},
		{"user/Patient.rs user/Task.rs", "user/Patient.rs"}, // contexts do not mix
		{"patient/Patient.r", ""},
		{"openid fhirUser launch system/Task.rs?status=ready", ""},
		{"system/Task.rs system/Task.rs system/Task.read", "system/Task.rs system/Task.read"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := GrantScopes(tt.requested, registered); got != tt.want {
			t.Errorf("GrantScopes(%q) = %q, want %q", tt.requested, got, tt.want)
		}
	}
}

func TestScopesCover(t *testing.T) {
	t.Parallel()
	caller := ParseScopes("system/*.cruds user/Task.rs")
	for s, want := range map[string]bool{
		"system/*.cruds":  true,
		"system/Task.rs":  true,
		"user/Patient.rs": true, // a system scope covers a narrower context
		"user/Task.rs":    true,
	} {
		sc, _ := ParseScope(s)
		if got := caller.Covers(sc); got != want {
			t.Errorf("system/*.cruds user/Task.rs covers %s = %v, want %v", s, got, want)
		}
	}
	narrow := ParseScopes("system/Task.rs user/*.cruds")
	for s, want := range map[string]bool{
		"system/Task.r":    true,
		"system/Task.rs":   true,
		"system/Task.c":    false,
		"system/*.r":       false,
		"system/Patient.r": false,
		"user/Patient.rs":  true,
	} {
		sc, _ := ParseScope(s)
		if got := narrow.Covers(sc); got != want {
			t.Errorf("system/Task.rs user/*.cruds covers %s = %v, want %v", s, got, want)
		}
	}
}

func TestRegisterClient(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	ctx := context.Background()
	got, err := e.st.Client(e.client.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.client.ID) != 22 || got.Scope != clientScopes || got.Name != "lab" || got.FHIRUser != "PractitionerRole/pr-7" {
		t.Errorf("registered %+v", got)
	}
	es := clientKeys()[AlgES256].jwk(t)
	private := `{"keys":[{"kty":"EC","crv":"P-256","x":"` + es["x"] + `","y":"` + es["y"] + `","d":"AAAA"}]}`
	good := Registration{JWKS: jwks(t, clientKeys()[AlgES256]), Scope: "system/Task.rs"}
	tests := []struct {
		name string
		reg  Registration
		want string
	}{
		{"private key", Registration{JWKS: []byte(private), Scope: "system/Task.rs"}, "private key material"},
		{"no keys", Registration{JWKS: []byte(`{"keys":[]}`), Scope: "system/Task.rs"}, "unusable JWK Set"},
		{"no scope", Registration{JWKS: good.JWKS}, "at least one scope"},
		{"not a resource scope", Registration{JWKS: good.JWKS, Scope: "system/Task.rs openid"}, "not a SMART resource scope"},
		{"patient scope", Registration{JWKS: good.JWKS, Scope: "patient/Observation.rs"}, "patient/"},
		{"fhirUser a Patient", Registration{JWKS: good.JWKS, Scope: "system/Task.rs", FHIRUser: "Patient/1"}, "fhirUser"},
		{"long name", Registration{Name: strings.Repeat("n", maxClientName+1), JWKS: good.JWKS, Scope: "system/Task.rs"}, "name"},
	}
	for _, tt := range tests {
		_, err := RegisterClient(ctx, e.st, tt.reg, t0)
		if outcome.KindOf(err) != outcome.Invalid || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: RegisterClient = %v, want Invalid saying %q", tt.name, err, tt.want)
		}
	}
	if all, _ := e.st.Clients(); len(all) != 1 {
		t.Errorf("%d clients stored, want only the valid one", len(all))
	}
}

// FuzzToken feeds arbitrary assertions to the token endpoint: it never
// panics, refuses with a *TokenError, and issues a token only for an
// assertion whose signed part is one it was given a signature for.
func FuzzToken(f *testing.F) {
	e := newBackendEnv(f)
	es := clientKeys()[AlgES256]
	good := es.assert(f, assertionClaims(e.client.ID), es.kid)
	f.Add(good)
	f.Add(noneToken(f, assertionClaims(e.client.ID)))
	f.Add("a.b.c")
	f.Add(strings.Replace(good, ".", "..", 1))
	signed := good[:strings.LastIndexByte(good, '.')]
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := e.b.Token(context.Background(), e.request(raw, "system/Task.rs"))
		if err == nil {
			if !strings.HasPrefix(raw, signed+".") || tok.Scope != "system/Task.rs" {
				t.Fatalf("issued a token for an assertion never signed: %q", raw)
			}
			return
		}
		var te *TokenError
		if !errors.As(err, &te) || te.Code == "" || te.Description == "" {
			t.Fatalf("refusal is not a *TokenError: %#v", err)
		}
	})
}

// replaceInSegment replaces old by new in a JWT segment's JSON.
func replaceInSegment(t *testing.T, seg, old, new string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), old, new, 1)
	if s == string(b) {
		t.Fatalf("%q not in the segment", old)
	}
	return b64json(s)
}
