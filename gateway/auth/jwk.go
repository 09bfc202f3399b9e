package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// The algorithms a backend-service client may sign its assertions with:
// those SMART App Launch v2 Backend Services names (RS384, ES384) and the
// ES256 and EdDSA this package already verifies. RS256 is not among them:
// the SMART profile asks for RS384 of RSA keys.
const (
	AlgES384 = "ES384"
	AlgRS384 = "RS384"
)

// assertionAlgs lists the algorithms a client assertion may be signed
// with, as the SMART configuration advertises them.
var assertionAlgs = []string{AlgES256, AlgES384, AlgRS384, AlgEdDSA}

// Limits on a registered JWK Set, so that parsing one, and trying its
// keys, stays cheap.
const (
	MaxJWKSBytes = 64 << 10
	maxJWKs      = 16
	maxRSABits   = 8192
)

// JWK is one public key of a client's JWK Set.
type JWK struct {
	ID string // kid, or ""
	// Alg is the one algorithm the key verifies client assertions with,
	// decided by its type and curve: ES256 (EC P-256), ES384 (EC P-384),
	// RS384 (RSA) or EdDSA (OKP Ed25519). A key's "alg" member, when
	// present, must name the same.
	Alg    string
	Public crypto.PublicKey
}

// ErrPrivateJWK is ParseJWKS's error for a key that carries private
// members: a client registers its public keys only.
var ErrPrivateJWK = errors.New("JWK Set holds private key material")

// privateMembers are the JWK members of private and symmetric keys (RFC
// 7518 sections 6.2.2, 6.3.2 and 6.4).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWKS parses a JWK Set (RFC 7517 section 5) of signing keys: EC on
// P-256 or P-384 (RFC 7518 section 6.2), RSA of 2048 to 8192 bits (section
// 6.3) and Ed25519 (RFC 8037). Every key must be usable: a key of another
// type or curve, one meant for encryption, or a malformed one is an
// error, and so is a key with private members (ErrPrivateJWK), so that a
// set registered by mistake is noticed instead of half used.
func ParseJWKS(data []byte) ([]JWK, error) {
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("JWK Set larger than %d bytes", MaxJWKSBytes)
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, errors.New("JWK Set is not a JSON object with a keys array")
	}
	switch {
	case len(set.Keys) == 0:
		return nil, errors.New("JWK Set has no key")
	case len(set.Keys) > maxJWKs:
		return nil, fmt.Errorf("JWK Set has more than %d keys", maxJWKs)
	}
	out := make([]JWK, 0, len(set.Keys))
	for i, m := range set.Keys {
		k, err := parseJWK(m)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// jwkMembers are the members parseJWK reads, all strings.
type jwkMembers struct {
	kty, kid, alg, use, crv, x, y, n, e string
}

func parseJWK(m map[string]json.RawMessage) (JWK, error) {
	for _, p := range privateMembers {
		if _, ok := m[p]; ok {
			return JWK{}, ErrPrivateJWK
		}
	}
	var f jwkMembers
	for _, mem := range []struct {
		name string
		dst  *string
	}{{"kty", &f.kty}, {"kid", &f.kid}, {"alg", &f.alg}, {"use", &f.use}, {"crv", &f.crv},
		{"x", &f.x}, {"y", &f.y}, {"n", &f.n}, {"e", &f.e}} {
		if raw, ok := m[mem.name]; ok {
			if err := json.Unmarshal(raw, mem.dst); err != nil {
				return JWK{}, fmt.Errorf("member %q is not a string", mem.name)
			}
		}
	}
	if f.use != "" && f.use != "sig" {
		return JWK{}, errors.New(`a key whose "use" is not "sig" cannot sign assertions`)
	}
	if ops, ok := m["key_ops"]; ok && !verifies(ops) {
		return JWK{}, errors.New(`a key whose "key_ops" lack "verify" cannot sign assertions`)
	}
	k := JWK{ID: f.kid}
	var err error
	switch f.kty {
	case "EC":
		k.Public, k.Alg, err = ecJWK(f.crv, f.x, f.y)
	case "RSA":
		k.Public, k.Alg, err = rsaJWK(f.n, f.e)
	case "OKP":
		k.Public, k.Alg, err = okpJWK(f.crv, f.x)
	default:
		err = fmt.Errorf("unsupported key type %q (want EC, RSA or OKP)", f.kty)
	}
	if err != nil {
		return JWK{}, err
	}
	if f.alg != "" && f.alg != k.Alg {
		return JWK{}, fmt.Errorf("alg %q does not fit the key, which verifies %s", f.alg, k.Alg)
	}
	return k, nil
}

// verifies reports whether a key_ops member (RFC 7517 section 4.3) is an
// array of strings holding "verify".
func verifies(raw json.RawMessage) bool {
	var ops []string
	if json.Unmarshal(raw, &ops) != nil {
		return false
	}
	for _, op := range ops {
		if op == "verify" {
			return true
		}
	}
	return false
}

// ecJWK builds a P-256 or P-384 key; x and y must be the full size of the
// field (RFC 7518 section 6.2.1.2) and the point on the curve.
func ecJWK(crv, x, y string) (crypto.PublicKey, string, error) {
	var curve elliptic.Curve
	var alg string
	switch crv {
	case "P-256":
		curve, alg = elliptic.P256(), AlgES256
	case "P-384":
		curve, alg = elliptic.P384(), AlgES384
	default:
		return nil, "", fmt.Errorf("unsupported EC curve %q (want P-256 or P-384)", crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	xb, errX := b64(x)
	yb, errY := b64(y)
	if errX != nil || errY != nil || len(xb) != size || len(yb) != size {
		return nil, "", fmt.Errorf("EC key: x and y must be %d bytes of base64url", size)
	}
	point := append(append([]byte{4}, xb...), yb...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, "", errors.New("EC key: the point is not on the curve")
	}
	return pub, alg, nil
}

// rsaJWK builds an RSA key of 2048 to 8192 bits with an odd public
// exponent of at most 2^31-1 (what crypto/rsa verifies with).
func rsaJWK(n, e string) (crypto.PublicKey, string, error) {
	nb, errN := b64(n)
	eb, errE := b64(e)
	if errN != nil || errE != nil || len(nb) == 0 || len(eb) == 0 || len(eb) > 4 {
		return nil, "", errors.New("RSA key: n and e must be base64url, e at most 4 bytes")
	}
	mod := new(big.Int).SetBytes(nb)
	exp := new(big.Int).SetBytes(eb)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, "", fmt.Errorf("RSA key of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if exp.Cmp(big.NewInt(3)) < 0 || exp.Bit(0) == 0 || exp.BitLen() > 31 || mod.Bit(0) == 0 {
		return nil, "", errors.New("RSA key: malformed modulus or exponent")
	}
	return &rsa.PublicKey{N: mod, E: int(exp.Int64())}, AlgRS384, nil
}

// okpJWK builds an Ed25519 key (RFC 8037 section 2).
func okpJWK(crv, x string) (crypto.PublicKey, string, error) {
	if crv != "Ed25519" {
		return nil, "", fmt.Errorf("unsupported OKP curve %q (want Ed25519)", crv)
	}
	xb, err := b64(x)
	if err != nil || len(xb) != ed25519.PublicKeySize {
		return nil, "", fmt.Errorf("Ed25519 key: x must be %d bytes of base64url", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(xb), AlgEdDSA, nil
}

// b64 decodes base64url without padding (RFC 7515 section 2).
func b64(s string) ([]byte, error) { return base64.RawURLEncoding.Strict().DecodeString(s) }

// PublicJWK renders pub as a JWK with kid and its assertion alg, for
// tests and tools that register a key: EC P-256 and P-384, RSA and
// Ed25519 keys.
func PublicJWK(pub crypto.PublicKey, kid string) (map[string]string, error) {
	enc := base64.RawURLEncoding.EncodeToString
	m := map[string]string{}
	switch k := normalizeKey(pub).(type) {
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		size := (len(b) - 1) / 2
		m["kty"], m["x"], m["y"] = "EC", enc(b[1:1+size]), enc(b[1+size:])
		switch k.Curve {
		case elliptic.P256():
			m["crv"], m["alg"] = "P-256", AlgES256
		case elliptic.P384():
			m["crv"], m["alg"] = "P-384", AlgES384
		default:
			return nil, errors.New("JWK: only P-256 and P-384 EC keys")
		}
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"], m["alg"] = "RSA", enc(k.N.Bytes()), enc(big.NewInt(int64(k.E)).Bytes()), AlgRS384
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"], m["alg"] = "OKP", "Ed25519", enc(k), AlgEdDSA
	default:
		return nil, fmt.Errorf("JWK: unsupported key type %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	m["use"] = "sig"
	return m, nil
}

// assertionAlg reports whether alg is one of assertionAlgs.
func assertionAlg(alg string) bool {
	for _, a := range assertionAlgs {
		if a == alg {
			return true
		}
	}
	return false
}

// keyFits checks that pub is of the type, curve and size alg verifies
// with. jwt checks the Go type of a key, not an EC key's curve: without
// this a P-256 key could be offered an ES384 signature.
func keyFits(pub crypto.PublicKey, alg string) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if (alg == AlgES256 && k.Curve == elliptic.P256()) || (alg == AlgES384 && k.Curve == elliptic.P384()) {
			return nil
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); alg == AlgRS384 && bits >= minRSABits && bits <= maxRSABits {
			return nil
		}
	case ed25519.PublicKey:
		if alg == AlgEdDSA && len(k) == ed25519.PublicKeySize {
			return nil
		}
	}
	return fmt.Errorf("a %T does not verify %s", pub, alg)
}
