package consent

import (
	"slices"
	"sync"
	"time"
)

// grants are the open break-the-glass grants, per (actor, patient).
type grants struct {
	mu sync.Mutex
	m  map[[2]string]time.Time // -> expiry
}

func newGrants() *grants { return &grants{m: make(map[[2]string]time.Time)} }

// open returns the expiry of the grant for (actor, patient), opening one
// until now+ttl when none is open. An open grant is not extended: a new
// reason is needed once it expires.
func (g *grants) open(actor, patient string, now time.Time, ttl time.Duration) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := [2]string{actor, patient}
	if until, ok := g.m[k]; ok && now.Before(until) {
		return until
	}
	for key, until := range g.m {
		if !now.Before(until) {
			delete(g.m, key)
		}
	}
	until := now.Add(ttl)
	g.m[k] = until
	return until
}

// active returns the expiry of an open grant.
func (g *grants) active(actor, patient string, now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.m[[2]string{actor, patient}]
	return until, ok && now.Before(until)
}

// breakGlass decides requests for an emergency purpose: with a reason a
// health professional opens (or uses) a grant; without one an open grant
// still applies. Otherwise ok is false and the normal rules decide.
func (e *Engine) breakGlass(req *Request, sc *scope, now time.Time) (Decision, bool) {
	if !slices.Contains(e.pol.BreakGlassPurposes, req.Purpose) {
		return Decision{}, false
	}
	var until time.Time
	switch {
	case req.BreakGlassReason != "" && !sc.standing.health:
		return Decision{Policy: PolicyBreakGlassDenied}, true
	case req.BreakGlassReason != "":
		until = e.grants.open(req.Actor, req.Patient, now, e.cfg.BreakGlass)
	default:
		var ok bool
		if until, ok = e.grants.active(req.Actor, req.Patient, now); !ok {
			return Decision{}, false
		}
	}
	d := Decision{Permit: true, Policy: PolicyBreakGlass, Obligations: e.obligations[63], BreakGlass: true, Expires: until}
	if req.Explain {
		d.Trace = []string{"break-the-glass grant until " + until.UTC().Format(time.RFC3339)}
	}
	return d, true
}
