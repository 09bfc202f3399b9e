package api

import (
	"container/list"
	"sync"
	"time"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// pages keeps search results between page requests, so that next links
// neither skip nor repeat entries while others write: a search's matches are
// fixed (ids and versions) when it first runs, and later pages read those
// versions. Snapshots live in memory, bounded in number and age; an expired
// page link answers 410 and the client searches again.
type pages struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	byID  map[string]*list.Element
	order *list.List // front: most recently used
}

type snapshot struct {
	id      string
	q       *search.Query
	hits    []store.Hit
	owner   string // the caller who searched: nobody else may page through
	expires time.Time
}

func newPages(max int, ttl time.Duration, now func() time.Time) *pages {
	return &pages{max: max, ttl: ttl, now: now, byID: map[string]*list.Element{}, order: list.New()}
}

// put stores a snapshot and returns its id.
func (p *pages) put(q *search.Query, hits []store.Hit, owner string) string {
	s := &snapshot{id: newRequestID() + newRequestID(), q: q, hits: hits, owner: owner, expires: p.now().Add(p.ttl)}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byID[s.id] = p.order.PushFront(s)
	for p.order.Len() > p.max {
		old := p.order.Back()
		p.order.Remove(old)
		delete(p.byID, old.Value.(*snapshot).id)
	}
	return s.id
}

// get returns the snapshot id for owner, if it is still there.
func (p *pages) get(id, owner string) (*snapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byID[id]
	if !ok {
		return nil, false
	}
	s := e.Value.(*snapshot)
	if p.now().After(s.expires) {
		p.order.Remove(e)
		delete(p.byID, id)
		return nil, false
	}
	if s.owner != owner {
		return nil, false
	}
	p.order.MoveToFront(e)
	return s, true
}
