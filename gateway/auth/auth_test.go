package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/outcome"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "https://relais.example/fhir"
)

// t0 is the fixed time at which tests verify tokens.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signer is a real key pair of one allowed algorithm.
type signer struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

// privateKeys are generated once per test binary, for every test that
// signs: RSA generation is slow.
var privateKeys = sync.OnceValue(func() (k struct {
	es256, es384 *ecdsa.PrivateKey
	rsa          *rsa.PrivateKey
	ed           ed25519.PrivateKey
}) {
	var err error
	if k.es256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.es384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// testKeys are the keys the verifier tests sign with.
var testKeys = sync.OnceValue(func() map[string]signer {
	k := privateKeys()
	return map[string]signer{
		AlgES256: {AlgES256, "es", jwt.SigningMethodES256, k.es256},
		AlgRS256: {AlgRS256, "rs", jwt.SigningMethodRS256, k.rsa},
		AlgEdDSA: {AlgEdDSA, "ed", jwt.SigningMethodEdDSA, k.ed},
	}
})

func (s signer) key() Key { return Key{ID: s.kid, Public: s.priv.Public()} }

// sign signs claims with s, setting kid unless kid is "-".
func (s signer) sign(t testing.TB, c jwt.Claims, kid string) string {
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

// goodClaims are valid at t0 for testIssuer and testAudience.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":       testIssuer,
		"aud":       testAudience,
		"sub":       "nurse-42",
		"client_id": "home-nursing-app",
		"jti":       "tok-1",
		"iat":       t0.Add(-time.Minute).Unix(),
		"nbf":       t0.Add(-time.Minute).Unix(),
		"exp":       t0.Add(time.Hour).Unix(),
		"scope":     "openid fhirUser user/Task.rs user/CarePlan.read",
		"fhirUser":  "https://relais.example/fhir/PractitionerRole/pr-7",
	}
}

func with(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestVerifier(t testing.TB, now func() time.Time, cacheSize int) *Verifier {
	t.Helper()
	var keys []Key
	for _, s := range testKeys() {
		keys = append(keys, s.key())
	}
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, Keys: keys, Now: now, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, fixed(t0), 0)
	for alg, s := range testKeys() {
		for _, kid := range []string{s.kid, "-"} {
			t.Run(alg+"/kid="+kid, func(t *testing.T) {
				t.Parallel()
				p, err := v.Verify(s.sign(t, goodClaims(), kid))
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := Principal{
					Subject: "nurse-42", ClientID: "home-nursing-app", FHIRUser: "PractitionerRole/pr-7", TokenID: "tok-1",
					Scopes:    Scopes{{ContextUser, "Task", 1<<Read | 1<<Search}, {ContextUser, "CarePlan", 1<<Read | 1<<Search}},
					ExpiresAt: t0.Add(time.Hour),
				}
				if p.Subject != want.Subject || p.ClientID != want.ClientID || p.FHIRUser != want.FHIRUser ||
					p.TokenID != want.TokenID || p.Scopes.String() != want.Scopes.String() || !p.ExpiresAt.Equal(want.ExpiresAt) {
					t.Errorf("principal = %+v, want %+v", *p, want)
				}
			})
		}
	}
}

// TestVerifyAccepted covers tokens that are unusual but valid.
func TestVerifyAccepted(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	v := newTestVerifier(t, fixed(t0), -1)
	tests := []struct {
		name   string
		claims jwt.MapClaims
		check  func(*Principal) bool
	}{
		{"expired within leeway", with(goodClaims(), "exp", t0.Add(-10*time.Second).Unix()), nil},
		{"nbf within leeway", with(goodClaims(), "nbf", t0.Add(10*time.Second).Unix()), nil},
		{"aud array", with(goodClaims(), "aud", []string{"other", testAudience}), nil},
		{"scope array", with(goodClaims(), "scope", []string{"system/*.cruds"}), func(p *Principal) bool { return p.IsSystem() }},
		{"azp as client id", with(goodClaims(), "client_id", nil, "azp", "app-2"), func(p *Principal) bool { return p.ClientID == "app-2" }},
		{"no fhirUser", with(goodClaims(), "fhirUser", nil), func(p *Principal) bool { return p.FHIRUser == "" }},
		{"no scopes", with(goodClaims(), "scope", nil), func(p *Principal) bool { return len(p.Scopes) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(es.sign(t, tt.claims, es.kid))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.check != nil && !tt.check(p) {
				t.Errorf("unexpected principal %+v", *p)
			}
		})
	}
}

// b64json encodes a JSON text as a JWT segment.
func b64json(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRefused(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	es, rs, ed := keys[AlgES256], keys[AlgRS256], keys[AlgEdDSA]
	v := newTestVerifier(t, fixed(t0), 0)
	good := es.sign(t, goodClaims(), es.kid)
	parts := strings.Split(good, ".")

	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerES := signer{AlgES256, "stranger", jwt.SigningMethodES256, stranger}

	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty", "", msgNoToken},
		{"too large", strings.Repeat("a", MaxTokenBytes+1), msgTooLarge},
		{"one segment", "abc", msgMalformed},
		{"two segments", parts[0] + "." + parts[1], msgMalformed},
		{"garbage segments", "a.b.c", msgMalformed},
		{"payload not JSON", parts[0] + "." + b64json("not json") + "." + parts[2], msgMalformed},
		{"exp not a number", es.sign(t, with(goodClaims(), "exp", "tomorrow"), es.kid), msgMalformed},
		{"expired", es.sign(t, with(goodClaims(), "exp", t0.Add(-time.Hour).Unix()), es.kid), msgExpired},
		{"expired RS256", rs.sign(t, with(goodClaims(), "exp", t0.Add(-time.Minute).Unix()), rs.kid), msgExpired},
		{"not yet valid", ed.sign(t, with(goodClaims(), "nbf", t0.Add(time.Hour).Unix()), ed.kid), msgNotYetValid},
		{"issued in the future", es.sign(t, with(goodClaims(), "iat", t0.Add(time.Hour).Unix()), es.kid), msgIssuedLater},
		{"no exp", es.sign(t, with(goodClaims(), "exp", nil), es.kid), msgNoExp},
		{"no iss", es.sign(t, with(goodClaims(), "iss", nil), es.kid), msgNoIssuer},
		{"wrong issuer", rs.sign(t, with(goodClaims(), "iss", "https://evil.example"), rs.kid), msgIssuer},
		{"issuer differs in case", es.sign(t, with(goodClaims(), "iss", strings.ToUpper(testIssuer)), es.kid), msgIssuer},
		{"no aud", es.sign(t, with(goodClaims(), "aud", nil), es.kid), msgNoAudience},
		{"wrong audience", ed.sign(t, with(goodClaims(), "aud", "https://other.example"), ed.kid), msgAudience},
		{"alg none", noneToken(t, goodClaims()), msgAlgorithm},
		{"alg none, empty signature header only", b64json(`{"alg":"none"}`) + "." + parts[1] + ".", msgAlgorithm},
		{"HS256 with the EC public key as secret", hmacWithPublicKey(t, es, jwt.SigningMethodHS256, false), msgAlgorithm},
		{"HS256 with the RSA public key PEM as secret", hmacWithPublicKey(t, rs, jwt.SigningMethodHS256, true), msgAlgorithm},
		{"HS256 with the Ed25519 public key as secret", hmacWithPublicKey(t, ed, jwt.SigningMethodHS256, false), msgAlgorithm},
		{"RS384", rsaWith(t, rs, jwt.SigningMethodRS384), msgAlgorithm},
		{"PS256", rsaWith(t, rs, jwt.SigningMethodPS256), msgAlgorithm},
		{"unknown alg", b64json(`{"alg":"XX999","typ":"JWT"}`) + "." + parts[1] + "." + parts[2], msgAlgorithm},
		{"header alg switched to RS256", b64json(`{"alg":"RS256","kid":"rs"}`) + "." + parts[1] + "." + parts[2], msgSignature},
		{"tampered payload", parts[0] + "." + tamperedPayload(t, parts[1]) + "." + parts[2], msgSignature},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flipChar(parts[2], 10), msgSignature},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(es.sign(t, with(goodClaims(), "sub", "x"), es.kid), ".")[2], msgSignature},
		{"unknown kid", strangerES.sign(t, goodClaims(), "stranger"), msgUnknownKey},
		{"stranger key without kid", strangerES.sign(t, goodClaims(), "-"), msgSignature},
		{"stranger key claiming a known kid", strangerES.sign(t, goodClaims(), es.kid), msgSignature},
		{"EdDSA token naming the ES256 kid", ed.sign(t, goodClaims(), es.kid), msgUnknownKey},
		{"fhirUser is a Device", es.sign(t, with(goodClaims(), "fhirUser", "Device/123"), es.kid), msgFHIRUser},
		{"fhirUser malformed", es.sign(t, with(goodClaims(), "fhirUser", "PractitionerRole/a b"), es.kid), msgFHIRUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(tt.raw)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", *p)
			}
			checkRefusal(t, err, tt.want, tt.raw)
		})
	}
}

// checkRefusal asserts err is an Unauthenticated outcome with the wanted
// summary that does not quote the token.
func checkRefusal(t *testing.T, err error, want, raw string) {
	t.Helper()
	var oe *outcome.Error
	if !errors.As(err, &oe) || oe.Kind != outcome.Unauthenticated {
		t.Fatalf("error %v is not an Unauthenticated *outcome.Error", err)
	}
	if oe.Summary != want {
		t.Errorf("summary = %q, want %q", oe.Summary, want)
	}
	if len(raw) > 8 {
		for _, seg := range strings.Split(raw, ".") {
			if len(seg) > 8 && strings.Contains(err.Error(), seg) {
				t.Errorf("error text quotes the token: %v", err)
			}
		}
	}
}

func noneToken(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	raw, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// hmacWithPublicKey forges the classic key-confusion token: HMAC keyed with
// the verifier's public key bytes (DER, or PEM if asPEM).
func hmacWithPublicKey(t *testing.T, s signer, m jwt.SigningMethod, asPEM bool) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	secret := der
	if asPEM {
		secret = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	tok := jwt.NewWithClaims(m, goodClaims())
	tok.Header["kid"] = s.kid
	raw, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func rsaWith(t *testing.T, s signer, m jwt.SigningMethod) string {
	t.Helper()
	return signer{s.alg, s.kid, m, s.priv}.sign(t, goodClaims(), s.kid)
}

// tamperedPayload widens the scopes of a payload segment.
func tamperedPayload(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "user/Task.rs", "system/*.cruds", 1)
	if s == string(b) {
		t.Fatal("payload not tampered")
	}
	return b64json(s)
}

// flipChar changes the character at i to another base64url character.
func flipChar(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestVerifyHeader(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	v := newTestVerifier(t, fixed(t0), 0)
	raw := es.sign(t, goodClaims(), es.kid)
	tests := []struct {
		header string
		ok     bool
	}{
		{"Bearer " + raw, true},
		{"bearer " + raw, true},
		{"BEARER  " + raw, true},
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Basic " + raw, false},
		{raw, false},
	}
	for _, tt := range tests {
		_, err := v.VerifyHeader(tt.header)
		if (err == nil) != tt.ok {
			t.Errorf("VerifyHeader(%.12q...) error = %v, want ok=%v", tt.header, err, tt.ok)
		}
		if err != nil && outcome.KindOf(err) != outcome.Unauthenticated {
			t.Errorf("kind = %v, want Unauthenticated", outcome.KindOf(err))
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	t.Parallel()
	good := testKeys()[AlgES256].key()
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"good", Config{Issuer: "i", Audience: "a", Keys: []Key{good}}, true},
		{"ed25519 pointer", Config{Issuer: "i", Audience: "a", Keys: []Key{{Public: &edPub}}}, true},
		{"no issuer", Config{Audience: "a", Keys: []Key{good}}, false},
		{"no audience", Config{Issuer: "i", Keys: []Key{good}}, false},
		{"no keys", Config{Issuer: "i", Audience: "a"}, false},
		{"RSA 1024", Config{Issuer: "i", Audience: "a", Keys: []Key{{Public: &weakRSA.PublicKey}}}, false},
		{"P-384", Config{Issuer: "i", Audience: "a", Keys: []Key{{Public: &p384.PublicKey}}}, false},
		{"HMAC secret", Config{Issuer: "i", Audience: "a", Keys: []Key{{Public: []byte("secret")}}}, false},
		{"private key", Config{Issuer: "i", Audience: "a", Keys: []Key{{Public: p384}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewVerifier(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("NewVerifier error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, fixed(t0), 0)
	_, noTok := v.VerifyHeader("")
	_, bad := v.Verify("a.b.c")
	tests := []struct {
		err  error
		want string
	}{
		{noTok, `Bearer realm="relais"`},
		{bad, `Bearer realm="relais", error="invalid_token", error_description="malformed bearer token"`},
	}
	for _, tt := range tests {
		if got := Challenge(tt.err); got != tt.want {
			t.Errorf("Challenge(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
}
