package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auditlog"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/metrics"
	"github.com/relais-health/relais/gateway/routing"
)

var testCodec = codec.MustNew()

// env is a running API over a real store, trusting a real dev key.
type env struct {
	t     testing.TB
	url   string
	key   *auth.DevKey
	store *store.Store
	token string     // system/*.cruds
	cfg   api.Config // what the API was built with
	api   *api.API   // what srv serves, for a server of other settings
}

func newEnv(t testing.TB, maxBody int64) *env {
	return newEnvOpts(t, maxBody, store.Options{Codec: testCodec, NoSync: true})
}

// newEnvSync is newEnv with fsync on, for write benchmarks.
func newEnvSync(t testing.TB) *env { return newEnvOpts(t, 0, store.Options{Codec: testCodec}) }

func newEnvOpts(t testing.TB, maxBody int64, opts store.Options) *env {
	t.Helper()
	return newEnvFull(t, maxBody, opts, false)
}

// newEnvPush is newEnv with push delivery (gateway/delivery) following the
// store, its retries in milliseconds. The other tests go without it: its
// handshakes write the Subscriptions they create.
func newEnvPush(t testing.TB) *env {
	t.Helper()
	return newEnvFull(t, 0, store.Options{Codec: testCodec, NoSync: true}, true)
}

func newEnvFull(t testing.TB, maxBody int64, opts store.Options, withPush bool) *env {
	t.Helper()
	dir := t.TempDir()
	m := metrics.New(discardLogger())
	opts.OnCommit = m.ObserveCommit
	st, err := store.Open(filepath.Join(dir, "relais.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.CreateDevKey(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(key.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	src := consent.NewStoreSource(st, testCodec, nil)
	decisions := consent.NewLog(st)
	engine, err := consent.New(consent.Config{Directory: src, CareTeams: src, Consents: src,
		HashKey: []byte("test-hmac-key-0123456789abcdef"), Recorder: decisions, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Store: st, Logger: discardLogger(), Options: ingest.Options{Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Watch(metrics.Sources{Store: st, Consent: engine}); err != nil {
		t.Fatal(err)
	}
	communes, err := directory.LoadCommunes()
	if err != nil {
		t.Fatal(err)
	}
	planner, err := routing.New(routing.Config{Store: st, Codec: testCodec, Directory: directory.New(st, testCodec),
		Communes: communes, Consent: engine})
	if err != nil {
		t.Fatal(err)
	}
	st.Follow(identity.NewLinker(testCodec))
	st.Follow(planner)
	var push *delivery.Service
	if withPush {
		push, err = delivery.New(delivery.Config{Store: st, Codec: testCodec, Consent: engine, Logger: discardLogger(),
			BaseURL:   "https://relais.test",
			RetryBase: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Poll: 20 * time.Millisecond,
			Endpoints: delivery.Endpoints{Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
		if err != nil {
			t.Fatal(err)
		}
		st.Follow(push)
		push.Start()
	}
	signer, err := auditlog.New(auditlog.Config{Store: st, DataDir: dir, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Store: st, Codec: testCodec, Verifier: v, MaxBody: maxBody,
		Logger: discardLogger(), Consent: engine, Log: decisions, Ingester: in,
		Metrics: m.Handler(), Observer: m, Routing: planner, Delivery: push, Audit: signer}
	a, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	// The server's shutdown order: stop serving, write what was accepted,
	// close the store.
	t.Cleanup(func() {
		srv.Close()
		if push != nil {
			push.Close()
		}
		in.Close()
		st.Close()
	})
	e := &env{t: t, url: srv.URL, key: key, store: st, cfg: cfg, api: a}
	e.token = e.mint("system/*.cruds", "")
	return e
}

func (e *env) mint(scope, fhirUser string) string {
	tok, err := e.key.Mint(auth.MintOptions{Scope: scope, FHIRUser: fhirUser})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON (%d): %s", r.status, r.body)
	}
	return m
}

// noRedirects answers what the server answered: a redirect is an answer
// a test must see, not follow.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request with the system token unless headers say otherwise.
func (e *env) do(method, path string, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.url + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// TestNewRequiresIngester: the API builds no Ingester of its own (a second
// HL7 v2 queue on the same store would break arrival order and shutdown).
func TestNewRequiresIngester(t *testing.T) {
	t.Parallel()
	cfg := newEnv(t, 0).cfg
	cfg.Ingester = nil
	if _, err := api.New(cfg); err == nil || !strings.Contains(err.Error(), "Ingester") {
		t.Errorf("api.New without an Ingester = %v, want an error naming it", err)
	}
}

func TestCorpusPutReadSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	files, _ := filepath.Glob("../../../shared/corpus/fhir/*.json")
	if len(files) != 94 {
		t.Fatalf("corpus has %d files, want 94", len(files))
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		m, err := testCodec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		typ, id := resource.Type(m), resource.ID(m)
		name := filepath.Base(f)
		if r := e.do("PUT", "/fhir/"+typ+"/"+id, string(b)); r.status != 201 {
			t.Errorf("%s: PUT = %d %s", name, r.status, r.body)
			continue
		}
		r := e.do("GET", "/fhir/"+typ+"/"+id, "")
		if r.status != 200 {
			t.Errorf("%s: GET = %d", name, r.status)
			continue
		}
		if !equalApartFromMeta(t, b, r.body) {
			t.Errorf("%s: read back differs beyond meta", name)
		}
		q := searchFor(m)
		s := e.do("GET", "/fhir/"+typ+"?"+q+"&_count=1000", "")
		if s.status != 200 || !bytes.Contains(s.body, []byte(`"fullUrl":"`+e.url+"/fhir/"+typ+"/"+id+`"`)) {
			t.Errorf("%s: not found by %s?%s (%d)", name, typ, q, s.status)
		}
	}
}

// searchFor builds a query from one of the resource's own indexed values,
// preferring a real search parameter over _id.
func searchFor(m proto.Message) string {
	for _, v := range search.Extract(m) {
		if strings.HasPrefix(v.Param, "_") {
			continue
		}
		switch v.Kind {
		case search.Token:
			// "|code" is how the index holds a code without a system; as a
			// query it means no system, which an element of type code,
			// whose binding implies one, never matches: ask for the code.
			return url.QueryEscape(v.Param) + "=" + url.QueryEscape(strings.TrimPrefix(v.Text, "|"))
		case search.Reference:
			return url.QueryEscape(v.Param) + "=" + url.QueryEscape(v.Text)
		case search.String:
			// The index holds the string folded (search.Normalize), which
			// :exact, case and accent sensitive, need not equal.
			return url.QueryEscape(v.Param) + "=" + url.QueryEscape(v.Text)
		}
	}
	return "_id=" + resource.ID(m)
}

func equalApartFromMeta(t *testing.T, a, b []byte) bool {
	strip := func(raw []byte) []byte {
		m, err := testCodec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if pm := resource.PeekMeta(m); pm != nil {
			r := m.ProtoReflect()
			r.Clear(r.Descriptor().Fields().ByName("meta"))
		}
		out, _ := testCodec.Encode(m)
		return out
	}
	return bytes.Equal(strip(a), strip(b))
}

func TestInteractions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	r := e.do("POST", "/fhir/Patient", `{"resourceType":"Patient","name":[{"family":"Dupont"}]}`)
	if r.status != 201 || r.header.Get("ETag") != `W/"1"` || !strings.Contains(r.header.Get("Location"), "/_history/1") {
		t.Fatalf("create = %d %v", r.status, r.header)
	}
	id := r.json(t)["id"].(string)
	loc := "/fhir/Patient/" + id

	upd := `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"Durand"}]}`
	if r := e.do("PUT", loc, upd, "If-Match", `W/"9"`); r.status != 412 {
		t.Errorf("stale If-Match = %d", r.status)
	}
	if r := e.do("PUT", loc, upd, "If-Match", `W/"1"`, "Prefer", "return=minimal"); r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("update minimal = %d %q", r.status, r.body)
	}
	if r := e.do("PUT", loc, `{"resourceType":"Patient","id":"other"}`); r.status != 400 {
		t.Errorf("id mismatch = %d", r.status)
	}
	if r := e.do("GET", loc+"/_history/1", ""); r.status != 200 || !bytes.Contains(r.body, []byte("Dupont")) {
		t.Errorf("vread = %d", r.status)
	}
	if r := e.do("DELETE", loc, ""); r.status != 204 {
		t.Errorf("delete = %d", r.status)
	}
	if r := e.do("GET", loc, ""); r.status != 410 {
		t.Errorf("read deleted = %d", r.status)
	}
	h := e.do("GET", loc+"/_history", "").json(t)
	if n := len(h["entry"].([]any)); n != 3 || h["type"] != "history" {
		t.Errorf("history has %d entries", n)
	}
	if r := e.do("PUT", "/fhir/Patient/new-one", `{"resourceType":"Patient","id":"new-one"}`, "Prefer", "return=OperationOutcome"); r.status != 201 || r.json(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("update-as-create = %d %s", r.status, r.body)
	}

	// Conditional create.
	body := `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"1"}]}`
	first := e.do("POST", "/fhir/Patient", body, "If-None-Exist", "identifier=urn:oid:1.2.250.1.213.1.4.8|1")
	second := e.do("POST", "/fhir/Patient", body, "If-None-Exist", "identifier=urn:oid:1.2.250.1.213.1.4.8|1")
	if first.status != 201 || second.status != 200 || first.json(t)["id"] != second.json(t)["id"] {
		t.Errorf("conditional create = %d then %d", first.status, second.status)
	}
	if r := e.do("POST", "/fhir/Patient", body, "If-None-Exist", "colour=blue"); r.status != 400 {
		t.Errorf("conditional create on unknown parameter = %d", r.status)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1024)
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		text                     string
	}{
		{"no token", "GET", "/fhir/Patient", "", []string{"Authorization", ""}, 401, "bearer token required"},
		{"unknown type", "GET", "/fhir/Spaceship/1", "", nil, 404, "unknown resource type"},
		{"missing", "GET", "/fhir/Patient/nope", "", nil, 404, "not found"},
		{"bad id", "GET", "/fhir/Patient/a_b", "", nil, 400, "invalid resource id"},
		{"method", "OPTIONS", "/fhir/Patient/1", "", nil, 405, "method not allowed"},
		{"invalid JSON", "POST", "/fhir/Patient", `{"resourceType":`, nil, 400, "invalid JSON"},
		{"invalid element", "POST", "/fhir/Patient", `{"resourceType":"Patient","birthDate":"1990-13-45"}`, nil, 400, "Patient.birthDate"},
		{"wrong type", "POST", "/fhir/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, "resource type does not match"},
		{"media type", "POST", "/fhir/Patient", `{"resourceType":"Patient"}`, []string{"Content-Type", "application/xml"}, 415, "unsupported media type"},
		{"too large", "POST", "/fhir/Patient", `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("x", 2000) + `"}]}`, nil, 413, "too large"},
		{"strict", "GET", "/fhir/Patient?colour=blue", "", []string{"Prefer", "handling=strict"}, 400, "colour"},
		{"bad search", "GET", "/fhir/Patient?birthdate=notadate", "", nil, 400, "not a FHIR date"},
		{"expired page", "GET", "/fhir/Patient?_page=nope&_offset=0&_count=1", "", nil, 410, "expired"},
	}
	for _, tt := range tests {
		r := e.do(tt.method, tt.path, tt.body, tt.headers...)
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
			continue
		}
		if tt.method != "HEAD" && (!bytes.Contains(r.body, []byte(`"OperationOutcome"`)) || !bytes.Contains(r.body, []byte(tt.text))) {
			t.Errorf("%s: body lacks OperationOutcome %q: %s", tt.name, tt.text, r.body)
		}
	}
	// Unknown parameters are ignored with a warning entry.
	r := e.do("GET", "/fhir/Patient?colour=blue", "")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"mode":"outcome"`)) {
		t.Errorf("lenient unknown parameter = %d %s", r.status, r.body)
	}
}

func TestOpenRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	for _, p := range []string{"/healthz", "/readyz", "/fhir/metadata"} {
		if r := e.do("GET", p, "", "Authorization", ""); r.status != 200 {
			t.Errorf("%s = %d", p, r.status)
		}
	}
	cs := e.do("GET", "/fhir/metadata", "").json(t)
	if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Errorf("metadata = %v", cs["resourceType"])
	}
	if !bytes.Contains(e.do("GET", "/fhir/metadata", "").body, []byte(`"name":"general-practitioner"`)) {
		t.Error("CapabilityStatement does not list Patient search parameters")
	}
}

// TestTokens refuses a table of bad tokens through HTTP.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": auth.DevIssuer, "aud": auth.DevAudience, "sub": "x",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "scope": "system/*.cruds"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	priv := devPrivateKey(t, e.key)
	sign := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["kid"] = e.key.KeyID()
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(claims(nil))
	pubDER, _ := x509.MarshalPKIXPublicKey(e.key.Public())
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	hsTok, _ := hs.SignedString(pubDER)
	none := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(mustJSON(claims(nil))) + "."
	parts := strings.Split(good, ".")
	tamperedSig := parts[0] + "." + parts[1] + "." + flip(parts[2])
	tamperedBody := parts[0] + "." + b64(mustJSON(claims(func(c jwt.MapClaims) { c["scope"] = "system/*.cruds openid" }))) + "." + parts[2]

	tests := []struct {
		name, token string
		status      int
	}{
		{"good", good, 200},
		{"expired", sign(claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), 401},
		{"no exp", sign(claims(func(c jwt.MapClaims) { delete(c, "exp") })), 401},
		{"wrong issuer", sign(claims(func(c jwt.MapClaims) { c["iss"] = "evil" })), 401},
		{"wrong audience", sign(claims(func(c jwt.MapClaims) { c["aud"] = "elsewhere" })), 401},
		{"alg none", none, 401},
		{"HS256 with the public key", hsTok, 401},
		{"tampered signature", tamperedSig, 401},
		{"tampered payload", tamperedBody, 401},
		{"garbage", "not.a.token", 401},
		{"missing scope", sign(claims(func(c jwt.MapClaims) { c["scope"] = "system/Observation.rs" })), 403},
		{"read-only scope", sign(claims(func(c jwt.MapClaims) { c["scope"] = "user/Patient.read" })), 200},
		{"patient scope", sign(claims(func(c jwt.MapClaims) { c["scope"] = "patient/Patient.rs" })), 403},
	}
	for _, tt := range tests {
		r := e.do("GET", "/fhir/Patient", "", "Authorization", "Bearer "+tt.token)
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
	// Scopes are enforced per interaction: read-only cannot write.
	ro := sign(claims(func(c jwt.MapClaims) { c["scope"] = "user/Patient.read" }))
	if r := e.do("POST", "/fhir/Patient", `{"resourceType":"Patient"}`, "Authorization", "Bearer "+ro); r.status != 403 {
		t.Errorf("create with read scope = %d", r.status)
	}
	wo := sign(claims(func(c jwt.MapClaims) { c["scope"] = "system/Patient.u" }))
	if r := e.do("PUT", "/fhir/Patient/p9", `{"resourceType":"Patient","id":"p9"}`, "Authorization", "Bearer "+wo); r.status != 403 {
		t.Errorf("update-as-create without create scope = %d", r.status)
	}
	if r := e.do("GET", "/admin/backup", "", "Authorization", "Bearer "+ro); r.status != 403 {
		t.Errorf("backup with user scope = %d", r.status)
	}
	if r := e.do("GET", "/admin/inbox", "", "Authorization", "Bearer "+ro); r.status != 403 {
		t.Errorf("inbox report with user scope = %d", r.status)
	}
}

func devPrivateKey(t *testing.T, k *auth.DevKey) *ecdsa.PrivateKey {
	b, err := os.ReadFile(k.Path())
	if err != nil {
		t.Fatal(err)
	}
	blk := pemDecode(t, b)
	key, err := x509.ParsePKCS8PrivateKey(blk)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*ecdsa.PrivateKey)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func flip(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func TestTransaction(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:3f0a8c56-1111-4c2e-9d65-8a1cf1a0c001","resource":{"resourceType":"Patient","name":[{"family":"Martin"}]},"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"urn:uuid:3f0a8c56-1111-4c2e-9d65-8a1cf1a0c001"}},"request":{"method":"POST","url":"Encounter"}},
	 {"resource":{"resourceType":"Organization","id":"o1","name":"CH"},"request":{"method":"PUT","url":"Organization/o1"}}]}`
	r := e.do("POST", "/fhir", tx)
	if r.status != 200 {
		t.Fatalf("transaction = %d %s", r.status, r.body)
	}
	var out struct {
		Type  string
		Entry []struct {
			Response struct{ Status, Location string }
		}
	}
	_ = json.Unmarshal(r.body, &out)
	if out.Type != "transaction-response" || len(out.Entry) != 3 || out.Entry[0].Response.Status != "201 Created" {
		t.Fatalf("response = %s", r.body)
	}
	pid := strings.Split(out.Entry[0].Response.Location, "/")[1]
	// The base with a trailing slash is the same endpoint.
	get := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/` + pid + `"}}]}`
	if r := e.do("POST", "/fhir/", get); r.status != 200 || !strings.Contains(string(r.body), `"batch-response"`) {
		t.Errorf("POST /fhir/ = %d %s", r.status, r.body)
	}
	if s := e.do("GET", "/fhir/Encounter?patient="+pid, "").json(t); s["total"].(float64) != 1 {
		t.Errorf("urn:uuid reference not rewritten")
	}
	before := e.do("GET", "/fhir/_history?_count=1000", "").json(t)
	// An invalid resource in one entry: 400, nothing stored.
	bad := strings.Replace(tx, `"family":"Martin"`, `"family":"Martin"}],"birthDate":"1990-99-99","x":[{"a":"b"`, 1)
	if r := e.do("POST", "/fhir", bad); r.status != 400 {
		t.Errorf("invalid entry = %d %s", r.status, r.body)
	}
	// A failing precondition in the last entry: 412, nothing stored.
	stale := strings.Replace(tx, `"url":"Organization/o1"}`, `"url":"Organization/o1","ifMatch":"W/\"7\""}`, 1)
	if r := e.do("POST", "/fhir", stale); r.status != 412 || !bytes.Contains(r.body, []byte("Bundle.entry[2]")) {
		t.Errorf("stale entry = %d %s", r.status, r.body)
	}
	// A reference to a urn:uuid: no entry has: 400, nothing stored.
	dangling := strings.Replace(tx, `"subject":{"reference":"urn:uuid:3f0a8c56-1111-4c2e-9d65-8a1cf1a0c001"}`, `"subject":{"reference":"urn:uuid:3f0a8c56-2222-4c2e-9d65-8a1cf1a0c009"}`, 1)
	if r := e.do("POST", "/fhir", dangling); r.status != 400 || !bytes.Contains(r.body, []byte("Bundle.entry[1]")) {
		t.Errorf("dangling urn:uuid = %d %s", r.status, r.body)
	}
	after := e.do("GET", "/fhir/_history?_count=1000", "").json(t)
	if len(after["entry"].([]any)) != len(before["entry"].([]any)) {
		t.Errorf("failed transactions left data behind")
	}
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
	 {"request":{"method":"GET","url":"Patient/missing"}}]}`
	br := e.do("POST", "/fhir", batch)
	if br.status != 200 || !bytes.Contains(br.body, []byte(`"201 Created"`)) || !bytes.Contains(br.body, []byte(`"404 Not Found"`)) {
		t.Errorf("batch = %d %s", br.status, br.body)
	}
}

// TestPagingUnderWrites pages through a search while another client writes:
// no entry is skipped or repeated and the total does not move.
func TestPagingUnderWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	for i := 0; i < 45; i++ {
		e.do("POST", "/fhir/Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"%d"}}`, i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	startWriter := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.do("POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"late"}}`)
			}
		}()
	}
	seen := map[string]bool{}
	next := "/fhir/Observation?status=final&_count=10"
	pages := 0
	for next != "" {
		b := e.do("GET", next, "").json(t)
		if b["total"].(float64) != 45 {
			t.Errorf("total moved to %v", b["total"])
		}
		for _, en := range b["entry"].([]any) {
			id := en.(map[string]any)["resource"].(map[string]any)["id"].(string)
			if seen[id] {
				t.Errorf("%s repeated", id)
			}
			seen[id] = true
		}
		next = ""
		for _, l := range b["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		if pages == 0 {
			startWriter()
		}
		pages++
	}
	close(stop)
	wg.Wait()
	if len(seen) != 45 || pages != 5 {
		t.Errorf("saw %d resources over %d pages, want 45 over 5", len(seen), pages)
	}
}

func TestIncludeAndSort(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"Practitioner/gp"}]}`)
	e.do("PUT", "/fhir/Practitioner/gp", `{"resourceType":"Practitioner","id":"gp"}`)
	e.do("PUT", "/fhir/Observation/o1", `{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"a"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-02"}`)
	e.do("PUT", "/fhir/Observation/o2", `{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"b"},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-01"}`)
	b := e.do("GET", "/fhir/Observation?patient=p1&_sort=date&_include=Observation:patient", "")
	s := string(b.body)
	if !(strings.Index(s, `"id":"o2"`) < strings.Index(s, `"id":"o1"`)) || !strings.Contains(s, `"mode":"include"`) {
		t.Errorf("sort/include: %s", s)
	}
	rev := e.do("GET", "/fhir/Patient?_id=p1&_revinclude=Observation:subject&_include=Patient:general-practitioner", "").json(t)
	if n := len(rev["entry"].([]any)); n != 4 {
		t.Errorf("revinclude+include gave %d entries, want 4", n)
	}
	// the CapabilityStatement says which _include and _revinclude work
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type                            string
				SearchInclude, SearchRevInclude []string
			}
		}
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/metadata", "").body, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	for _, res := range cs.Rest[0].Resource {
		if res.Type == "Patient" && (!slices.Contains(res.SearchRevInclude, "Observation:subject") ||
			!slices.Contains(res.SearchInclude, "Patient:general-practitioner") || slices.Contains(res.SearchRevInclude, "Encounter:practitioner")) {
			t.Errorf("Patient's searchInclude %v, searchRevInclude %v", res.SearchInclude, res.SearchRevInclude)
		}
	}
	if c := e.do("GET", "/fhir/Observation?_summary=count", "").json(t); c["total"].(float64) != 2 || c["entry"] != nil {
		t.Errorf("_summary=count = %v", c)
	}
	// A POST _search's self link states the search its body made; a
	// history's without parameters ends at its path.
	links := func(r resp) map[string]string {
		out := map[string]string{}
		for _, l := range r.json(t)["link"].([]any) {
			m := l.(map[string]any)
			out[m["relation"].(string)] = m["url"].(string)
		}
		return out
	}
	if self := links(e.do("POST", "/fhir/Observation/_search", "_sort=-_lastUpdated&_count=1", "Content-Type", "application/x-www-form-urlencoded"))["self"]; !strings.HasSuffix(self, "/fhir/Observation?_count=1&_sort=-_lastUpdated") {
		t.Errorf("POST _search self link: %s", self)
	}
	if self := links(e.do("GET", "/fhir/Patient/p1/_history", ""))["self"]; !strings.HasSuffix(self, "/fhir/Patient/p1/_history") {
		t.Errorf("history self link: %s", self)
	}
	// A type history's cursor is sealed: one the server did not give is
	// an expired one, and the one it gave pages on.
	if r := e.do("GET", "/fhir/Observation/_history?_before=12", ""); r.status != 410 {
		t.Errorf("a made-up type history cursor: %d", r.status)
	}
	first := e.do("GET", "/fhir/Observation/_history?_count=1", "")
	if next := links(first)["next"]; next == "" {
		t.Error("type history of one per page has no next link")
	} else if r := e.do("GET", strings.TrimPrefix(next, e.url), ""); r.status != 200 || len(r.json(t)["entry"].([]any)) != 1 || string(r.body) == string(first.body) {
		t.Errorf("its next page: %d %s", r.status, r.body)
	}
	// _count=0 is the same: the total, no entries and no page links.
	if r := e.do("GET", "/fhir/Observation?_count=0", ""); r.json(t)["total"].(float64) != 2 || r.json(t)["entry"] != nil || strings.Contains(string(r.body), `"next"`) {
		t.Errorf("_count=0 = %s", r.body)
	}
}

func TestBackup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Patient/b1", `{"resourceType":"Patient","id":"b1"}`)
	r := e.do("GET", "/admin/backup", "")
	if r.status != 200 || len(r.body) == 0 {
		t.Fatalf("backup = %d", r.status)
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Read("Patient", "b1"); err != nil {
		t.Errorf("restored backup lacks the patient: %v", err)
	}
}
