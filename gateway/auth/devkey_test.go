package auth

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoadOrCreateDevKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	k1, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, DevKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k1.KeyID() != k2.KeyID() {
		t.Error("second LoadOrCreateDevKey made a new key")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".dev-jwt-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	k3, err := CreateDevKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k3.KeyID() == k1.KeyID() {
		t.Error("CreateDevKey kept the old key")
	}
	if k4, err := LoadDevKey(dir); err != nil || k4.KeyID() != k3.KeyID() {
		t.Errorf("LoadDevKey after CreateDevKey: %v", err)
	}
}

// TestLoadOrCreateDevKeyRace: serve and token started together must agree.
func TestLoadOrCreateDevKeyRace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Go(func() {
			k, err := LoadOrCreateDevKey(dir)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = k.KeyID()
		})
	}
	wg.Wait()
	for _, kid := range kids[1:] {
		if kid != kids[0] {
			t.Fatalf("racing LoadOrCreateDevKey produced different keys: %v", kids)
		}
	}
}

func TestLoadDevKeyBadFile(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"not PEM":    "hello",
		"public key": string(pkixPEM(t, testKeys()[AlgES256].priv.Public())),
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, DevKeyFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateDevKey(dir); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMintVerifies(t *testing.T) {
	t.Parallel()
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := k.VerifierConfig()
	cfg.Now = fixed(t0.Add(time.Minute))
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Mint(MintOptions{
		Scope:    "system/*.cruds  user/Task.rs",
		FHIRUser: "http://localhost:8080/fhir/PractitionerRole/123",
		TTL:      2 * time.Hour,
		Now:      t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(raw)
	if err != nil {
		t.Fatalf("minted token refused: %v", err)
	}
	if p.FHIRUser != "PractitionerRole/123" || p.Subject != "PractitionerRole/123" || p.ClientID != DevClientID ||
		!p.IsSystem() || !p.Allows("Task", Delete) || !p.ExpiresAt.Equal(t0.Add(2*time.Hour)) || p.TokenID == "" {
		t.Errorf("principal %+v", *p)
	}

	other, err := k.Mint(MintOptions{Scope: "user/Task.rs", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if other == raw {
		t.Error("two minted tokens are identical")
	}
	p, err = v.Verify(other)
	if err != nil || p.Subject != DevClientID || p.FHIRUser != "" || !p.ExpiresAt.Equal(t0.Add(DefaultTokenTTL)) {
		t.Errorf("defaults: %+v, %v", p, err)
	}
}

func TestMintOptionsRefused(t *testing.T) {
	t.Parallel()
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]MintOptions{
		"Device fhirUser": {FHIRUser: "Device/1"},
		"negative TTL":    {TTL: -time.Hour},
	} {
		if _, err := k.Mint(o); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}

// TestMintWrongServer: a dev token is refused by a server with another key,
// issuer or audience.
func TestMintWrongServer(t *testing.T) {
	t.Parallel()
	k, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateDevKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Mint(MintOptions{Scope: "system/*.cruds", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"other key":      other.VerifierConfig(),
		"other issuer":   {Issuer: "prod", Audience: DevAudience, Keys: []Key{k.Key()}},
		"other audience": {Issuer: DevIssuer, Audience: "prod", Keys: []Key{k.Key()}},
	} {
		cfg.Now = fixed(t0)
		v, err := NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(raw); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), raw) {
			t.Errorf("%s: error quotes the token", name)
		}
	}
}

// TestDevKeyRelativeDir is the `relais token` / `relais serve --dev` contract:
// run from the same working directory, both resolve DevKeyDir to one key.
// Not parallel: it changes the working directory.
func TestDevKeyRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	tokenSide, err := LoadOrCreateDevKey(DevKeyDir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tokenSide.Mint(MintOptions{Scope: "system/*.cruds", FHIRUser: "PractitionerRole/123"})
	if err != nil {
		t.Fatal(err)
	}
	serveSide, err := LoadOrCreateDevKey(DevKeyDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(serveSide.VerifierConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(raw); err != nil {
		t.Fatalf("server refused the minted token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(DevKeyDir, DevKeyFile)); err != nil {
		t.Error(err)
	}
}
