package consent

import (
	"slices"
	"time"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/terminology"
)

// verdict is one Consent's answer: its deepest matching provision.
type verdict struct {
	c        *compiled
	r        *rule
	effect   effect
	depth    int
	cats     uint8 // categories named along the path from the root
	sens     uint8 // sensitive labels named along the path
	explicit bool  // a criterion on the path named the resource itself
}

// tracer collects explanations; a nil tracer collects nothing.
type tracer struct{ lines []string }

func (t *tracer) add(s string) {
	if t != nil {
		t.lines = append(t.lines, s)
	}
}

func (t *tracer) result() []string {
	if t == nil {
		return nil
	}
	return t.lines
}

var triNames = [...]string{no: "no match", yes: "match", unknown: "cannot tell"}

// decide evaluates r and its exceptions: the deepest matching provision
// wins, deny between equally deep siblings. A criterion that cannot be told
// matches a deny and misses a permit.
func (r *rule) decide(q *query, c *compiled, depth int, cats, sens uint8, explicit bool, tr *tracer) (verdict, bool) {
	t, ex := r.match(q)
	matched := t == yes || (t == unknown && r.effect == deny)
	if tr != nil {
		line := c.ref + "#" + r.path + " (" + r.effect.String() + "): " + triNames[t]
		if r.refines {
			line += "; it has its parent's type, so it is read as a refinement of it, not an exception"
		}
		tr.add(line)
	}
	if !matched {
		return verdict{}, false
	}
	best := verdict{c: c, r: r, effect: r.effect, depth: depth,
		cats: cats | r.namesCats, sens: sens | r.namesSens, explicit: explicit || ex}
	for _, child := range r.children {
		v, ok := child.decide(q, c, depth+1, best.cats, best.sens, best.explicit, tr)
		if ok && (v.depth > best.depth || (v.depth == best.depth && v.effect == deny && best.effect == permit)) {
			best = v
		}
	}
	return best, true
}

// judgement is the outcome of the rules before it becomes a Decision.
type judgement struct {
	permit  bool
	deny    bool // a Consent's deny provision decided (an objection)
	policy  string
	vs      []verdict // the deciding Consents: the denies, else the permits
	allowed uint8     // categories allowed, on permit
}

// evaluate decides for one resource in a resolved scope.
func (e *Engine) evaluate(sc *scope, req *Request, f *facts, now time.Time) Decision {
	var tr *tracer
	if req.Explain {
		tr = &tracer{}
		tr.add("actor standing: " + sc.standing.policy)
	}
	var buf [8]verdict
	j := e.judge(sc, req, f, now, tr, buf[:0])
	d := Decision{Permit: j.permit, Objection: j.deny, Policy: j.policy, Trace: tr.result()}
	switch {
	case j.permit:
		d.Obligations = e.obligations[j.allowed&63]
	case j.policy == PolicyCategory && len(j.vs) > 0:
		// a permit that does not name every category asked
		d.Uncovered = e.obligations[f.cats&^j.allowed&63]
	}
	if len(j.vs) > 0 {
		d.Basis, d.Provision = refs(j.vs), path(j.vs[0])
	}
	return d
}

// judge applies the Consents (deny overrides permit), else the base policy.
// buf holds the verdicts, so that the search filter does not allocate.
func (e *Engine) judge(sc *scope, req *Request, f *facts, now time.Time, tr *tracer, buf []verdict) judgement {
	if sc.standing.policy == PolicyConsentOffice {
		tr.add("a consent administrator receives no patient data: no Consent applies to her")
		return judgement{policy: PolicyConsentOffice}
	}
	q := query{now: now.UnixMicro(), action: req.Action, purpose: req.Purpose, who: &sc.who, f: f}
	denied := false
	for _, c := range sc.consents {
		if !c.active() {
			tr.add(c.ref + ": not active")
			continue
		}
		if v, ok := c.root.decide(&q, c, 0, 0, 0, false, tr); ok {
			buf = append(buf, v)
			denied = denied || v.effect == deny
		}
	}
	if denied {
		return judgement{deny: true, vs: keep(buf, deny)}
	}
	if len(buf) > 0 {
		return e.permitted(sc, req, f, buf)
	}
	return e.base(sc, req, f, &q)
}

// keep filters vs in place to the verdicts of effect x.
func keep(vs []verdict, x effect) []verdict {
	out := vs[:0]
	for _, v := range vs {
		if v.effect == x {
			out = append(out, v)
		}
	}
	return out
}

// permitted applies the limits of an explicit permit: categories beyond the
// default need naming, sensitive labels always do.
func (e *Engine) permitted(sc *scope, req *Request, f *facts, vs []verdict) judgement {
	allowed := e.permitMask
	if sc.standing.policy == PolicyCareTeam && slices.Contains(e.pol.CarePurposes, req.Purpose) {
		allowed |= e.teamMask
	}
	var named uint8
	explicit := false
	for _, v := range vs {
		allowed |= v.cats
		named |= v.sens
		if v.explicit {
			allowed |= f.cats
			explicit = true
		}
	}
	j := judgement{vs: vs, allowed: allowed}
	switch {
	case !explicit && sc.standing.policy != PolicyCareTeam && slices.Contains(e.pol.Addressed, f.typ) && !sc.addressedTo(f):
		// Minimum necessary: a permit passes the orders addressed to
		// her, not the other recipients'; only one naming the resource
		// itself (its type, code or instance) passes those.
		j.policy = PolicyNotAddressed
	case f.cats&^allowed != 0:
		j.policy = PolicyCategory
	case f.sens&^named != 0:
		j.policy = PolicySensitive
	default:
		j.permit = true
	}
	return j
}

// base applies the base policy when no Consent applies. q is the query
// the Consents were asked.
func (e *Engine) base(sc *scope, req *Request, f *facts, q *query) judgement {
	switch {
	case sc.standing.policy != PolicyCareTeam && f.sens == 0:
		if m := e.seen(sc, f, q); m != 0 && f.cats&^m == 0 {
			return judgement{permit: true, policy: PolicyCandidate, allowed: m}
		}
		return judgement{policy: sc.standing.policy}
	case sc.standing.policy != PolicyCareTeam:
		return judgement{policy: sc.standing.policy}
	case !slices.Contains(e.pol.CarePurposes, req.Purpose):
		return judgement{policy: PolicyPurpose}
	case f.cats&^e.teamMask != 0:
		return judgement{policy: PolicyCategory}
	case f.sens != 0:
		return judgement{policy: PolicySensitive}
	}
	return judgement{permit: true, policy: PolicyCareTeam, allowed: e.teamMask}
}

// PermitToAct is what a recipient who needs the patient's explicit
// permit to be asked (a social role, one across the border) must be
// permitted to act on a routing Task: its orders and the social data
// that go with it. Routing releases her Task when the patient's Consents
// permit her these (api release), and she sees the Task and the patient
// only while they do (candidateStill).
// Its code is a routing Task's (R4 task-code "fulfill"): an exception of
// the permit for other codes, a diagnosis kept from her, does not apply.
func PermitToAct() ResourceFacts {
	return ResourceFacts{Type: "Task", Categories: []category.Code{category.ORD, category.SOC},
		Codes: []string{terminology.TaskCode + "|" + terminology.TaskFulfil}}
}

// candidateStill reports whether the owner of one of the patient's open
// Tasks still sees what she is asked. A recipient who needs the patient's
// explicit permit to be asked at all (a social role, one across the
// border: routing holds her Task until a permit is recorded) sees it
// only while the patient's Consents permit her, and deny her nothing of,
// what such a recipient needs to act (PermitToAct, the test that
// released her Task): a permit revoked, expired or overridden by an
// objection takes back the Patient, the Task and its request too.
func (e *Engine) candidateStill(sc *scope, q *query) bool {
	if !sc.candidate {
		return false
	}
	if !sc.standing.askedOnPermit() {
		return true
	}
	act := PermitToAct()
	f := factsOf(&act)
	tq := *q
	tq.f = &f
	permit := false
	for _, c := range sc.consents {
		if !c.active() {
			continue
		}
		if v, ok := c.root.decide(&tq, c, 0, 0, 0, false, nil); ok {
			if v.effect == deny {
				return false
			}
			permit = true
		}
	}
	return permit
}

func refs(vs []verdict) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.c.ref
	}
	return out
}

func path(v verdict) string { return v.c.ref + "#" + v.r.path }

// factsOf converts the caller's facts; unlabelled resources take their
// type's default category.
func factsOf(r *ResourceFacts) facts {
	f := facts{typ: r.Type, ref: r.Ref, related: r.Related, codes: r.Codes}
	for _, c := range r.Categories {
		f.cats |= catMask(c)
	}
	if f.cats == 0 {
		f.cats = catMask(category.Default(r.Type))
	}
	for _, l := range r.Labels {
		if b := sensBit(l.System, l.Code); b != 0 {
			f.sens |= b
		} else {
			f.labels = append(f.labels, l.System+"|"+l.Code)
		}
	}
	if !r.Date.IsZero() {
		f.date, f.hasDate = r.Date.UnixMicro(), true
	}
	return f
}
