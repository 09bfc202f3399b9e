package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"

	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
)

// A batch entry that is not a plain read or write (a search, a vread, a
// history, the capabilities, a PATCH) is answered as the same request
// sent on its own would be (R4 http.html, batch: "each entry is
// processed as if it were an individual interaction"): it goes through
// the whole pipeline again, the caller's token, purpose and handling
// preferences with it, so that scopes, consent and the audit record
// apply to it as to any request, and the entry holds the answer.

// subRequested reports whether the batch entry e is answered by a
// sub-request.
func subRequested(e *bcrpb.Bundle_Entry) bool {
	req := e.GetRequest()
	switch req.GetMethod().GetValue().String() {
	case "PATCH":
		return true
	case "GET":
		path, query, _ := strings.Cut(req.GetUrl().GetValue(), "?")
		parts := strings.Split(strings.Trim(path, "/"), "/")
		return query != "" || len(parts) != 2 || req.GetIfNoneMatch().GetValue() != "" ||
			req.GetIfModifiedSince() != nil
	}
	return false
}

// subRequest answers the batch entry e of the request r.
func (a *API) subRequest(r *http.Request, e *bcrpb.Bundle_Entry) bundlejson.Entry {
	req := e.GetRequest()
	method := req.GetMethod().GetValue().String()
	raw := strings.TrimPrefix(req.GetUrl().GetValue(), a.base(r)+"/fhir/")
	if strings.Contains(raw, "://") || strings.HasPrefix(raw, "/") {
		return a.entryError(r, outcome.New(outcome.Invalid, "request.url must be relative to the base"))
	}
	var body []byte
	contentType := ""
	if method == "PATCH" {
		// R4 http.html: a PATCH entry carries its patch as a Binary
		bin := e.GetResource().GetBinary()
		if bin == nil {
			return a.entryError(r, outcome.New(outcome.Invalid, "a PATCH entry carries its patch as a Binary"))
		}
		body, contentType = bin.GetData().GetValue(), bin.GetContentType().GetValue()
	}
	sub, err := http.NewRequestWithContext(r.Context(), method, a.base(r)+"/fhir/"+raw, bytes.NewReader(body))
	if err != nil {
		return a.entryError(r, outcome.New(outcome.Invalid, "request.url is not a URL"))
	}
	sub.Host, sub.RemoteAddr, sub.TLS = r.Host, r.RemoteAddr, r.TLS
	for _, h := range []string{"Authorization", "Prefer", headerPurpose, headerBreakGlass, "X-Forwarded-Proto", "X-Forwarded-Host"} {
		if v := r.Header.Get(h); v != "" {
			sub.Header.Set(h, v)
		}
	}
	if contentType != "" {
		sub.Header.Set("Content-Type", contentType)
	}
	if v := req.GetIfMatch().GetValue(); v != "" {
		sub.Header.Set("If-Match", v)
	}
	if v := req.GetIfNoneMatch().GetValue(); v != "" {
		sub.Header.Set("If-None-Match", v)
	}
	if t := req.GetIfModifiedSince(); t != nil {
		sub.Header.Set("If-Modified-Since", time.UnixMicro(t.GetValueUs()).UTC().Format(http.TimeFormat))
	}
	rec := &subRecorder{header: http.Header{}}
	a.ServeHTTP(rec, sub)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	out := bundlejson.Entry{Response: &bundlejson.Response{
		Status:   fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)),
		Location: rec.header.Get("Location"), ETag: rec.header.Get("ETag"),
	}}
	if t, err := http.ParseTime(rec.header.Get("Last-Modified")); err == nil {
		out.Response.LastModified = t
	}
	switch {
	case rec.body.Len() == 0:
	case rec.status >= 400:
		out.Response.Outcome = rec.body.Bytes()
	default:
		out.Resource = rec.body.Bytes()
	}
	return out
}

// entryError is the batch entry answering err.
func (a *API) entryError(r *http.Request, err error) bundlejson.Entry {
	body, mErr := a.codec.Encode(outcome.FromError(err, requestID(r)))
	status := outcome.KindOf(err).Status()
	e := bundlejson.Entry{Response: &bundlejson.Response{Status: fmt.Sprintf("%d %s", status, http.StatusText(status))}}
	if mErr == nil {
		e.Response.Outcome = body
	}
	return e
}

// subRecorder is the ResponseWriter of a sub-request.
type subRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *subRecorder) Header() http.Header { return w.header }

func (w *subRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *subRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
