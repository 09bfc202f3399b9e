package auth

// IssuingKeyFile is the file, in the server's data directory, of the
// ES256 key the token endpoint signs access tokens with (PKCS #8 "PRIVATE
// KEY", mode 0600). It is created on the server's first start; deleting it
// makes the next start create another, and every token issued before stop
// verifying.
const IssuingKeyFile = "relais.token-key.pem"

// IssuingKey is the key this server signs the access tokens of its token
// endpoint with.
type IssuingKey struct{ signingKey }

// LoadOrCreateIssuingKey loads dir/IssuingKeyFile, creating it (and dir)
// if absent. Two processes racing to create it end up with the same key.
func LoadOrCreateIssuingKey(dir string) (*IssuingKey, error) {
	priv, path, err := loadOrCreateECKey(dir, IssuingKeyFile, "token issuing key")
	if err != nil {
		return nil, err
	}
	k, err := newSigningKey(priv, path)
	if err != nil {
		return nil, err
	}
	return &IssuingKey{k}, nil
}
