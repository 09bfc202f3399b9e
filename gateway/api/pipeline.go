package api

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// The request pipeline. Every authenticated request runs these steps in
// this order, and only here:
//
//  1. authenticate (middleware.go): a valid bearer token, its principal and
//     a call in the context;
//  2. interaction and scopes: allow, per type and interaction: one the
//     type does not support (interactions.go) is a 405 for everyone, then
//     the scope that grants the interaction decides whether the caller
//     acts as a system;
//  3. decision: the consent filter for what is disclosed (guard), the
//     write policy for what is changed (authorizeWrite, writes.go);
//  4. act: the handler's store or domain call;
//  5. record: the filter's decisions, written before the first byte of
//     the answer leaves (recorder below), whatever the answer: a 404 or a
//     403 names its decision as a 200 does;
//  6. respond.
//
// Handlers do 2 to 4 through guard, allow and authorizeWrite; recording
// and its header are the recorder's, so no handler can answer without it.

type callKey struct{}

// call is one authenticated request's state.
type call struct {
	p *auth.Principal
	// the consent filter, built on first use (guard)
	f    *consent.Filter
	fErr error
	// the caller as the write policy sees it, resolved on first use
	once      sync.Once
	caller    *access.Caller
	callerErr error
	// the Task acceptances and rejections of the writes being decided
	// (episode.go)
	joins      []join
	rejections []*tpb.Task
}

func callOf(r *http.Request) *call {
	c, _ := r.Context().Value(callKey{}).(*call)
	return c
}

// withCall starts the pipeline of an authenticated request: the call in
// the context and the recorder around the writer.
func (a *API) withCall(w http.ResponseWriter, r *http.Request, p *auth.Principal) (http.ResponseWriter, *http.Request) {
	c := &call{p: p}
	ctx := context.WithValue(auth.NewContext(r.Context(), p), callKey{}, c)
	r = r.WithContext(ctx)
	return &recorder{ResponseWriter: w, a: a, r: r, c: c}, r
}

// recorder writes the call's decisions, and names the first in
// X-Consent-Decision, before the answer's status goes out. If they cannot
// be written, or the filter met an error, the answer is replaced by a 500:
// nothing is disclosed without its record.
type recorder struct {
	http.ResponseWriter
	a      *API
	r      *http.Request
	c      *call
	done   bool
	failed bool
}

func (w *recorder) before() {
	if w.done {
		return
	}
	w.done = true
	f := w.c.f
	if f == nil {
		return
	}
	err := f.Err()
	var recs []consent.Record
	if d, ok := w.a.disclosureOf(w.r); ok {
		f.Describe(d)
	}
	if err == nil {
		recs, err = f.Record(w.r.Context())
		if err != nil {
			err = outcome.Wrap(outcome.Internal, "consent decision not recorded", err)
		}
	}
	if err != nil {
		w.failed = true
		h := w.ResponseWriter.Header()
		for k := range h {
			if k != "X-Request-Id" {
				delete(h, k)
			}
		}
		w.a.writeError(w.ResponseWriter, w.r, err)
		return
	}
	if len(recs) > 0 {
		w.Header().Set(headerDecision, recs[0].ID)
	}
}

func (w *recorder) WriteHeader(code int) {
	w.before()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.before()
	if w.failed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (the backup
// moves its write deadline as it goes); writes still go through the
// recorder.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming responses (backup) flush through.
func (w *recorder) Flush() {
	w.before()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.failed {
		f.Flush()
	}
}

// disclosureOf says what a request that went through the consent filter
// discloses, for its audit event, from its route: a read, a version read,
// a history, or a search by type and parameter names.
func (a *API) disclosureOf(r *http.Request) (consent.Disclosure, bool) {
	route := mux.CurrentRoute(r)
	if route == nil {
		return consent.Disclosure{}, false
	}
	v := mux.Vars(r)
	switch route.GetName() {
	case "/fhir/{type}/{id}":
		if r.Method == http.MethodGet {
			return consent.Disclosure{Interaction: audit.SubRead, What: v["type"] + "/" + v["id"]}, true
		}
	case "/fhir/{type}/{id}/_history/{vid}":
		return consent.Disclosure{Interaction: audit.SubVRead, What: v["type"] + "/" + v["id"] + "/_history/" + v["vid"]}, true
	case "/fhir/{type}/{id}/_history":
		return consent.Disclosure{Interaction: audit.SubHistory, What: v["type"] + "/" + v["id"]}, true
	case "/fhir/{type}", "/fhir/{type}/_search":
		if r.Method == http.MethodGet || strings.HasSuffix(r.URL.Path, "/_search") {
			q := r.Form // a POST _search's parameters, once parsed
			if q == nil {
				q = r.URL.Query()
			}
			return consent.Disclosure{Interaction: audit.SubSearch, Query: queryShape(v["type"], q), Request: rawRequest(r),
				Patients: a.searchedPatients(v["type"], q)}, true
		}
	}
	return consent.Disclosure{}, false
}

// rawRequest is a search as received, for its audit event (IHE BALP
// Query: entity[query].query is the raw request, so that what was asked,
// malformed or malicious parts included, stays on record): its request
// line, and a POST _search's form body after a blank line.
func rawRequest(r *http.Request) []byte {
	b := []byte(r.Method + " " + r.URL.RequestURI())
	if r.Method == http.MethodPost && r.PostForm != nil {
		b = append(b, "\n\n"...)
		b = append(b, r.PostForm.Encode()...)
	}
	return b
}

// peers are r's network ends for its AuditEvents (IHE BALP: the client
// "as known by TCP connection information", never a header it may
// forge; the server by the base URL the request was addressed to).
func (a *API) peers(r *http.Request, clientID string) audit.Peers {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return audit.Peers{ClientAddr: host, ClientID: clientID, ServerURL: a.base(r) + "/fhir"}
}

// searchedPatients are the patients a search on typ names in q, those
// with a valid id: by reference (search.Query.Patients), and those its
// chains identify them by (search.Query.PatientChains: patient.identifier=…
// is as much about her as patient= is), whether or not the caller may see
// them: her decision then is a deny, which names her. A search answered
// 400 names none.
func (a *API) searchedPatients(typ string, q url.Values) []string {
	sq, err := search.Parse(typ, q, false)
	if err != nil {
		return nil
	}
	out := sq.Patients()
	for _, ch := range sq.PatientChains() {
		hits, err := a.store.Search(ch, nil)
		if err != nil {
			return out // the search itself met the same error
		}
		for _, h := range hits {
			if ref := "Patient/" + h.ID; !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	return slices.DeleteFunc(out, func(ref string) bool { return !store.ValidID(strings.TrimPrefix(ref, "Patient/")) })
}

// queryShape is a search's type and sorted parameter names: what it
// asked for, without the values (which may be clinical): the cleaned
// query of its audit event.
func queryShape(typ string, q url.Values) string {
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	return typ + "?" + strings.Join(names, "&")
}

// callerOf resolves the caller once per request: a patient or someone
// acting for her from the fhirUser, a professional's class from the
// directory.
func (a *API) callerOf(r *http.Request) (*access.Caller, error) {
	c := callOf(r)
	if c == nil {
		return nil, outcome.New(outcome.Unauthenticated, "no principal")
	}
	c.once.Do(func() { c.caller, c.callerErr = a.resolveCaller(r.Context(), c.p) })
	return c.caller, c.callerErr
}

// legalRepresentatives are the RelatedPerson.relationship codes
// (v3-RoleCode) of someone who may decide for the patient: a guardian or
// the holder of a power of attorney.
var legalRepresentatives = map[string]bool{"GUARD": true, "POWATT": true, "HPOWATT": true, "DPOWATT": true, "SPOWATT": true}

func (a *API) resolveCaller(ctx context.Context, p *auth.Principal) (*access.Caller, error) {
	c := &access.Caller{Actor: p.FHIRUser, Class: access.Unclassified}
	typ, _, _ := strings.Cut(p.FHIRUser, "/")
	switch typ {
	case "":
		return c, nil
	case "Patient":
		c.Class, c.Patient = access.Patient, p.FHIRUser
		return c, nil
	case "RelatedPerson":
		rec, err := a.store.Read("RelatedPerson", strings.TrimPrefix(p.FHIRUser, "RelatedPerson/"))
		if err != nil {
			if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
				return c, nil
			}
			return nil, err
		}
		m, err := a.codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
		}
		rp := m.(*rppb.RelatedPerson)
		if rp.GetActive() != nil && !rp.GetActive().GetValue() {
			return c, nil
		}
		c.Patient, c.Class = resource.RefString(rp.GetPatient()), access.Related
		for _, cc := range rp.GetRelationship() {
			for _, cd := range cc.GetCoding() {
				if legalRepresentatives[cd.GetCode().GetValue()] {
					c.Class = access.Representative
				}
			}
		}
		return c, nil
	}
	st, err := a.consent.Standing(ctx, p.FHIRUser)
	if err != nil {
		return nil, err
	}
	c.Class, c.Refs, c.Roles = access.Classify(st), st.Refs, st.Roles
	return c, nil
}

// owner is the name a caller's owned resources (Subscriptions) carry: its
// fhirUser, else its client, else its subject.
func ownerName(p *auth.Principal) string {
	switch {
	case p.FHIRUser != "":
		return p.FHIRUser
	case p.ClientID != "":
		return "client:" + p.ClientID
	}
	return "sub:" + p.Subject
}
