package consent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Filter applies the engine to every resource of a search, history or
// Bundle, before paging: Allow is a store.Filter. It resolves each patient
// once (actor, care team, Consents) and then decides per resource from the
// index values. A Filter serves one request; it is not safe for concurrent
// use.
type Filter struct {
	e      *Engine
	ctx    context.Context
	req    Request
	now    time.Time
	scopes map[string]*filterScope
	err    error
	rf     ResourceFacts // the facts of the resource at hand, slices reused
	// the patients and verdict-cache key of the resource at hand (read)
	pats   [][]byte
	patBuf []byte
	key    []byte
	// the last resource type seen and where it names its patient
	lastTyp string
	lastPP  patientParam
	// the last patient resolved, checked before the scopes map
	lastPatient string
	lastScope   *filterScope
	// memos are the last resources decided on their patients' fixed
	// decisions or labels alone: a resource of the same type with the same
	// leading index values (store.Groups.Leading: labels, patient,
	// subject) gets the same verdicts without being read further. A search
	// meets a patient's resources with few label sets.
	memos    [4]verdictMemo
	nextMemo int
	// systemSeen: some resource passed under a system scope (recorded).
	systemSeen bool
	// sysPatients are the patients whose data passed under a system
	// scope, in the order met: the disclosure names them (audit.go).
	sysPatients []string
	sysSeen     map[string]bool
	// ownedSeen counts the owned resources (Policy.Owned) decided.
	ownedSeen filterScope
	// writes are the write decisions of the request (NoteWrite).
	writes []Record
	// what the request discloses, for its audit event (Describe)
	disclosure *Disclosure
}

type verdictMemo struct {
	valid  bool
	typ    string
	lead   []byte
	scopes []*filterScope
	oks    []bool
}

type filterScope struct {
	patient           string
	sc                *scope
	fixed             *Decision // a decision for all the patient's resources (break-the-glass, bad request)
	permitted, denied int
	// basis are the Consents that decided for the patient's resources
	// (provision: the first one's deciding provision), policies the
	// base-policy rules that decided where no Consent did: the request's
	// record for her names them (IHE BALP AuthZ consent: the consents
	// that decided).
	basis     []string
	provision string
	policies  []string
	// verdicts caches, when the patient's specialized Consents read no
	// fact beyond the labels, the decision per resource type and
	// _security tokens. It lives as long as the Filter (one request).
	verdicts map[string]bool
	recent   [4]recentVerdict // the last keys looked up, checked before the map
	next     int              // the slot of recent to fill next
}

// recentVerdict is a verdict cache entry kept out of the map: results
// interleave a few label sets, and comparing a few keys costs less than
// hashing one.
type recentVerdict struct {
	key []byte
	ok  bool
}

// lookup returns the verdict cached for key.
func (fs *filterScope) lookup(key []byte) (ok, hit bool) {
	for i := range fs.recent {
		if r := &fs.recent[i]; r.key != nil && bytes.Equal(r.key, key) {
			return r.ok, true
		}
	}
	if ok, hit = fs.verdicts[string(key)]; hit {
		fs.touch(key, ok)
	}
	return ok, hit
}

// remember caches a verdict just decided.
func (fs *filterScope) remember(key []byte, ok bool) {
	if len(fs.verdicts) < maxVerdicts {
		if fs.verdicts == nil {
			fs.verdicts = make(map[string]bool)
		}
		fs.verdicts[string(key)] = ok
	}
	fs.touch(key, ok)
}

// touch makes key the most recent verdict.
func (fs *filterScope) touch(key []byte, ok bool) {
	r := &fs.recent[fs.next]
	r.key, r.ok = append(r.key[:0], key...), ok
	fs.next = (fs.next + 1) % len(fs.recent)
}

// maxVerdicts bounds the verdicts a filterScope keeps.
const maxVerdicts = 1024

// labelOnly are the facts a cached verdict may depend on: the type and the
// _security labels are its key; any other need disables the cache.
const labelOnly = needLabels

// NewFilter returns a filter for req's actor, purpose and action;
// req.Patient and req.Resource are ignored (each resource gives its own).
func (e *Engine) NewFilter(ctx context.Context, req Request) *Filter {
	normalize(&req)
	return &Filter{e: e, ctx: ctx, req: req, now: e.cfg.Now(), scopes: make(map[string]*filterScope)}
}

// Allow reports whether the requester may see typ/id. Resources about no
// patient pass when their type is in Policy.Unrestricted. A resource about
// several patients passes only if every one permits. After a source error
// nothing passes and Err reports it. A patient met for the first time is
// resolved in r, the snapshot the search runs in (store.Snapshot).
func (f *Filter) Allow(r *store.Snapshot, typ, id string, v store.IndexValues) bool {
	if f.err != nil {
		return false
	}
	if f.system(typ) {
		f.disclosed(patientsOf(typ, id, v))
		return true
	}
	if f.owned(typ) {
		return f.ownedBy(v.Tokens("_tag"))
	}
	if typ != f.lastTyp || f.lastTyp == "" {
		f.lastTyp, f.lastPP = typ, patientParamOf(typ)
	}
	var lead []byte
	if gs, ok := store.GroupsOf(v); ok && typ != "Patient" {
		for i := range f.memos {
			if m := &f.memos[i]; m.valid && typ == m.typ && gs.HasLeading(m.lead) {
				ok := true
				for i, fs := range m.scopes {
					fs.count(m.oks[i])
					ok = m.oks[i]
				}
				return ok
			}
		}
		lead = gs.Leading()
	}
	f.read(typ, id, v)
	if len(f.pats) == 0 {
		return slices.Contains(f.e.pol.Unrestricted, typ)
	}
	memo := lead != nil
	m := &f.memos[f.nextMemo]
	m.valid, m.scopes, m.oks = false, m.scopes[:0], m.oks[:0]
	var (
		sec            []string
		secRead        bool
		loaded         needs
		factsRead      bool
		facts          facts
		factsConverted bool
	)
	for _, p := range f.pats {
		fs := f.scopeOf(r, p)
		if fs == nil {
			return false
		}
		var ok bool
		switch {
		case fs.fixed != nil:
			ok = fs.fixed.Permit
		default:
			n := fs.sc.needs
			var key []byte
			if n&^labelOnly == 0 {
				key = f.key
				var hit bool
				if ok, hit = fs.lookup(key); hit {
					break
				}
			}
			if !secRead {
				sec, secRead = v.Tokens("_security"), true
			}
			if !factsRead || n&^loaded != 0 {
				loaded |= n
				readFacts(&f.rf, typ, id, v, sec, loaded)
				factsRead, factsConverted = true, false
			}
			if !factsConverted {
				facts, factsConverted = factsOf(&f.rf), true
			}
			var buf [8]verdict
			ok = fs.note(f.e.judge(fs.sc, &f.req, &facts, f.now, nil, buf[:0]))
			if key != nil {
				fs.remember(key, ok)
			}
		}
		fs.count(ok)
		if memo = memo && (fs.fixed != nil || fs.sc.needs&^labelOnly == 0); memo {
			m.scopes, m.oks = append(m.scopes, fs), append(m.oks, ok)
		}
		if !ok {
			f.remember(m, typ, lead, memo)
			return false
		}
	}
	f.remember(m, typ, lead, memo)
	return true
}

// remember keeps the resource just decided as memo m when its verdicts
// depended on nothing but its leading values.
func (f *Filter) remember(m *verdictMemo, typ string, lead []byte, ok bool) {
	if ok {
		m.valid, m.typ, m.lead = true, typ, append(m.lead[:0], lead...)
		f.nextMemo = (f.nextMemo + 1) % len(f.memos)
	}
}

// appendTokens appends to k the verdict-key form of tokens that are not
// stored: one group, as store.Groups.Raw gives a stored one.
func appendTokens(k []byte, tokens []string) []byte {
	if len(tokens) == 0 {
		return k
	}
	var body []byte
	for _, t := range tokens {
		body = binary.AppendUvarint(body, uint64(len(t)))
		body = append(body, t...)
	}
	k = binary.AppendUvarint(k, uint64(len(body)))
	return append(k, body...)
}

// read sets f.pats to the patients typ/id is about (as patientsBy finds
// them) and f.key to its verdict-cache key: the type, a zero byte, then
// each stored _security group as its length and its values as stored
// (store.Groups.Raw). Equal keys thus mean equal _security tokens. With
// the store's values it is one pass without allocation, and the patients
// are the store's bytes, valid during this Allow call only.
func (f *Filter) read(typ, id string, v store.IndexValues) {
	f.pats, f.patBuf = f.pats[:0], f.patBuf[:0]
	k := append(append(f.key[:0], typ...), 0)
	gs, isGrouped := store.GroupsOf(v)
	param := ""
	switch {
	case typ == "Patient":
		f.patBuf = append(append(f.patBuf, "Patient/"...), id...)
		f.pats = append(f.pats, f.patBuf)
	case !isGrouped:
		for _, p := range patientsBy(f.lastPP, typ, id, v) {
			f.pats = append(f.pats, []byte(p))
		}
	case f.lastPP == byPatient:
		param = "patient"
	case f.lastPP == bySubject:
		param = "subject"
	}
	if !isGrouped {
		f.key = appendTokens(k, v.Tokens("_security"))
		return
	}
	// One group per parameter (storage version 3): the walk ends when
	// both are found, else at the first group after the leading ones.
	want := 2
	if param == "" {
		want = 1
	}
	for want > 0 && gs.NextLeading(param, "_security") {
		want--
		switch {
		case param != "" && gs.Is(param, search.Reference):
			for t, ok := gs.Text(); ok; t, ok = gs.Text() {
				if f.lastPP == byPatient || len(t) >= 8 && string(t[:8]) == "Patient/" {
					f.pats = append(f.pats, t)
				}
			}
		case gs.Is("_security", search.Token):
			raw := gs.Raw()
			k = binary.AppendUvarint(k, uint64(len(raw)))
			k = append(k, raw...)
		}
	}
	f.key = k
}

// AllowFacts decides like Allow for a resource whose facts come from its
// JSON (FactsOf) rather than the current index: vread and history serve
// older versions, whose labels and dates may differ.
func (f *Filter) AllowFacts(typ string, x Indexed) bool {
	if f.err != nil {
		return false
	}
	if f.system(typ) {
		f.disclosed(x.Patients)
		return true
	}
	if f.owned(typ) {
		return f.ownedBy(x.Tags)
	}
	if len(x.Patients) == 0 {
		return slices.Contains(f.e.pol.Unrestricted, typ)
	}
	var facts facts
	converted := false
	for _, p := range x.Patients {
		fs := f.scope(nil, p)
		if fs == nil {
			return false
		}
		ok := fs.fixed != nil && fs.fixed.Permit
		if fs.fixed == nil {
			if !converted {
				facts, converted = factsOf(&x.Facts), true
			}
			var buf [8]verdict
			ok = fs.note(f.e.judge(fs.sc, &f.req, &facts, f.now, nil, buf[:0]))
		}
		fs.count(ok)
		if !ok {
			return false
		}
	}
	return true
}

// note keeps what decided j for the patient's record, and returns
// whether j permits.
func (fs *filterScope) note(j judgement) bool {
	for _, v := range j.vs {
		if !slices.Contains(fs.basis, v.c.ref) {
			fs.basis = append(fs.basis, v.c.ref)
		}
		if fs.provision == "" {
			fs.provision = path(v)
		}
	}
	if len(j.vs) == 0 && j.policy != "" && !slices.Contains(fs.policies, j.policy) {
		fs.policies = append(fs.policies, j.policy)
	}
	return j.permit
}

func (fs *filterScope) count(ok bool) {
	if ok {
		fs.permitted++
	} else {
		fs.denied++
	}
}

// scopeOf is scope for a patient reference in bytes, which it copies
// only the first time the filter meets the patient.
func (f *Filter) scopeOf(r *store.Snapshot, patient []byte) *filterScope {
	if f.lastScope != nil && string(patient) == f.lastPatient {
		return f.lastScope
	}
	if fs, ok := f.scopes[string(patient)]; ok {
		f.lastPatient, f.lastScope = fs.patient, fs
		return fs
	}
	return f.scope(r, string(patient))
}

// scope resolves a patient once per filter, in r when a search holds one
// (nil: the sources read a snapshot of their own); nil after an error.
func (f *Filter) scope(r *store.Snapshot, patient string) *filterScope {
	if f.lastScope != nil && patient == f.lastPatient {
		return f.lastScope
	}
	if fs, ok := f.scopes[patient]; ok {
		f.lastPatient, f.lastScope = patient, fs
		return fs
	}
	if f.req.Self != "" {
		// The patient (or her representative) reads her own record and
		// nothing else; no Consent or care team is consulted.
		fs := &filterScope{patient: patient, fixed: selfDecision(&f.req, patient)}
		f.scopes[patient] = fs
		f.lastPatient, f.lastScope = patient, fs
		return fs
	}
	ctx := f.ctx
	if r != nil {
		ctx = store.WithSnapshot(ctx, r)
	}
	sc, err := f.e.scope(ctx, patient, f.req.Actor, nil)
	if err != nil {
		f.err = err
		return nil
	}
	fs := &filterScope{patient: patient, sc: sc}
	f.specialize(sc)
	req := f.req
	req.Patient, req.Resource.Type = patient, "-"
	if badRequest(&req) != "" {
		fs.fixed = &Decision{Policy: PolicyBadRequest}
	} else if d, ok := f.e.breakGlass(&req, sc, f.now); ok {
		fs.fixed = &d
	}
	f.scopes[patient] = fs
	f.lastPatient, f.lastScope = patient, fs
	return fs
}

// specialize replaces the scope's Consents by their trees with the request
// criteria evaluated (the filter's actor, purpose and action are fixed), so
// that per resource only data criteria run and only the facts they need are
// read. The compiled Consents are shared with the cache: copies are made.
func (f *Filter) specialize(sc *scope) {
	q := query{now: f.now.UnixMicro(), action: f.req.Action, purpose: f.req.Purpose, who: &sc.who}
	out := make([]*compiled, 0, len(sc.consents))
	sc.needs = sc.baseNeeds()
	for _, c := range sc.consents {
		if !c.active() {
			continue
		}
		if root := c.root.specialize(&q); root != nil {
			cc := *c
			cc.root = root
			out = append(out, &cc)
			sc.needs |= root.needs
		}
	}
	sc.consents = out
}

// system reports whether typ passes without a decision: the caller reads
// every type, or this one, under a system scope (Request.SystemTypes).
func (f *Filter) system(typ string) bool {
	if f.req.System || f.req.SystemTypes != nil && f.req.SystemTypes(typ) {
		f.systemSeen = true
		return true
	}
	return false
}

// disclosed notes the patients of a resource passed under a system scope.
func (f *Filter) disclosed(patients []string) {
	for _, p := range patients {
		if f.sysSeen[p] {
			continue
		}
		if f.sysSeen == nil {
			f.sysSeen = map[string]bool{}
		}
		f.sysSeen[p] = true
		f.sysPatients = append(f.sysPatients, p)
	}
}

// owned reports whether typ passes only for its owner (Policy.Owned).
func (f *Filter) owned(typ string) bool {
	return slices.Contains(f.e.pol.Owned, typ)
}

// ownedBy reports whether the _tag tokens name the requester as owner.
func (f *Filter) ownedBy(tags []string) bool {
	ok := f.req.Owner != "" && slices.Contains(tags, OwnerSystem+"|"+f.req.Owner)
	if f.req.Owner != "" {
		f.ownedSeen.count(ok)
	}
	return ok
}

// selfDecision decides for a requester who is the patient or acts for her
// (Request.Self): her own record passes whole, anyone else's does not.
func selfDecision(req *Request, patient string) *Decision {
	if patient == req.Self {
		return &Decision{Permit: true, Policy: PolicySelf}
	}
	return &Decision{Policy: PolicyNotSelf}
}

// Write is a write decision to record with the request's others: who
// changed (or was refused to change) what.
type Write struct {
	By          string // the fhirUser, else "client:<id>"
	Interaction string // create, update, delete, or InteractionPatch
	Resource    string // "Type/id/_history/n" once written, else "Type/id" or "Type"
	Patients    []string
	Permit      bool
	System      bool   // under a system scope
	Rule        string // the rule that refused it
}

// NoteWrite adds a write decision to the records of the request, one per
// patient it is about (one without a patient for data about nobody).
func (f *Filter) NoteWrite(w Write) {
	pats := w.Patients
	if len(pats) == 0 {
		pats = []string{""}
	}
	for _, p := range pats {
		f.writes = append(f.writes, Record{
			ID: f.e.newID(), Time: f.now, Actor: w.By, Patient: p, Permit: w.Permit, Token: f.req.Token, Peers: f.req.Peers,
			Action: ActionWrite + ":" + w.Interaction, Resource: w.Resource, System: w.System, Policy: w.Rule,
			Purpose: f.req.Purpose,
		})
	}
}

// Decoy decides, and forgets, as Allow would for a resource of typ about a
// patient who does not exist: the API runs it when what a caller asked for
// is absent, so that the answer takes about as long as a refusal of
// something hidden, which resolves the patient's care team and Consents
// (an absent resource must not be told from a hidden one by its timing
// either). Nothing is recorded and the request's filter is untouched.
func (f *Filter) Decoy(typ string) {
	if f.err != nil || f.system(typ) || f.req.Self != "" {
		return
	}
	d := &Filter{e: f.e, ctx: f.ctx, req: f.req, now: f.now, scopes: make(map[string]*filterScope, 1)}
	// One patient per engine: its resolution is memoised as a real
	// patient's is, as a hidden resource's usually is.
	d.AllowFacts(typ, Indexed{Patients: []string{"Patient/decoy-" + f.e.idPrefix}, Facts: ResourceFacts{Type: typ}})
}

// Err is the first source error met; the request must then fail.
func (f *Filter) Err() error { return f.err }

// Searcher runs searches: the store (a snapshot per search) or one
// snapshot.
type Searcher interface {
	Search(q *search.Query, filter store.Filter) ([]store.Hit, error)
}

// Visible decides for one stored resource (read): it runs Allow on the
// current version's index values. found is false when typ/id does not exist
// or is deleted. A system request sees everything, so it is answered
// without a lookup (found is then true whether or not the resource exists:
// callers read it anyway).
func (f *Filter) Visible(st Searcher, typ, id string) (found, visible bool, err error) {
	if f.err == nil && f.system(typ) {
		return true, true, nil
	}
	hits, err := st.Search(&search.Query{Type: typ, IDs: []string{id}}, func(r *store.Snapshot, t, i string, v store.IndexValues) bool {
		found = true
		return f.Allow(r, t, i, v)
	})
	if err == nil {
		err = f.err
	}
	return found, len(hits) > 0, err
}

// Record appends one decision record per patient the filter decided for,
// with the counts of resources permitted and denied. System access is
// recorded once, without a patient; so is a request that met no resource
// to decide for, so that every answer names a decision, whether what was
// asked for is absent or hidden. A request that decided for several
// patients gets a record of its own, first, that links theirs (Parts).
func (f *Filter) Record(ctx context.Context) ([]Record, error) {
	if f.e.cfg.Recorder == nil {
		return nil, errors.New("consent: no recorder configured")
	}
	var out []Record
	if f.req.System || f.systemSeen {
		out = append(out, f.summary("", &filterScope{}))
	}
	for p, fs := range f.scopes {
		out = append(out, f.summary(p, fs))
	}
	if f.ownedSeen.permitted+f.ownedSeen.denied > 0 {
		out = append(out, f.summary("", &f.ownedSeen))
	}
	out = append(out, f.writes...)
	if len(out) == 0 {
		out = append(out, f.summary("", &filterScope{}))
	}
	if len(out) > 1 {
		// The request's own record comes first (the answer names it) and
		// links the per-patient ones.
		req := f.summary("", &filterScope{})
		req.Resource, req.Policy = "request", ""
		for _, r := range out {
			req.Parts = append(req.Parts, r.ID)
			req.Permitted += r.Permitted
			req.Denied += r.Denied
			req.Permit = req.Permit || r.Permit
		}
		req.System = false
		out = append([]Record{req}, out...)
	}
	if d := f.disclosure; d != nil && len(d.Patients) == 1 && out[0].Patient == "" {
		// A search that names one patient is about her (IHE BALP
		// PatientQuery), found or not: its own record names her, in her
		// decision log, as the AuthZ consent event of a decision about
		// her does (entity[patient] 1..1).
		out[0].Patient = d.Patients[0]
	}
	org, orgOf := "", ""
	for i := range out {
		r := &out[i]
		if r.Parts == nil { // the request's record counts no decision of its own
			f.e.tally(r.Permit)
		}
		if r.Actor != orgOf {
			org, orgOf = f.e.organization(ctx, r.Actor), r.Actor
		}
		r.Org = org
	}
	if er, ok := f.e.cfg.Recorder.(EventRecorder); ok {
		if own, also := f.events(out); len(also) > 0 {
			return out, er.RecordEvents(ctx, own, also)
		}
	}
	if err := f.e.cfg.Recorder.Record(ctx, out...); err != nil {
		return nil, err
	}
	return out, nil
}

func (f *Filter) summary(patient string, fs *filterScope) Record {
	r := Record{
		Token: f.req.Token, Peers: f.req.Peers,
		// a request that withheld nothing is permitted, whether or not
		// anything matched
		ID: f.e.newID(), Time: f.now, Actor: f.req.requester(), Patient: patient, Permit: fs.permitted > 0 || fs.denied == 0,
		Purpose: f.req.Purpose, Action: f.req.Action, System: patient == "" && (f.req.System || f.systemSeen),
		Reason: f.req.BreakGlassReason, Permitted: fs.permitted, Denied: fs.denied, Resource: "search",
	}
	if d := f.disclosure; d != nil && d.What != "" {
		r.Resource = d.What // a read names what it asked for
	}
	switch {
	case r.System:
		r.Policy, r.Permit = PolicySystem, true
	case fs.fixed != nil:
		r.Policy, r.BreakGlass, r.Expires = fs.fixed.Policy, fs.fixed.BreakGlass, fs.fixed.Expires
		r.Basis, r.Provision = fs.fixed.Basis, fs.fixed.Provision
	default:
		r.Basis, r.Provision = fs.basis, fs.provision
		r.Policy = strings.Join(slices.Sorted(slices.Values(fs.policies)), " ")
	}
	return r
}
