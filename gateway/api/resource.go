package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/jsonpatch"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/fhir/subset"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// read: GET /fhir/{type}/{id}[?_summary=|_elements=]
func (a *API) read(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	v, err := readView(r, typ)
	if err != nil {
		return err
	}
	rec, err := a.readAsCaller(r, typ, id)
	if err != nil {
		return err
	}
	// what the caller may not see was answered above as what does not
	// exist: its conditions are never compared
	return a.writeRead(w, r, rec, v)
}

// readView is the view a read or vread asks for (search.ParseView). It
// is read before the resource, so that a view it refuses is refused
// alike whether the resource exists, may be seen or not. A read's answer
// has no room for an OperationOutcome (R4 http.html#read): an element
// ignored, lenient, is ignored silently; Prefer: handling=strict makes it
// a 400, as in a search.
func readView(r *http.Request, typ string) (subset.View, error) {
	v, _, err := search.ParseView(typ, r.URL.RawQuery, prefer(r, "handling") == "strict")
	return v, err
}

// readAsCaller is a read of typ/id as the caller may make it: her scopes,
// then readVisible under her consent filter.
func (a *API) readAsCaller(r *http.Request, typ, id string) (*store.Record, error) {
	if err := allow(r, typ, auth.Read); err != nil {
		return nil, err
	}
	f, err := a.guard(r)
	if err != nil {
		return nil, err
	}
	return a.readVisible(r, f, typ, id)
}

// readVisible reads the current version of typ/id for the caller: a
// resource it may not see is errHidden, as an absent one is. A deleted
// resource is 410 Gone only to a caller who could see its last version:
// to anyone else a deletion is no more than an absence.
func (a *API) readVisible(r *http.Request, f *consent.Filter, typ, id string) (*store.Record, error) {
	rec, err := a.store.ReadAllowed(typ, id, f.Allow)
	if ferr := f.Err(); ferr != nil {
		return nil, ferr
	}
	switch outcome.KindOf(err) {
	case outcome.NotFound:
		f.Decoy(typ)
		return nil, errHidden()
	case outcome.Gone:
		if rec == nil || rec.Version < 2 {
			return nil, errHidden()
		}
		if ok, aerr := a.allowRecord(f, rec); aerr != nil {
			return nil, aerr
		} else if !ok {
			return nil, errHidden()
		}
	}
	return rec, err
}

// vread: GET /fhir/{type}/{id}/_history/{vid}. A version the caller may
// not see, of a resource that exists or not, is errHidden; a deletion is
// 410 only to a caller who could see the version before it.
func (a *API) vread(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	view, err := readView(r, typ)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Read); err != nil {
		return err
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	// what is absent is decided for as a hidden version is (Decoy), so
	// that the two take as long
	absent := func() error {
		f.Decoy(typ)
		return errHidden()
	}
	v, perr := strconv.ParseUint(mux.Vars(r)["vid"], 10, 64)
	if perr != nil || v == 0 {
		return absent()
	}
	rec, err := a.store.VRead(typ, id, v)
	shown := rec
	switch outcome.KindOf(err) {
	case outcome.NotFound:
		return absent()
	case outcome.Gone:
		if v < 2 {
			return absent()
		}
		if shown, err = a.store.VRead(typ, id, v-1); err != nil {
			return absent()
		}
		err = outcome.New(outcome.Gone, "version is a deletion")
	}
	if err != nil && outcome.KindOf(err) != outcome.Gone {
		return err
	}
	if ok, aerr := a.allowRecord(f, shown); aerr != nil {
		return aerr
	} else if !ok {
		return errHidden()
	}
	if err != nil {
		return err
	}
	return a.writeRecord(w, http.StatusOK, rec, view)
}

// create: POST /fhir/{type}, optionally conditional with If-None-Exist.
func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	typ, err := pathType(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Create); err != nil {
		return err
	}
	res, err := a.readResource(r, typ)
	if err != nil {
		return err
	}
	if err := validateWrite(res); err != nil {
		return err
	}
	e := store.TxEntry{Method: "POST", Type: typ, Resource: res}
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		if e.IfNoneExist, err = conditionQuery(typ, cond); err != nil {
			return err
		}
	}
	return a.writeOne(w, r, e)
}

// writeOne stores one write entry through the write pipeline and answers
// as FHIR's RESTful interactions do.
func (a *API) writeOne(w http.ResponseWriter, r *http.Request, e store.TxEntry) error {
	results, err := a.writeEntries(r, []store.TxEntry{e})
	if err != nil {
		return err
	}
	res := results[0]
	if e.Method == "DELETE" {
		if res.Record != nil {
			w.Header().Set("ETag", res.Record.ETag())
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	status := http.StatusOK
	if res.Status == "201 Created" {
		status = http.StatusCreated
	}
	return a.writeWritten(w, r, status, res.Record)
}

// conditionQuery parses an If-None-Exist value ("identifier=x|y") strictly:
// an ignored parameter would make the condition match too much.
func conditionQuery(typ, cond string) (*search.Query, error) {
	if len(search.SplitQuery(cond)) == 0 {
		return nil, outcome.New(outcome.Invalid, "If-None-Exist is not a search query")
	}
	return search.ParseQuery(typ, cond, true)
}

// update: PUT /fhir/{type}/{id}; creates when absent, for system
// callers (writes.go).
func (a *API) update(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Update); err != nil {
		return err
	}
	ifMatch, anyVersion, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	res, err := a.readResource(r, typ)
	if err != nil {
		return err
	}
	if resource.ID(res) != id {
		return outcome.New(outcome.Invalid, "resource id does not match the URL",
			outcome.Issue{Severity: outcome.SevError, Path: typ + ".id", Text: "the body's id must equal the id in the URL"})
	}
	if err := validateWrite(res); err != nil {
		return err
	}
	return a.writeOne(w, r, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: res, IfMatch: ifMatch, IfMatchAny: anyVersion})
}

// delete: DELETE /fhir/{type}/{id}
func (a *API) delete(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Delete); err != nil {
		return err
	}
	ifMatch, anyVersion, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return a.writeOne(w, r, store.TxEntry{Method: "DELETE", Type: typ, ID: id, IfMatch: ifMatch, IfMatchAny: anyVersion})
}

// patch: PATCH /fhir/{type}/{id} with a JSON Patch document (RFC 6902,
// application/json-patch+json; FHIR R4 http.html#patch). The patch is
// applied to the current version the caller may see (a resource it may
// not see is a 404, as an absent one), the result is parsed and checked as
// a resource, and stored through the write pipeline as an update of that
// very version: If-Match when the caller gives it, else the version
// patched, and the patch is applied again to a newer one if another write
// came first.
func (a *API) patch(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Update); err != nil {
		return err
	}
	// If-Match: * asks for a current version, which a patch needs anyway:
	// what does not exist (or may not be seen) is the 404 below
	ifMatch, _, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	ops, err := readBody(r, "application/json-patch+json")
	if err != nil {
		return err
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		rec, err := a.readVisible(r, f, typ, id)
		if outcome.KindOf(err) == outcome.Gone {
			err = errHidden() // nothing to patch
		}
		if err != nil {
			return err
		}
		patched, err := jsonpatch.Apply(rec.JSON, ops)
		if err != nil {
			return err
		}
		// the type is checked before decoding, which would read the
		// fields of another type as unknown ones
		var head struct {
			ResourceType any `json:"resourceType"`
		}
		if json.Unmarshal(patched, &head) != nil || head.ResourceType != typ {
			return errPatchIdentity()
		}
		res, err := a.codec.Decode(patched)
		if err != nil {
			return err
		}
		if resource.Type(res) != typ || resource.ID(res) != id {
			return errPatchIdentity()
		}
		if err := validateWrite(res); err != nil {
			return err
		}
		expect := ifMatch
		if expect == 0 {
			expect = rec.Version
		}
		err = a.writeOne(w, r, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: res, IfMatch: expect, Patch: true})
		if ifMatch == 0 && outcome.KindOf(err) == outcome.PreconditionFailed && attempt+1 < maxDecideAttempts {
			continue // another write came first: patch the newer version
		}
		return err
	}
}

func errPatchIdentity() error {
	return outcome.New(outcome.Unprocessable, "a patch may not change the resource's type or id")
}

// conditionalUpdate: PUT /fhir/{type}?search (R4 http.html#cond-update).
// The search runs under the caller's consent filter, so it counts only
// what the caller may see: a hidden match is no match, and several is a
// 412 only when the caller may see several. One match is updated as a PUT
// of its id (the body's id, if any, must be that one); none creates the
// resource with a server-assigned id, as a create whose If-None-Exist is
// the same search, checked again in the write transaction.
func (a *API) conditionalUpdate(w http.ResponseWriter, r *http.Request) error {
	typ, q, err := a.conditional(r, auth.Update)
	if err != nil {
		return err
	}
	ifMatch, anyVersion, err := parseIfMatch(r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	res, err := a.readResource(r, typ)
	if err != nil {
		return err
	}
	if err := validateWrite(res); err != nil {
		return err
	}
	hits, err := a.visibleMatches(r, q)
	if err != nil {
		return err
	}
	switch len(hits) {
	case 0:
		if anyVersion {
			// no current version the caller may see (RFC 9110 13.1.1)
			return outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
		}
		if err := allow(r, typ, auth.Create); err != nil {
			return err
		}
		resource.SetID(res, "")
		return a.writeOne(w, r, store.TxEntry{Method: "POST", Type: typ, Resource: res, IfNoneExist: q})
	case 1:
		id := hits[0].ID
		if bid := resource.ID(res); bid != "" && bid != id {
			return outcome.New(outcome.Invalid, "the body's id is not the id of the resource the search matches")
		}
		resource.SetID(res, id)
		return a.writeOne(w, r, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: res, IfMatch: ifMatch, IfMatchAny: anyVersion})
	}
	return outcome.New(outcome.PreconditionFailed, "the search matches several resources")
}

// conditionalDelete: DELETE /fhir/{type}?search (R4 http.html#cdelete),
// single-match only. The search runs under the caller's consent filter;
// no match the caller may see is the answer to a delete of an absent
// resource (204 to a system caller, 404 to anyone else), several a 412.
func (a *API) conditionalDelete(w http.ResponseWriter, r *http.Request) error {
	typ, q, err := a.conditional(r, auth.Delete)
	if err != nil {
		return err
	}
	hits, err := a.visibleMatches(r, q)
	if err != nil {
		return err
	}
	switch len(hits) {
	case 0:
		p, _ := auth.FromContext(r.Context())
		if !grantsAsSystem(p, typ, auth.Delete) {
			return errHidden()
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case 1:
		return a.writeOne(w, r, store.TxEntry{Method: "DELETE", Type: typ, ID: hits[0].ID})
	}
	return outcome.New(outcome.PreconditionFailed, "the search matches several resources")
}

// conditional checks a conditional update or delete's type and scopes
// (op and search) and parses its search strictly (an ignored parameter
// would match too much); the search must not be empty.
func (a *API) conditional(r *http.Request, op auth.Op) (string, *search.Query, error) {
	typ, err := pathType(r)
	if err != nil {
		return "", nil, err
	}
	for _, op := range []auth.Op{op, auth.Search} {
		if err := allow(r, typ, op); err != nil {
			return "", nil, err
		}
	}
	if r.URL.RawQuery == "" {
		return "", nil, outcome.New(outcome.Invalid, "a conditional update or delete needs a search")
	}
	q, err := conditionQuery(typ, r.URL.RawQuery)
	return typ, q, err
}

// visibleMatches runs q under the caller's consent filter.
func (a *API) visibleMatches(r *http.Request, q *search.Query) ([]store.Hit, error) {
	f, err := a.guard(r)
	if err != nil {
		return nil, err
	}
	hits, err := a.store.Search(q, f.Allow)
	if ferr := f.Err(); ferr != nil {
		return nil, ferr
	}
	return hits, err
}
