package console_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/console"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/server"
)

// fixture is a running Relais with the demo data and its discharge routed,
// and a console over its API that signs the demo identities in with a
// development key the server trusts (as relais serve --dev --demo does).
type fixture struct {
	key  *auth.DevKey
	ts   *httptest.Server
	logs *syncBuffer
}

// syncBuffer collects the server's and the console's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	key, err := auth.CreateDevKey(filepath.Join(dir, "certs"))
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "jwt.pem")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	vc := key.VerifierConfig()
	ready := make(chan string, 1)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		JWTKeyFile: pub, JWTIssuer: vc.Issuer, JWTAudience: vc.Audience, Demo: true, Logger: log,
		RouteInterval: 20 * time.Millisecond, Ready: func(a string) { ready <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-ran:
		t.Fatalf("server stopped: %v", err)
	}
	cons, err := console.New(console.Config{API: srv.Handler(), Codec: codec.MustNew(), Minter: key,
		InsecureCookies: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: key, logs: logs}
	f.ts = httptest.NewServer(console.Mount(srv.Handler(), cons))
	t.Cleanup(f.ts.Close)
	f.waitRouted(t)
	return f
}

// token mints the token of a demo identity.
func (f *fixture) token(t *testing.T, name string) string {
	t.Helper()
	id, ok := demo.IdentityNamed(name)
	if !ok {
		t.Fatalf("no demo identity %s", name)
	}
	tok, err := f.key.Mint(auth.MintOptions{Scope: id.Scope, FHIRUser: id.FHIRUser})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// api calls the API directly with a demo identity's token.
func (f *fixture) api(t *testing.T, who, method, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, who))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// waitRouted waits until the demo stay's plan is written (it is routed at
// start, the stay being finished).
func (f *fixture) waitRouted(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, b := f.api(t, "system", "GET", "/fhir/Task?patient=demo-patient&_summary=count")
		var n struct{ Total int }
		_ = json.Unmarshal(b, &n)
		if n.Total >= 6 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the demo stay was not routed")
}

// browser is a cookie-keeping HTTP client of the console that does not
// follow redirects, as a person's browser session.
type browser struct {
	t    *testing.T
	f    *fixture
	c    *http.Client
	csrf string // the last page's form token
}

func (f *fixture) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return res, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", b.f.ts.URL+path, nil)
	return b.do(req)
}

// post submits a form as the console's own page does: same origin, with
// the page's CSRF token unless the form sets csrf.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.f.ts.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// signIn signs in as a demo identity, in English.
func (b *browser) signIn(who string) {
	b.t.Helper()
	b.get("/console/signin?lang=en")
	res, _ := b.post("/console/signin", url.Values{"identity": {who}})
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d", who, res.StatusCode)
	}
	b.get("/console/") // the signed-in session's form token
}

// regexpFind is the first submatch of pattern in s, or "".
func regexpFind(pattern, s string) string {
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}
