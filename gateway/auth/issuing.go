package auth

import (
	"crypto/ecdsa"

	"github.com/golang-jwt/jwt/v5"
)

// IssuingKeyFile is the file, in the server's data directory, of the
// ES256 key the token endpoint signs access tokens with (PKCS #8 "PRIVATE
// KEY", mode 0600). It is created on the server's first start; deleting it
// makes the next start create another, and every token issued before stop
// verifying.
const IssuingKeyFile = "relais.token-key.pem"

// IssuingKey is the key this server signs the access tokens of its token
// endpoint with.
type IssuingKey struct {
	priv *ecdsa.PrivateKey
	kid  string
	path string
}

// LoadOrCreateIssuingKey loads dir/IssuingKeyFile, creating it (and dir)
// if absent. Two processes racing to create it end up with the same key.
func LoadOrCreateIssuingKey(dir string) (*IssuingKey, error) {
	priv, path, err := loadOrCreateECKey(dir, IssuingKeyFile, "token issuing key")
	if err != nil {
		return nil, err
	}
	kid, err := Thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return &IssuingKey{priv: priv, kid: kid, path: path}, nil
}

// Path is the file the key was loaded from.
func (k *IssuingKey) Path() string { return k.path }

// Key returns the public key, with its RFC 7638 thumbprint as ID, for a
// Verifier's Trust.
func (k *IssuingKey) Key() Key { return Key{ID: k.kid, Public: &k.priv.PublicKey} }

// mint signs an access token of claims o describes.
func (k *IssuingKey) mint(o MintOptions) (string, error) {
	c, err := o.claims()
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.priv)
}
