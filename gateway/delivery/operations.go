package delivery

import (
	"context"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// The operations of the backport IG on a Subscription, and the
// administration of dead letters. The API decides who may call them (as
// for reading the Subscription); these answer for Subscription id.

// maxEvents bounds the events one $events answer carries.
const maxEvents = 100

// subscriptionFor reads Subscription id as stored now.
func (s *Service) subscriptionFor(id string) (*subscription, error) {
	set, err := s.load()
	if err != nil {
		return nil, err
	}
	sub := set.byID[id]
	if sub == nil {
		return nil, outcome.New(outcome.NotFound, "resource not found")
	}
	return sub, nil
}

// Status answers $status: a searchset Bundle holding the Subscription's
// status Parameters (type query-status), its error and
// eventsSinceSubscriptionStart (backport IG, OperationDefinition
// backport-subscription-status), with its events counted by state
// (countsParam).
func (s *Service) Status(id string) ([]byte, error) {
	sub, c, err := s.withCounts(id)
	if err != nil {
		return nil, err
	}
	n := &notification{kind: typeQueryStatus, sub: sub, status: sub.status, since: c.Last, err: sub.errText, counts: &c}
	return s.cfg.Codec.Encode(statusBundle(n, s.cfg.Now()))
}

// withCounts is the Subscription id and its events counted by state.
func (s *Service) withCounts(id string) (*subscription, store.OutboxCounts, error) {
	sub, err := s.subscriptionFor(id)
	if err != nil {
		return nil, store.OutboxCounts{}, err
	}
	c, err := s.st.OutboxCounts(id)
	return sub, c, err
}

// Counts are the Subscription's events by state, for $status's callers
// and administrators.
func (s *Service) Counts(id string) (store.OutboxCounts, error) { return s.st.OutboxCounts(id) }

// Events answers $events: the notification Bundle (type query-event) of
// the events numbered since to until (0: no bound; at most maxEvents).
// Each event is decided again for the owner, as an attempt is: one the
// decision denies is listed by number only, without focus or content
// (backport IG, OperationDefinition backport-subscription-events).
func (s *Service) Events(ctx context.Context, id string, since, until uint64) ([]byte, error) {
	sub, c, err := s.withCounts(id)
	if err != nil {
		return nil, err
	}
	evs, err := s.st.Events(id, since, until, maxEvents)
	if err != nil {
		return nil, err
	}
	n := &notification{kind: typeQueryEvent, sub: sub, status: sub.status, since: c.Last}
	for _, e := range evs {
		d, err := s.decide(ctx, sub, e)
		if err != nil {
			return nil, err
		}
		n.events = append(n.events, notified{number: e.Number, time: e.Time, typ: e.Type, id: e.ID,
			version: e.Version, res: d.res, withheld: !d.permit, method: d.method, created: d.created})
	}
	return s.cfg.Codec.Encode(bundle(n, s.cfg.BaseURL, s.cfg.Now()))
}

// DeadLetter is a dead letter as administrators see it: which event of
// which Subscription, about what, and why it died. It names a resource,
// not its content.
type DeadLetter struct {
	Subscription string    `json:"subscription"`
	Event        uint64    `json:"event"`
	Resource     string    `json:"resource"` // "Type/id/_history/version"
	Time         time.Time `json:"time"`
	Attempts     uint32    `json:"attempts"`
	LastError    string    `json:"lastError,omitempty"`
	Decision     string    `json:"decision,omitempty"` // the last attempt's consent decision
}

// DeadLetters lists at most limit dead letters.
func (s *Service) DeadLetters(limit int) ([]DeadLetter, error) {
	evs, err := s.st.DeadLetters(limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(evs))
	for i, e := range evs {
		out[i] = DeadLetter{Subscription: e.Subscription, Event: e.Number, Time: e.Time, Attempts: e.Attempts,
			LastError: e.LastError, Decision: e.Decision,
			Resource: e.Type + "/" + e.ID + "/_history/" + itoa(e.Version)}
	}
	return out, nil
}

// Replay makes a dead letter pending again, for a new round of attempts
// (consent decided again at each), and wakes its Subscription's worker.
func (s *Service) Replay(ctx context.Context, sub string, n uint64) error {
	if _, err := s.st.Replay(ctx, sub, n); err != nil {
		return err
	}
	s.worker(sub).poke()
	return nil
}
