package api

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
)

// The registry of SMART backend-service clients, for operators. Both
// routes need a system scope on every type: a client may be registered
// for any of them.

// clientJSON is a client as the admin routes show it: its JWK Set holds
// public keys only (registration refuses private members).
type clientJSON struct {
	ID       string          `json:"id"`
	Name     string          `json:"name,omitempty"`
	JWKS     json.RawMessage `json:"jwks"`
	Scope    string          `json:"scope"`
	FHIRUser string          `json:"fhirUser,omitempty"`
	Created  time.Time       `json:"created"`
}

func toClientJSON(c store.Client) clientJSON {
	return clientJSON{ID: c.ID, Name: c.Name, JWKS: c.JWKS, Scope: c.Scope, FHIRUser: c.FHIRUser, Created: c.Created}
}

// registerClient: POST /admin/clients with {name, jwks, scope, fhirUser}
// registers a client and answers 201 with it, its id included. It needs
// system/*.c, and the caller's own scopes must cover every scope it
// registers: an operator cannot hand on more than it holds (403).
func (a *API) registerClient(w http.ResponseWriter, r *http.Request) error {
	if err := systemScope(r, "*", auth.Create, "registering a client needs system/*.c"); err != nil {
		return err
	}
	reg, err := readRegistration(r)
	if err != nil {
		return err
	}
	scopes, err := auth.CheckRegistration(reg)
	if err != nil {
		return err
	}
	p, _ := auth.FromContext(r.Context())
	for _, s := range scopes {
		if !p.Scopes.Covers(s) {
			return outcome.New(outcome.Forbidden, "a registered scope is wider than the caller's own",
				outcome.Issue{Severity: outcome.SevError, Text: "the token's scopes do not cover " + s.String()})
		}
	}
	c, err := auth.RegisterClient(r.Context(), a.store, reg, a.now())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	return json.NewEncoder(w).Encode(toClientJSON(c))
}

func readRegistration(r *http.Request) (auth.Registration, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return auth.Registration{}, err // MaxBytesError is turned into 413 by writeError
	}
	var in struct {
		Name     string          `json:"name"`
		JWKS     json.RawMessage `json:"jwks"`
		Scope    string          `json:"scope"`
		FHIRUser string          `json:"fhirUser"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return auth.Registration{}, outcome.New(outcome.Invalid, "the body must be a JSON object {name, jwks, scope, fhirUser}")
	}
	return auth.Registration{Name: in.Name, JWKS: in.JWKS, Scope: in.Scope, FHIRUser: in.FHIRUser}, nil
}

// listClients: GET /admin/clients lists the registered clients by id. It
// needs system/*.r.
func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	if err := systemScope(r, "*", auth.Read, "listing clients needs system/*.r"); err != nil {
		return err
	}
	cs, err := a.store.Clients()
	if err != nil {
		return err
	}
	out := make([]clientJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, toClientJSON(c))
	}
	return writePlainJSON(w, out)
}
