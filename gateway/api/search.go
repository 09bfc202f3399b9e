package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/fhir/subset"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// search: GET /fhir/{type}?params; also serves the pages of an earlier
// search (_page=<snapshot>&_offset=n).
func (a *API) search(w http.ResponseWriter, r *http.Request) error {
	return a.searchValues(w, r, r.URL.Query(), r.URL.RawQuery)
}

// searchPost: POST /fhir/{type}/_search with a form body. The body must
// be application/x-www-form-urlencoded (R4 http.html#search, 3.1.0.8):
// ParseForm reads no other, so a JSON body would otherwise be a search
// without criteria that answers everything the caller may see. An empty
// body may come without a Content-Type: its criteria are in the URL.
func (a *API) searchPost(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Content-Type") != "" || r.ContentLength != 0 {
		if err := checkMediaType(r, "application/x-www-form-urlencoded"); err != nil {
			return err
		}
	}
	if err := r.ParseForm(); err != nil {
		return outcome.New(outcome.Invalid, "invalid form body")
	}
	return a.searchValues(w, r, r.Form, r.Form.Encode())
}

// searchValues runs the search raw states. v serves only the parameters
// of the page links the server made (_page, _offset, _count); raw is read
// by search.ParseQuery, which drops no pair it cannot decode.
func (a *API) searchValues(w http.ResponseWriter, r *http.Request, v url.Values, raw string) error {
	typ, err := pathType(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Search); err != nil {
		return err
	}
	if id := v.Get("_page"); id != "" {
		return a.nextPage(w, r, typ, id, v)
	}
	q, err := search.ParseQuery(typ, raw, prefer(r, "handling") == "strict")
	if err != nil {
		return err
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	// Consent filters before paging: pages are full and the total counts
	// only what the caller may see.
	hits, err := a.store.Search(q, f.Allow)
	if err != nil {
		return err
	}
	if err := f.Err(); err != nil {
		return err
	}
	snap := &snapshot{q: q, hits: hits}
	if !q.SummaryCount && len(hits) > q.Count {
		snap.id = a.pages.put(q, hits, pageOwner(r))
	}
	return a.writePage(w, r, f, snap, 0, q.Count, false)
}

func (a *API) nextPage(w http.ResponseWriter, r *http.Request, typ, id string, v url.Values) error {
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	snap, ok := a.pages.get(id, pageOwner(r))
	if !ok || snap.q.Type != typ {
		return outcome.New(outcome.Gone, "search results expired; run the search again")
	}
	offset, err1 := strconv.Atoi(v.Get("_offset"))
	count, err2 := strconv.Atoi(v.Get("_count"))
	if err1 != nil || err2 != nil || offset < 0 || count <= 0 {
		return outcome.New(outcome.Invalid, "_offset and _count must be non-negative integers")
	}
	return a.writePage(w, r, f, snap, offset, min(count, search.MaxCount), true)
}

// pageOwner names who may page through a search: the same subject, client,
// fhirUser and scopes (another fhirUser of the same subject is another
// caller, and the snapshot was filtered for the first).
func pageOwner(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.Subject + "\x00" + p.ClientID + "\x00" + p.FHIRUser + "\x00" + p.Scopes.String()
}

// writePage answers with entries [offset, offset+count) of a snapshot. On a
// later page (recheck) every entry passes the consent filter again, so that
// a revocation since the search took place is honoured at once.
func (a *API) writePage(w http.ResponseWriter, r *http.Request, f *consent.Filter, snap *snapshot, offset, count int, recheck bool) error {
	q := snap.q
	b := &bundlejson.Bundle{Type: "searchset", ID: newRequestID(), Timestamp: a.now(),
		Total: len(snap.hits), HasTotal: q.Total != "none"}
	base := a.base(r) + "/fhir/" + q.Type
	self := selfURL(r, base) // a later page: the page link
	if !recheck {
		// The first: the parameters applied, none it ignored
		// (https://hl7.org/fhir/R4/search.html#conformance).
		self = base
		if len(q.Applied) > 0 {
			self += "?" + strings.Join(q.Applied, "&")
		}
	}
	b.Links = append(b.Links, bundlejson.Link{Relation: "self", URL: self})
	if q.SummaryCount {
		writeJSON(w, http.StatusOK, b.Marshal())
		return nil
	}
	end := min(offset+count, len(snap.hits))
	if snap.id != "" && end < len(snap.hits) {
		b.Links = append(b.Links, bundlejson.Link{Relation: "next", URL: pageURL(base, snap.id, end, count, q.View)})
	}
	if snap.id != "" && offset > 0 {
		b.Links = append(b.Links, bundlejson.Link{Relation: "previous", URL: pageURL(base, snap.id, max(0, offset-count), count, q.View)})
	}
	var page []*store.Record
	if offset < end {
		for _, h := range snap.hits[offset:end] {
			if recheck {
				if _, ok, err := f.Visible(a.store, q.Type, h.ID); err != nil {
					return err
				} else if !ok {
					continue
				}
			}
			rec, err := a.store.VRead(q.Type, h.ID, h.Version)
			if err != nil {
				continue // gone from the snapshot's version: nothing to show
			}
			page = append(page, rec)
			e, err := a.entry(r, rec, "match", q.View)
			if err != nil {
				return err
			}
			b.Entries = append(b.Entries, e)
		}
	}
	included, err := a.includes(r, f, q, page)
	if err != nil {
		return err
	}
	b.Entries = append(b.Entries, included...)
	if len(q.Warnings) > 0 {
		oo, err := a.warnings(q.Warnings)
		if err != nil {
			return err
		}
		b.Entries = append(b.Entries, bundlejson.Entry{Resource: oo, Search: "outcome"})
	}
	writeJSON(w, http.StatusOK, b.Marshal())
	return nil
}

// pageURL links to entries [offset, offset+count) of the snapshot id.
// The page is shown in the search's view, which the snapshot keeps; the
// link repeats its _summary or _elements, so that it states the search
// it continues.
func pageURL(base, id string, offset, count int, v subset.View) string {
	u := base + "?_page=" + id + "&_offset=" + strconv.Itoa(offset) + "&_count=" + strconv.Itoa(count)
	if p := v.Params(); p != "" {
		u += "&" + p
	}
	return u
}

// entry is rec as a searchset entry, in the view v.
func (a *API) entry(r *http.Request, rec *store.Record, mode string, v subset.View) (bundlejson.Entry, error) {
	js, err := a.shownAs(rec, v)
	return bundlejson.Entry{FullURL: a.base(r) + "/fhir/" + rec.Type + "/" + rec.ID, Resource: js, Search: mode}, err
}

func (a *API) warnings(ws []string) ([]byte, error) {
	issues := make([]outcome.Issue, len(ws))
	for i, w := range ws {
		issues[i] = outcome.Issue{Severity: outcome.SevWarning, Text: w}
	}
	return a.codec.Encode(outcome.Resource(outcome.NotSupported, issues))
}

// includes resolves _include and _revinclude one level deep for the page.
// Resources the caller's scopes or the consent filter do not let it read
// are left out; the others are shown in the search's view for included
// resources (subset.View.Included: its _summary, not its _elements).
func (a *API) includes(r *http.Request, f *consent.Filter, q *search.Query, page []*store.Record) ([]bundlejson.Entry, error) {
	seen := map[string]bool{}
	for _, rec := range page {
		seen[rec.Type+"/"+rec.ID] = true
	}
	var out []bundlejson.Entry
	add := func(typ, id string) error {
		key := typ + "/" + id
		if seen[key] || allow(r, typ, auth.Read) != nil {
			return nil
		}
		seen[key] = true
		if _, ok, err := f.Visible(a.store, typ, id); err != nil || !ok {
			return err
		}
		rec, err := a.store.Read(typ, id)
		if err != nil {
			return nil
		}
		e, err := a.entry(r, rec, "include", q.View.Included())
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}
	for _, inc := range q.Include {
		for _, rec := range page {
			refs, err := a.store.Refs(rec.Type, rec.ID, inc.Param)
			if err != nil {
				return nil, err
			}
			for _, ref := range refs {
				typ, id, _ := cutRef(ref)
				if inc.Target == "" || inc.Target == typ {
					if err := add(typ, id); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	for _, inc := range q.RevInclude {
		p, _ := search.Lookup(inc.Source, inc.Param)
		rq := &search.Query{Type: inc.Source, Clauses: []search.Clause{{Param: p}}}
		for _, rec := range page {
			rq.Clauses[0].Conds = append(rq.Clauses[0].Conds, search.Cond{Tag: 'r', Key: rec.Type + "/" + rec.ID})
		}
		if len(page) == 0 {
			continue
		}
		if allow(r, inc.Source, auth.Read) != nil {
			continue
		}
		hits, err := a.store.Search(rq, f.Allow)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if err := add(inc.Source, h.ID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func cutRef(ref string) (typ, id string, ok bool) {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:], true
		}
	}
	return "", ref, false
}

// selfURL is the self link of a history answer, an audit search or a later
// page of a search: path with the parameters of the request's URL
// (https://hl7.org/fhir/R4/search.html#conformance: the self link states
// the search as the server understood it).
func selfURL(r *http.Request, path string) string {
	raw := r.URL.RawQuery
	if raw == "" {
		return path
	}
	return path + "?" + raw
}
