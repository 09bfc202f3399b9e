// Package devcert creates the development keys and certificates that
// `relais certs` and `make certs` put under certs/, with crypto/x509 alone
// (no openssl). They are for a developer's machine and tests only: the CA
// key sits next to the certificates it signs, and anyone holding the JWT key
// can mint tokens.
//
// Files written to the directory (keys PKCS #8 PEM, mode 0600; certificates
// PEM, mode 0644):
//
//	dev-jwt-es256.pem        ES256 JWT signing key (auth.DevKeyFile), trusted by serve --dev
//	ca.crt, ca.key           development CA, ECDSA P-256, valid 10 years
//	server.crt, server.key   TLS server certificate for localhost, 127.0.0.1 and ::1
//	                         (plus Options.Hosts), signed by the CA, valid 1 year
//	client.crt, client.key   TLS client certificate, CN relais-dev-client, for
//	                         mutual TLS (MLLP), signed by the CA, valid 1 year
//
// Generation is idempotent: a file set that is present and sound is kept.
// A missing or unusable CA is recreated, and then both leaf certificates
// are reissued; a leaf that is missing, does not match its key, is not
// signed by the CA, lacks a host or expires within 30 days is reissued.
// Options.Overwrite recreates everything, the JWT key included.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-health/relais/gateway/auth"
)

// File names in the certificate directory.
const (
	CAFile         = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
	ClientCertFile = "client.crt"
	ClientKeyFile  = "client.key"
	// ClientName is the common name of the client certificate.
	ClientName = "relais-dev-client"
)

// Validity periods.
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
	backdate     = time.Hour // tolerate clocks slightly behind ours
)

// Options tune Generate.
type Options struct {
	Overwrite bool             // recreate every file, the JWT key included
	Hosts     []string         // extra DNS names or IP addresses for the server certificate
	Now       func() time.Time // nil means time.Now
}

// Result says which files (names relative to the directory) were written
// and which were kept.
type Result struct {
	Created, Kept []string
}

// Generate creates whatever is missing in dir with default options.
func Generate(dir string) error {
	_, err := GenerateWith(dir, Options{})
	return err
}

// GenerateWith creates the development key and certificates in dir.
func GenerateWith(dir string, o Options) (Result, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	g := &generator{dir: dir, opts: o, now: now()}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("devcert: %w", err)
	}
	steps := []func() error{g.makeJWTKey, g.makeCA, g.makeServer, g.makeClient}
	for _, step := range steps {
		if err := step(); err != nil {
			return g.res, fmt.Errorf("devcert: %w", err)
		}
	}
	return g.res, nil
}

type generator struct {
	dir   string
	opts  Options
	now   time.Time
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	caNew bool
	res   Result
}

func (g *generator) makeJWTKey() error {
	_, err := os.Stat(filepath.Join(g.dir, auth.DevKeyFile))
	switch {
	case g.opts.Overwrite:
		_, err = auth.CreateDevKey(g.dir)
	case errors.Is(err, fs.ErrNotExist):
		_, err = auth.LoadOrCreateDevKey(g.dir)
	case err == nil:
		_, err = auth.LoadDevKey(g.dir) // check it is usable
		g.res.Kept = append(g.res.Kept, auth.DevKeyFile)
		return err
	}
	if err == nil {
		g.res.Created = append(g.res.Created, auth.DevKeyFile)
	}
	return err
}

func (g *generator) makeCA() error {
	if !g.opts.Overwrite {
		if cert, key, err := g.loadPair(CAFile, CAKeyFile); err == nil && cert.IsCA && g.fresh(cert) {
			g.ca, g.caKey = cert, key
			g.res.Kept = append(g.res.Kept, CAFile, CAKeyFile)
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Relais development CA", Organization: []string{"Relais (development only)"}},
		NotBefore:             g.now.Add(-backdate),
		NotAfter:              g.now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	cert, err := g.issue(tmpl, key, nil, nil, CAFile, CAKeyFile)
	if err != nil {
		return err
	}
	g.ca, g.caKey, g.caNew = cert, key, true
	return nil
}

func (g *generator) makeServer() error {
	hosts := append([]string{"localhost", "127.0.0.1", "::1"}, g.opts.Hosts...)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"Relais (development only)"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return g.leaf(tmpl, ServerCertFile, ServerKeyFile, hosts)
}

func (g *generator) makeClient() error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: ClientName, Organization: []string{"Relais (development only)"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return g.leaf(tmpl, ClientCertFile, ClientKeyFile, nil)
}

// leaf keeps the certificate in certFile if it is sound, else issues tmpl.
func (g *generator) leaf(tmpl *x509.Certificate, certFile, keyFile string, hosts []string) error {
	if !g.opts.Overwrite && !g.caNew {
		cert, _, err := g.loadPair(certFile, keyFile)
		if err == nil && g.fresh(cert) && g.signedByCA(cert, tmpl.ExtKeyUsage[0], hosts) {
			g.res.Kept = append(g.res.Kept, certFile, keyFile)
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.NotBefore = g.now.Add(-backdate)
	tmpl.NotAfter = g.now.Add(leafValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	_, err = g.issue(tmpl, key, g.ca, g.caKey, certFile, keyFile)
	return err
}

// fresh reports whether cert is valid now and for at least renewBefore.
func (g *generator) fresh(cert *x509.Certificate) bool {
	return !g.now.Before(cert.NotBefore) && g.now.Add(renewBefore).Before(cert.NotAfter)
}

// signedByCA reports whether cert chains to the CA for usage and every host.
func (g *generator) signedByCA(cert *x509.Certificate, usage x509.ExtKeyUsage, hosts []string) bool {
	roots := x509.NewCertPool()
	roots.AddCert(g.ca)
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: g.now, KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := cert.Verify(opts); err != nil {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// issue signs tmpl for key (self-signed when parent is nil) and writes the
// key, then the certificate.
func (g *generator) issue(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, certFile, keyFile string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signer := key
	if parent == nil {
		parent = tmpl
	} else {
		signer = parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(g.dir, keyFile), "PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(g.dir, certFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	g.res.Created = append(g.res.Created, certFile, keyFile)
	return x509.ParseCertificate(der)
}

// loadPair reads a certificate and its private key, checking they match.
func (g *generator) loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(g.dir, certFile), filepath.Join(g.dir, keyFile))
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not an ECDSA key", keyFile)
	}
	return pair.Leaf, key, nil
}

// writePEM writes one PEM block to path with mode perm, through a temporary
// file and a rename so that readers never see half a file.
func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der})
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
