package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/devcert"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/metrics/metricstest"
	"github.com/relais-health/relais/gateway/server"
)

// fixture is a certificate directory made by devcert (as `relais certs`
// makes it) and a JWT public key file trusted by the configurations built
// from it.
type fixture struct {
	certs string
	key   *auth.DevKey
	cfg   server.Config // valid: plain HTTP on a free port, no MLLP
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := devcert.Generate(certs); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadDevKey(certs)
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
	vc := key.VerifierConfig()
	return &fixture{certs: certs, key: key, cfg: server.Config{
		Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"),
		JWTKeyFile: pub, JWTIssuer: vc.Issuer, JWTAudience: vc.Audience,
		Logger: quiet(),
	}}
}

func (f *fixture) file(name string) string { return filepath.Join(f.certs, name) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestNewRefusesBadOptions: every option naming a file or an address is
// checked by New, before the database is created, and every problem is
// reported at once.
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name string
		set  func(c *server.Config)
		want []string // in the error
	}{
		{"TLS certificate missing", func(c *server.Config) {
			c.TLSCert, c.TLSKey = f.file("nope.crt"), f.file(devcert.ServerKeyFile)
		}, []string{"--tls-cert", "nope.crt"}},
		{"TLS certificate without key", func(c *server.Config) {
			c.TLSCert = f.file(devcert.ServerCertFile)
		}, []string{"--tls-cert and --tls-key go together"}},
		{"TLS key of another certificate", func(c *server.Config) {
			c.TLSCert, c.TLSKey = f.file(devcert.ClientCertFile), f.file(devcert.ServerKeyFile)
		}, []string{"--tls-cert", "private key does not match"}},
		{"MLLP TLS key missing", func(c *server.Config) {
			c.MLLPAddr = "127.0.0.1:0"
			c.MLLPTLSCert, c.MLLPTLSKey = f.file(devcert.ServerCertFile), f.file("nope.key")
		}, []string{"--mllp-tls-key", "nope.key"}},
		{"MLLP client CA without MLLP TLS", func(c *server.Config) {
			c.MLLPAddr, c.MLLPClientCA = "127.0.0.1:0", f.file(devcert.CAFile)
		}, []string{"a client CA needs --mllp-tls-cert and --mllp-tls-key"}},
		{"MLLP client CA file missing", func(c *server.Config) {
			c.MLLPAddr = "127.0.0.1:0"
			c.MLLPTLSCert, c.MLLPTLSKey = f.file(devcert.ServerCertFile), f.file(devcert.ServerKeyFile)
			c.MLLPClientCA = f.file("nope-ca.crt")
		}, []string{"client CA", "nope-ca.crt"}},
		{"MLLP client CA holds no certificate", func(c *server.Config) {
			c.MLLPAddr = "127.0.0.1:0"
			c.MLLPTLSCert, c.MLLPTLSKey = f.file(devcert.ServerCertFile), f.file(devcert.ServerKeyFile)
			c.MLLPClientCA = f.file(devcert.ServerKeyFile)
		}, []string{"client CA: no certificate"}},
		{"MLLP TLS without an MLLP listener", func(c *server.Config) {
			c.MLLPTLSCert, c.MLLPTLSKey = f.file(devcert.ServerCertFile), f.file(devcert.ServerKeyFile)
		}, []string{"need --mllp-addr"}},
		{"address without port", func(c *server.Config) { c.Addr = "localhost" }, []string{"--addr", "missing port"}},
		{"port out of range", func(c *server.Config) { c.Addr = "127.0.0.1:99999" }, []string{"--addr", "bad port"}},
		{"unknown port name", func(c *server.Config) { c.MLLPAddr = "0.0.0.0:no-such-service" }, []string{"--mllp-addr", "bad port"}},
		{"host that is no host", func(c *server.Config) { c.Addr = "my host:8080" }, []string{"--addr", "neither an IP address nor a host name"}},
		{"no address", func(c *server.Config) { c.Addr = "" }, []string{"--addr: a listen address is required"}},
		{"two listeners on one address", func(c *server.Config) { c.Addr, c.MLLPAddr = "127.0.0.1:2575", "127.0.0.1:2575" }, []string{"--addr and --mllp-addr are the same address"}},
		{"metrics address without port", func(c *server.Config) { c.MetricsAddr = "127.0.0.1" }, []string{"--metrics-addr", "missing port"}},
		{"metrics on the API address", func(c *server.Config) { c.Addr, c.MetricsAddr = "127.0.0.1:9090", "127.0.0.1:9090" }, []string{"--addr and --metrics-addr are the same address"}},
		{"no data directory", func(c *server.Config) { c.DataDir = "" }, []string{"--data"}},
		{"base URL without a scheme", func(c *server.Config) { c.BaseURL = "relais.example.org" }, []string{"--base-url", "absolute http or https URL"}},
		{"base URL of another scheme", func(c *server.Config) { c.BaseURL = "ftp://relais.example.org" }, []string{"--base-url", "absolute http or https URL"}},
		{"base URL with a query", func(c *server.Config) { c.BaseURL = "https://relais.example.org/?x=1" }, []string{"--base-url", "no query or fragment"}},
		{"base URL with credentials", func(c *server.Config) { c.BaseURL = "https://u:p@relais.example.org" }, []string{"--base-url", "no user name or password"}},
		{"witness URL that is no URL", func(c *server.Config) { c.AuditWitness = "witness.example.org/checkpoints" }, []string{"--audit-witness", "absolute http or https URL"}},
		{"every problem at once", func(c *server.Config) {
			c.Addr, c.TLSKey = "nowhere", f.file(devcert.ServerKeyFile)
			c.MLLPAddr, c.MLLPClientCA = "127.0.0.1:0", f.file(devcert.CAFile)
		}, []string{"--addr", "--tls-cert and --tls-key go together", "a client CA needs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := f.cfg
			cfg.DataDir = filepath.Join(t.TempDir(), "data")
			tc.set(&cfg)
			s, err := server.New(cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted the options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if cfg.DataDir != "" {
				if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
					t.Errorf("the data directory was created (%v): options must be checked first", err)
				}
			}
		})
	}
}

// TestNewThenClose: a server built and never run releases the database
// with Close.
// TestLargeTokenOutcome: a 1.5 MB bearer token is refused with a FHIR
// OperationOutcome, not the plain text of Go's header limit.
func TestLargeTokenOutcome(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	serve(t, cfg)
	req, _ := http.NewRequest("GET", "http://"+<-addr+"/fhir/Patient/p", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 3<<19))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 401 || !strings.Contains(string(body), `"resourceType":"OperationOutcome"`) {
		t.Errorf("1.5 MB token: %d %.200s, want 401 with an OperationOutcome", res.StatusCode, body)
	}
}

// serve runs a server built from cfg until the test ends, and checks that
// Run then returns no error.
func serve(t *testing.T, cfg server.Config) {
	t.Helper()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

func TestNewThenClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, err := server.New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	reopen(t, f.cfg.DataDir).Close()
}

// TestAddressInUse: an MLLP address already taken stops Run before it
// serves anything: the HTTP API is never announced, and the database is
// closed cleanly.
func TestAddressInUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := f.cfg
	cfg.MLLPAddr = taken.Addr().String()
	var announced atomic.Bool
	cfg.Ready = func(string) { announced.Store(true) }
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "mllp") {
		t.Errorf("Run = %v, want the MLLP listen error", err)
	}
	if announced.Load() {
		t.Error("the HTTP API was announced although the MLLP listener could not start")
	}
	reopen(t, cfg.DataDir).Close()
}

// TestShutdownWritesAcknowledged runs HTTPS and MLLP over TLS with client
// certificates from devcert files, has four MLLP connections send
// admissions, and stops the server while they are sending: every message
// acknowledged before the stop is written before Run returns (the inbox is
// empty and each admission has its Encounter), and the connections are
// closed.
func TestShutdownWritesAcknowledged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg
	cfg.TLSCert, cfg.TLSKey = f.file(devcert.ServerCertFile), f.file(devcert.ServerKeyFile)
	cfg.MLLPAddr = "127.0.0.1:0"
	cfg.MLLPTLSCert, cfg.MLLPTLSKey = f.file(devcert.ServerCertFile), f.file(devcert.ServerKeyFile)
	cfg.MLLPClientCA = f.file(devcert.CAFile)
	addrs := make(chan string, 2)
	cfg.Ready = func(a string) { addrs <- a }
	mllpAddr := make(chan string, 1)
	cfg.MLLPReady = func(a string) { mllpAddr <- a }
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	httpAddr, maddr := <-addrs, <-mllpAddr

	// HTTPS with the development CA answers.
	pool, err := devcert.CAPool(f.certs)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := hc.Get("https://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("readyz = %d", res.StatusCode)
	}

	clientTLS, err := devcert.ClientTLS(f.certs)
	if err != nil {
		t.Fatal(err)
	}
	const stopAfter = 200
	var acked sync.Map // stay number -> true
	var n atomic.Int64
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := tls.Dial("tcp", maddr, clientTLS)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for i := c; ; i += 4 {
				msg := ingesttest.ADT{Event: "A01", N: i}.Bytes()
				if _, err := conn.Write(append(append([]byte{0x0b}, msg...), 0x1c, 0x0d)); err != nil {
					return // the server closed the connection
				}
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				frame, err := r.ReadBytes(0x1c)
				if err != nil {
					return
				}
				if !bytes.Contains(frame, []byte(fmt.Sprintf("MSA|AA|A01-%d\r", i))) {
					t.Errorf("stay %d: ACK %q", i, frame)
					return
				}
				acked.Store(i, true)
				if n.Add(1) == stopAfter {
					cancel()
				}
			}
		}()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	wg.Wait() // every connection was closed by the server
	if n.Load() < stopAfter {
		t.Fatalf("only %d messages acknowledged", n.Load())
	}
	// The log ends with a line of its own, which a crash never writes.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "msg=stopped clean=true") {
		t.Errorf("the log ends with %q, want the stopped line", last)
	}

	st := reopen(t, cfg.DataDir)
	defer st.Close()
	if q, err := st.Queued(); err != nil || len(q) != 0 {
		// (Searching now would wait for them.)
		t.Fatalf("inbox after Run returned: %d %v, want every acknowledged message written", len(q), err)
	}
	var ns []int
	acked.Range(func(k, _ any) bool { ns = append(ns, k.(int)); return true })
	missing, err := ingesttest.MissingEncounters(st, ns)
	if err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged admissions have no Encounter", missing, n.Load())
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
}

// reopen opens the database a stopped server left: it fails if the server
// still holds it.
func reopen(t *testing.T, dataDir string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(dataDir, server.DBFile), store.Options{Codec: codec.MustNew()})
	if err != nil {
		t.Fatalf("database not closed cleanly: %v", err)
	}
	return st
}

// TestMetricsListener: --metrics-addr serves GET /metrics without a token
// and nothing else, while the API's /metrics still wants one; after a
// write, an MLLP message and a consent-filtered search the scrape has
// every named metric with sensible values.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.cfg
	cfg.MLLPAddr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	apiAddr, mllpAddr, metricsAddr := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	cfg.Ready = func(a string) { apiAddr <- a }
	cfg.MLLPReady = func(a string) { mllpAddr <- a }
	cfg.MetricsReady = func(a string) { metricsAddr <- a }
	serve(t, cfg)
	api, metricsURL := "http://"+<-apiAddr, "http://"+<-metricsAddr+"/metrics"

	system, err := f.key.Mint(auth.MintOptions{Scope: "system/*.cruds"})
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := f.key.Mint(auth.MintOptions{Scope: "user/Patient.rs", FHIRUser: "PractitionerRole/stranger"})
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, url, token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if got := call("PUT", api+"/fhir/Patient/m1", system, `{"resourceType":"Patient","id":"m1"}`); got != 201 {
		t.Fatalf("PUT = %d", got)
	}
	if got := call("GET", api+"/fhir/Patient?_id=m1", stranger, ""); got != 200 {
		t.Fatalf("filtered search = %d", got)
	}
	conn, err := net.Dial("tcp", <-mllpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(append(append([]byte{0x0b}, ingesttest.Admit(1)...), 0x1c, 0x0d)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if ack, err := bufio.NewReader(conn).ReadBytes(0x1c); err != nil || !bytes.Contains(ack, []byte("MSA|AA|")) {
		t.Fatalf("MLLP ACK %q %v", ack, err)
	}

	for _, c := range []struct {
		method, url, token string
		want               int
	}{
		{"GET", api + "/metrics", "", 401},
		{"GET", api + "/metrics", stranger, 403},
		{"GET", api + "/metrics", system, 200},
		{"GET", metricsURL, "", 200},
		{"POST", metricsURL, "", 405},
		{"GET", strings.TrimSuffix(metricsURL, "/metrics") + "/fhir/Patient/m1", system, 404},
		{"GET", strings.TrimSuffix(metricsURL, "/metrics") + "/healthz", "", 404},
	} {
		if got := call(c.method, c.url, c.token, ""); got != c.want {
			t.Errorf("%s %s (token %v) = %d, want %d", c.method, c.url, c.token != "", got, c.want)
		}
	}

	res, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	fams := metricstest.Parse(t, res.Body)
	res.Body.Close()
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		// The code system and the PUT: the message's resources are applied
		// in the background, and decisions go to the store's journal.
		{"relais_store_commit_seconds", nil, 2},
		{"relais_store_pages_written_total", nil, 1},
		{"relais_store_size_bytes", nil, 4096},
		{"relais_inbox_queued", nil, 0},
		{"relais_inbox_failed", nil, 0},
		{"relais_mllp_messages_total", []string{"ack", "AA"}, 1},
		{"relais_mllp_messages_total", []string{"ack", "CR"}, 0},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}/{id}", "code", "201"}, 1},
		{"relais_http_requests_total", []string{"route", "/metrics", "code", "401"}, 1},
		{"relais_http_request_seconds", []string{"route", "/fhir/{type}"}, 1},
		{"relais_consent_decisions_total", []string{"outcome", "deny"}, 1},
		{"relais_consent_decisions_total", []string{"outcome", "permit"}, 0},
		{"go_goroutines", nil, 1},
	} {
		if v, ok := fams.Value(c.name, c.labels...); !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if v, _ := fams.Value("relais_mllp_messages_total", "ack", "AA"); v != 1 {
		t.Errorf("relais_mllp_messages_total{ack=AA} = %v, want 1", v)
	}
	for _, route := range fams.LabelValues("relais_http_requests_total", "route") {
		if strings.Contains(route, "m1") {
			t.Errorf("route label %q carries a resource id", route)
		}
	}
}
