package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestClientAddThenToken: the path the README shows: a client key, its
// JWK Set, `relais client add` on the stopped server's data, then serve,
// `relais client assertion`, a token from POST /auth/token and a read
// with it.
func TestClientAddThenToken(t *testing.T) {
	t.Chdir(t.TempDir())
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("client.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	relais := func(args ...string) string {
		t.Helper()
		var out, errs bytes.Buffer
		if err := run(context.Background(), args, &out, &errs); err != nil {
			t.Fatalf("relais %s: %v %s", strings.Join(args, " "), err, errs.String())
		}
		return strings.TrimSpace(out.String())
	}
	if err := os.WriteFile("client.jwks", []byte(relais("client", "jwks", "--key", "client.pem", "--kid", "k1")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"client", "add", "--data", "nowhere", "--jwks", "client.jwks", "--scope", "system/Patient.rs"}, io.Discard, io.Discard); err == nil {
		t.Error("client add created a database in a directory that does not exist")
	}
	if err := os.Mkdir("data", 0o700); err != nil {
		t.Fatal(err)
	}
	id := relais("client", "add", "--data", "data", "--name", "lab feed", "--jwks", "client.jwks",
		"--scope", "system/Patient.rs system/Task.rs", "--fhir-user", "PractitionerRole/pr-1")
	if list := relais("client", "list", "--data", "data"); !strings.Contains(list, id) || !strings.Contains(list, "lab feed") {
		t.Errorf("client list = %q, want the client %s", list, id)
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--addr", addr, "--data", "data", "--log-level", "warn"}, io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not shut down")
		}
	}()
	waitReady(t, "http://"+addr+"/readyz")

	assertion := relais("client", "assertion", "--key", "client.pem", "--client-id", id, "--kid", "k1", "--aud", "http://"+addr+"/auth/token")
	res, err := http.PostForm("http://"+addr+"/auth/token", url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion}, "scope": {"system/Patient.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string
	}
	if err := json.Unmarshal(body, &tok); err != nil || res.StatusCode != 200 || tok.Scope != "system/Patient.rs" {
		t.Fatalf("token: %d %s", res.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/fhir/Patient", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("search with the issued token: %d", res.StatusCode)
	}
}

func TestClientUsage(t *testing.T) {
	for _, args := range [][]string{{"client"}, {"client", "nope"}, {"client", "add", "--data", t.TempDir()},
		{"client", "assertion", "--key", "missing.pem", "--client-id", "x", "--aud", "y"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("relais %v succeeded", args)
		}
	}
}
