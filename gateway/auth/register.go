package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// Registration describes a backend-service client to register.
type Registration struct {
	Name     string // for operators; at most maxClientName bytes
	JWKS     []byte // a JWK Set of public signing keys (ParseJWKS)
	Scope    string // SMART resource scopes, space-separated
	FHIRUser string // optional: the fhirUser its tokens carry
}

// ClientWriter stores clients; *store.Store implements it.
type ClientWriter interface {
	PutClient(ctx context.Context, c store.Client) error
}

const maxClientName = 200

// CheckRegistration checks reg as RegisterClient does and returns its
// scopes, so that a caller can compare them with its own before
// registering.
func CheckRegistration(reg Registration) (Scopes, error) {
	invalid := func(summary string, detail error) error {
		e := outcome.New(outcome.Invalid, summary)
		if detail != nil {
			e.Issues = []outcome.Issue{{Severity: outcome.SevError, Text: summary + ": " + detail.Error()}}
		}
		return e
	}
	if len(reg.Name) > maxClientName {
		return nil, invalid("client name too long", nil)
	}
	if _, err := ParseJWKS(reg.JWKS); err != nil {
		if errors.Is(err, ErrPrivateJWK) {
			return nil, invalid("the JWK Set holds private key material: register public keys only", nil)
		}
		return nil, invalid("unusable JWK Set", err)
	}
	fields := strings.Fields(reg.Scope)
	if len(fields) == 0 {
		return nil, invalid("a client needs at least one scope", nil)
	}
	var scopes Scopes
	for _, f := range fields {
		s, ok := ParseScope(f)
		if !ok {
			return nil, invalid("a registered scope is not a SMART resource scope such as system/Task.rs", nil)
		}
		if s.Context == ContextPatient {
			return nil, invalid("patient/ scopes are not supported", nil)
		}
		scopes = append(scopes, s)
	}
	if reg.FHIRUser != "" {
		// A backend service acts for a professional or an organisation;
		// a patient signs in herself (patient/ scopes are refused above).
		u, err := ParseFHIRUser(reg.FHIRUser)
		if err != nil || strings.HasPrefix(u, "Patient/") || strings.HasPrefix(u, "RelatedPerson/") {
			return nil, invalid("fhirUser is not a Practitioner, PractitionerRole or Organization reference", nil)
		}
	}
	return scopes, nil
}

// RegisterClient checks reg and stores it as a new client under a random
// URL-safe id (128 bits), which the returned Client carries. Problems with
// reg are outcome errors of kind Invalid.
func RegisterClient(ctx context.Context, w ClientWriter, reg Registration, now time.Time) (store.Client, error) {
	if _, err := CheckRegistration(reg); err != nil {
		return store.Client{}, err
	}
	var jwks bytes.Buffer
	if err := json.Compact(&jwks, reg.JWKS); err != nil {
		return store.Client{}, outcome.New(outcome.Invalid, "unusable JWK Set")
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return store.Client{}, err
	}
	c := store.Client{
		ID: base64.RawURLEncoding.EncodeToString(b[:]), Name: reg.Name, JWKS: jwks.Bytes(),
		Scope: strings.Join(strings.Fields(reg.Scope), " "), FHIRUser: reg.FHIRUser, Created: now.UTC(),
	}
	if err := w.PutClient(ctx, c); err != nil {
		return store.Client{}, err
	}
	return c, nil
}
