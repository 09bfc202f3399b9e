package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Development signing key. `relais serve --dev` trusts it and `relais token`
// signs with it; both find it as DevKeyFile under DevKeyDir, relative to the
// working directory, so run them from the same directory.
const (
	DevKeyDir   = "certs"
	DevKeyFile  = "dev-jwt-es256.pem" // PKCS #8 "PRIVATE KEY", mode 0600
	DevIssuer   = "relais-dev"
	DevAudience = "relais"
	DevClientID = "relais-dev-cli"
	// DefaultTokenTTL is the lifetime of a minted token when none is given.
	DefaultTokenTTL = time.Hour
)

// DevKey is the development ES256 signing key. Never use it in production:
// anyone with the checkout can mint tokens with it.
type DevKey struct{ signingKey }

// signingKey is a P-256 key this process signs tokens with (ES256): the
// development key and the token endpoint's issuing key.
type signingKey struct {
	priv *ecdsa.PrivateKey
	kid  string // RFC 7638 thumbprint
	path string
}

func newSigningKey(priv *ecdsa.PrivateKey, path string) (signingKey, error) {
	kid, err := Thumbprint(&priv.PublicKey)
	if err != nil {
		return signingKey{}, err
	}
	return signingKey{priv: priv, kid: kid, path: path}, nil
}

// Path is the file the key was loaded from or written to.
func (k *signingKey) Path() string { return k.path }

// Key returns the public key, with its thumbprint as ID, as a Config or
// Trust key.
func (k *signingKey) Key() Key { return Key{ID: k.kid, Public: &k.priv.PublicKey} }

// mint signs a token of the claims o describes.
func (k *signingKey) mint(o MintOptions) (string, error) {
	c, err := o.claims()
	if err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.priv)
}

// LoadOrCreateDevKey loads dir/DevKeyFile, creating it (and dir) if absent.
// Two processes racing to create it end up with the same key.
func LoadOrCreateDevKey(dir string) (*DevKey, error) {
	priv, path, err := loadOrCreateECKey(dir, DevKeyFile, "dev key")
	if err != nil {
		return nil, err
	}
	return newDevKey(priv, path)
}

// loadOrCreateECKey loads the P-256 key of dir/name, creating it (and dir)
// if absent; of two processes racing to create it, both load the winner's.
// label names the key in errors.
func loadOrCreateECKey(dir, name, label string) (*ecdsa.PrivateKey, string, error) {
	path := filepath.Join(dir, name)
	load := func() (*ecdsa.PrivateKey, string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, path, fmt.Errorf("%s: %w", label, err)
		}
		priv, err := parseECPrivateKey(data)
		if err != nil {
			return nil, path, fmt.Errorf("%s %s: %w", label, path, err)
		}
		return priv, path, nil
	}
	priv, _, err := load()
	if !errors.Is(err, fs.ErrNotExist) {
		return priv, path, err
	}
	if priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, path, fmt.Errorf("%s: %w", label, err)
	}
	if err := writeKeyFile(dir, name, priv, false); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, path, fmt.Errorf("%s: %w", label, err)
	}
	return load()
}

// CreateDevKey writes a new dev key to dir/DevKeyFile, replacing any
// existing one (tokens signed with the old key stop verifying).
func CreateDevKey(dir string) (*DevKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev key: %w", err)
	}
	if err := writeKeyFile(dir, DevKeyFile, priv, true); err != nil {
		return nil, fmt.Errorf("dev key: %w", err)
	}
	return newDevKey(priv, filepath.Join(dir, DevKeyFile))
}

// LoadDevKey loads dir/DevKeyFile; the error wraps fs.ErrNotExist if absent.
func LoadDevKey(dir string) (*DevKey, error) {
	path := filepath.Join(dir, DevKeyFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dev key: %w", err)
	}
	priv, err := parseECPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("dev key %s: %w", path, err)
	}
	return newDevKey(priv, path)
}

func newDevKey(priv *ecdsa.PrivateKey, path string) (*DevKey, error) {
	k, err := newSigningKey(priv, path)
	if err != nil {
		return nil, err
	}
	return &DevKey{k}, nil
}

func parseECPrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
	}
	if err != nil {
		return nil, err
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 EC private key")
	}
	return priv, nil
}

// writeKeyFile writes priv as PEM to dir/name with mode 0600. The file
// appears complete or not at all: it is written under a temporary name, then
// linked (replace false: fails with fs.ErrExist if present) or renamed.
func writeKeyFile(dir, name string, priv *ecdsa.PrivateKey, replace bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*.tmp") // created with mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	return os.Link(tmp.Name(), path)
}

// Public returns the public half of the key.
func (k *DevKey) Public() crypto.PublicKey { return &k.priv.PublicKey }

// KeyID is the key's RFC 7638 thumbprint, sent as the kid header.
func (k *DevKey) KeyID() string { return k.kid }

// VerifierConfig returns the Config under which a server trusts this key
// with the development issuer and audience (relais serve --dev).
func (k *DevKey) VerifierConfig() Config {
	return Config{Issuer: DevIssuer, Audience: DevAudience, Keys: []Key{k.Key()}}
}

// MintOptions describe a development token. Zero fields take defaults.
type MintOptions struct {
	Scope    string        // space-separated SMART scopes, e.g. "system/*.cruds"
	FHIRUser string        // e.g. "PractitionerRole/123", or absolute; must be valid
	Subject  string        // default: FHIRUser, else DevClientID
	ClientID string        // default: DevClientID
	TTL      time.Duration // default: DefaultTokenTTL
	Issuer   string        // default: DevIssuer
	Audience string        // default: DevAudience
	Now      time.Time     // issue time; default: time.Now()
	JTI      string        // the token's ID; default: random
}

// Mint signs a development token with k.
func (k *DevKey) Mint(o MintOptions) (string, error) { return k.mint(o) }

func (o MintOptions) claims() (*claims, error) {
	if o.TTL < 0 {
		return nil, errors.New("mint: negative TTL")
	}
	fhirUser, local := "", ""
	if o.FHIRUser != "" {
		u, err := ParseFHIRUser(o.FHIRUser)
		if err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
		fhirUser, local = o.FHIRUser, u
		if FHIRUserServer(o.FHIRUser) == "" {
			fhirUser = u
		}
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	jti := o.JTI
	if jti == "" {
		var err error
		if jti, err = randomID(); err != nil {
			return nil, err
		}
	}
	now = now.Truncate(time.Second)
	return &claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    or(o.Issuer, DevIssuer),
			Subject:   or(o.Subject, or(local, DevClientID)),
			Audience:  jwt.ClaimStrings{or(o.Audience, DevAudience)},
			ExpiresAt: jwt.NewNumericDate(now.Add(orDuration(o.TTL, DefaultTokenTTL))),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		Scope:    scopeClaim(strings.Join(strings.Fields(o.Scope), " ")),
		ClientID: or(o.ClientID, DevClientID),
		FHIRUser: fhirUser,
	}, nil
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
