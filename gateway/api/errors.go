package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/relais-health/relais/fhir/outcome"
)

var (
	errNoRoute = outcome.New(outcome.NotFound, "no such route")
	errMethod  = outcome.New(outcome.MethodNotAllowed, "method not allowed")
)

// serve adapts a handlerFunc: a returned error is written as an
// OperationOutcome.
func (a *API) serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r)
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// writeError sends err as an OperationOutcome with its status, and logs the
// static summary under the request id that the response also carries. Issue
// details (which may contain patient data) go only to the caller.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = outcome.New(outcome.TooLarge, "request body too large")
	}
	kind := outcome.KindOf(err)
	id := requestID(r)
	summary := outcome.Summary(err)
	if kind == outcome.Internal {
		// The cause may quote data; log its summaries only (with the
		// system's error: a full disk).
		a.log.Error("request failed", "request_id", id, "route", routeName(r), "error", summary)
	} else {
		a.log.Debug("request refused", "request_id", id, "route", routeName(r), "error", summary)
	}
	body, mErr := a.codec.Encode(outcome.FromError(err, id))
	if mErr != nil {
		body = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
	}
	writeJSON(w, kind.Status(), body)
}

// writePlainJSON answers v as plain JSON (application/json), for the
// routes that are not FHIR: the admin reports.
func writePlainJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
