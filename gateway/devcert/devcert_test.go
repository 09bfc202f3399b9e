package devcert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
)

var allFiles = []string{auth.DevKeyFile, CAFile, CAKeyFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile}

func generate(t *testing.T, dir string, o Options) Result {
	t.Helper()
	res, err := GenerateWith(dir, o)
	if err != nil {
		t.Fatalf("GenerateWith: %v", err)
	}
	return res
}

func readCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range allFiles {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		m[f] = b
	}
	return m
}

func TestGenerateFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	res := generate(t, dir, Options{})
	if !sameSet(res.Created, allFiles) || len(res.Kept) != 0 {
		t.Errorf("result %+v, want all created", res)
	}
	for _, f := range allFiles {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if filepath.Ext(f) == ".key" || f == auth.DevKeyFile {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	if _, err := auth.LoadDevKey(dir); err != nil {
		t.Errorf("JWT key: %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestCertificatesVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, dir, Options{Hosts: []string{"relais.test", "10.0.0.7"}})
	ca := readCert(t, dir, CAFile)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	server, client := readCert(t, dir, ServerCertFile), readCert(t, dir, ClientCertFile)

	tests := []struct {
		name  string
		cert  *x509.Certificate
		host  string
		usage x509.ExtKeyUsage
		ok    bool
	}{
		{"server for localhost", server, "localhost", x509.ExtKeyUsageServerAuth, true},
		{"server for 127.0.0.1", server, "127.0.0.1", x509.ExtKeyUsageServerAuth, true},
		{"server for ::1", server, "::1", x509.ExtKeyUsageServerAuth, true},
		{"server for an extra host", server, "relais.test", x509.ExtKeyUsageServerAuth, true},
		{"server for an extra IP", server, "10.0.0.7", x509.ExtKeyUsageServerAuth, true},
		{"server for another host", server, "example.com", x509.ExtKeyUsageServerAuth, false},
		{"server as a client", server, "", x509.ExtKeyUsageClientAuth, false},
		{"client", client, "", x509.ExtKeyUsageClientAuth, true},
		{"client as a server", client, "localhost", x509.ExtKeyUsageServerAuth, false},
		{"CA is not a server", ca, "localhost", x509.ExtKeyUsageServerAuth, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			if (err == nil) != tt.ok {
				t.Errorf("Verify error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if client.Subject.CommonName != ClientName || !ca.IsCA || server.IsCA || client.IsCA {
		t.Error("unexpected subjects or CA flags")
	}
	other := t.TempDir()
	generate(t, other, Options{})
	otherRoots, err := CAPool(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: "localhost"}); err == nil {
		t.Error("server certificate verifies against another directory's CA")
	}
}

func TestGenerateIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, dir, Options{})
	before := snapshot(t, dir)

	res := generate(t, dir, Options{})
	if len(res.Created) != 0 || !sameSet(res.Kept, allFiles) {
		t.Errorf("second run %+v, want all kept", res)
	}
	assertChanged(t, before, snapshot(t, dir), nil)

	// A missing server key: only the server pair is reissued.
	os.Remove(filepath.Join(dir, ServerKeyFile))
	generate(t, dir, Options{})
	after := snapshot(t, dir)
	assertChanged(t, before, after, []string{ServerCertFile, ServerKeyFile})

	// A missing CA key: a new CA and both leaves; the JWT key stays.
	before = after
	os.Remove(filepath.Join(dir, CAKeyFile))
	generate(t, dir, Options{})
	after = snapshot(t, dir)
	assertChanged(t, before, after, []string{CAFile, CAKeyFile, ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile})

	// A new host: the server certificate is reissued to cover it.
	before = after
	generate(t, dir, Options{Hosts: []string{"relais.test"}})
	after = snapshot(t, dir)
	assertChanged(t, before, after, []string{ServerCertFile, ServerKeyFile})

	// Overwrite: everything is new.
	before = after
	generate(t, dir, Options{Overwrite: true, Hosts: []string{"relais.test"}})
	assertChanged(t, before, snapshot(t, dir), allFiles)
}

func TestGenerateRenewsExpiringLeaves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	generate(t, dir, Options{Now: func() time.Time { return now }})
	before := snapshot(t, dir)
	later := now.Add(leafValidity - renewBefore + time.Hour)
	generate(t, dir, Options{Now: func() time.Time { return later }})
	assertChanged(t, before, snapshot(t, dir), []string{ServerCertFile, ServerKeyFile, ClientCertFile, ClientKeyFile})
}

func TestGenerateReplacesCorruptFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, dir, Options{})
	before := snapshot(t, dir)
	if err := os.WriteFile(filepath.Join(dir, ClientCertFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	generate(t, dir, Options{})
	assertChanged(t, before, snapshot(t, dir), []string{ClientCertFile, ClientKeyFile})

	// A server certificate from another CA is not kept either.
	other := t.TempDir()
	generate(t, other, Options{})
	for _, f := range []string{ServerCertFile, ServerKeyFile} {
		b, _ := os.ReadFile(filepath.Join(other, f))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	generate(t, dir, Options{})
	if bytes.Equal(readFile(t, dir, ServerCertFile), readFile(t, other, ServerCertFile)) {
		t.Error("a server certificate of another CA was kept")
	}
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertChanged checks that exactly the files in changed differ.
func assertChanged(t *testing.T, before, after map[string][]byte, changed []string) {
	t.Helper()
	for _, f := range allFiles {
		differs := !bytes.Equal(before[f], after[f])
		if want := slices.Contains(changed, f); differs != want {
			t.Errorf("%s changed = %v, want %v", f, differs, want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestMutualTLSHandshake runs a real TLS 1.3 handshake over loopback between
// a server requiring client certificates and a client, both from the
// generated files, over 127.0.0.1 by name and address and ::1 when present.
func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	generate(t, dir, Options{})
	srvCfg, err := ServerTLS(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	cliCfg, err := ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []struct{ listen, serverName string }{
		{"127.0.0.1:0", "localhost"},
		{"127.0.0.1:0", "127.0.0.1"},
		{"[::1]:0", "::1"},
	} {
		t.Run(network.listen+"/"+network.serverName, func(t *testing.T) {
			ln, err := tls.Listen("tcp", network.listen, srvCfg)
			if err != nil {
				t.Skipf("no loopback listener for %s: %v", network.listen, err)
			}
			defer ln.Close()
			peer := serveEcho(ln)
			cfg := cliCfg.Clone()
			cfg.ServerName = network.serverName
			conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			echo(t, conn)
			if cn := <-peer; cn != ClientName {
				t.Errorf("server saw client %q, want %q", cn, ClientName)
			}
		})
	}
}

func TestTLSRefusals(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	generate(t, dir, Options{})
	generate(t, other, Options{})
	srvCfg, err := ServerTLS(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	good, err := ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := ClientTLS(other)
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	foreignCert := good.Clone()
	foreignCert.Certificates = foreign.Certificates
	wrongName := good.Clone()
	wrongName.ServerName = "example.com"

	for name, cfg := range map[string]*tls.Config{
		"client without certificate":          noCert,
		"client certificate of another CA":    foreignCert,
		"client not trusting the server's CA": foreign,
		"wrong server name":                   wrongName,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serveEcho(ln)
			if cfg.ServerName == "" {
				cfg = cfg.Clone()
				cfg.ServerName = "localhost"
			}
			conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err == nil {
				// In TLS 1.3 the server refuses the client certificate
				// after the client's handshake completes: the first read fails.
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Write([]byte("ping\n"))
				if err == nil {
					_, err = io.ReadFull(conn, make([]byte, 5))
				}
				conn.Close()
			}
			if err == nil {
				t.Error("connection succeeded")
			}
		})
	}
}

// serveEcho accepts one connection, echoes 5 bytes and reports the client
// certificate's common name.
func serveEcho(ln net.Listener) <-chan string {
	peer := make(chan string, 1)
	go func() {
		defer close(peer)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tc, buf); err != nil {
			return
		}
		tc.Write(buf)
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			peer <- certs[0].Subject.CommonName
		}
	}()
	return peer
}

func echo(t *testing.T, conn *tls.Conn) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != "ping\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", v)
	}
}
