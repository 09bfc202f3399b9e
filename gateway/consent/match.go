package consent

import (
	"slices"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
)

// tri is the result of a criterion: it holds, it does not, or the engine
// cannot tell (and then denies safely).
type tri uint8

const (
	no tri = iota
	yes
	unknown
)

// and combines criteria: any no is no, else any unknown is unknown.
func (t tri) and(u tri) tri {
	if t == no || u == no {
		return no
	}
	if t == unknown || u == unknown {
		return unknown
	}
	return yes
}

// anyOf folds alternatives: any yes is yes, else any unknown is unknown.
func anyOf(n int, f func(i int) tri) tri {
	out := no
	for i := 0; i < n; i++ {
		switch f(i) {
		case yes:
			return yes
		case unknown:
			out = unknown
		}
	}
	return out
}

// facts are a resource's facts in the engine's compact form.
type facts struct {
	typ     string
	cats    uint8 // bits of category.All (bitOther for unknown codes)
	sens    uint8 // bits of category.Sensitive
	labels  []string
	date    int64 // Unix µs
	hasDate bool
	ref     string
	related []string
	codes   []string
}

// who is the resolved requester, for one patient.
type who struct {
	refs  []string // the actor, what it belongs to, the patient's CareTeams it is in
	roles []string
}

// query is one evaluation.
type query struct {
	now     int64
	action  string
	purpose string
	who     *who
	f       *facts
}

// match evaluates r's own criteria. explicit reports that a criterion named
// the resource itself (its type, code or instance).
func (r *rule) match(q *query) (t tri, explicit bool) {
	if r.specialized {
		t = r.pre
	} else if t = r.matchRequest(q); t == no {
		return no, false
	}
	return r.matchData(q.f, t)
}

// matchRequest evaluates the criteria that do not depend on the resource:
// period, actor, action and purpose.
func (r *rule) matchRequest(q *query) tri {
	if r.period != nil && !r.period.contains(q.now) {
		return no
	}
	if len(r.actions) > 0 && !slices.Contains(r.actions, q.action) {
		return no
	}
	if len(r.purposes) > 0 && !slices.ContainsFunc(r.purposes, func(p string) bool { return subsumes(p, q.purpose) }) {
		return no
	}
	if len(r.actors) > 0 {
		return anyOf(len(r.actors), func(i int) tri { return r.actors[i].match(q.who) })
	}
	return yes
}

// specialize returns a copy of r's subtree with the request criteria
// already evaluated for q (a search filter's fixed actor, purpose, action
// and clock), without the provisions that can no longer match; nil when r
// itself cannot.
func (r *rule) specialize(q *query) *rule {
	pre := r.matchRequest(q)
	if pre == no || (pre == unknown && r.effect == permit) {
		return nil
	}
	s := &rule{path: r.path, effect: r.effect, specialized: true, pre: pre,
		dataPeriod: r.dataPeriod, classes: r.classes, codes: r.codes, labels: r.labels, data: r.data,
		namesCats: r.namesCats, namesSens: r.namesSens, own: r.own, needs: r.own}
	for _, c := range r.children {
		if sc := c.specialize(q); sc != nil {
			s.children = append(s.children, sc)
			s.needs |= sc.needs
		}
	}
	return s
}

// matchData evaluates the criteria on the resource.
func (r *rule) matchData(f *facts, t tri) (tri, bool) {
	explicit := false
	if len(r.classes) > 0 {
		c := anyOf(len(r.classes), func(i int) tri { return r.classes[i].matchClass(f) })
		explicit = explicit || (c == yes && slices.ContainsFunc(r.classes, func(c coding) bool { return c.system == systemResourceTypes }))
		t = t.and(c)
	}
	if len(r.codes) > 0 {
		c := unknown
		if len(f.codes) > 0 {
			c = tribool(slices.ContainsFunc(r.codes, func(s string) bool { return slices.Contains(f.codes, s) }))
		}
		explicit = explicit || c == yes
		t = t.and(c)
	}
	if len(r.labels) > 0 {
		t = t.and(tribool(slices.ContainsFunc(r.labels, func(c coding) bool { return c.carriedBy(f) })))
	}
	if r.dataPeriod != nil {
		c := unknown
		if f.hasDate {
			c = tribool(r.dataPeriod.contains(f.date))
		}
		t = t.and(c)
	}
	if len(r.data) > 0 {
		c := anyOf(len(r.data), func(i int) tri { return r.data[i].match(f) })
		explicit = explicit || c == yes
		t = t.and(c)
	}
	return t, explicit && t == yes
}

func tribool(b bool) tri {
	if b {
		return yes
	}
	return no
}

// match: the reference must be the requester or something it belongs to,
// and the requester must hold one of the role codes, if any. A Group (not
// resolved) or missing reference matches by role alone.
func (a *actorRule) match(w *who) tri {
	roleOK := len(a.roles) == 0 || slices.ContainsFunc(a.roles, func(r string) bool { return slices.Contains(w.roles, r) })
	if a.ref == "" || a.group {
		if len(a.roles) == 0 {
			return unknown
		}
		return tribool(roleOK)
	}
	return tribool(roleOK && slices.Contains(w.refs, a.ref))
}

// matchClass: resource types and Relais data categories are understood;
// other class systems (MIME types, document classes) are not.
func (c coding) matchClass(f *facts) tri {
	switch c.system {
	case systemResourceTypes:
		if f.typ == "" {
			return unknown
		}
		return tribool(f.typ == c.code)
	case categorySystem:
		return tribool(f.cats&catBit(c) != 0 && catBit(c) != bitOther)
	}
	return unknown
}

// carriedBy reports whether the resource carries the label.
func (c coding) carriedBy(f *facts) bool {
	if c.system == categorySystem {
		b := catBit(c)
		return b != bitOther && f.cats&b != 0
	}
	if b := sensBit(c.system, c.code); b != 0 {
		return f.sens&b != 0
	}
	return slices.Contains(f.labels, c.system+"|"+c.code)
}

func (d *dataRule) match(f *facts) tri {
	switch d.meaning {
	case cdpb.ConsentDataMeaningCode_INSTANCE:
		if f.ref == "" || d.ref == "" {
			return unknown
		}
		return tribool(f.ref == d.ref)
	case cdpb.ConsentDataMeaningCode_RELATED:
		if d.ref == "" || (f.ref == "" && len(f.related) == 0) {
			return unknown
		}
		if f.ref == d.ref || slices.Contains(f.related, d.ref) {
			return yes
		}
		if f.ref == "" {
			return unknown
		}
		return no
	}
	return unknown // dependents, authoredby: not modelled
}

// subsumes reports whether purpose p (in a provision) covers the request's
// purpose: equal, or TREAT > ETREAT > BTG (v3-ActReason).
func subsumes(p, req string) bool {
	switch {
	case p == req:
		return true
	case p == PurposeTreat:
		return req == PurposeEmergency || req == PurposeBreakGlass
	case p == PurposeEmergency:
		return req == PurposeBreakGlass
	}
	return false
}
