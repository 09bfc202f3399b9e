package consent

import (
	"context"
	"fmt"
	"slices"
	"sync"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
)

// scope is everything about one (patient, actor) pair that does not depend
// on the resource: who the actor is to this patient and the patient's
// compiled Consents.
type scope struct {
	patient  string
	actor    string
	who      who
	standing standing
	// candidate: the actor owns one of the patient's open Tasks
	// (Circle.Asked) and is not in her care team; asked are those Tasks
	// and what they are about, all a candidate sees besides the Patient.
	candidate bool
	asked     []string
	// requester: the actor (or what it belongs to) requested one of the
	// patient's Tasks (Circle.Requesters) and is not in her care team.
	requester bool
	// addressed are the patient's Tasks addressed to or from the actor
	// (Circle.Orders) and what they are about: the orders she needs
	// (addressedTo).
	addressed []string
	consents  []*compiled
	needs     needs
}

// scope resolves the actor, the care team and the Consents. draft, if any,
// is compiled in as if saved.
func (e *Engine) scope(ctx context.Context, patient, actorRef string, draft *cpb.Consent) (*scope, error) {
	actor, err := e.cfg.Directory.Actor(ctx, actorRef)
	if err != nil {
		return nil, fmt.Errorf("resolve actor: %w", err)
	}
	circle, err := e.cfg.CareTeams.Circle(ctx, patient)
	if err != nil {
		return nil, fmt.Errorf("resolve care team: %w", err)
	}
	set, err := e.consents(ctx, patient)
	if err != nil {
		return nil, err
	}
	if draft != nil {
		set = withDraft(set, compile(draft), patient)
	}
	sc := &scope{patient: patient, actor: actorRef, consents: set}
	sc.who.roles = e.pol.codes(&actor)
	sc.who.refs = append(append(make([]string, 0, 4+len(actor.Belongs)), actorRef), actor.Belongs...)
	inTeam := sc.join(&circle)
	sc.standing = e.pol.classify(&actor, inTeam)
	if !inTeam {
		mine := func(r string) bool { return slices.Contains(sc.who.refs, r) }
		for _, a := range circle.Asked {
			if slices.ContainsFunc(a.Owners, mine) {
				sc.candidate = true
				sc.asked = append(sc.asked, a.Refs...)
			}
		}
		sc.requester = slices.ContainsFunc(circle.Requesters, mine)
		for _, o := range circle.Orders {
			if slices.ContainsFunc(o.Parties, mine) {
				sc.addressed = append(sc.addressed, o.Refs...)
			}
		}
	}
	sc.needs = sc.baseNeeds()
	for _, c := range set {
		sc.needs |= c.root.needs
	}
	return sc, nil
}

// baseNeeds are the facts the base policy reads for this scope (seen):
// which resource it is, for a candidate; what it refers to, for a
// requester.
func (sc *scope) baseNeeds() needs {
	var n needs
	if sc.candidate {
		n |= needRef
	}
	if sc.requester || sc.standing.policy != PolicyCareTeam {
		// addressedTo, for whoever is outside the care team.
		n |= needRef | needRelated
	}
	return n
}

// addressedTo reports whether f, an order (Policy.Addressed), is one the
// actor needs: a Task addressed to or from her, or what one of those is
// about, or a request naming her (its performer or requester). An actor
// outside the care team receives no other order, whatever her permit
// passes of the category ORD (DESIGN.md, "Data categories": ORD is the
// order addressed to a recipient; "Pathways": a candidate sees only the
// Task, its ServiceRequest and who and where the patient is), so that the
// home help's permit does not show her the cardiologist's consultation,
// which says the diagnosis. A question about no instance (a what-if, the
// test that releases a waiting Task: PermitToAct) is about an order
// addressed to her.
func (sc *scope) addressedTo(f *facts) bool {
	return f.ref == "" || slices.Contains(sc.addressed, f.ref) ||
		slices.ContainsFunc(f.related, func(r string) bool { return slices.Contains(sc.who.refs, r) })
}

// seen is what a candidate or a requester (not in the care team) may see
// of the resource f under the base policy: the categories that pass, none
// when f is not hers to see. The Patient (who and where she is); a
// candidate, the Tasks she is asked and their requests (Policy.Candidate);
// a requester, what names it (the Tasks and requests it issued, the plan
// it wrote, its stay: Policy.Requester). Not the other recipients' Tasks,
// nor anything clinical the requester did not write (DESIGN.md,
// "Pathways"). A candidate's standing is checked last, only when it
// matters (Engine.candidateStill).
func (e *Engine) seen(sc *scope, f *facts, q *query) uint8 {
	switch {
	case sc.requester && f.typ != "Patient" && slices.ContainsFunc(f.related, func(r string) bool { return slices.Contains(sc.who.refs, r) }):
		return e.requesterMask
	case f.typ == "Patient" && sc.requester:
		return e.candidateMask
	case f.typ != "Patient" && (f.ref == "" || !slices.Contains(sc.asked, f.ref)):
		return 0
	case e.candidateStill(sc, q):
		return e.candidateMask
	}
	return 0
}

// join adds to who.refs the patient's CareTeams the actor is a member of
// (as itself or through what it belongs to) and reports whether the actor
// is in the patient's care team at all.
func (sc *scope) join(c *Circle) bool {
	ids := sc.who.refs
	in := slices.ContainsFunc(c.GeneralPractitioners, func(r string) bool { return slices.Contains(ids, r) })
	for _, t := range c.Teams {
		if slices.ContainsFunc(t.Members, func(r string) bool { return slices.Contains(ids, r) }) {
			sc.who.refs = append(sc.who.refs, t.Ref)
			in = true
		}
	}
	return in
}

func withDraft(set []*compiled, d *compiled, patient string) []*compiled {
	out := make([]*compiled, 0, len(set)+1)
	for _, c := range set {
		if c.ref != d.ref {
			out = append(out, c)
		}
	}
	if d.patient == patient {
		out = append(out, d)
	}
	return out
}

// consents returns the patient's compiled Consents, from the cache when the
// source's stamp has not changed since they were compiled.
func (e *Engine) consents(ctx context.Context, patient string) ([]*compiled, error) {
	stamp, err := e.cfg.Consents.Stamp(ctx, patient)
	if err != nil {
		return nil, fmt.Errorf("consent stamp: %w", err)
	}
	if set, ok := e.cache.get(patient, stamp); ok {
		return set, nil
	}
	list, patients, stamp, err := e.cfg.Consents.Consents(ctx, patient)
	if err != nil {
		return nil, fmt.Errorf("load consents: %w", err)
	}
	set := make([]*compiled, 0, len(list))
	for _, c := range list {
		// Hers, and those of the patients the source says govern her too
		// (a merged patient's: Consents).
		if cc := compile(c); cc.patient == patient || slices.Contains(patients, cc.patient) {
			set = append(set, cc)
		}
	}
	e.cache.put(patient, stamp, set)
	return set, nil
}

// cache keeps compiled Consents per patient with the stamp they were read
// at. An entry is only ever used when the stamp still matches.
type cache struct {
	mu  sync.Mutex
	m   map[string]cached
	max int
}

type cached struct {
	stamp string
	set   []*compiled
}

func newCache(max int) *cache { return &cache{m: make(map[string]cached), max: max} }

func (c *cache) get(patient, stamp string) ([]*compiled, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[patient]
	if !ok || v.stamp != stamp {
		return nil, false
	}
	return v.set, true
}

// put stores an entry, dropping an arbitrary one when full.
func (c *cache) put(patient, stamp string, set []*compiled) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[patient]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[patient] = cached{stamp: stamp, set: set}
}
