package api

import (
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/delivery"
)

// base is the server's public base URL for this request.
func (a *API) base(r *http.Request) string {
	if a.baseURL != "" {
		return strings.TrimSuffix(a.baseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// pathType returns the {type} route variable, checked against R4.
func pathType(r *http.Request) (string, error) {
	typ := mux.Vars(r)["type"]
	if !resource.Known(typ) {
		return "", outcome.New(outcome.NotFound, "unknown resource type",
			outcome.Issue{Severity: outcome.SevError, Text: "unknown resource type " + strconv.Quote(typ)})
	}
	return typ, nil
}

// pathTypeID returns {type} and {id}, checked.
func pathTypeID(r *http.Request) (string, string, error) {
	typ, err := pathType(r)
	if err != nil {
		return "", "", err
	}
	id := mux.Vars(r)["id"]
	if !store.ValidID(id) {
		return "", "", outcome.New(outcome.Invalid, "invalid resource id")
	}
	return typ, id, nil
}

// readResource decodes the request body as a resource of type typ.
func (a *API) readResource(r *http.Request, typ string) (proto.Message, error) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err // MaxBytesError is turned into 413 by writeError
	}
	res, err := a.codec.Decode(body)
	if err != nil {
		return nil, err
	}
	if typ != "" && resource.Type(res) != typ {
		return nil, outcome.New(outcome.Invalid, "resource type does not match the URL",
			outcome.Issue{Severity: outcome.SevError, Path: "resourceType", Text: "resource type does not match the URL: expected " + typ})
	}
	return res, nil
}

// checkContentType accepts FHIR JSON and plain JSON bodies.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return outcome.New(outcome.UnsupportedMedia, "Content-Type required: application/fhir+json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return outcome.New(outcome.UnsupportedMedia, "unsupported media type; use application/fhir+json")
	}
	return nil
}

// checkMediaType requires the request's Content-Type to be one of accepted
// (parameters aside), else 415.
func checkMediaType(r *http.Request, accepted ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && slices.Contains(accepted, mt) {
		return nil
	}
	return outcome.New(outcome.UnsupportedMedia, "unsupported media type",
		outcome.Issue{Severity: outcome.SevError, Text: "use one of " + strings.Join(accepted, ", ")})
}

// parseETag reads W/"n" or "n" (If-Match); empty gives 0.
func parseETag(h string) (uint64, error) {
	if h == "" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(strings.TrimSpace(h), "W/"), `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, outcome.New(outcome.Invalid, "If-Match must be a version ETag such as W/\"3\"")
	}
	return n, nil
}

// setVersionHeaders sets ETag and Last-Modified for rec.
func setVersionHeaders(w http.ResponseWriter, rec *store.Record) {
	w.Header().Set("ETag", rec.ETag())
	w.Header().Set("Last-Modified", rec.LastUpdated.Format(http.TimeFormat))
}

// location is the versioned URL of rec.
func (a *API) location(r *http.Request, rec *store.Record) string {
	return a.base(r) + "/fhir/" + rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatUint(rec.Version, 10)
}

// writeRecord answers a read with the stored JSON as shown.
func (a *API) writeRecord(w http.ResponseWriter, status int, rec *store.Record) {
	setVersionHeaders(w, rec)
	writeJSON(w, status, a.shown(rec))
}

// shown is rec's JSON as every caller is shown it: the stored rendering,
// less a Subscription's secret, which is never shown to anyone
// (delivery.WithoutSecret). Every path that answers with a stored
// resource goes through here.
func (a *API) shown(rec *store.Record) []byte {
	js, err := delivery.WithoutSecret(a.codec, rec.Type, rec.JSON)
	if err != nil {
		a.log.Error("render stored resource", "type", rec.Type, "err", err)
		return []byte(`{"resourceType":"` + rec.Type + `","id":"` + rec.ID + `"}`)
	}
	return js
}

// writeWritten answers a create or update according to Prefer: return=.
func (a *API) writeWritten(w http.ResponseWriter, r *http.Request, status int, rec *store.Record) error {
	setVersionHeaders(w, rec)
	if status == http.StatusCreated {
		w.Header().Set("Location", a.location(r, rec))
	}
	switch prefer(r, "return") {
	case "minimal":
		w.WriteHeader(status)
		return nil
	case "OperationOutcome":
		body, err := a.codec.Encode(outcome.Info(http.StatusText(status)))
		if err != nil {
			return err
		}
		writeJSON(w, status, body)
		return nil
	}
	writeJSON(w, status, a.shown(rec))
	return nil
}

func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
