// Package server assembles a running Relais: it opens the store, sets up
// authentication, the HTTP API, the MLLP listener and the metrics listener
// when configured, the metrics (gateway/metrics) and (optionally) the demo
// data and the web console (gateway/console), serves, and shuts down
// cleanly when its context ends.
//
// # Start-up
//
// New checks every option before it starts anything (options.go): the
// certificates, keys and client CAs of HTTPS and MLLP over TLS load, a
// client CA comes with a TLS certificate, the listen addresses parse, the
// token signing keys load. Only then does it open the store and write the
// HL7 v2 messages a previous run acknowledged without writing
// (ingest.Ingester.Start), before anything reads the store. Run labels
// what was stored under older labelling rules under the current ones
// (gateway/relabel, once per rules version, resumable) before it listens:
// nothing is served under the old labels. Run binds every listener before
// it serves on any, so an address in use stops it before a sender is
// acknowledged.
//
// # Shutdown order
//
// When Run's context ends (or a listener fails):
//
//  1. every listener stops accepting: the HTTP API, MLLP, metrics;
//  2. HTTP requests in flight finish (up to 30 s) and MLLP messages being
//     processed are committed and acknowledged (mllp.Config.ShutdownTimeout);
//  3. push delivery stops: attempts in flight finish (each bounded by its
//     HTTP timeout); pending events stay in the outbox for the next start;
//  4. the ingest queue writes every acknowledged HL7 v2 message;
//  5. the ACK-retention loop stops (4 and 5: ingest.Ingester.Close);
//  6. the store closes.
//
// So every message acknowledged is written before Run returns; if the store
// failed meanwhile, it stays in the store's inbox and the next start writes
// it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auditlog"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/console"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/metrics"
	"github.com/relais-health/relais/gateway/mllp"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/relabel"
	"github.com/relais-health/relais/gateway/routing"
)

// DBFile is the name of the database file inside the data directory.
const DBFile = "relais.db"

// DefaultGCPercent is the garbage collector target `relais serve` runs
// with unless GOGC is set (--gc-percent): the heap of a server is small
// (the data lives in bbolt's memory map) and each request allocates much
// of what it touches, so collecting at 300% growth instead of Go's 100%
// costs little memory and saves about a tenth of the CPU of a create
// (gateway/api BenchmarkLoopbackCreate5KB, which runs with it).
const DefaultGCPercent = 300

// Config is everything `relais serve` can be told.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8080
	DataDir string // holds DBFile and the token endpoint's key (auth.IssuingKeyFile)
	BaseURL string // public base URL; empty: from each request

	Dev  bool // trust the development signing key under auth.DevKeyDir
	Demo bool // load the demo directory and patient

	TLSCert, TLSKey string // serve HTTPS with this certificate and key (both or neither)

	JWTKeyFile  string // PEM public keys trusted to sign tokens
	JWTIssuer   string
	JWTAudience string

	MaxBody int64
	Logger  *slog.Logger
	// Ready, when set, receives the API's bound address once every
	// listener is bound, just before Run serves.
	Ready func(addr string)

	// MLLPAddr enables the HL7 v2 MLLP listener (package mllp) on this
	// address; it shares the store and mappings with POST /ingest/hl7v2.
	MLLPAddr string
	// MLLPTLSCert and MLLPTLSKey make it TLS; MLLPClientCA (PEM) then
	// requires client certificates signed by one of those CAs.
	MLLPTLSCert, MLLPTLSKey, MLLPClientCA string
	// MLLPReady, when set, receives the MLLP listener's bound address.
	MLLPReady func(addr string)
	// AuditCheckpointInterval is how often the audit log's checkpoint is
	// signed (auditlog.DefaultInterval when 0); AuditWitness, when set,
	// is the URL each checkpoint is POSTed to.
	AuditCheckpointInterval time.Duration
	AuditWitness            string
	// AuditRetention is how long each kind of audit entry is kept
	// (auditlog.DefaultRetention() when nil).
	AuditRetention auditlog.Retention
	// SourceZone reads the HL7 v2 and CDA times written without a UTC
	// offset (HL7 v2.5 section 2A.3.22: the sender's local time); nil: an
	// HL7 v2 message's own MSH-7 offset, else UTC.
	SourceZone *time.Location
	// HL7ACKRetention is how long HL7 v2 ACK records are kept for resend
	// detection (ingest.Config.ACKRetention).
	HL7ACKRetention time.Duration
	// RouteInterval is how often finished stays are routed, unanswered
	// Tasks timed out and those of recipients who left the directory
	// handed over (routing.Run); 0 means DefaultRouteInterval, negative
	// turns automatic routing off ($route still routes on demand).
	RouteInterval time.Duration
	// TaskTimeout is how long a routing Task's recipient has to answer
	// (0: routing.DefaultTaskTimeout).
	TaskTimeout time.Duration
	// InitialMmapSize is the address space the database is mapped with at
	// start (store.Options.InitialMmapSize; 0: the store's default).
	InitialMmapSize int

	// MetricsAddr enables a listener that serves only GET /metrics, without
	// a token: for a scraper on a private network. The API serves the same
	// metrics at /metrics to a system token either way.
	MetricsAddr string
	// MetricsReady, when set, receives the metrics listener's bound address.
	MetricsReady func(addr string)

	// DeliveryGiveUp is how long a Subscription notification is retried
	// before it is a dead letter (0: delivery.Config's default, 72 h).
	DeliveryGiveUp time.Duration
	// AllowEndpointNetworks are networks notifications may go to although
	// their addresses are special-purpose (private, loopback…), over plain
	// HTTP too (delivery.Endpoints.Networks). With Dev, plain HTTP is
	// accepted to any address otherwise allowed.
	AllowEndpointNetworks []netip.Prefix
	// EndpointAllowList keeps notifications to the addresses of the
	// directory's active Endpoint resources (and below them).
	EndpointAllowList bool
}

// Server is a configured Relais.
type Server struct {
	audit    *auditlog.Log
	cfg      Config
	log      *slog.Logger
	opts     *checked
	store    *store.Store
	codec    *codec.Codec
	ingest   *ingest.Ingester
	routing  *routing.Planner
	delivery *delivery.Service
	api      *api.API
	handler  http.Handler // the API, with the console mounted at /console
	mllp     *mllp.Server // nil without MLLPAddr
	metrics  *metrics.Metrics
	devKey   *auth.DevKey

	closeOnce sync.Once
	closeErr  error
}

// New checks the options, opens the database, writes the HL7 v2 messages
// a previous run acknowledged and did not write, and builds the server.
// Call Run, or Close if Run will not be called.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts, err := check(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, opts: opts, metrics: metrics.New(log)}
	vc, err := s.verifierConfig()
	if err != nil {
		return nil, err
	}
	c, err := codec.New()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// The token endpoint's key lives with the data it grants access to.
	issuing, err := auth.LoadOrCreateIssuingKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	own := auth.Trust{Issuer: s.tokenIssuer(), Audience: vc.Audience, Keys: []auth.Key{issuing.Key()}}
	vc.Also = append(vc.Also, own)
	verifier, err := auth.NewVerifier(vc)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{Codec: c, Logger: log,
		InitialMmapSize: cfg.InitialMmapSize, OnCommit: s.metrics.ObserveCommit})
	if err != nil {
		return nil, err
	}
	s.store, s.codec = st, c
	tokens, err := auth.NewBackend(auth.BackendConfig{Registry: st, Key: issuing, Issuer: own.Issuer, Audience: own.Audience})
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.build(c, verifier, tokens); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// build wires the components on the open store.
func (s *Server) build(c *codec.Codec, verifier *auth.Verifier, tokens *auth.Backend) error {
	// The followers come first (store.Follow): they follow every write,
	// the writes of the messages a crash left behind included, and must be
	// registered before them. The planner writes a discharge's plan in the
	// discharge's own transaction; push delivery is registered last, so
	// that it sees, and notifies, what the planner wrote (the Tasks above
	// all). Nothing here reads the store, which would wait for those
	// messages.
	engine, decisions, err := s.consentEngine(c)
	if err != nil {
		return err
	}
	communes, err := directory.LoadCommunes()
	if err != nil {
		return err
	}
	dir := directory.New(s.store, c)
	planner, err := routing.New(routing.Config{Store: s.store, Codec: c, Directory: dir,
		Communes: communes, Consent: engine, TaskTimeout: s.cfg.TaskTimeout, RouteOnWrite: s.routeInterval() > 0})
	if err != nil {
		return err
	}
	s.routing = planner
	// The directory's logical references are linked before the planner
	// reads the directory: a role waiting for the Organization a write
	// stores takes its territory in that same transaction.
	s.store.Follow(identity.NewLinker(c))
	// Run routes what the planner left for later; the planner also notes
	// every routing Task's move on its CarePlan.
	s.store.Follow(planner)
	endpoints := delivery.Endpoints{AllowHTTP: s.cfg.Dev, Networks: s.cfg.AllowEndpointNetworks}
	if s.cfg.EndpointAllowList {
		endpoints.AllowList = dir.EndpointAddresses
	}
	s.delivery, err = delivery.New(delivery.Config{Store: s.store, Codec: c, Consent: engine, Logger: s.log,
		BaseURL: s.notificationBase(), GiveUp: s.cfg.DeliveryGiveUp, Endpoints: endpoints})
	if err != nil {
		return err
	}
	s.store.Follow(s.delivery)
	s.ingest, err = ingest.New(ingest.Config{Store: s.store, Logger: s.log, ACKRetention: s.cfg.HL7ACKRetention, Options: ingest.Options{Codec: c, Zone: s.cfg.SourceZone}})
	if err != nil {
		return err
	}
	// HL7 v2 messages a crash left acknowledged but not written are written
	// before anything reads the store: reads would wait for them.
	n, err := s.ingest.Start(context.Background())
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("accepted HL7 v2 messages written after restart", "messages", n)
	}
	if err := publishCodeSystem(s.store, consent.CodeSystem()); err != nil {
		return fmt.Errorf("publish data-category CodeSystem: %w", err)
	}
	if err := publishCodeSystem(s.store, routing.CodeSystem()); err != nil {
		return fmt.Errorf("publish routing-status CodeSystem: %w", err)
	}
	if s.audit, err = auditlog.New(auditlog.Config{Store: s.store, DataDir: s.cfg.DataDir, Interval: s.cfg.AuditCheckpointInterval,
		Witness: s.cfg.AuditWitness, Retention: s.cfg.AuditRetention, Logger: s.log}); err != nil {
		return err
	}
	s.api, err = api.New(api.Config{Audit: s.audit, Store: s.store, Codec: c, Verifier: verifier, Logger: s.log,
		BaseURL: s.cfg.BaseURL, MaxBody: s.cfg.MaxBody, Ingester: s.ingest, Consent: engine, Log: decisions,
		Metrics: s.metrics.Handler(), Observer: s.metrics, Tokens: tokens, Routing: planner, Delivery: s.delivery})
	if err != nil {
		return err
	}
	// The console acts as whoever signs in, through the API's own handler.
	var minter console.Minter
	if s.devKey != nil {
		minter = s.devKey
	}
	cons, err := console.New(console.Config{API: s.api, Codec: c, Minter: minter, Logger: s.log,
		BaseURL: s.cfg.BaseURL, InsecureCookies: s.cfg.Dev && s.cfg.TLSCert == ""})
	if err != nil {
		return err
	}
	s.handler = console.Mount(s.api, cons)
	src := metrics.Sources{Store: s.store, Consent: engine}
	if s.cfg.MLLPAddr != "" {
		s.mllp, err = mllp.New(mllp.Config{Ingester: s.ingest, Logger: s.log, MaxMessage: int(s.cfg.MaxBody), TLS: s.opts.mllpTLS})
		if err != nil {
			return err
		}
		src.MLLP = s.mllp
	}
	return s.metrics.Watch(src)
}

// verifierConfig trusts the configured keys, plus the dev key with --dev.
// New adds the token endpoint's own key.
func (s *Server) verifierConfig() (auth.Config, error) {
	cfg := auth.Config{Issuer: s.cfg.JWTIssuer, Audience: s.cfg.JWTAudience}
	if s.cfg.JWTKeyFile != "" {
		keys, err := auth.LoadPublicKeys(s.cfg.JWTKeyFile)
		if err != nil {
			return cfg, err
		}
		cfg.Keys = keys
	}
	if s.cfg.Dev {
		k, err := auth.LoadOrCreateDevKey(auth.DevKeyDir)
		if err != nil {
			return cfg, fmt.Errorf("dev key: %w", err)
		}
		s.devKey = k
		dev := k.VerifierConfig()
		if cfg.Issuer == "" {
			cfg.Issuer = dev.Issuer
		}
		if cfg.Audience == "" {
			cfg.Audience = dev.Audience
		}
		if cfg.Issuer != dev.Issuer || cfg.Audience != dev.Audience {
			return cfg, errors.New("--dev uses the development issuer and audience; do not combine it with --jwt-issuer/--jwt-audience")
		}
		cfg.Keys = append(cfg.Keys, dev.Keys...)
	}
	if len(cfg.Keys) == 0 {
		return cfg, errors.New("no token signing key trusted: give --jwt-key (with --jwt-issuer and --jwt-audience) or --dev")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return cfg, errors.New("--jwt-key needs --jwt-issuer and --jwt-audience")
	}
	return cfg, nil
}

// LocalIssuer is the iss of the tokens the token endpoint issues when no
// --base-url is given (with one, it is the base URL).
const LocalIssuer = "relais"

// tokenIssuer is the iss of the tokens the token endpoint issues: the
// server's public base URL, or LocalIssuer. Their aud is the audience the
// Verifier expects of every token (--jwt-audience, or the dev audience).
func (s *Server) tokenIssuer() string {
	if b := strings.TrimSuffix(s.cfg.BaseURL, "/"); b != "" {
		return b
	}
	return LocalIssuer
}

// notificationBase is the base of the fullUrls in notifications, which
// answer no request to take a base from: --base-url, else the listening
// address (localhost when it names every interface). A Bundle entry's
// fullUrl is absolute (https://hl7.org/fhir/R4/bundle.html#bundle-unique).
func (s *Server) notificationBase() string {
	if b := strings.TrimSuffix(s.cfg.BaseURL, "/"); b != "" {
		return b
	}
	host, port, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// Handler is the HTTP handler (for tests that serve it with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Store is the open store.
func (s *Server) Store() *store.Store { return s.store }

// DevKey is the development signing key (nil without --dev).
func (s *Server) DevKey() *auth.DevKey { return s.devKey }

// Close stops push delivery, writes the HL7 v2 messages accepted so far, stops the ingest
// queue and the ACK-retention loop, and closes the store (steps 3 to 6 of
// the shutdown order). Run calls it before it returns; call it yourself
// only when Run is not called. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.delivery != nil {
			s.delivery.Close()
		}
		if s.ingest != nil {
			s.ingest.Close()
		}
		if s.store != nil {
			s.closeErr = s.store.Close()
		}
	})
	return s.closeErr
}

// Run serves until ctx ends, then shuts down in the order of the package
// comment and closes the store.
func (s *Server) Run(ctx context.Context) (err error) {
	defer func() {
		err = errors.Join(err, s.Close())
		// The last line: a log that ends without it ended in a crash.
		s.log.Info("stopped", "clean", err == nil)
	}()
	if err := pathways.Load(ctx, s.store, s.codec); err != nil {
		return fmt.Errorf("pathways: %w", err)
	}
	if s.cfg.Demo {
		if err := demo.Load(ctx, s.store); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	// Data stored under older labelling rules is labelled under the
	// current ones before anyone reads it: served first, an HIV diagnosis
	// stored unlabelled would go to whoever may read CLIN. A pass stopped
	// here goes on at the next start.
	if _, err := relabel.Run(ctx, relabel.Config{Store: s.store, Codec: s.codec, Logger: s.log, CodesOnly: routing.PlanRequest}); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	ls, err := s.listen()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.delivery.Start()
	go s.audit.Run(ctx)
	sv := s.serve(ctx, ls)
	routed := make(chan struct{})
	go func() {
		defer close(routed)
		if every := s.routeInterval(); every > 0 {
			s.routing.Run(ctx, s.log, every)
		}
	}()
	select {
	case <-ctx.Done():
	case err = <-sv.failed:
	}
	s.log.Info("shutting down")
	// 1 and 2: every listener stops accepting at once (MLLP when ctx
	// ends), then what is in flight finishes, and the router stops; 3 to
	// 6: the deferred Close.
	cancel()
	err = errors.Join(err, sv.stop())
	<-routed
	// Writing them can take a while after a burst (about 30 messages a
	// second on two busy cores): the log says what the wait is for.
	if queued, _, qerr := s.store.InboxCounts(); qerr == nil && queued > 0 {
		s.log.Info("writing the accepted HL7 v2 messages before closing", "messages", queued)
	}
	return err
}

// DefaultRouteInterval is how often finished stays are routed by default.
const DefaultRouteInterval = time.Second

func (s *Server) routeInterval() time.Duration {
	if s.cfg.RouteInterval == 0 {
		return DefaultRouteInterval
	}
	return s.cfg.RouteInterval
}

// serving is what Run started on its listeners.
type serving struct {
	http    []*http.Server // the API, and the metrics listener's
	failed  chan error     // a server that ended on its own
	running sync.WaitGroup
}

// serve starts a server on each listener. MLLP stops accepting when ctx
// ends and returns once the messages being processed are acknowledged.
func (s *Server) serve(ctx context.Context, ls *listeners) *serving {
	sv := &serving{failed: make(chan error, 3)}
	start := func(name string, fn func() error) {
		sv.running.Add(1)
		go func() {
			defer sv.running.Done()
			if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				sv.failed <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	apiSrv := s.httpServer(s.handler, 5*time.Minute) // a backup moves its own deadline as it goes (api.backupIdle)
	sv.http = append(sv.http, apiSrv)
	start("http", func() error { return apiSrv.Serve(ls.http) })
	if ls.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics.Handler())
		m := s.httpServer(mux, 30*time.Second)
		sv.http = append(sv.http, m)
		start("metrics", func() error { return m.Serve(ls.metrics) })
	}
	if ls.mllp != nil {
		start("mllp", func() error { return s.mllp.Serve(ctx, ls.mllp) })
	}
	return sv
}

// stop shuts the HTTP servers down together (each closes its listener at
// once, then waits up to 30 s for the requests in flight), waits for every
// server to return, and reports what failed.
func (sv *serving) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(sv.http))
	for _, hs := range sv.http {
		go func() {
			err := hs.Shutdown(ctx)
			if err != nil {
				hs.Close()
				err = fmt.Errorf("http shutdown: %w", err)
			}
			errs <- err
		}()
	}
	var err error
	for range sv.http {
		err = errors.Join(err, <-errs)
	}
	sv.running.Wait()
	close(sv.failed)
	for f := range sv.failed {
		err = errors.Join(err, f)
	}
	return err
}

// listeners are Run's bound sockets.
type listeners struct {
	http          net.Listener
	mllp, metrics net.Listener // nil when not configured
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.http, ls.mllp, ls.metrics} {
		if l != nil {
			l.Close()
		}
	}
}

// listen binds every configured address before any serves, closing those
// already bound if one fails, and reports the bound addresses.
func (s *Server) listen() (*listeners, error) {
	var ls listeners
	var err error
	if ls.http, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		return nil, err
	}
	if s.opts.httpTLS != nil {
		ls.http = tls.NewListener(ls.http, s.opts.httpTLS)
	}
	if s.cfg.MLLPAddr != "" {
		if ls.mllp, err = net.Listen("tcp", s.cfg.MLLPAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("mllp: %w", err)
		}
		tc := s.opts.mllpTLS
		s.log.Info("mllp listening", "addr", ls.mllp.Addr().String(), "tls", tc != nil,
			"client_certs", tc != nil && tc.ClientAuth == tls.RequireAndVerifyClientCert)
		if s.cfg.MLLPReady != nil {
			s.cfg.MLLPReady(ls.mllp.Addr().String())
		}
	}
	if s.cfg.MetricsAddr != "" {
		if ls.metrics, err = net.Listen("tcp", s.cfg.MetricsAddr); err != nil {
			ls.close()
			return nil, fmt.Errorf("metrics: %w", err)
		}
		s.log.Info("metrics listening", "addr", ls.metrics.Addr().String())
		if s.cfg.MetricsReady != nil {
			s.cfg.MetricsReady(ls.metrics.Addr().String())
		}
	}
	if s.cfg.Ready != nil {
		s.cfg.Ready(ls.http.Addr().String())
	}
	return &ls, nil
}

// maxHeaderBytes bounds a request's header. Above it Go's server answers
// 431 in plain text before any handler runs; below it an oversized bearer
// token reaches the verifier, which refuses it with an OperationOutcome
// (auth.MaxTokenBytes). Go's default (1 MiB) let a 1 MB token get the
// plain-text answer.
const maxHeaderBytes = 2 << 20

// httpServer serves h with the timeouts every Relais listener uses.
func (s *Server) httpServer(h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
