// Package delivery pushes notifications to Subscriptions: R4 Subscriptions
// with a rest-hook channel and a search criteria
// (https://hl7.org/fhir/R4/subscription.html), and the topic-based form of
// the Subscriptions R5 Backport IG for R4, version 1.1.0
// (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/), with a topic
// per resource type for Task, ServiceRequest, CarePlan and Consent
// (Topics).
//
// # Basics
//
// The Service is a store Follower: inside the transaction of every write
// it matches the resources written against the active Subscriptions and
// puts an event in the store's outbox for each match, so that an event
// exists exactly when its write is committed (store.Following.Enqueue).
// Each Subscription's events are numbered 1, 2, 3… and delivered in that
// order by a worker of its own: a slow or dead endpoint holds back only
// its own Subscription.
//
// The workers are woken once the write that enqueued an event has
// committed (store.Following.AfterCommit), so delivery starts at once,
// without polling; Config.Poll only bounds how late what no one was told
// of (after a restart) is found.
//
// A notification is the IG's history Bundle, its SubscriptionStatus (an R4
// Parameters) first, then, for id-only and full-resource content, one
// entry per event. Content is chosen with the backport-payload-content
// extension on channel.payload; without it a Subscription gets id-only, so
// that a community recipient reads what it is told about through the API
// and its consent filter. channel.header values go out as HTTP headers. A
// Subscription created as requested is sent a handshake first: a 2xx
// makes it active, anything else error. A heartbeat (backport-heartbeat-
// period, on channel) goes out when nothing else was sent for that long.
//
// # Consent
//
// Before every attempt, the first and each retry, the consent engine
// decides whether the Subscription's owner may read the event's resource,
// as a vread of that version by the owner would (consent.Filter
// AllowFacts), and the decision is recorded in the decision log. A denied
// event is withheld: nothing of it is sent, not even its id, and it
// counts as withheld in $status. A full-resource notification carries the
// resource only when the decision lets all of it through: the engine
// decides per resource, from all its data categories and labels. Every
// attempt is kept in the outbox with its decision ID (store.Attempts).
//
// # Retries
//
// A failed attempt (no answer, or a status other than 2xx) is retried
// after an exponential backoff with jitter: Config.RetryBase (2 s) for the
// first retry, doubling, at most Config.RetryMax (10 min) apart. When the
// next attempt would come later than Config.GiveUp (72 h) after the
// event's round of attempts began, the event is a dead letter: the
// Subscription is set to error with the reason, a Task whose notification
// died gets businessStatus DeliveryStatusSystem#undelivered so that
// routing can re-route it, and administrators list and replay dead
// letters (GET /admin/delivery/dead-letters).
//
// # Caveats
//
// Delivery is at least once: a crash between a 2xx and its record sends
// the event again, with the same event number, by which receivers drop
// duplicates. A Subscription's owner is the name stamped on it at creation
// (fhirUser, else client, else subject); an owner with a fhirUser is
// decided as that actor, never as a system caller, even if the token that
// created the Subscription had system scopes; a registered client without
// fhirUser is decided by its registered scopes; any other owner is
// denied. A deletion raises an event for the Subscriptions its last
// version matched (a DELETE entry, decided on that version). Events of a
// Subscription that is deleted or set to off are cancelled with that
// write, never sent, and counted by $status. Endpoints are HTTPS to
// public addresses unless configured otherwise, checked on the URL and on
// every connection's resolved address (Endpoints); a Subscription with a
// secret (ExtSecret) has its notifications signed (SignatureHeader), and
// the secret is never shown to a reader (WithoutSecret).
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
)

// Config configures a Service. Durations at zero take their defaults.
type Config struct {
	Store   *store.Store    // required
	Codec   *codec.Codec    // required
	Consent *consent.Engine // required: decides every attempt
	Logger  *slog.Logger    // default slog.Default()
	// BaseURL is the server's public base, for the fullUrls of
	// notifications (e.g. https://relais.example).
	BaseURL string
	// Timeout bounds each notification's request, connection included
	// (default 10 s).
	Timeout time.Duration
	// Endpoints is where notifications may go (the zero value: HTTPS to
	// public addresses only).
	Endpoints Endpoints
	Now       func() time.Time
	// RetryBase is the delay before the first retry (default 2 s); each
	// retry doubles it, up to RetryMax (default 10 min), with jitter.
	RetryBase, RetryMax time.Duration
	// GiveUp is how long an event is tried before it is a dead letter
	// (default 72 h; relais serve --delivery-give-up).
	GiveUp time.Duration
	// Poll is how often a worker looks for events it was not told of,
	// e.g. after a restart (default 1 s).
	Poll time.Duration
	// Retention is how long delivered and withheld events are kept for
	// $events (default 7 days).
	Retention time.Duration
}

// DefaultGiveUp is Config.GiveUp's default: three days, so that a
// recipient's weekend outage does not lose a discharge.
const DefaultGiveUp = 72 * time.Hour

// DeliveryStatusSystem codes the businessStatus of a Task whose
// notification became a dead letter (code "undelivered").
const DeliveryStatusSystem = "https://relais-health.github.io/fhir/CodeSystem/delivery-status"

// Service matches writes against Subscriptions and delivers the events.
type Service struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	client *http.Client // newClient's: every connection checked (endpoint.go)

	subs   atomic.Pointer[subSet] // the Subscriptions as last loaded
	parsed sync.Map               // id -> *subscription, by version

	mu      sync.Mutex
	workers map[string]*worker
	refresh chan struct{} // the manager must reload the Subscriptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Service; register it with Store.Follow before writes
// start, and after every other follower (followers run in the order
// registered, and it sees only what the ones before it wrote), then Start
// it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Codec == nil || cfg.Consent == nil {
		return nil, errors.New("delivery: Store, Codec and Consent are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.RetryBase, 2*time.Second)
	def(&cfg.RetryMax, 10*time.Minute)
	def(&cfg.GiveUp, DefaultGiveUp)
	def(&cfg.Poll, time.Second)
	def(&cfg.Retention, 7*24*time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, st: cfg.Store, log: cfg.Logger,
		workers: map[string]*worker{}, refresh: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel,
	}
	s.client = newClient(&s.cfg.Endpoints, cfg.Timeout)
	return s, nil
}

// Start starts the manager, which starts a worker per Subscription with
// something to do, including the events left pending by a previous run.
func (s *Service) Start() {
	s.wg.Add(1)
	go s.manage()
}

// Close stops the workers, waiting for attempts in flight (each is bounded
// by the client's timeout); what is still pending is sent after restart.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// kick asks the manager to reload the Subscriptions and look for work.
func (s *Service) kick() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// manage keeps a worker per Subscription that is requested (handshake),
// has events pending or sends heartbeats, and prunes old events.
func (s *Service) manage() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		if err := s.reconcile(); err != nil && s.ctx.Err() == nil {
			s.log.Error("delivery: reconcile", "err", err)
		}
		if now := s.cfg.Now(); now.Sub(lastPrune) > time.Hour {
			lastPrune = now
			if _, err := s.st.PruneEvents(s.ctx, now.Add(-s.cfg.Retention)); err != nil && s.ctx.Err() == nil {
				s.log.Error("delivery: prune events", "err", err)
			}
		}
		select {
		case <-s.ctx.Done():
			s.mu.Lock()
			for _, w := range s.workers {
				close(w.stop)
			}
			s.mu.Unlock()
			return
		case <-tick.C:
		case <-s.refresh:
		}
	}
}

// reconcile loads the Subscriptions and starts the workers missing.
func (s *Service) reconcile() error {
	set, err := s.load()
	if err != nil {
		return err
	}
	pending, err := s.st.OutboxPending()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range pending {
		want[id] = true
	}
	for id, sub := range set.byID {
		if sub.status == requestedStatus || sub.heartbeat > 0 && sub.matching() {
			want[id] = true
		}
	}
	for id := range want {
		sub, ok := set.byID[id]
		if ok && sub.status != cpb.SubscriptionStatusCode_OFF {
			s.worker(id).poke()
			continue
		}
		// Deleted or off before their events were cancelled with it (by
		// a relais before cancelling): cancelled now.
		if _, err := s.st.CancelEvents(s.ctx, id); err != nil {
			return err
		}
	}
	return nil
}
