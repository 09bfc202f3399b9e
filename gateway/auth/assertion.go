package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The client side of the token endpoint, for `relais client assertion`
// and tests: sign the assertion a backend-service client posts (RFC 7523
// section 3, SMART Backend Services "Authenticating to the token
// endpoint").

// LoadSigningKey reads a client's private key from a PEM file: PKCS #8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE
// KEY"); EC on P-256 or P-384, RSA of at least 2048 bits, or Ed25519.
func LoadSigningKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client key: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("client key %s: no PEM block", path)
	}
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("client key %s: unexpected PEM block %q", path, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("client key %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("client key %s: not a signing key", path)
	}
	if _, err := assertionMethod(signer); err != nil {
		return nil, fmt.Errorf("client key %s: %w", path, err)
	}
	return signer, nil
}

// assertionMethod is the one algorithm a client key signs assertions
// with, as ParseJWKS ties it to the public key.
func assertionMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		}
		return nil, errors.New("EC keys must be on P-256 or P-384")
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS384, nil
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// AssertionOptions describe a client assertion.
type AssertionOptions struct {
	ClientID string        // iss and sub; required
	Audience string        // the token endpoint's absolute URL; required
	KeyID    string        // kid header, or none
	TTL      time.Duration // default and at most MaxAssertionLifetime
	Now      time.Time     // default time.Now()
}

// SignAssertion signs a client assertion with key, with a fresh jti.
func SignAssertion(key crypto.Signer, o AssertionOptions) (string, error) {
	if o.ClientID == "" || o.Audience == "" {
		return "", errors.New("assertion: a client id and an audience are required")
	}
	if o.TTL <= 0 || o.TTL > MaxAssertionLifetime {
		o.TTL = MaxAssertionLifetime
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	m, err := assertionMethod(key)
	if err != nil {
		return "", fmt.Errorf("assertion: %w", err)
	}
	jti, err := randomID()
	if err != nil {
		return "", err
	}
	now := o.Now.Truncate(time.Second)
	tok := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Issuer: o.ClientID, Subject: o.ClientID, Audience: jwt.ClaimStrings{o.Audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)), IssuedAt: jwt.NewNumericDate(now), ID: jti,
	})
	if o.KeyID != "" {
		tok.Header["kid"] = o.KeyID
	}
	return tok.SignedString(key)
}
