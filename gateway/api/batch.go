package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// batch: POST /fhir with a transaction or batch Bundle.
func (a *API) batch(w http.ResponseWriter, r *http.Request) error {
	res, err := a.readResource(r, "Bundle")
	if err != nil {
		return err
	}
	b := res.(*bcrpb.Bundle)
	switch b.GetType().GetValue() {
	case cpb.BundleTypeCode_TRANSACTION:
		return a.transaction(w, r, b)
	case cpb.BundleTypeCode_BATCH:
		return a.batchEntries(w, r, b)
	}
	if b.GetType().GetValue() == cpb.BundleTypeCode_DOCUMENT {
		// a document is content to take in, not an interaction (R4
		// documents.html): its own route maps and stores it
		return outcome.New(outcome.Invalid, "Bundle.type must be transaction or batch",
			outcome.Issue{Severity: outcome.SevError, Path: "Bundle.type", Text: "a document Bundle is taken in by POST /ingest/fhir"})
	}
	return outcome.New(outcome.Invalid, "Bundle.type must be transaction or batch")
}

// transaction applies the Bundle all or nothing, every entry through the
// write pipeline (writes.go).
func (a *API) transaction(w http.ResponseWriter, r *http.Request, b *bcrpb.Bundle) error {
	entries := make([]store.TxEntry, len(b.Entry))
	for i, e := range b.Entry {
		te, err := a.txEntry(r, e)
		if err != nil {
			return atEntry(i, err)
		}
		entries[i] = te
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	results, err := a.writeEntries(r, entries)
	if err != nil {
		return err
	}
	out := &bundlejson.Bundle{Type: "transaction-response", ID: newRequestID(), Timestamp: a.now()}
	for i, res := range results {
		e, err := a.responseEntry(r, f, entries[i].Method, res.Status, res.Record)
		if err != nil {
			return err
		}
		out.Entries = append(out.Entries, e)
	}
	distinctFullURLs(out.Entries)
	writeJSON(w, http.StatusOK, out.Marshal())
	return nil
}

// batchEntries applies each entry on its own; failures are reported in the
// entry's response and do not affect the others. A GET entry is a read:
// what the caller may not see answers as what does not exist.
func (a *API) batchEntries(w http.ResponseWriter, r *http.Request, b *bcrpb.Bundle) error {
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	out := &bundlejson.Bundle{Type: "batch-response", ID: newRequestID(), Timestamp: a.now()}
	for _, e := range b.Entry {
		if subRequested(e) {
			out.Entries = append(out.Entries, a.subRequest(r, e))
			continue
		}
		te, err := a.txEntry(r, e)
		if err == nil && te.FullURL != "" && strings.HasPrefix(te.FullURL, "urn:") {
			te.FullURL = "" // batch entries cannot reference each other
		}
		var result store.TxResult
		switch {
		case err != nil:
		case te.Method == "GET":
			var rec *store.Record
			if rec, err = a.readVisible(r, f, te.Type, te.ID); err == nil {
				result = store.TxResult{Status: "200 OK", Record: rec}
			}
		default:
			var results []store.TxResult
			if results, err = a.writeEntries(r, []store.TxEntry{te}); err == nil {
				result = results[0]
			}
		}
		if err != nil {
			body, mErr := a.codec.Encode(outcome.FromError(err, requestID(r)))
			if mErr != nil {
				return mErr
			}
			status := outcome.KindOf(err).Status()
			out.Entries = append(out.Entries, bundlejson.Entry{Response: &bundlejson.Response{
				Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Outcome: body}})
			continue
		}
		re, err := a.responseEntry(r, f, te.Method, result.Status, result.Record)
		if err != nil {
			return err
		}
		out.Entries = append(out.Entries, re)
	}
	distinctFullURLs(out.Entries)
	writeJSON(w, http.StatusOK, out.Marshal())
	return nil
}

// distinctFullURLs leaves out the fullUrl of a response entry that would
// repeat an earlier entry's fullUrl and meta.versionId, as a batch that
// reads one resource twice would: R4 bdl-7 (bundle.html) requires the
// two to be unique together in every Bundle but a history. A response
// entry may go without a fullUrl (Bundle.entry.fullUrl is 0..1): its
// response.location names the resource and version (R4
// http.html#transaction-response). The key is bdl-7's own,
// fullUrl & resource.meta.versionId, where an entry without a resource
// has no version.
func distinctFullURLs(entries []bundlejson.Entry) {
	seen := make(map[string]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.FullURL == "" {
			continue
		}
		key := e.FullURL
		if e.Resource != nil && e.Response != nil {
			key += strings.Trim(strings.TrimPrefix(e.Response.ETag, "W/"), `"`)
		}
		if seen[key] {
			e.FullURL = ""
		}
		seen[key] = true
	}
}

// responseEntry answers one entry. GET entries carry their resource, writes
// only with Prefer: return=representation; either way the resource passes
// the consent filter first (a GET the caller may not see is a 404).
func (a *API) responseEntry(r *http.Request, f *consent.Filter, method, status string, rec *store.Record) (bundlejson.Entry, error) {
	e := bundlejson.Entry{Response: &bundlejson.Response{Status: status}}
	if rec == nil {
		return e, nil
	}
	if rec.JSON != nil && (method == "GET" || prefer(r, "return") == "representation") {
		ok, err := a.allowRecord(f, rec)
		if err != nil {
			return e, err
		}
		if !ok && method == "GET" {
			e.Response.Status = "404 Not Found"
			return e, nil
		}
		if ok {
			e.Resource = a.shown(rec)
		}
	}
	e.Response.ETag = rec.ETag()
	e.Response.LastModified = rec.LastUpdated
	if rec.JSON != nil {
		e.FullURL = a.base(r) + "/fhir/" + rec.Type + "/" + rec.ID
		e.Response.Location = rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatUint(rec.Version, 10)
	}
	return e, nil
}

// txEntry checks one Bundle entry and the caller's scope for it.
func (a *API) txEntry(r *http.Request, e *bcrpb.Bundle_Entry) (store.TxEntry, error) {
	req := e.GetRequest()
	if req == nil {
		return store.TxEntry{}, outcome.New(outcome.Invalid, "entry.request is required")
	}
	te := store.TxEntry{FullURL: e.GetFullUrl().GetValue()}
	method := req.GetMethod().GetValue()
	typ, id, query, err := a.entryURL(r, req.GetUrl().GetValue())
	if err != nil {
		return te, err
	}
	te.Type, te.ID = typ, id
	if m := e.GetResource(); m != nil {
		te.Resource = resource.Unwrap(m)
		if resource.Type(te.Resource) != typ {
			return te, outcome.New(outcome.Invalid, "entry resource type does not match request.url")
		}
		if err := validateWrite(te.Resource); err != nil {
			return te, err
		}
	}
	if te.IfMatch, te.IfMatchAny, err = parseIfMatch(req.GetIfMatch().GetValue()); err != nil {
		return te, err
	}
	var op auth.Op
	switch method {
	case cpb.HTTPVerbCode_POST:
		te.Method, op = "POST", auth.Create
		if id != "" || te.Resource == nil {
			return te, outcome.New(outcome.Invalid, "POST needs request.url Type and a resource")
		}
		if cond := req.GetIfNoneExist().GetValue(); cond != "" {
			if te.IfNoneExist, err = conditionQuery(typ, cond); err != nil {
				return te, err
			}
		}
	case cpb.HTTPVerbCode_PUT:
		te.Method, op = "PUT", auth.Update
		if id == "" || te.Resource == nil || resource.ID(te.Resource) != id {
			return te, outcome.New(outcome.Invalid, "PUT needs request.url Type/id and a resource with that id")
		}
	case cpb.HTTPVerbCode_DELETE:
		te.Method, op = "DELETE", auth.Delete
	case cpb.HTTPVerbCode_GET:
		te.Method, op = "GET", auth.Read
	default:
		return te, outcome.New(outcome.NotSupported, "entry method not supported")
	}
	if query != "" || (id == "" && te.Method != "POST") {
		return te, outcome.New(outcome.NotSupported, "conditional and search entries are not supported; use Type/id")
	}
	return te, allow(r, typ, op)
}

// entryURL splits a request.url (relative, or absolute on this server).
func (a *API) entryURL(r *http.Request, raw string) (typ, id, query string, err error) {
	raw = strings.TrimPrefix(raw, a.base(r)+"/fhir/")
	u, perr := url.Parse(raw)
	if perr != nil || u.IsAbs() || raw == "" {
		return "", "", "", outcome.New(outcome.Invalid, "request.url must be a relative Type[/id] URL")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	typ = parts[0]
	if !resource.Known(typ) || len(parts) > 2 {
		return "", "", "", outcome.New(outcome.Invalid, "request.url must be Type or Type/id")
	}
	if len(parts) == 2 {
		id = parts[1]
		if !store.ValidID(id) {
			return "", "", "", outcome.New(outcome.Invalid, "invalid id in request.url")
		}
	}
	return typ, id, u.RawQuery, nil
}

// atEntry locates an error at Bundle.entry[i].
func atEntry(i int, err error) error {
	oe, ok := err.(*outcome.Error)
	if !ok {
		return err
	}
	out := *oe
	out.Issues = append([]outcome.Issue{{Severity: outcome.SevError, Path: fmt.Sprintf("Bundle.entry[%d]", i), Text: oe.Summary}}, oe.Issues...)
	return &out
}
