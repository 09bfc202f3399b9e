package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// handlerFunc is an HTTP handler that returns its error; serve turns errors
// into OperationOutcome responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method, path string
	h            handlerFunc
}

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
	authed := []route{
		{"GET", "/admin/backup", a.backup},
		{"GET", "/admin/inbox", a.inbox},
		{"POST", "/admin/inbox/failed/{seq}/retry", a.retryFailed},
		{"DELETE", "/admin/inbox/failed/{seq}", a.discardFailed},
		{"GET", "/admin/decisions", a.listDecisions},
		{"GET", "/admin/identity/review", a.identityReview},
		{"GET", "/admin/write-policy", a.writePolicy},
		{"POST", "/admin/clients", a.registerClient},
		{"GET", "/admin/clients", a.listClients},
		// Prometheus metrics for a scraper holding a system token; the
		// server can also serve them without a token on a listener of
		// their own (relais serve --metrics-addr).
		{"GET", "/metrics", a.metricsScrape},
		{"POST", "/fhir/Consent/$evaluate", a.evaluateConsent},
		{"POST", "/fhir", a.batch},
		// The same endpoint: clients join "base" and "" as "base/"
		// (https://hl7.org/fhir/R4/http.html#transaction posts to [base]).
		{"POST", "/fhir/", a.batch},
		{"GET", "/fhir/_history", a.systemHistory},
		{"GET", "/fhir/{type}", a.search},
		{"POST", "/fhir/{type}/_search", a.searchPost},
		{"POST", "/fhir/{type}", a.create},
		{"GET", "/fhir/{type}/_history", a.typeHistory},
		{"GET", "/fhir/{type}/{id}", a.read},
		{"PUT", "/fhir/{type}/{id}", a.update},
		{"PATCH", "/fhir/{type}/{id}", a.patch},
		{"DELETE", "/fhir/{type}/{id}", a.delete},
		{"GET", "/fhir/{type}/{id}/_history", a.instanceHistory},
		{"GET", "/fhir/{type}/{id}/_history/{vid}", a.vread},
		// Source documents mapped to FHIR and stored (ingest.go).
		{"POST", "/ingest/hl7v2", a.ingestHL7v2},
		{"POST", "/ingest/cda", a.ingestCDA},
		{"POST", "/ingest/assessment", a.ingestAssessment},
	}
	r := mux.NewRouter()
	for _, rt := range open {
		r.Handle(rt.path, a.serve(rt.h)).Methods(rt.method)
	}
	for _, rt := range authed {
		r.Handle(rt.path, a.authenticate(a.serve(rt.h))).Methods(rt.method)
	}
	r.NotFoundHandler = a.serve(func(http.ResponseWriter, *http.Request) error { return errNoRoute })
	r.MethodNotAllowedHandler = a.serve(func(http.ResponseWriter, *http.Request) error { return errMethod })
	return a.common(r)
}
