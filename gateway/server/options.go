package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// checked is what New makes of the options that name files and addresses,
// all checked before anything starts, so that a mistake stops the server
// at start-up with every problem listed rather than after some listeners
// already serve.
type checked struct {
	httpTLS *tls.Config // nil: plain HTTP
	mllpTLS *tls.Config // nil: plain MLLP (or no MLLP listener)
}

// check loads the certificates, keys and client CAs and parses the listen
// addresses. It opens no socket and no database: an address already in use
// is still found by Run, before it serves anything.
func check(cfg Config) (*checked, error) {
	var c checked
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.DataDir == "" {
		add(errors.New("--data: a data directory is required"))
	}
	add(checkAddr("--addr", cfg.Addr, true))
	add(checkAddr("--mllp-addr", cfg.MLLPAddr, false))
	add(checkAddr("--metrics-addr", cfg.MetricsAddr, false))
	add(distinctAddrs(map[string]string{"--addr": cfg.Addr, "--mllp-addr": cfg.MLLPAddr, "--metrics-addr": cfg.MetricsAddr}))
	add(checkURL("--base-url", cfg.BaseURL, true))
	add(checkURL("--audit-witness", cfg.AuditWitness, false))

	var err error
	c.httpTLS, err = loadTLS("--tls-cert", "--tls-key", cfg.TLSCert, cfg.TLSKey, "")
	add(err)
	c.mllpTLS, err = loadTLS("--mllp-tls-cert", "--mllp-tls-key", cfg.MLLPTLSCert, cfg.MLLPTLSKey, cfg.MLLPClientCA)
	add(err)
	if cfg.MLLPAddr == "" && (cfg.MLLPTLSCert != "" || cfg.MLLPTLSKey != "" || cfg.MLLPClientCA != "") {
		add(errors.New("--mllp-tls-cert, --mllp-tls-key and --mllp-client-ca need --mllp-addr"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	return &c, nil
}

// checkAddr checks that addr is host:port with a numeric or named port and
// a host that is empty (every interface), an IP address or a DNS name.
// Names are resolved only when listening.
func checkAddr(flag, addr string, required bool) error {
	if addr == "" {
		if required {
			return fmt.Errorf("%s: a listen address is required", flag)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%s %q: bad port: %w", flag, addr, err)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !dnsName(host) {
		return fmt.Errorf("%s %q: %q is neither an IP address nor a host name", flag, addr, host)
	}
	return nil
}

// checkURL checks that u, when set, is an absolute http or https URL with
// a host. A base URL (--base-url, the base of Location headers, fullUrls
// and links, and the token issuer) holds no query, fragment or user
// either, which every URL built on it would carry. Without the
// check, --base-url relais.example (no scheme) served relative links and
// issued tokens with the issuer "relais.example", and a mistyped witness
// URL failed once an hour, after the start.
func checkURL(flag, u string, base bool) error {
	if u == "" {
		return nil
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("%s %q: %w", flag, u, err)
	case p.Scheme != "http" && p.Scheme != "https" || p.Host == "" || p.Opaque != "":
		return fmt.Errorf("%s %q: want an absolute http or https URL, such as https://relais.example.org", flag, u)
	case base && (p.RawQuery != "" || p.Fragment != "" || strings.HasSuffix(u, "?") || strings.Contains(u, "#")):
		return fmt.Errorf("%s %q: a base URL has no query or fragment", flag, u)
	case base && p.User != nil:
		return fmt.Errorf("%s %q: a base URL has no user name or password (every link would carry it)", flag, u)
	}
	return nil
}

// dnsName reports whether s has the syntax of a host name (RFC 1123
// labels: letters, digits and hyphens, separated by dots).
func dnsName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// distinctAddrs refuses two listeners on the same fixed address (port 0,
// any free port, may repeat).
func distinctAddrs(addrs map[string]string) error {
	seen := map[string]string{}
	var errs []error
	for _, flag := range []string{"--addr", "--mllp-addr", "--metrics-addr"} {
		a := addrs[flag]
		if _, port, err := net.SplitHostPort(a); a == "" || err != nil || port == "0" || port == "" {
			continue
		}
		if other, ok := seen[a]; ok {
			errs = append(errs, fmt.Errorf("%s and %s are the same address %s", other, flag, a))
		}
		seen[a] = flag
	}
	return errors.Join(errs...)
}

// loadTLS loads a certificate and its key (both or neither) and, when
// caFile is set, requires client certificates signed by its CAs. Nil
// without a certificate.
func loadTLS(certFlag, keyFlag, certFile, keyFile, caFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "" && caFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		if caFile != "" && certFile == "" && keyFile == "" {
			return nil, fmt.Errorf("a client CA needs %s and %s: client certificates are asked for during the TLS handshake", certFlag, keyFlag)
		}
		return nil, fmt.Errorf("%s and %s go together", certFlag, keyFlag)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFlag, keyFlag, err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA: no certificate in %s", caFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
