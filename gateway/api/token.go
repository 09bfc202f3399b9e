package api

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
)

// The SMART Backend Services token endpoint and its discovery document
// (gateway/auth backend.go). Both are unauthenticated: a client proves who
// it is with the assertion it posts.

// tokenPath is the token endpoint's path; its absolute URL, from the
// server's base, is what client assertions must name as aud.
const tokenPath = "/auth/token"

var errNoTokenEndpoint = outcome.New(outcome.NotFound, "this server has no token endpoint")

// smartConfiguration: GET /.well-known/smart-configuration (and the same
// under the FHIR base, where SMART clients look for it).
func (a *API) smartConfiguration(w http.ResponseWriter, r *http.Request) error {
	if a.tokens == nil {
		return errNoTokenEndpoint
	}
	return writePlainJSON(w, auth.NewSMARTConfiguration(a.base(r)+tokenPath))
}

// token: POST /auth/token, a client_credentials grant with a client
// assertion (application/x-www-form-urlencoded). Answers, refusals
// included, are RFC 6749 JSON and never cached (section 5.1).
func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	if a.tokens == nil {
		return errNoTokenEndpoint
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	tok, err := a.issueToken(r)
	if aerr := a.auditToken(r, tok, err); aerr != nil {
		// no token without its record
		tok, err = nil, &auth.TokenError{Code: auth.ErrCodeServerError, Description: "the token request could not be audited"}
	}
	if err != nil {
		a.writeTokenError(w, r, err)
		return nil
	}
	return writePlainJSON(w, tok)
}

// auditToken records a token request (audit.TokenEvent): the token
// issued, or the refusal's error code, before the answer goes out.
func (a *API) auditToken(r *http.Request, tok *auth.Token, refused error) error {
	claimed := r.PostForm.Get("client_id")
	t := audit.Token{ID: newRequestID(), Time: a.now(), Client: claimed[:min(len(claimed), 64)],
		Request: tokenRequest(r), Peers: a.peers(r, "")}
	t.Peers.ServerURL = a.base(r) + tokenPath
	if tok != nil {
		t.Client, t.JTI, t.Scope = tok.Client, tok.JTI, tok.Scope
	} else {
		t.Refusal = auth.ErrCodeServerError
		if te := (*auth.TokenError)(nil); errors.As(refused, &te) {
			t.Refusal = te.Code
		}
	}
	return a.store.AppendAudit(r.Context(), audit.TokenEvent(&t))
}

// tokenRequest is the token request as received, for its audit event
// (IHE IUA ITI-71 audit: the request in raw form, without its secrets):
// its request line and form body, the client's credentials left out.
func tokenRequest(r *http.Request) []byte {
	form := url.Values{}
	for k, v := range r.PostForm {
		if k != "client_assertion" && k != "client_secret" {
			form[k] = v
		}
	}
	b := []byte(r.Method + " " + r.URL.RequestURI())
	if len(form) > 0 {
		b = append(b, "\n\n"...)
		b = append(b, form.Encode()...)
	}
	return b
}

func (a *API) issueToken(r *http.Request) (*auth.Token, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &auth.TokenError{Code: auth.ErrCodeInvalidRequest, Description: "the body must be application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		return nil, &auth.TokenError{Code: auth.ErrCodeInvalidRequest, Description: "malformed or oversized form body"}
	}
	req, err := auth.ParseTokenRequest(r.PostForm, a.base(r)+tokenPath)
	if err != nil {
		return nil, err
	}
	return a.tokens.Token(r.Context(), req)
}

// writeTokenError answers an RFC 6749 section 5.2 error and logs its code
// and static description, never the assertion.
func (a *API) writeTokenError(w http.ResponseWriter, r *http.Request, err error) {
	var te *auth.TokenError
	if !errors.As(err, &te) {
		te = &auth.TokenError{Code: auth.ErrCodeServerError, Description: "internal error"}
	}
	if te.Code == auth.ErrCodeServerError {
		a.log.Error("token request failed", "request_id", requestID(r), "error", te.Description)
	} else {
		a.log.Debug("token request refused", "request_id", requestID(r), "error", te.Code, "description", te.Description)
	}
	body, _ := json.Marshal(map[string]string{"error": te.Code, "error_description": te.Description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(te.Status())
	_, _ = w.Write(body)
}
