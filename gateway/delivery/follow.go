package delivery

import (
	"context"
	"fmt"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

const requestedStatus = cpb.SubscriptionStatusCode_REQUESTED

// subSet is every stored Subscription, as of a generation of the
// Subscription type (store.Snapshot.TypesGeneration; 0: read inside a
// write transaction, not to be kept).
type subSet struct {
	gen    uint64
	byID   map[string]*subscription
	byType map[string][]*subscription // the matching ones
}

// load reads the Subscriptions in a snapshot of their own and keeps them
// for Follow, unless the set kept is still current.
func (s *Service) load() (*subSet, error) {
	var set *subSet
	err := s.st.View(func(r *store.Snapshot) error {
		if cur := s.subs.Load(); cur != nil && r.TypesUnchangedSince(cur.gen, "Subscription") {
			set = cur
			return nil
		}
		var err error
		set, err = s.loadIn(r)
		if err == nil {
			set.gen = r.TypesGeneration("Subscription")
		}
		return err
	})
	if err == nil && set.gen != 0 {
		s.subs.Store(set)
	}
	return set, err
}

// loadIn reads every Subscription in r, reusing the parsed ones whose
// version has not changed.
func (s *Service) loadIn(r *store.Snapshot) (*subSet, error) {
	hits, err := r.Search(&search.Query{Type: "Subscription"}, nil)
	if err != nil {
		return nil, err
	}
	set := &subSet{byID: make(map[string]*subscription, len(hits)), byType: map[string][]*subscription{}}
	for _, h := range hits {
		sub, err := s.parse(r, h.ID, h.Version)
		if err != nil {
			return nil, err
		}
		set.byID[h.ID] = sub
		if sub.matching() {
			set.byType[sub.typ] = append(set.byType[sub.typ], sub)
		}
	}
	return set, nil
}

func (s *Service) parse(r *store.Snapshot, id string, version uint64) (*subscription, error) {
	if v, ok := s.parsed.Load(id); ok && v.(*subscription).version == version {
		return v.(*subscription), nil
	}
	rec, err := r.VRead("Subscription", id, version)
	if err != nil {
		return nil, fmt.Errorf("read Subscription: %w", err)
	}
	m, err := s.cfg.Codec.DecodeStored(rec.JSON)
	if err != nil {
		return nil, fmt.Errorf("decode Subscription: %w", err)
	}
	sub := parseSubscription(m.(*subpb.Subscription), version)
	s.parsed.Store(id, sub)
	return sub, nil
}

// Follow is the store Follower: each resource the transaction wrote that
// a matching Subscription's criteria select gets an event in that
// Subscription's outbox, in the same transaction. The criteria are
// evaluated by a search restricted to the resource's id in the
// transaction's own snapshot, on the index values just written; a deleted
// resource is matched on its last version's values (search.Query.Match),
// so that whoever was told of it is told of its deletion. A Subscription
// deleted or set off has its pending events cancelled in the same
// transaction. The workers are woken once the transaction has committed
// (store.Following.AfterCommit), never before: what they read then is
// there.
func (s *Service) Follow(ctx context.Context, f *store.Following) error {
	r := f.Snapshot()
	set := s.subs.Load()
	if set == nil || !r.TypesUnchangedSince(set.gen, "Subscription") {
		var err error
		if set, err = s.loadIn(r); err != nil {
			return err
		}
		f.AfterCommit(s.kick)
	}
	woken := map[string]bool{}
	for _, w := range f.Written() {
		if w.Type == "Subscription" {
			if err := cancelIfStopped(f, w); err != nil {
				return err
			}
		}
		subs := set.byType[w.Type]
		if len(subs) == 0 {
			continue
		}
		var last []search.Value // a deleted resource's last values
		if w.Deleted {
			var ok bool
			var err error
			if last, ok, err = s.lastValues(r, w); err != nil || !ok {
				return err
			}
		}
		for _, sub := range subs {
			ok, err := s.matches(ctx, r, sub, w, last)
			if err != nil {
				return fmt.Errorf("match Subscription %s: %w", sub.id, err)
			}
			if !ok {
				continue
			}
			if _, err := f.Enqueue(sub.id, w); err != nil {
				return err
			}
			woken[sub.id] = true
		}
	}
	if len(woken) > 0 {
		f.AfterCommit(func() {
			for id := range woken {
				s.worker(id).poke()
			}
		})
	}
	return nil
}

// matches reports whether w (with last, its last values, when deleted)
// is selected by sub's criteria, among what sub's owner may read: an
// event about what she may not see is never numbered in her outbox, so
// that neither its number, nor a gap in the numbers she is sent, nor
// $status or $events tells her it happened. The decision is made in the
// write transaction's snapshot (not recorded: each attempt decides again,
// recorded, so that a revocation since is honoured). A deletion is decided
// on its last version when it is sent.
func (s *Service) matches(ctx context.Context, r *store.Snapshot, sub *subscription, w store.Written, last []search.Value) (bool, error) {
	if w.Deleted {
		return sub.query.Match(last), nil
	}
	q := *sub.query
	q.IDs = []string{w.ID}
	ctx = store.WithSnapshot(ctx, r)
	req, err := s.requestFor(ctx, r, sub.owner)
	if err != nil {
		return false, err
	}
	f := s.cfg.Consent.NewFilter(ctx, req)
	hits, err := r.Search(&q, f.Allow)
	if err == nil {
		err = f.Err()
	}
	return len(hits) > 0, err
}

// lastValues are the index values of the version a deletion w ended; ok
// is false when there is none (deleted before).
func (s *Service) lastValues(r *store.Snapshot, w store.Written) ([]search.Value, bool, error) {
	if w.Version < 2 {
		return nil, false, nil
	}
	rec, err := r.VRead(w.Type, w.ID, w.Version-1)
	if k := outcome.KindOf(err); k == outcome.Gone || k == outcome.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m, err := s.cfg.Codec.DecodeStored(rec.JSON)
	if err != nil {
		return nil, false, fmt.Errorf("decode %s: %w", w.Type, err)
	}
	return search.Extract(m), true, nil
}

// cancelIfStopped cancels the pending events of a Subscription that w
// deletes or sets off: they are never sent (R4 Subscription.status off:
// "no further notifications will be sent"), and $status counts them.
func cancelIfStopped(f *store.Following, w store.Written) error {
	if !w.Deleted {
		sub, ok := w.Resource.(*subpb.Subscription)
		if !ok || sub.GetStatus().GetValue() != cpb.SubscriptionStatusCode_OFF {
			return nil
		}
	}
	_, err := f.CancelEvents(w.ID)
	return err
}
