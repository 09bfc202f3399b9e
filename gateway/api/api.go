// Package api is Relais's HTTP interface: the FHIR R4 REST API under /fhir,
// health endpoints, administration and metrics. Handlers are thin: they
// decode the request, call the store or a domain package, and write the
// response; every route is listed in routes.go and every error becomes an
// OperationOutcome in errors.go.
package api

import (
	"crypto/cipher"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auditlog"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/routing"
)

// Config configures the API.
type Config struct {
	Store    *store.Store
	Codec    *codec.Codec
	Verifier *auth.Verifier
	Consent  *consent.Engine // decides every disclosure
	Log      *consent.Log    // the decision log administrators query
	Logger   *slog.Logger
	// BaseURL is the public base of the server (e.g. https://relais.example);
	// empty means: from each request's scheme and Host.
	BaseURL string
	// MaxBody bounds request bodies (default 16 MiB).
	MaxBody int64
	Now     func() time.Time
	// Ingester serves the /ingest and /admin/inbox routes (required). It is
	// the caller's, as is its lifecycle: the server starts it before serving
	// and closes it after, so that the API and the MLLP listener share one
	// queue of HL7 v2 messages.
	Ingester *ingest.Ingester
	// Metrics, when set, is served at GET /metrics to callers whose token
	// reads every type in the system context (gateway/metrics Handler).
	Metrics http.Handler
	// Observer, when set, is told of every request once it is answered.
	Observer Observer
	// Routing, when set, serves POST /fhir/Encounter/{id}/$route.
	Routing *routing.Planner
	// Tokens, when set, serves the SMART Backend Services token endpoint
	// (POST /auth/token) and its discovery document; without it both
	// answer 404.
	Tokens *auth.Backend
	// Delivery, when set, serves the Subscription operations ($status,
	// $events) and the dead-letter administration; without it they
	// answer 404.
	Delivery *delivery.Service
	// Audit, when set, serves the audit log's checkpoints and their key
	// (/admin/audit/checkpoint, /admin/audit/key).
	Audit *auditlog.Log
}

// API serves HTTP requests.
type API struct {
	cursors   cipher.Block // seals type and system history cursors (history.go)
	store     *store.Store
	codec     *codec.Codec
	verifier  *auth.Verifier
	consent   *consent.Engine
	decisions *consent.Log
	log       *slog.Logger
	baseURL   string
	maxBody   int64
	now       func() time.Time
	ingest    *ingest.Ingester
	metrics   http.Handler
	observer  Observer
	tokens    *auth.Backend
	ident     *identity.Resolver
	routing   *routing.Planner
	delivery  *delivery.Service
	audit     *auditlog.Log
	pages     *pages
	capStmt   []byte
	handler   http.Handler
}

// New builds the API handler.
func New(cfg Config) (*API, error) {
	if cfg.Store == nil || cfg.Codec == nil || cfg.Verifier == nil || cfg.Consent == nil || cfg.Log == nil || cfg.Ingester == nil {
		return nil, fmt.Errorf("api: Store, Codec, Verifier, Consent, Log and Ingester are required")
	}
	cursors, err := newCursorSeal()
	if err != nil {
		return nil, err
	}
	a := &API{
		store: cfg.Store, codec: cfg.Codec, verifier: cfg.Verifier, log: cfg.Logger,
		consent: cfg.Consent, decisions: cfg.Log, ingest: cfg.Ingester,
		metrics: cfg.Metrics, observer: cfg.Observer, routing: cfg.Routing, tokens: cfg.Tokens, delivery: cfg.Delivery, audit: cfg.Audit,
		baseURL: cfg.BaseURL, maxBody: cfg.MaxBody, now: cfg.Now, cursors: cursors,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.maxBody <= 0 {
		a.maxBody = 16 << 20
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.pages = newPages(4096, 30*time.Minute, a.now)
	a.ident = identity.New(a.codec, a.now)
	capStmt, err := capabilityStatement(a.codec, a.now(), a.delivery != nil)
	if err != nil {
		return nil, err
	}
	a.capStmt = capStmt
	a.handler = a.routes()
	return a, nil
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }
