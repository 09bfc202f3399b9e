package api

import (
	"net/http"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// handlerFunc is an HTTP handler that returns its error; serve turns errors
// into OperationOutcome responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method, path string
	h            handlerFunc
}

// Route variables: a resource type (R4 type names start with a capital)
// and a logical id, which never starts with "_" (ids are
// [A-Za-z0-9-.]{1,64}, https://hl7.org/fhir/R4/datatypes.html#id; the
// handler checks the rest, so that a bad id is a 400, not "no route").
const (
	typeVar = "{type:[A-Z][A-Za-z]+}"
	idVar   = "{id:[^_/][^/]*}"
)

// routes is the one route table. The unauthenticated routes are the short
// list in open; everything else requires a bearer token.
func (a *API) routes() http.Handler {
	open := []route{
		{"GET", "/healthz", a.healthz},
		{"GET", "/readyz", a.readyz},
		{"GET", "/fhir/metadata", a.metadata},
		{"GET", "/.well-known/smart-configuration", a.smartConfiguration},
		{"GET", "/fhir/.well-known/smart-configuration", a.smartConfiguration},
		{"POST", tokenPath, a.token},
	}
	// The FHIR routes come first: mux tries routes in order and reads and
	// searches are most requests. The patterns cannot overlap: a type
	// starts with a capital (metadata, _history and .well-known do not),
	// an id is a FHIR id ([A-Za-z0-9-.]{1,64}: not _history or _search).
	authed := []route{
		// The audit log's (audit.go), before the generic routes: the only
		// interactions on AuditEvent (interactions.go).
		{"GET", "/fhir/AuditEvent", a.searchAuditEvents},
		{"GET", "/fhir/AuditEvent/" + idVar, a.readAuditEvent},
		{"POST", "/fhir/AuditEvent/_search", a.searchAuditEventsPost},
		{"GET", "/fhir/Patient/" + idVar + "/$disclosures", a.disclosures},
		{"GET", "/fhir/" + typeVar + "/" + idVar, a.read},
		{"GET", "/fhir/" + typeVar, a.search},
		{"POST", "/fhir/" + typeVar + "/_search", a.searchPost},
		{"POST", "/fhir/" + typeVar, a.create},
		{"PUT", "/fhir/" + typeVar + "/" + idVar, a.update},
		{"PATCH", "/fhir/" + typeVar + "/" + idVar, a.patch},
		{"DELETE", "/fhir/" + typeVar + "/" + idVar, a.delete},
		{"PUT", "/fhir/" + typeVar, a.conditionalUpdate},
		{"DELETE", "/fhir/" + typeVar, a.conditionalDelete},
		{"GET", "/fhir/" + typeVar + "/_history", a.typeHistory},
		{"GET", "/fhir/" + typeVar + "/" + idVar + "/_history", a.instanceHistory},
		{"GET", "/fhir/" + typeVar + "/" + idVar + "/_history/{vid}", a.vread},
		{"GET", "/fhir/_history", a.systemHistory},
		{"POST", "/fhir/Consent/$evaluate", a.evaluateConsent},
		{"POST", "/fhir/Encounter/" + idVar + "/$route", a.routeStay},
		// The Subscriptions backport IG's operations (subscription.go).
		{"GET", "/fhir/Subscription/" + idVar + "/$status", a.subscriptionStatus},
		{"GET", "/fhir/Subscription/" + idVar + "/$events", a.subscriptionEvents},
		{"POST", "/fhir/Subscription/" + idVar + "/$events", a.subscriptionEvents},
		// https://hl7.org/fhir/R4/http.html#transaction posts to [base];
		// clients that join "base" and "" as "base/" reach it too, since
		// the router sees paths in canonical form (canonical below).
		{"POST", "/fhir", a.batch},
		// Source documents mapped to FHIR and stored (ingest.go).
		{"POST", "/ingest/hl7v2", a.ingestHL7v2},
		{"POST", "/ingest/cda", a.ingestCDA},
		{"POST", "/ingest/fhir", a.ingestFHIRDocument},
		{"POST", "/ingest/assessment", a.ingestAssessment},
		{"GET", "/admin/backup", a.backup},
		{"GET", "/admin/inbox", a.inbox},
		{"POST", "/admin/inbox/failed/{seq}/retry", a.retryFailed},
		{"DELETE", "/admin/inbox/failed/{seq}", a.discardFailed},
		{"GET", "/admin/decisions", a.listDecisions},
		{"GET", "/admin/audit/checkpoint", a.auditCheckpoint},
		{"POST", "/admin/audit/checkpoint", a.auditCheckpoint},
		{"GET", "/admin/audit/key", a.auditKey},
		{"GET", "/admin/audit/proof", a.auditProof},
		{"GET", "/admin/identity/review", a.identityReview},
		{"GET", "/admin/write-policy", a.writePolicy},
		{"GET", "/admin/delivery/dead-letters", a.deadLetters},
		{"POST", "/admin/delivery/dead-letters/{sub}/{n}/replay", a.replayDeadLetter},
		{"POST", "/admin/clients", a.registerClient},
		{"GET", "/admin/clients", a.listClients},
		// Prometheus metrics for a scraper holding a system token; the
		// server can also serve them without a token on a listener of
		// their own (relais serve --metrics-addr).
		{"GET", "/metrics", a.metricsScrape},
	}
	r := mux.NewRouter()
	// mux would answer a path not in canonical form with a redirect, not
	// an OperationOutcome: canonical cleans it instead.
	r.SkipClean(true)
	for _, rt := range authed {
		r.Handle(rt.path, a.fhirMedia(rt.path, a.authenticate(a.serve(rt.h)))).Methods(rt.method).Name(template(rt.path))
	}
	for _, rt := range open {
		r.Handle(rt.path, a.fhirMedia(rt.path, a.serve(rt.h))).Methods(rt.method).Name(template(rt.path))
	}
	r.NotFoundHandler = a.serve(func(http.ResponseWriter, *http.Request) error { return errNoRoute })
	r.MethodNotAllowedHandler = a.serve(func(http.ResponseWriter, *http.Request) error { return errMethod })
	return a.common(canonical(r))
}

// canonical routes a request by its path in canonical form: without dot
// segments (RFC 3986 section 5.2.4), empty segments or a trailing slash,
// so that /fhir/Task/ is /fhir/Task, as the base with a trailing slash is
// the base, and /fhir//Task/../Patient/x is /fhir/Patient/x. It is served
// as such rather than redirected: every answer of the API, an error
// included, is its own (an OperationOutcome, never an HTML redirect).
func canonical(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := path.Clean(r.URL.Path); r.URL.Path != "" && p != r.URL.Path {
			u := *r.URL
			u.Path, u.RawPath = p, ""
			cr := *r
			cr.URL = &u
			r = &cr
		}
		next.ServeHTTP(w, r)
	})
}

// template is a route's path without its variables' patterns
// ("/fhir/{type}/{id}"): the name logs and metrics know it by.
func template(path string) string {
	var b strings.Builder
	for {
		i := strings.Index(path, ":")
		j := -1
		if i >= 0 {
			j = strings.Index(path[i:], "}")
		}
		if j < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:i])
		path = path[i+j:]
	}
}
