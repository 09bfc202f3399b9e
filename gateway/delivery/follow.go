package delivery

import (
	"context"
	"fmt"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"

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

// Follow is the store Follower: each resource the transaction wrote (and
// did not delete) that a matching Subscription's criteria select gets an
// event in that Subscription's outbox, in the same transaction. The
// criteria are evaluated by a search restricted to the resource's id in
// the transaction's own snapshot, on the index values just written.
func (s *Service) Follow(ctx context.Context, f *store.Following) error {
	r := f.Snapshot()
	set := s.subs.Load()
	if set == nil || !r.TypesUnchangedSince(set.gen, "Subscription") {
		var err error
		if set, err = s.loadIn(r); err != nil {
			return err
		}
		s.kick()
	}
	var woken []string
	for _, w := range f.Written() {
		if w.Deleted {
			continue
		}
		for _, sub := range set.byType[w.Type] {
			q := *sub.query
			q.IDs = []string{w.ID}
			hits, err := r.Search(&q, nil)
			if err != nil {
				return fmt.Errorf("match Subscription %s: %w", sub.id, err)
			}
			if len(hits) == 0 {
				continue
			}
			if _, err := f.Enqueue(sub.id, w); err != nil {
				return err
			}
			woken = append(woken, sub.id)
		}
	}
	for _, id := range woken {
		s.worker(id).poke()
	}
	return nil
}
