package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
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

// fhirMedia puts content negotiation in front of the FHIR routes (those
// under /fhir; the console and the admin reports are not FHIR): this
// server speaks R4 JSON only (R4 http.html 3.1.0.1.10, the content types
// and the fhirVersion MIME parameter). negotiate decides from the
// request's headers and _format alone, never from data, so its answer
// tells nothing about what exists.
func (a *API) fhirMedia(path string, next http.Handler) http.Handler {
	if path != "/fhir" && !strings.HasPrefix(path, "/fhir/") {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := negotiate(r); err != nil {
			noteRoute(r)
			a.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonTypes are the media types of the answers: FHIR JSON, and plain JSON
// as its alias.
var jsonTypes = []string{"application/fhir+json", "application/json"}

// negotiate refuses what cannot be answered in R4 JSON: a body of another
// FHIR version is a 415 (RFC 9110 section 15.5.16); a _format other than
// JSON (it overrides Accept, R4 http.html 3.1.0.1.10), or an Accept that
// admits no JSON of FHIR 4.0, is a 406 (RFC 9110 section 15.5.7).
func negotiate(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if _, params, err := mime.ParseMediaType(ct); err == nil && !r4(params) {
			return outcome.New(outcome.UnsupportedMedia, "request body is not FHIR R4",
				outcome.Issue{Severity: outcome.SevError, Text: "this server takes FHIR 4.0 (fhirVersion=4.0) only"})
		}
	}
	notAcceptable := outcome.New(outcome.NotAcceptable, "no acceptable representation",
		outcome.Issue{Severity: outcome.SevError, Text: "this server answers FHIR 4.0 JSON (application/fhir+json) only"})
	if f, ok := r.URL.Query()["_format"]; ok {
		if len(f) == 0 || !formatJSON(f[0]) {
			return notAcceptable
		}
		return nil
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		return notAcceptable
	}
	return nil
}

// formatJSON reports whether a _format value asks for R4 JSON: "json" or
// a JSON media type (R4 http.html 3.1.0.1.10).
func formatJSON(v string) bool {
	if strings.EqualFold(strings.TrimSpace(v), "json") {
		return true
	}
	mt, params, err := mime.ParseMediaType(v)
	return err == nil && slices.Contains(jsonTypes, mt) && r4(params)
}

// acceptsJSON reports whether Accept admits one of jsonTypes: for each,
// the most specific media range that matches it (RFC 9110 section
// 12.5.1) must have a non-zero weight; a range naming a fhirVersion other
// than 4.0 matches nothing. An Accept absent, or with no valid range, is
// "anything".
func acceptsJSON(values []string) bool {
	type best struct {
		spec int
		q    float64
	}
	var found [2]best
	valid := false
	for _, v := range values {
		for _, el := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(el))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			valid = true
			for i, t := range jsonTypes {
				spec := 0
				switch {
				case mt == t:
					spec = 3
				case mt == "application/*":
					spec = 2
				case mt == "*/*":
					spec = 1
				}
				if spec > found[i].spec && r4(params) {
					found[i] = best{spec, q}
				}
			}
		}
	}
	if !valid {
		return true
	}
	return found[0].q > 0 || found[1].q > 0
}

// r4 reports whether media type parameters name FHIR 4.0, or no version
// (R4 http.html 3.1.0.1.10: fhirVersion is the major.minor version; 4.0.1
// is taken as 4.0).
func r4(params map[string]string) bool {
	v, ok := params["fhirversion"]
	return !ok || v == "4.0" || v == "4.0.1"
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

// Unwrap lets http.ResponseController reach the connection through the
// wrapper: the backup moves its write deadline as it goes.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
