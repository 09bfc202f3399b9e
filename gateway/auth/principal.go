package auth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Principal is the authenticated caller. A Verifier may hand the same
// *Principal to many requests (it is cached with the token), so it must be
// treated as read-only.
type Principal struct {
	Subject  string // sub
	ClientID string // client_id, else azp
	// FHIRUser is the fhirUser claim normalised to a relative reference
	// "Type/id" of a Practitioner, PractitionerRole, Organization, Patient
	// (the patient herself) or RelatedPerson (someone acting for her);
	// empty when the token has none (typical of system/ backend tokens).
	FHIRUser string
	// FHIRUserServer is the base of the server an absolute fhirUser names
	// ("https://host/fhir"), "" for a relative one. Only a fhirUser of this
	// server names a local resource: the API refuses others.
	FHIRUserServer string
	TokenID        string // jti, for audit; never the token itself
	Scopes         Scopes
	ExpiresAt      time.Time
}

// IsSystem reports whether the principal holds a system/ scope. It says
// nothing of what that scope grants: a decision about one type asks which
// scope grants it (Scopes.Grant).
func (p *Principal) IsSystem() bool { return p.Scopes.Has(ContextSystem) }

// Allows reports whether the principal's scopes permit op on resourceType.
func (p *Principal) Allows(resourceType string, op Op) bool {
	return p.Scopes.Allows(resourceType, op)
}

var errFHIRUser = errors.New("fhirUser is not a Practitioner, PractitionerRole, Organization, Patient or RelatedPerson reference")

// ParseFHIRUser normalises a fhirUser claim, relative ("PractitionerRole/123")
// or absolute ("https://host/fhir/PractitionerRole/123", optionally with
// "/_history/n"), to "Type/id". Only Practitioner, PractitionerRole,
// Organization, Patient and RelatedPerson are accepted (SMART App Launch
// 2.x, "fhirUser"); ids follow the FHIR id rule [A-Za-z0-9-.]{1,64}.
func ParseFHIRUser(s string) (string, error) {
	path := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.RawQuery != "" || u.Fragment != "" || u.Host == "" {
			return "", errFHIRUser
		}
		path = u.Path
	}
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	n := len(segs)
	if n < 2 || (n > 2 && !strings.Contains(s, "://")) {
		return "", errFHIRUser
	}
	typ, id := segs[n-2], segs[n-1]
	if !validFHIRUserType(typ) || !validID(id) {
		return "", errFHIRUser
	}
	return typ + "/" + id, nil
}

// FHIRUserServer returns the base of the server an absolute fhirUser claim
// names (what precedes "Type/id" and any "/_history/n"), "" for a relative
// one. The claim must parse (ParseFHIRUser).
func FHIRUserServer(s string) string {
	if !strings.Contains(s, "://") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	segs := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	if n := len(segs); n >= 4 && segs[n-2] == "_history" {
		segs = segs[:n-2]
	}
	if len(segs) < 2 {
		return ""
	}
	u.Path, u.RawPath = strings.Join(segs[:len(segs)-2], "/"), ""
	return strings.TrimSuffix(u.String(), "/")
}

// validFHIRUserType lists the resource types a fhirUser claim may name.
func validFHIRUserType(t string) bool {
	switch t {
	case "Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson":
		return true
	}
	return false
}

// validID implements the FHIR id datatype: [A-Za-z0-9\-\.]{1,64}.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := range len(id) {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

type principalKey struct{}

// NewContext returns a context carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal stored by NewContext.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
