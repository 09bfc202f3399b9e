package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auth"
)

// clientKey is a backend-service client's key pair of one algorithm.
type clientKey struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

// clientKeys are generated once per test binary: RSA generation is slow.
var clientKeys = sync.OnceValue(func() []clientKey {
	es256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	es384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return []clientKey{
		{"ES256", "k1", jwt.SigningMethodES256, es256},
		{"ES384", "k2", jwt.SigningMethodES384, es384},
		{"RS384", "k3", jwt.SigningMethodRS384, rs},
		{"EdDSA", "k4", jwt.SigningMethodEdDSA, ed},
	}
})

func jwkSet(t testing.TB, keys ...clientKey) map[string]any {
	t.Helper()
	var set []any
	for _, k := range keys {
		m, err := auth.PublicJWK(k.priv.Public(), k.kid)
		if err != nil {
			t.Fatal(err)
		}
		set = append(set, m)
	}
	return map[string]any{"keys": set}
}

var jtis atomic.Int64

// assertion signs a client assertion of id for aud, valid for 4 minutes,
// with changes (a nil value deletes the claim).
func (k clientKey) assertion(t testing.TB, id, aud string, changes ...any) string {
	t.Helper()
	c := jwt.MapClaims{"iss": id, "sub": id, "aud": aud, "exp": time.Now().Add(4 * time.Minute).Unix(),
		"jti": "a-" + strconv.FormatInt(jtis.Add(1), 10)}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == nil {
			delete(c, changes[i].(string))
		} else {
			c[changes[i].(string)] = changes[i+1]
		}
	}
	tok := jwt.NewWithClaims(k.method, c)
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// newTokenEnv is newEnv with the token endpoint: its issuing key in a
// temporary data directory, and a Verifier trusting it beside the dev key.
func newTokenEnv(t testing.TB) *env {
	t.Helper()
	base := newEnv(t, 0)
	key, err := auth.LoadOrCreateIssuingKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.NewBackend(auth.BackendConfig{Registry: base.store, Key: key, Issuer: "relais", Audience: auth.DevAudience})
	if err != nil {
		t.Fatal(err)
	}
	vc := base.key.VerifierConfig()
	vc.Also = []auth.Trust{b.Trust()}
	cfg := base.cfg
	if cfg.Verifier, err = auth.NewVerifier(vc); err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = b
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close) // before newEnv's cleanup closes the store
	e := *base
	e.url, e.cfg = srv.URL, cfg
	return &e
}

// register registers a client through the admin route and returns its id.
func (e *env) register(t testing.TB, scope, fhirUser string, keys ...clientKey) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "lab", "jwks": jwkSet(t, keys...), "scope": scope, "fhirUser": fhirUser})
	r := e.do("POST", "/admin/clients", string(body), "Content-Type", "application/json")
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["id"].(string)
	if id == "" {
		t.Fatalf("register answered no id: %s", r.body)
	}
	return id
}

// tokenRequest posts a token request with form values kv.
func (e *env) tokenRequest(t testing.TB, kv ...string) resp {
	t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	res, err := http.Post(e.url+"/auth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp{res.StatusCode, res.Header, []byte(b.String())}
}

func grant(assertion, scope string) []string {
	return []string{"grant_type", "client_credentials",
		"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"client_assertion", assertion, "scope", scope}
}

// set replaces the value of k in a form of key-value pairs.
func set(form []string, k, v string) []string {
	out := append([]string(nil), form...)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] == k {
			out[i+1] = v
		}
	}
	return out
}

func TestSMARTConfiguration(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"} {
		r := e.do("GET", path, "", "Authorization", "")
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		m := r.json(t)
		if m["token_endpoint"] != e.url+"/auth/token" {
			t.Errorf("%s: token_endpoint = %v, want %s", path, m["token_endpoint"], e.url+"/auth/token")
		}
		for field, want := range map[string]string{
			"grant_types_supported":                            "[client_credentials]",
			"token_endpoint_auth_methods_supported":            "[private_key_jwt]",
			"token_endpoint_auth_signing_alg_values_supported": "[ES256 ES384 RS384 EdDSA]",
			"capabilities": "[client-confidential-asymmetric permission-v1 permission-v2]",
		} {
			if got := strings.ReplaceAll(jsonList(m[field]), ",", " "); got != want {
				t.Errorf("%s: %s = %s, want %s", path, field, got, want)
			}
		}
	}
	// Without a token endpoint there is nothing to discover.
	if r := newEnv(t, 0).do("GET", "/.well-known/smart-configuration", "", "Authorization", ""); r.status != 404 {
		t.Errorf("without Tokens: %d, want 404", r.status)
	}
}

func jsonList(v any) string {
	l, _ := v.([]any)
	parts := make([]string, len(l))
	for i, x := range l {
		parts[i], _ = x.(string)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestTokenReadsThroughAPI: with an assertion of each algorithm a client
// gets a token, and the API accepts it for what it was granted only.
func TestTokenReadsThroughAPI(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	if r := e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`); r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	id := e.register(t, "system/Patient.rs system/Task.rs", "", clientKeys()...)
	tokenURL := e.url + "/auth/token"
	for _, k := range clientKeys() {
		t.Run(k.alg, func(t *testing.T) {
			r := e.tokenRequest(t, grant(k.assertion(t, id, tokenURL), "system/Patient.rs")...)
			if r.status != 200 {
				t.Fatalf("token: %d %s", r.status, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			m := r.json(t)
			if m["token_type"] != "bearer" || m["expires_in"] != 300.0 || m["scope"] != "system/Patient.rs" {
				t.Errorf("token response %s", r.body)
			}
			tok, _ := m["access_token"].(string)
			if got := e.do("GET", "/fhir/Patient/p1", "", "Authorization", "Bearer "+tok); got.status != 200 {
				t.Errorf("read with the issued token: %d %s", got.status, got.body)
			}
			if got := e.do("POST", "/fhir/Patient", `{"resourceType":"Patient"}`, "Authorization", "Bearer "+tok); got.status != 403 {
				t.Errorf("create with a read-only issued token: %d, want 403", got.status)
			}
			if got := e.do("GET", "/fhir/Task", "", "Authorization", "Bearer "+tok); got.status != 403 {
				t.Errorf("search Task, registered but not requested: %d, want 403", got.status)
			}
		})
	}
}

// TestTokenRefusals: each refusal is an RFC 6749 error with its code and
// status, not cached.
func TestTokenRefusals(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	ks := clientKeys()
	es, es384, rs, ed := ks[0], ks[1], ks[2], ks[3]
	id := e.register(t, "system/Patient.rs system/Task.rs", "", es, rs, ed)
	other := e.register(t, "system/Task.rs", "", es384)
	tokenURL := e.url + "/auth/token"
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerKey := clientKey{"ES256", es.kid, jwt.SigningMethodES256, stranger}
	der, err := x509.MarshalPKIXPublicKey(es.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": id, "sub": id, "aud": tokenURL,
		"exp": time.Now().Add(time.Minute).Unix(), "jti": "hs"}).SignedString(der)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": id, "sub": id, "aud": tokenURL,
		"exp": time.Now().Add(time.Minute).Unix(), "jti": "none"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	replayed := es.assertion(t, id, tokenURL)
	if r := e.tokenRequest(t, grant(replayed, "system/Patient.rs")...); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	tests := []struct {
		name   string
		form   []string
		status int
		code   string
	}{
		{"unknown client", grant(es.assertion(t, "nobody", tokenURL), "system/Patient.rs"), 401, "invalid_client"},
		{"wrong key", grant(strangerKey.assertion(t, id, tokenURL), "system/Patient.rs"), 401, "invalid_client"},
		{"another client's key", grant(es384.assertion(t, id, tokenURL), "system/Patient.rs"), 401, "invalid_client"},
		{"alg none", grant(none, "system/Patient.rs"), 401, "invalid_client"},
		{"HS256 with the public key as secret", grant(hs, "system/Patient.rs"), 401, "invalid_client"},
		{"aud wrong", grant(rs.assertion(t, id, "https://elsewhere.example/auth/token"), "system/Patient.rs"), 401, "invalid_client"},
		{"aud the FHIR base", grant(rs.assertion(t, id, e.url+"/fhir"), "system/Patient.rs"), 401, "invalid_client"},
		{"exp missing", grant(ed.assertion(t, id, tokenURL, "exp", nil), "system/Patient.rs"), 400, "invalid_grant"},
		{"exp over 5 minutes ahead", grant(ed.assertion(t, id, tokenURL, "exp", time.Now().Add(10*time.Minute).Unix()), "system/Patient.rs"), 400, "invalid_grant"},
		{"expired", grant(ed.assertion(t, id, tokenURL, "exp", time.Now().Add(-5*time.Minute).Unix()), "system/Patient.rs"), 400, "invalid_grant"},
		{"jti replayed", grant(replayed, "system/Patient.rs"), 400, "invalid_grant"},
		{"jti missing", grant(ed.assertion(t, id, tokenURL, "jti", nil), "system/Patient.rs"), 400, "invalid_grant"},
		{"scope not registered", grant(es.assertion(t, id, tokenURL), "system/Observation.rs"), 400, "invalid_scope"},
		{"scope of another client", grant(es384.assertion(t, other, tokenURL), "system/Patient.rs"), 400, "invalid_scope"},
		{"authorization_code", set(grant(es.assertion(t, id, tokenURL), "system/Patient.rs"), "grant_type", "authorization_code"), 400, "unsupported_grant_type"},
		{"no assertion", grant("", "system/Patient.rs"), 400, "invalid_request"},
		{"assertion twice", append(grant(es.assertion(t, id, tokenURL), "system/Patient.rs"), "client_assertion", "x"), 400, "invalid_request"},
		{"wrong assertion type", set(grant(es.assertion(t, id, tokenURL), "system/Patient.rs"), "client_assertion_type", "urn:x"), 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.tokenRequest(t, tt.form...)
			checkOAuthError(t, r, tt.status, tt.code)
		})
	}
	t.Run("unknown client answered as a wrong key", func(t *testing.T) {
		unknown := e.tokenRequest(t, grant(es.assertion(t, "nobody", tokenURL), "system/Patient.rs")...)
		wrong := e.tokenRequest(t, grant(strangerKey.assertion(t, id, tokenURL), "system/Patient.rs")...)
		if unknown.status != wrong.status || string(unknown.body) != string(wrong.body) {
			t.Errorf("unknown client %d %s; registered client, wrong key %d %s", unknown.status, unknown.body, wrong.status, wrong.body)
		}
	})
	t.Run("not a form", func(t *testing.T) {
		r := e.do("POST", "/auth/token", `{"grant_type":"client_credentials"}`, "Authorization", "", "Content-Type", "application/json")
		checkOAuthError(t, r, 400, "invalid_request")
	})
}

func checkOAuthError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	m := r.json(t)
	if r.status != status || m["error"] != code {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
	if d, _ := m["error_description"].(string); d == "" {
		t.Errorf("no error_description: %s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// TestTokenScopeIntersection: a client asking for more than it was
// registered for gets only the intersection.
func TestTokenScopeIntersection(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	k := clientKeys()[0]
	id := e.register(t, "system/Patient.rs system/Task.r", "PractitionerRole/pr-1", k)
	r := e.tokenRequest(t, grant(k.assertion(t, id, e.url+"/auth/token"), "system/Patient.cruds system/Task.rs system/*.cruds openid")...)
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["scope"] != "system/Patient.rs system/Task.r" {
		t.Errorf("granted %v, want system/Patient.rs system/Task.r", m["scope"])
	}
	tok, _ := m["access_token"].(string)
	if got := e.do("POST", "/fhir/Patient", `{"resourceType":"Patient"}`, "Authorization", "Bearer "+tok); got.status != 403 {
		t.Errorf("create with the intersected token: %d, want 403", got.status)
	}
}

// TestIssuedTokenTampered: a token issued to client A, changed to name
// client B or to widen its scopes, is refused by the API.
func TestIssuedTokenTampered(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	k := clientKeys()[3]
	a := e.register(t, "system/Patient.rs", "", k)
	b := e.register(t, "system/*.cruds", "", k)
	r := e.tokenRequest(t, grant(k.assertion(t, a, e.url+"/auth/token"), "system/Patient.rs")...)
	tok, _ := r.json(t)["access_token"].(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	for name, forged := range map[string]string{
		"client B": strings.ReplaceAll(string(payload), a, b),
		"scopes":   strings.Replace(string(payload), "system/Patient.rs", "system/*.cruds", 1),
	} {
		if forged == string(payload) {
			t.Fatalf("%s: nothing replaced", name)
		}
		raw := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		if got := e.do("GET", "/fhir/Patient", "", "Authorization", "Bearer "+raw); got.status != 401 {
			t.Errorf("%s: tampered token answered %d, want 401", name, got.status)
		}
	}
	if got := e.do("GET", "/fhir/Patient", "", "Authorization", "Bearer "+tok); got.status != 200 {
		t.Errorf("the token as issued: %d, want 200", got.status)
	}
}

func TestAdminClients(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	k := clientKeys()[0]
	id := e.register(t, "system/Task.rs", "PractitionerRole/pr-1", k)
	r := e.do("GET", "/admin/clients", "")
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 || list[0]["id"] != id ||
		list[0]["scope"] != "system/Task.rs" || list[0]["fhirUser"] != "PractitionerRole/pr-1" {
		t.Errorf("list = %s", r.body)
	}
	if strings.Contains(string(r.body), `"d"`) {
		t.Errorf("the list shows a private member: %s", r.body)
	}

	pub, _ := auth.PublicJWK(k.priv.Public(), "p")
	priv := map[string]any{}
	for key, v := range pub {
		priv[key] = v
	}
	priv["d"] = base64.RawURLEncoding.EncodeToString(k.priv.(*ecdsa.PrivateKey).D.FillBytes(make([]byte, 32)))
	body := func(jwks any, scope string) string {
		b, _ := json.Marshal(map[string]any{"name": "x", "jwks": jwks, "scope": scope})
		return string(b)
	}
	user := e.mint("user/*.cruds", "PractitionerRole/pr-1")
	narrow := e.mint("system/*.c system/Task.rs", "")
	tests := []struct {
		name, method, body, token string
		status                    int
	}{
		{"private key in the JWKS", "POST", body(map[string]any{"keys": []any{priv}}, "system/Task.rs"), e.token, 400},
		{"no keys", "POST", body(map[string]any{"keys": []any{}}, "system/Task.rs"), e.token, 400},
		{"no scope", "POST", body(jwkSet(t, k), ""), e.token, 400},
		{"not JSON", "POST", "{", e.token, 400},
		{"scope wider than the caller's", "POST", body(jwkSet(t, k), "system/Patient.rs"), narrow, 403},
		{"caller's own scope", "POST", body(jwkSet(t, k), "system/Task.r"), narrow, 201},
		{"user scope registers", "POST", body(jwkSet(t, k), "system/Task.r"), user, 403},
		{"user scope lists", "GET", "", user, 403},
		{"write-only system scope lists", "GET", "", narrow, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, "/admin/clients", tt.body, "Authorization", "Bearer "+tt.token, "Content-Type", "application/json")
			if r.status != tt.status {
				t.Errorf("%d %s, want %d", r.status, r.body, tt.status)
			}
		})
	}
	if r := e.do("GET", "/admin/clients", ""); !strings.Contains(string(r.body), `"system/Task.r"`) || strings.Count(string(r.body), `"id"`) != 2 {
		t.Errorf("after the refusals the list is %s, want the two clients registered", r.body)
	}
}

// TestTokenAudited: an issued token is recorded (DICOM 110114 User
// Authentication, outcome 0) with its client and jti, a refusal with its
// error code (outcome 4); the token itself never is.
func TestTokenAudited(t *testing.T) {
	t.Parallel()
	e := newTokenEnv(t)
	id := e.register(t, "system/Patient.rs", "", clientKeys()[0])
	r := e.tokenRequest(t, grant(clientKeys()[0].assertion(t, id, e.url+"/auth/token"), "system/Patient.rs")...)
	if r.status != 200 {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	if r := e.tokenRequest(t, "grant_type", "client_credentials"); r.status != 400 {
		t.Fatalf("refusal: %d", r.status)
	}
	var got []string
	err := e.store.AuditEvents(store.AuditQuery{Kinds: []audit.Kind{audit.KindSecurity}}, func(_ store.AuditHead, js []byte) (bool, error) {
		got = append(got, string(js))
		return true, nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("token events: %v %d", err, len(got))
	}
	refused, issued := got[0], got[1] // newest first
	for _, want := range []string{`"code":"110114"`, `"outcome":"0"`, `"value":"` + id + `"`, `"system":"urn:relais:token"`} {
		if !strings.Contains(issued, want) {
			t.Errorf("issued token event lacks %s: %s", want, issued)
		}
	}
	if !strings.Contains(refused, `"outcome":"4"`) || !strings.Contains(refused, `"outcomeDesc":"invalid_request"`) {
		t.Errorf("refusal event: %s", refused)
	}
	if strings.Contains(issued, tok) || strings.Contains(issued, "eyJ") {
		t.Errorf("the token itself was recorded: %s", issued)
	}
}
