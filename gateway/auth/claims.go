package auth

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// claims are the JWT claims Relais reads (RFC 9068 and SMART).
type claims struct {
	jwt.RegisteredClaims
	Scope    scopeClaim `json:"scope,omitempty"`
	ClientID string     `json:"client_id,omitempty"`
	AZP      string     `json:"azp,omitempty"`
	FHIRUser string     `json:"fhirUser,omitempty"`
}

// scopeClaim accepts the standard space-separated string and, as some
// identity providers send, an array of strings.
type scopeClaim string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = scopeClaim(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope claim is neither a string nor an array of strings")
	}
	*s = scopeClaim(strings.Join(list, " "))
	return nil
}

// principal builds the Principal of verified claims.
func (c *claims) principal() (*Principal, error) {
	p := &Principal{
		Subject:   c.Subject,
		ClientID:  c.ClientID,
		TokenID:   c.ID,
		Scopes:    ParseScopes(string(c.Scope)),
		ExpiresAt: c.ExpiresAt.Time, // exp is required, so never nil here
	}
	if p.ClientID == "" {
		p.ClientID = c.AZP
	}
	if c.FHIRUser != "" {
		u, err := ParseFHIRUser(c.FHIRUser)
		if err != nil {
			return nil, refused(msgFHIRUser)
		}
		p.FHIRUser, p.FHIRUserServer = u, FHIRUserServer(c.FHIRUser)
	}
	return p, nil
}
