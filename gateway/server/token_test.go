package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/server"
)

// TestTokenEndpointAcrossRestart: relais serve has a token endpoint; the
// tokens it issues verify, also after a restart (the issuing key is kept
// in the data directory, mode 0600), and an assertion used before the
// restart is refused after it.
func TestTokenEndpointAcrossRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := auth.PublicJWK(&priv.PublicKey, "k1")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := f.key.Mint(auth.MintOptions{Scope: "system/*.cruds"})
	if err != nil {
		t.Fatal(err)
	}

	// With a base URL, the assertion's aud does not depend on the port,
	// which the restarted server need not get again.
	cfg := f.cfg
	cfg.BaseURL = "https://relais.example"
	base, stop := start(t, cfg)
	body, _ := json.Marshal(map[string]any{"jwks": map[string]any{"keys": []any{jwk}}, "scope": "system/Patient.rs"})
	status, reply := call(t, "POST", base+"/admin/clients", "application/json", string(body), admin)
	if status != 201 {
		t.Fatalf("register: %d %s", status, reply)
	}
	var client struct{ ID string }
	_ = json.Unmarshal(reply, &client)
	tok := jwt.NewWithClaims(jwt.SigningMethodES384, jwt.MapClaims{"iss": client.ID, "sub": client.ID,
		"aud": cfg.BaseURL + "/auth/token", "exp": time.Now().Add(4 * time.Minute).Unix(), "jti": "once"})
	tok.Header["kid"] = "k1"
	assertion, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion}, "scope": {"system/Patient.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}.Encode()
	status, reply = call(t, "POST", base+"/auth/token", "application/x-www-form-urlencoded", form, "")
	if status != 200 {
		t.Fatalf("token: %d %s", status, reply)
	}
	var issued struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(reply, &issued)
	if status, reply := call(t, "GET", base+"/fhir/Patient", "", "", issued.AccessToken); status != 200 {
		t.Fatalf("search with the issued token: %d %s", status, reply)
	}
	stop()

	fi, err := os.Stat(filepath.Join(cfg.DataDir, auth.IssuingKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("issuing key file: %v, %v; want mode 0600", fi, err)
	}
	base2, stop2 := start(t, cfg)
	defer stop2()
	if status, reply := call(t, "GET", base2+"/fhir/Patient", "", "", issued.AccessToken); status != 200 {
		t.Errorf("the issued token after a restart: %d %s", status, reply)
	}
	status, reply = call(t, "POST", base2+"/auth/token", "application/x-www-form-urlencoded", form, "")
	if status != 400 || !strings.Contains(string(reply), `"invalid_grant"`) {
		t.Errorf("the assertion replayed after a restart: %d %s, want 400 invalid_grant", status, reply)
	}
}

// start runs a server built from cfg and returns its base URL and a
// function that stops it, checking that Run returned no error.
func start(t *testing.T, cfg server.Config) (string, func()) {
	t.Helper()
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("Run = %v before serving", err)
	}
	stopped := false
	return base, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

func call(t *testing.T, method, u, contentType, body, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}
