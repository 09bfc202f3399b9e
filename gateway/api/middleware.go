package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
)

// The outer middleware: common (request id, recovery, access log, body
// limit) -> authenticate, which starts the pipeline of pipeline.go.

type ctxKey int

const infoKey ctxKey = iota

// reqInfo is per-request state the outer middleware logs: the route is only
// known once mux has matched, inside.
type reqInfo struct {
	id, route string
}

// Observer is told of every request once it is answered (gateway/metrics
// implements it). route is the matched template of the route table
// ("/fhir/{type}/{id}"), or "unmatched": never the path, whose ids and
// search values can identify a patient.
type Observer interface {
	ObserveRequest(route string, status int, d time.Duration)
}

// common wraps every route.
func (a *API) common(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		info := &reqInfo{id: id, route: "unmatched"}
		rw := &StatusWriter{ResponseWriter: w, Status: http.StatusOK}
		rw.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), infoKey, info))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rw, r.Body, a.maxBody)
		}
		defer func() {
			if p := recover(); p != nil {
				// The panic value may hold patient data: log only that it happened.
				a.log.Error("panic in handler", "request_id", id, "route", info.route)
				a.writeError(rw, r, outcome.New(outcome.Internal, "internal error"))
			}
			d := time.Since(start)
			a.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("request_id", id),
				slog.String("method", r.Method), slog.String("route", info.route),
				slog.Int("status", rw.Status), slog.Float64("duration_ms", float64(d.Microseconds())/1000))
			if a.observer != nil {
				a.observer.ObserveRequest(info.route, rw.Status, d)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// routeName is the route template ("/fhir/{type}/{id}"), never the concrete
// path: ids and search values can identify a patient.
func routeName(r *http.Request) string {
	if rt := mux.CurrentRoute(r); rt != nil {
		if n := rt.GetName(); n != "" {
			return n
		}
	}
	return "unmatched"
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func requestID(r *http.Request) string {
	if info, ok := r.Context().Value(infoKey).(*reqInfo); ok {
		return info.id
	}
	return ""
}

// noteRoute records the matched route template for the access log.
func noteRoute(r *http.Request) {
	if info, ok := r.Context().Value(infoKey).(*reqInfo); ok {
		info.route = routeName(r)
	}
}

// authenticate requires a valid bearer token and puts its principal in the
// request context.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r)
		h := r.Header.Get("Authorization")
		if h == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="relais"`)
			a.writeError(w, r, outcome.New(outcome.Unauthenticated, "bearer token required"))
			return
		}
		p, err := a.verifier.VerifyHeader(h)
		if err == nil && p.FHIRUserServer != "" && !strings.EqualFold(p.FHIRUserServer, a.base(r)+"/fhir") {
			// An absolute fhirUser names a user of the server it is on:
			// another server's PractitionerRole/x is not ours.
			err = outcome.New(outcome.Unauthenticated, "fhirUser names a user of another server")
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", auth.Challenge(err))
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(a.withCall(w, r, p))
	})
}

// allow checks that the API serves op on typ (supported: a 405 for every
// caller, whatever its scopes) and that the caller's scopes permit it.
func allow(r *http.Request, typ string, op auth.Op) error {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return outcome.New(outcome.Unauthenticated, "no principal")
	}
	if err := supported(typ, op); err != nil {
		return err
	}
	c, ok := p.Scopes.Grant(typ, op)
	if !ok {
		return outcome.New(outcome.Forbidden, "insufficient scope",
			outcome.Issue{Severity: outcome.SevError, Text: "the token's scopes do not allow " + op.String() + " on " + typ})
	}
	if c == auth.ContextPatient && !selfUser(p) {
		// A patient/ scope reaches the patient's compartment only, which
		// Relais knows from a fhirUser that is the patient or acts for her
		// (the consent filter's Request.Self).
		return outcome.New(outcome.Forbidden, "patient/ scopes need a Patient or RelatedPerson fhirUser",
			outcome.Issue{Severity: outcome.SevError, Text: "a professional uses user/ scopes"})
	}
	return nil
}

// selfUser reports whether the caller is the patient or acts for her.
func selfUser(p *auth.Principal) bool {
	return strings.HasPrefix(p.FHIRUser, "Patient/") || strings.HasPrefix(p.FHIRUser, "RelatedPerson/")
}

// StatusWriter records the status of a response for the access log (the
// API's and the console's).
type StatusWriter struct {
	http.ResponseWriter
	Status int // set it to http.StatusOK before use
	wrote  bool
}

// WriteHeader implements http.ResponseWriter.
func (w *StatusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.Status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *StatusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming responses (backup) flush through the wrapper.
func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// prefer returns the value of one Prefer header token ("return", "handling").
func prefer(r *http.Request, name string) string {
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if strings.EqualFold(k, name) {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}
