package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PUBLIC KEY", der)
}

func selfSigned(t *testing.T, s signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.priv.Public(), s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("CERTIFICATE", der)
}

func TestParsePublicKeys(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	es, rs, ed := keys[AlgES256], keys[AlgRS256], keys[AlgEdDSA]
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(es.priv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  []byte
		n    int // keys expected; 0 means an error
	}{
		{"EC PKIX", pkixPEM(t, es.priv.Public()), 1},
		{"RSA PKIX", pkixPEM(t, rs.priv.Public()), 1},
		{"Ed25519 PKIX", pkixPEM(t, ed.priv.Public()), 1},
		{"RSA PKCS1", pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(rs.priv.Public().(*rsa.PublicKey))), 1},
		{"certificate", selfSigned(t, es), 1},
		{"three keys", append(append(pkixPEM(t, es.priv.Public()), pkixPEM(t, rs.priv.Public())...), selfSigned(t, ed)...), 3},
		{"RSA 1024", pkixPEM(t, &weak.PublicKey), 0},
		{"P-384", pkixPEM(t, &p384.PublicKey), 0},
		{"private key", pemBlock("PRIVATE KEY", ecDER), 0},
		{"empty", nil, 0},
		{"not PEM", []byte("hello"), 0},
		{"corrupt", pemBlock("PUBLIC KEY", []byte{1, 2, 3}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePublicKeys(tt.pem)
			if tt.n == 0 {
				if err == nil {
					t.Errorf("accepted %d keys", len(got))
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("ParsePublicKeys = %d keys, %v; want %d", len(got), err, tt.n)
			}
			if _, err := NewVerifier(Config{Issuer: "i", Audience: "a", Keys: got}); err != nil {
				t.Errorf("NewVerifier refused parsed keys: %v", err)
			}
		})
	}
}

// TestLoadPublicKeysVerifies is the production path: a key file configured
// with --jwt-key verifies tokens of every algorithm, whatever their kid.
func TestLoadPublicKeysVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var all []byte
	for _, s := range testKeys() {
		all = append(all, pkixPEM(t, s.priv.Public())...)
	}
	path := filepath.Join(dir, "idp.pem")
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadPublicKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Issuer: testIssuer, Audience: testAudience, Keys: keys, Now: fixed(t0)})
	if err != nil {
		t.Fatal(err)
	}
	for alg, s := range testKeys() {
		if _, err := v.Verify(s.sign(t, goodClaims(), "idp-key-2026")); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	if _, err := LoadPublicKeys(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestThumbprint(t *testing.T) {
	t.Parallel()
	dec := base64.RawURLEncoding.DecodeString
	// RFC 7638 section 3.1.
	n, err := dec("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	if err != nil {
		t.Fatal(err)
	}
	// RFC 8037 appendix A.3.
	x, err := dec("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  any
		want string
	}{
		{"RFC 7638 RSA", &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"},
		{"RFC 8037 Ed25519", ed25519.PublicKey(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
	}
	for _, tt := range tests {
		got, err := Thumbprint(tt.key)
		if err != nil || got != tt.want {
			t.Errorf("%s: Thumbprint = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	// EC: stable and distinct per key.
	a, _ := Thumbprint(testKeys()[AlgES256].priv.Public())
	b, _ := Thumbprint(testKeys()[AlgES256].priv.Public())
	if a != b || len(a) != 43 || strings.ContainsAny(a, "+/=") {
		t.Errorf("EC thumbprint %q / %q", a, b)
	}
	if _, err := Thumbprint("not a key"); err == nil {
		t.Error("thumbprint of a string")
	}
}
