package auth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSignAssertion: an assertion signed by SignAssertion with a key read
// by LoadSigningKey gets a token, for each kind of key.
func TestSignAssertion(t *testing.T) {
	t.Parallel()
	e := newBackendEnv(t)
	dir := t.TempDir()
	for _, k := range allClientKeys() {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, k.alg+".pem")
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := LoadSigningKey(path)
		if err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
		raw, err := SignAssertion(key, AssertionOptions{ClientID: e.client.ID, Audience: tokenURL, KeyID: k.kid, TTL: time.Hour, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		// A TTL over the maximum is cut to it, so the assertion is accepted.
		if _, err := e.b.Token(context.Background(), e.request(raw, "system/Task.rs")); err != nil {
			t.Errorf("%s: %v", k.alg, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pub.pem"), []byte("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigningKey(filepath.Join(dir, "pub.pem")); err == nil {
		t.Error("a public key was loaded as a signing key")
	}
}
