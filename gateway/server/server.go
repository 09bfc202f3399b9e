// Package server assembles a running Relais: it opens the store, sets up
// authentication, the HTTP API and (optionally) the demo data, serves, and
// shuts down cleanly when its context ends: in-flight requests finish, then
// the bbolt file is closed.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/api"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/mllp"
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
	DataDir string // holds DBFile
	BaseURL string // public base URL; empty: from each request

	Dev  bool // trust the development signing key under auth.DevKeyDir
	Demo bool // load the demo directory and patient

	TLSCert, TLSKey string // serve HTTPS when both are set

	JWTKeyFile  string // PEM public keys trusted to sign tokens
	JWTIssuer   string
	JWTAudience string

	MaxBody int64
	Logger  *slog.Logger
	// Ready, when set, receives the bound address once the server listens.
	Ready func(addr string)

	// MLLPAddr enables the HL7 v2 MLLP listener (package mllp) on this
	// address; it shares the store and mappings with POST /ingest/hl7v2.
	MLLPAddr string
	// MLLPTLSCert and MLLPTLSKey make it TLS; MLLPClientCA (PEM) then
	// requires client certificates signed by one of those CAs.
	MLLPTLSCert, MLLPTLSKey, MLLPClientCA string
	// MLLPReady, when set, receives the MLLP listener's bound address.
	MLLPReady func(addr string)
	// HL7ACKRetention is how long HL7 v2 ACK records are kept for resend
	// detection (ingest.Config.ACKRetention).
	HL7ACKRetention time.Duration
}

// Server is a configured Relais.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  *store.Store
	ingest *ingest.Ingester
	api    *api.API
	devKey *auth.DevKey
}

// New opens the database and builds the server.
func New(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c, err := codec.New()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, DBFile), store.Options{Codec: c, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, store: st}
	verifier, err := s.verifier()
	if err != nil {
		st.Close()
		return nil, err
	}
	s.ingest, err = ingest.New(ingest.Config{Store: st, Logger: log, ACKRetention: cfg.HL7ACKRetention, Options: ingest.Options{Codec: c}})
	if err != nil {
		st.Close()
		return nil, err
	}
	// HL7 v2 messages a crash left acknowledged but not written are written
	// before anything reads the store: reads would wait for them.
	if n, err := s.ingest.Start(context.Background()); err != nil {
		st.Close()
		return nil, err
	} else if n > 0 {
		log.Info("accepted HL7 v2 messages written after restart", "messages", n)
	}
	engine, decisions, err := s.consentEngine(c)
	if err != nil {
		s.ingest.Close()
		st.Close()
		return nil, err
	}
	s.api, err = api.New(api.Config{Store: st, Codec: c, Verifier: verifier, Logger: log,
		BaseURL: cfg.BaseURL, MaxBody: cfg.MaxBody, Ingester: s.ingest, Consent: engine, Log: decisions})
	if err != nil {
		s.ingest.Close()
		st.Close()
		return nil, err
	}
	return s, nil
}

// verifier trusts the configured keys, plus the dev key with --dev.
func (s *Server) verifier() (*auth.Verifier, error) {
	cfg := auth.Config{Issuer: s.cfg.JWTIssuer, Audience: s.cfg.JWTAudience}
	if s.cfg.JWTKeyFile != "" {
		keys, err := auth.LoadPublicKeys(s.cfg.JWTKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Keys = keys
	}
	if s.cfg.Dev {
		k, err := auth.LoadOrCreateDevKey(auth.DevKeyDir)
		if err != nil {
			return nil, fmt.Errorf("dev key: %w", err)
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
			return nil, errors.New("--dev uses the development issuer and audience; do not combine it with --jwt-issuer/--jwt-audience")
		}
		cfg.Keys = append(cfg.Keys, dev.Keys...)
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("no token signing key trusted: give --jwt-key (with --jwt-issuer and --jwt-audience) or --dev")
	}
	return auth.NewVerifier(cfg)
}

// Handler is the HTTP handler (for tests that serve it with httptest).
func (s *Server) Handler() http.Handler { return s.api }

// Store is the open store.
func (s *Server) Store() *store.Store { return s.store }

// DevKey is the development signing key (nil without --dev).
func (s *Server) DevKey() *auth.DevKey { return s.devKey }

// Run serves until ctx ends, then shuts down gracefully and closes the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	// HL7 v2 messages acknowledged but not yet written are written before
	// the store closes, after the transports stop (deferred below).
	defer s.ingest.Close()
	if s.cfg.Demo {
		if err := demo.Load(ctx, s.store); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mllpErr, err := s.startMLLP(ctx)
	if err != nil {
		return err
	}
	if mllpErr != nil {
		// The MLLP listener ends before the store closes: messages in
		// flight are committed and acknowledged first.
		defer func() { cancel(); <-mllpErr }()
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // backups stream for a while
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.cfg.TLSCert != "" || s.cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	if s.cfg.Ready != nil {
		s.cfg.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case err := <-mllpErr:
		mllpErr <- err // for the deferred wait
		if err != nil {
			srv.Close()
			return err
		}
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return nil
}

// startMLLP starts the MLLP listener when configured. The channel yields
// Serve's result once the listener has shut down; it is nil when there is
// no listener.
func (s *Server) startMLLP(ctx context.Context) (chan error, error) {
	if s.cfg.MLLPAddr == "" {
		return nil, nil
	}
	done := make(chan error, 1)
	cfg := mllp.Config{Ingester: s.ingest, Logger: s.log, MaxMessage: int(s.cfg.MaxBody)}
	if s.cfg.MLLPTLSCert != "" || s.cfg.MLLPTLSKey != "" {
		tc, err := serverTLS(s.cfg.MLLPTLSCert, s.cfg.MLLPTLSKey, s.cfg.MLLPClientCA)
		if err != nil {
			return nil, fmt.Errorf("mllp: %w", err)
		}
		cfg.TLS = tc
	} else if s.cfg.MLLPClientCA != "" {
		return nil, errors.New("mllp: a client CA needs --mllp-tls-cert and --mllp-tls-key")
	}
	m, err := mllp.New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", s.cfg.MLLPAddr)
	if err != nil {
		return nil, fmt.Errorf("mllp: %w", err)
	}
	s.log.Info("mllp listening", "addr", ln.Addr().String(), "tls", cfg.TLS != nil,
		"client_certs", cfg.TLS != nil && cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert)
	if s.cfg.MLLPReady != nil {
		s.cfg.MLLPReady(ln.Addr().String())
	}
	go func() { done <- m.Serve(ctx, ln) }()
	return done, nil
}

// serverTLS loads a certificate and, when caFile is set, requires client
// certificates signed by its CAs.
func serverTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("client CA: no certificate in " + caFile)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
