package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
)

// The accepted JWS algorithms (RFC 7518, RFC 8037). Everything else, "none"
// and the HMAC family included, is refused before any key is looked at.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
)

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// Key is a public key trusted to sign tokens.
type Key struct {
	// ID is matched against the token's "kid" header. An empty ID matches
	// any kid, which suits keys configured from a PEM file whose kid the
	// issuer chose; a non-empty ID only verifies tokens that name it (or
	// name no kid at all).
	ID string
	// Public is an *ecdsa.PublicKey on P-256 (ES256), an *rsa.PublicKey of at
	// least 2048 bits (RS256) or an ed25519.PublicKey (EdDSA).
	Public crypto.PublicKey
}

// keyAlg returns the one algorithm pub may verify, after checking its size.
func keyAlg(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("EC keys must be on P-256 (ES256)")
		}
		return AlgES256, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return AlgRS256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("malformed Ed25519 key")
		}
		return AlgEdDSA, nil
	}
	return "", fmt.Errorf("unsupported public key type %T", pub)
}

// normalizeKey turns *ed25519.PublicKey into the value type jwt expects.
func normalizeKey(pub crypto.PublicKey) crypto.PublicKey {
	if p, ok := pub.(*ed25519.PublicKey); ok && p != nil {
		return *p
	}
	return pub
}

// LoadPublicKeys reads trusted public keys from a PEM file: "PUBLIC KEY"
// (PKIX), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE" blocks, in any number.
// The keys get an empty ID, so they match any kid.
func LoadPublicKeys(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read JWT keys: %w", err)
	}
	keys, err := ParsePublicKeys(data)
	if err != nil {
		return nil, fmt.Errorf("JWT keys in %s: %w", path, err)
	}
	return keys, nil
}

// ParsePublicKeys parses PEM data as LoadPublicKeys does. Blocks of other
// types are an error, so that a private key pasted by mistake is noticed.
func ParsePublicKeys(data []byte) ([]Key, error) {
	var keys []Key
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		pub, err := parsePublicBlock(b)
		if err != nil {
			return nil, err
		}
		if _, err := keyAlg(pub); err != nil {
			return nil, err
		}
		keys = append(keys, Key{Public: normalizeKey(pub)})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

func parsePublicBlock(b *pem.Block) (crypto.PublicKey, error) {
	switch b.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("unexpected PEM block %q, want a public key or certificate", b.Type)
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub (base64url SHA-256
// of its canonical JWK), a stable key ID.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	var jwk string
	switch k := normalizeKey(pub).(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("thumbprint: only P-256 EC keys")
		}
		b, err := k.Bytes() // uncompressed point: 0x04 || x || y
		if err != nil {
			return "", fmt.Errorf("thumbprint: %w", err)
		}
		enc := base64.RawURLEncoding.EncodeToString
		jwk = `{"crv":"P-256","kty":"EC","x":"` + enc(b[1:33]) + `","y":"` + enc(b[33:]) + `"}`
	case *rsa.PublicKey:
		enc := base64.RawURLEncoding.EncodeToString
		jwk = `{"e":"` + enc(big.NewInt(int64(k.E)).Bytes()) + `","kty":"RSA","n":"` + enc(k.N.Bytes()) + `"}`
	case ed25519.PublicKey:
		jwk = `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(k) + `"}`
	default:
		return "", fmt.Errorf("thumbprint: unsupported key type %T", pub)
	}
	sum := sha256.Sum256([]byte(jwk))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
