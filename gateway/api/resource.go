package api

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/gateway/auth"
)

// read: GET /fhir/{type}/{id}
func (a *API) read(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
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
	rec, err := a.store.ReadAllowed(typ, id, f.Allow)
	if ferr := f.Err(); ferr != nil {
		return ferr
	}
	// Recorded whatever the answer: a denial leaves a trace, and an absent
	// resource's answer carries a decision as a hidden one's does.
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == rec.ETag() {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	writeRecord(w, http.StatusOK, rec)
	return nil
}

// vread: GET /fhir/{type}/{id}/_history/{vid}
func (a *API) vread(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Read); err != nil {
		return err
	}
	v, err := strconv.ParseUint(mux.Vars(r)["vid"], 10, 64)
	if err != nil || v == 0 {
		return outcome.New(outcome.NotFound, "no such version")
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	rec, err := a.store.VRead(typ, id, v)
	if err == nil {
		var ok bool
		if ok, err = a.allowRecord(f, rec); err == nil && !ok {
			err = outcome.New(outcome.NotFound, "no such version")
		}
	}
	if k := outcome.KindOf(err); err != nil && k != outcome.NotFound && k != outcome.Gone {
		return err
	}
	if err != nil {
		return err
	}
	writeRecord(w, http.StatusOK, rec)
	return nil
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
	if cond := r.Header.Get("If-None-Exist"); cond != "" {
		q, err := conditionQuery(typ, cond)
		if err != nil {
			return err
		}
		if err := allow(r, typ, auth.Search); err != nil {
			return err
		}
		rec, created, err := a.store.ConditionalCreate(r.Context(), res, q)
		if err != nil {
			return err
		}
		if !created {
			return a.writeWritten(w, r, http.StatusOK, rec)
		}
		return a.writeWritten(w, r, http.StatusCreated, rec)
	}
	rec, err := a.store.Create(r.Context(), res)
	if err != nil {
		return err
	}
	return a.writeWritten(w, r, http.StatusCreated, rec)
}

// conditionQuery parses an If-None-Exist value ("identifier=x|y") strictly:
// an ignored parameter would make the condition match too much.
func conditionQuery(typ, cond string) (*search.Query, error) {
	v, err := url.ParseQuery(cond)
	if err != nil || len(v) == 0 {
		return nil, outcome.New(outcome.Invalid, "If-None-Exist is not a search query")
	}
	return search.Parse(typ, v, true)
}

// update: PUT /fhir/{type}/{id}; creates when absent.
func (a *API) update(w http.ResponseWriter, r *http.Request) error {
	typ, id, err := pathTypeID(r)
	if err != nil {
		return err
	}
	if err := allow(r, typ, auth.Update); err != nil {
		return err
	}
	ifMatch, err := parseETag(r.Header.Get("If-Match"))
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
	// An update that creates (or revives a deleted resource) needs the
	// create scope as well.
	if _, err := a.store.Read(typ, id); err != nil && outcome.KindOf(err) != outcome.Internal {
		if err := allow(r, typ, auth.Create); err != nil {
			return err
		}
	}
	rec, created, err := a.store.Update(r.Context(), res, ifMatch)
	if err != nil {
		return err
	}
	if created {
		return a.writeWritten(w, r, http.StatusCreated, rec)
	}
	return a.writeWritten(w, r, http.StatusOK, rec)
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
	ifMatch, err := parseETag(r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	rec, err := a.store.Delete(r.Context(), typ, id, ifMatch)
	if err != nil {
		return err
	}
	if rec != nil {
		w.Header().Set("ETag", rec.ETag())
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
