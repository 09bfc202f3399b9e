package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// clientSigner is a client's key pair of one assertion algorithm.
type clientSigner struct {
	alg    string
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

// clientKeys are the keys backend-service clients sign with
// (privateKeys).
var clientKeys = sync.OnceValue(func() map[string]clientSigner {
	k := privateKeys()
	return map[string]clientSigner{
		AlgES256: {AlgES256, "k-es256", jwt.SigningMethodES256, k.es256},
		AlgES384: {AlgES384, "k-es384", jwt.SigningMethodES384, k.es384},
		AlgRS384: {AlgRS384, "k-rs384", jwt.SigningMethodRS384, k.rsa},
		AlgEdDSA: {AlgEdDSA, "k-eddsa", jwt.SigningMethodEdDSA, k.ed},
	}
})

// jwkOf is s's public JWK.
func (s clientSigner) jwk(t testing.TB) map[string]string {
	t.Helper()
	m, err := PublicJWK(s.priv.Public(), s.kid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// jwks renders a JWK Set of the given keys' public halves.
func jwks(t testing.TB, keys ...clientSigner) []byte {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk(t))
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func allClientKeys() []clientSigner {
	ks := clientKeys()
	return []clientSigner{ks[AlgES256], ks[AlgES384], ks[AlgRS384], ks[AlgEdDSA]}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	got, err := ParseJWKS(jwks(t, allClientKeys()...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d keys, want 4", len(got))
	}
	for i, k := range allClientKeys() {
		if got[i].ID != k.kid || got[i].Alg != k.alg {
			t.Errorf("key %d = kid %q alg %q, want %q %q", i, got[i].ID, got[i].Alg, k.kid, k.alg)
		}
		if !k.priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(got[i].Public) {
			t.Errorf("key %d: public key differs", i)
		}
	}
}

// TestParseJWKSMinimal: kid, alg and use are optional.
func TestParseJWKSMinimal(t *testing.T) {
	t.Parallel()
	m := clientKeys()[AlgES384].jwk(t)
	delete(m, "kid")
	delete(m, "alg")
	delete(m, "use")
	b, _ := json.Marshal(map[string]any{"keys": []any{m}})
	got, err := ParseJWKS(b)
	if err != nil || len(got) != 1 || got[0].Alg != AlgES384 || got[0].ID != "" {
		t.Errorf("ParseJWKS = %+v, %v; want one ES384 key without kid", got, err)
	}
}

func TestParseJWKSRefused(t *testing.T) {
	t.Parallel()
	ks := clientKeys()
	es := ks[AlgES256].jwk(t)
	ed := ks[AlgEdDSA].jwk(t)
	rs := ks[AlgRS384].jwk(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallJWK, _ := PublicJWK(&small.PublicKey, "")
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p521b, _ := p521.PublicKey.Bytes()
	enc := base64.RawURLEncoding.EncodeToString
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	set := func(keys ...any) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return string(b)
	}
	tests := []struct {
		name, data string
		private    bool
	}{
		{"not JSON", `{"keys":`, false},
		{"no keys", `{"keys":[]}`, false},
		{"keys not an array", `{"keys":{}}`, false},
		{"a bare JWK", `{"kty":"EC"}`, false},
		{"EC private", set(with(es, "d", enc(make([]byte, 32)))), true},
		{"RSA private", set(with(rs, "p", "AQ", "q", "AQ")), true},
		{"Ed25519 private", set(with(ed, "d", enc(make([]byte, 32)))), true},
		{"symmetric", set(map[string]string{"kty": "oct", "k": "c2VjcmV0"}), true},
		{"private d empty", set(with(es, "d", "x")), true},
		{"one good one private", set(es, with(ed, "d", "AA")), true},
		{"oct without k", set(map[string]string{"kty": "oct"}), false},
		{"P-521", set(with(es, "crv", "P-521", "x", enc(p521b[1:67]), "y", enc(p521b[67:]))), false},
		{"x short", set(with(es, "x", enc(make([]byte, 31)))), false},
		{"x padded", set(with(es, "x", es["x"]+"=")), false},
		{"point off curve", set(with(es, "y", enc(make([]byte, 32)))), false},
		{"EC alg mismatch", set(with(es, "alg", "ES384")), false},
		{"RSA RS256", set(with(rs, "alg", "RS256")), false},
		{"RSA 1024", set(smallJWK), false},
		{"RSA even exponent", set(with(rs, "e", "AQAA")), false},
		{"RSA huge exponent", set(with(rs, "e", enc([]byte{1, 0, 0, 0, 1}))), false},
		{"RSA no n", set(with(rs, "n", "")), false},
		{"X25519", set(with(ed, "crv", "X25519")), false},
		{"Ed25519 short", set(with(ed, "x", enc(make([]byte, 31)))), false},
		{"encryption key", set(with(es, "use", "enc")), false},
		{"key_ops without verify", `{"keys":[` + strings.TrimSuffix(string(mustJSON(es)), "}") + `,"key_ops":["encrypt"]}]}`, false},
		{"kty number", `{"keys":[{"kty":1}]}`, false},
		{"too many keys", set(es, es, es, es, es, es, es, es, es, es, es, es, es, es, es, es, es), false},
		{"too large", `{"keys":[],"pad":"` + strings.Repeat("a", MaxJWKSBytes) + `"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := ParseJWKS([]byte(tt.data))
			if err == nil {
				t.Fatalf("accepted: %+v", keys)
			}
			if got := errors.Is(err, ErrPrivateJWK); got != tt.private {
				t.Errorf("error %v: private = %v, want %v", err, got, tt.private)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzParseJWKS: ParseJWKS never panics, and every key it returns is one
// the rest of the package can verify with: a supported type, curve and
// size, and an algorithm of the allowlist.
func FuzzParseJWKS(f *testing.F) {
	f.Add(jwks(f, allClientKeys()...))
	for _, k := range allClientKeys() {
		f.Add(jwks(f, k))
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQ","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > maxJWKs {
			t.Fatalf("%d keys accepted", len(keys))
		}
		for _, k := range keys {
			if !assertionAlg(k.Alg) || keyFits(k.Public, k.Alg) != nil {
				t.Fatalf("unusable key accepted: %+v", k)
			}
		}
	})
}
