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
	"github.com/relais-health/relais/fhir/subset"
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

// parseIfMatch reads an If-Match value: W/"n" or "n" is that version, "*"
// any current version (RFC 9110 section 13.1.1); empty is no condition.
func parseIfMatch(h string) (version uint64, anyVersion bool, err error) {
	h = strings.TrimSpace(h)
	switch h {
	case "":
		return 0, false, nil
	case "*":
		return 0, true, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, false, outcome.New(outcome.Invalid, "If-Match must be a version ETag such as W/\"3\", or *")
	}
	return n, false, nil
}

// notModified reports whether a read's conditions say the caller's copy
// of rec is current: If-None-Match by weak comparison, where W/"3" and
// "3" are the same version and "*" matches any (RFC 9110 sections 13.1.2
// and 8.8.3.2); without it, If-Modified-Since against meta.lastUpdated,
// ignored when it is not a date or is later than now (section 13.1.3).
func notModified(r *http.Request, rec *store.Record, now time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		current := strings.TrimPrefix(rec.ETag(), "W/")
		for _, h := range inm {
			for _, tag := range strings.Split(h, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || strings.TrimPrefix(tag, "W/") == current {
					return true
				}
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !t.After(now) && !rec.LastUpdated.Truncate(time.Second).After(t)
	}
	return false
}

// writeRead answers a read of rec: a 304 when the caller's copy is current
// (notModified), carrying the ETag a 200 would (RFC 9110 section 15.4.5),
// else rec in the view v.
func (a *API) writeRead(w http.ResponseWriter, r *http.Request, rec *store.Record, v subset.View) error {
	if notModified(r, rec, a.now()) {
		w.Header().Set("ETag", rec.ETag())
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return a.writeRecord(w, http.StatusOK, rec, v)
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

// writeRecord answers a read with the stored JSON as shown, in the view v.
func (a *API) writeRecord(w http.ResponseWriter, status int, rec *store.Record, v subset.View) error {
	body, err := a.shownAs(rec, v)
	if err != nil {
		return err
	}
	setVersionHeaders(w, rec)
	writeJSON(w, status, body)
	return nil
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

// shownAs is rec as shown, in the view v a read or search asked for with
// _summary or _elements (subset.View): cut out of what shown gives, once
// everything that decides whether the caller may see rec has decided, so
// that a view never shows a resource shown would not, nor more of one.
func (a *API) shownAs(rec *store.Record, v subset.View) ([]byte, error) {
	return v.Apply(rec.Type, a.shown(rec))
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
