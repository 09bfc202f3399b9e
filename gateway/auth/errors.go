package auth

import (
	"errors"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relais-health/relais/fhir/outcome"
)

// Refusal summaries: static, free of token content, safe to log and to send.
const (
	msgNoToken     = "no bearer token"
	msgTooLarge    = "bearer token too large"
	msgMalformed   = "malformed bearer token"
	msgAlgorithm   = "token signing algorithm not allowed (ES256, RS256 or EdDSA)"
	msgUnknownKey  = "token signed with an unknown key"
	msgSignature   = "invalid token signature"
	msgNoExp       = "token has no expiry (exp)"
	msgNoIssuer    = "token has no issuer (iss)"
	msgNoAudience  = "token has no audience (aud)"
	msgExpired     = "token expired"
	msgNotYetValid = "token not valid yet (nbf)"
	msgIssuedLater = "token issued in the future (iat)"
	msgIssuer      = "wrong token issuer"
	msgAudience    = "wrong token audience"
	msgClaims      = "invalid token claims"
	msgFHIRUser    = "fhirUser claim is not a Practitioner, PractitionerRole or Organization reference"
)

var errUnknownKey = errors.New("no configured key matches the token")

// refused returns the Unauthenticated error for a static summary. The jwt
// error is deliberately not wrapped: its text can quote token content.
func refused(summary string) *outcome.Error {
	return outcome.New(outcome.Unauthenticated, summary)
}

// reason names what was wrong with a token jwt refused. c holds whatever
// claims were decoded before the failure.
func reason(err error, tok *jwt.Token, c *claims) string {
	switch {
	case errors.Is(err, errUnknownKey):
		return msgUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return msgMalformed
	case tok == nil || tok.Method == nil || !allowedAlg(tok.Method.Alg()):
		return msgAlgorithm
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return msgAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return msgSignature
	}
	return claimsReason(err, c)
}

// claimsReason explains a claims validation failure; when several claims
// are wrong, the first in this order is named.
func claimsReason(err error, c *claims) string {
	switch {
	case c.ExpiresAt == nil:
		return msgNoExp
	case c.Issuer == "":
		return msgNoIssuer
	case len(c.Audience) == 0:
		return msgNoAudience
	case errors.Is(err, jwt.ErrTokenExpired):
		return msgExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return msgNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return msgIssuedLater
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return msgIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return msgAudience
	}
	return msgClaims
}

func allowedAlg(alg string) bool {
	return alg == AlgES256 || alg == AlgRS256 || alg == AlgEdDSA
}

// Challenge returns the WWW-Authenticate header value to send with a 401
// for err (RFC 6750 section 3): no error code when no token was presented,
// invalid_token with the static summary otherwise.
func Challenge(err error) string {
	const base = `Bearer realm="relais"`
	var oe *outcome.Error
	if !errors.As(err, &oe) || oe.Summary == msgNoToken {
		return base
	}
	return base + `, error="invalid_token", error_description="` + oe.Summary + `"`
}
