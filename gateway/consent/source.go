package consent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/terminology"
)

// StoreSource implements Directory, CareTeams and Consents over the FHIR
// store. It reads the search indexes (through a capturing store.Filter), so
// only Consents are ever parsed, and only when they change.
//
// Called from inside a store.Filter (a consent-filtered search resolving a
// patient it meets), it reads the snapshot the context carries
// (store.WithSnapshot): the search's own, so that no second read
// transaction is opened while the first is held (store.Snapshot says why
// that would freeze the store). Called with no snapshot, each method
// reads one snapshot of its own.
//
// Answers are memoised with the generation of the state they were read
// from: an answer is reused only while no write has committed since, so no
// memo outlives a write.
type StoreSource struct {
	st    *store.Store
	codec *codec.Codec
	now   func() time.Time
	memo  memo
}

// NewStoreSource returns the store-backed source. now is the clock used to
// tell active CareTeams.
func NewStoreSource(st *store.Store, c *codec.Codec, now func() time.Time) *StoreSource {
	if now == nil {
		now = time.Now
	}
	return &StoreSource{st: st, codec: c, now: now, memo: memo{m: make(map[string]memoEntry)}}
}

// memoSize bounds the memo; it is emptied when full.
const memoSize = 8192

type memo struct {
	mu sync.Mutex
	m  map[string]memoEntry
}

type memoEntry struct {
	gen uint64
	v   any
}

// memoised returns the value memoised under key if the database has not
// changed since, else computes it with fn from one snapshot: the one ctx
// carries, else a snapshot of its own. The value is filed under that
// snapshot's generation. With no snapshot in ctx, a value still current
// is found from the store's generation without opening one: a read
// transaction per lookup cost more than the lookup (several per read).
func memoised[T any](ctx context.Context, s *StoreSource, key string, fn func(r *store.Snapshot) (T, error)) (v T, err error) {
	if store.SnapshotFrom(ctx) == nil {
		gen, err := s.st.Generation()
		if err != nil {
			return v, err
		}
		if v, ok := memoHit[T](s, key, gen); ok {
			return v, nil
		}
	}
	err = s.read(ctx, func(r *store.Snapshot) error {
		v, err = memoisedIn(s, r, key, fn)
		return err
	})
	return v, err
}

// read runs fn on the snapshot ctx carries, else on one of its own.
func (s *StoreSource) read(ctx context.Context, fn func(r *store.Snapshot) error) error {
	if r := store.SnapshotFrom(ctx); r != nil {
		return fn(r)
	}
	return s.st.View(fn)
}

// memoHit is the value memoised under key at generation gen, if any.
func memoHit[T any](s *StoreSource, key string, gen uint64) (T, bool) {
	s.memo.mu.Lock()
	e, ok := s.memo.m[key]
	s.memo.mu.Unlock()
	if !ok || e.gen != gen {
		var zero T
		return zero, false
	}
	return e.v.(T), true
}

func memoisedIn[T any](s *StoreSource, r *store.Snapshot, key string, fn func(r *store.Snapshot) (T, error)) (T, error) {
	gen := r.Generation()
	if gen == 0 { // uncommitted state (store.Snapshot.Generation)
		return fn(r)
	}
	if v, ok := memoHit[T](s, key, gen); ok {
		return v, nil
	}
	v, err := fn(r)
	if err != nil {
		var zero T
		return zero, err
	}
	s.memo.mu.Lock()
	if len(s.memo.m) >= memoSize {
		clear(s.memo.m)
	}
	s.memo.m[key] = memoEntry{gen: gen, v: v}
	s.memo.mu.Unlock()
	return v, nil
}

// Tokens of the status codes the source reads.
const (
	tokenActive     = "|active"
	tokenTrue       = "|true"
	tokenFalse      = "|false"
	careTeamPatient = "patient"
)

// index calls fn with the index values of the current typ/id in r (the
// values must not be kept); found is false when typ/id does not exist or
// is deleted.
func index(r *store.Snapshot, typ, id string, fn func(v store.IndexValues)) (found bool, err error) {
	hits, err := r.Search(&search.Query{Type: typ, IDs: []string{id}}, func(_ *store.Snapshot, _, _ string, v store.IndexValues) bool {
		fn(v)
		return true
	})
	return len(hits) > 0, err
}

// refQuery is a search of typ by one reference parameter.
func refQuery(typ, param, ref string) *search.Query {
	p, _ := search.Lookup(typ, param)
	return &search.Query{Type: typ, Clauses: []search.Clause{{Param: p, Conds: []search.Cond{{Tag: 'r', Key: ref}}}}}
}

// Actor implements Directory. A PractitionerRole gives its codes, its
// Practitioner and Organization, and the HealthcareServices it provides
// (R4 PractitionerRole.healthcareService: routing addresses a service's
// Task to the service, and its staff answer it); a Practitioner the union
// of its active roles (and belongs to them, their organisations and
// services); a HealthcareService
// its type and specialty codes and its providing Organization; an
// Organization only its identifiers. The Actor's slices are shared: read only.
func (s *StoreSource) Actor(ctx context.Context, ref string) (Actor, error) {
	return memoised(ctx, s, "a\x00"+ref, func(r *store.Snapshot) (Actor, error) { return s.resolveActor(r, ref) })
}

func (s *StoreSource) resolveActor(r *store.Snapshot, ref string) (Actor, error) {
	typ, id, _ := strings.Cut(ref, "/")
	a := Actor{Ref: ref}
	var err error
	switch typ {
	case "PractitionerRole":
		err = role(r, id, &a)
		if err == nil && a.Known {
			for _, p := range a.Belongs {
				if pid, ok := strings.CutPrefix(p, "Practitioner/"); ok {
					err = s.qualifications(r, pid, &a)
					break
				}
			}
		}
	case "Practitioner":
		err = practitioner(r, id, &a)
		if err == nil && a.Known {
			err = s.qualifications(r, id, &a)
		}
	case "Organization":
		err = organization(r, id, &a)
	case "HealthcareService":
		err = service(r, id, &a)
	}
	return a, err
}

// service resolves a HealthcareService (a routing Task's owner): its type
// and specialty codes are its roles, and it acts for the Organization that
// provides it, so that a Consent naming that Organization (R4 names no
// HealthcareService as a Consent actor) covers its services.
func service(r *store.Snapshot, id string, a *Actor) error {
	found, err := index(r, "HealthcareService", id, func(v store.IndexValues) {
		a.Active = !slices.Contains(v.Tokens("active"), tokenFalse)
		a.Roles = append(v.Tokens("type"), v.Tokens("specialty")...)
		a.Identifiers = v.Tokens("identifier")
		a.Belongs = v.Refs("organization")
	})
	if err != nil || !found {
		return err
	}
	a.Known = true
	return identifiers(r, a)
}

func role(r *store.Snapshot, id string, a *Actor) error {
	found, err := index(r, "PractitionerRole", id, func(v store.IndexValues) {
		a.Active = !slices.Contains(v.Tokens("active"), tokenFalse)
		a.Roles = append(v.Tokens("role"), v.Tokens("specialty")...)
		a.Identifiers = v.Tokens("identifier")
		a.Belongs = append(append(v.Refs("practitioner"), v.Refs("organization")...), v.Refs("service")...)
	})
	if err != nil || !found {
		return err
	}
	a.Known = true
	return identifiers(r, a)
}

func practitioner(r *store.Snapshot, id string, a *Actor) error {
	found, err := index(r, "Practitioner", id, func(v store.IndexValues) { a.Identifiers = v.Tokens("identifier") })
	if err != nil || !found {
		return err
	}
	a.Known = true
	_, err = r.Search(refQuery("PractitionerRole", "practitioner", "Practitioner/"+id), func(_ *store.Snapshot, _, roleID string, v store.IndexValues) bool {
		if slices.Contains(v.Tokens("active"), tokenFalse) {
			return false
		}
		a.Active = true
		a.Belongs = append(a.Belongs, "PractitionerRole/"+roleID)
		a.Roles = append(append(a.Roles, v.Tokens("role")...), v.Tokens("specialty")...)
		a.Belongs = append(append(a.Belongs, v.Refs("organization")...), v.Refs("service")...)
		return false
	})
	if err != nil {
		return err
	}
	return identifiers(r, a)
}

// qualifications reads the codes of Practitioner id's qualifications (R4
// Practitioner.qualification.code), which no search parameter indexes.
func (s *StoreSource) qualifications(r *store.Snapshot, id string, a *Actor) error {
	rec, err := r.Read("Practitioner", id)
	switch outcome.KindOf(err) {
	case outcome.NotFound, outcome.Gone:
		return nil
	}
	if err != nil {
		return err
	}
	m, err := s.codec.DecodeStored(rec.JSON)
	if err != nil {
		return fmt.Errorf("Practitioner/%s: %w", id, err)
	}
	pr, _ := m.(*prpb.Practitioner)
	for _, q := range pr.GetQualification() {
		for _, c := range q.GetCode().GetCoding() {
			// canonical, as a Consent's actor role is matched exactly
			a.Qualifications = append(a.Qualifications, terminology.Canonical(c.GetSystem().GetValue())+"|"+c.GetCode().GetValue())
		}
	}
	return nil
}

func organization(r *store.Snapshot, id string, a *Actor) error {
	found, err := index(r, "Organization", id, func(v store.IndexValues) {
		a.Active = !slices.Contains(v.Tokens("active"), tokenFalse)
		a.Identifiers = v.Tokens("identifier")
	})
	a.Known = found
	return err
}

// identifiers adds the identifiers of the Practitioners, roles and
// Organizations the actor belongs to.
func identifiers(r *store.Snapshot, a *Actor) error {
	for _, ref := range a.Belongs {
		typ, id, _ := strings.Cut(ref, "/")
		_, err := index(r, typ, id, func(v store.IndexValues) { a.Identifiers = append(a.Identifiers, v.Tokens("identifier")...) })
		if err != nil {
			return err
		}
	}
	return nil
}

// Circle implements CareTeams: the Patient's generalPractitioner and the
// members of its CareTeams whose status is active and whose period, if
// any, includes now (the memo is also keyed by the minute, for periods).
func (s *StoreSource) Circle(ctx context.Context, patient string) (Circle, error) {
	minute := strconv.FormatInt(s.now().Unix()/60, 10)
	return memoised(ctx, s, "c\x00"+minute+"\x00"+patient, func(r *store.Snapshot) (Circle, error) { return s.circle(r, patient) })
}

func (s *StoreSource) circle(r *store.Snapshot, patient string) (Circle, error) {
	var c Circle
	_, id, _ := strings.Cut(patient, "/")
	found, err := index(r, "Patient", id, func(v store.IndexValues) { c.GeneralPractitioners = v.Refs("general-practitioner") })
	if err != nil || !found {
		return c, err
	}
	now := s.now().UnixMicro()
	_, err = r.Search(refQuery("CareTeam", careTeamPatient, patient), func(_ *store.Snapshot, _, id string, v store.IndexValues) bool {
		if !slices.Contains(v.Tokens("status"), tokenActive) || !current(v.Dates("date"), now) {
			return false
		}
		c.Teams = append(c.Teams, Team{Ref: "CareTeam/" + id, Members: v.Refs("member")})
		return false
	})
	if err != nil {
		return c, err
	}
	_, err = r.Search(refQuery("Task", "patient", patient), func(_ *store.Snapshot, _, id string, v store.IndexValues) bool {
		if !c.trusts(v.Tokens("_tag")) {
			// a Task its issuer could not make a candidate with shows
			// its owner nothing it names either: else one could address
			// a Task to herself about another recipient's request
			return false
		}
		owners, requesters := v.Refs("owner"), v.Refs("requester")
		refs := append([]string{"Task/" + id}, v.Refs("focus")...)
		c.Orders = append(c.Orders, Order{Parties: append(slices.Clip(owners), requesters...), Refs: refs})
		if slices.ContainsFunc(v.Tokens("status"), func(t string) bool { return slices.Contains(openTask, t) }) {
			c.Asked = append(c.Asked, Asked{Owners: owners, Refs: refs})
		}
		for _, r := range requesters {
			if !slices.Contains(c.Requesters, r) {
				c.Requesters = append(c.Requesters, r)
			}
		}
		return false
	})
	return c, err
}

// trusts reports whether a Task with these _tag tokens makes its owner a
// candidate (OwnerSystem): issued by a system caller (no issuer tag), the
// patient's general practitioner or a member of one of her care teams.
func (c *Circle) trusts(tags []string) bool {
	for _, t := range tags {
		issuer, ok := strings.CutPrefix(t, OwnerSystem+"|")
		if !ok {
			continue
		}
		if slices.Contains(c.GeneralPractitioners, issuer) {
			return true
		}
		for _, team := range c.Teams {
			if slices.Contains(team.Members, issuer) {
				return true
			}
		}
		return false
	}
	return true
}

// openTask are the status tokens of a Task its owner is still asked about
// or acting on (R4 task-status); an on-hold Task waits for the patient's
// permit and opens nothing.
var openTask = []string{"|requested", "|received", "|accepted", "|ready", "|in-progress"}

// current reports whether now is inside every period (none: always).
func current(periods [][2]int64, now int64) bool {
	for _, p := range periods {
		if now < p[0] || now >= p[1] {
			return false
		}
	}
	return true
}

// The Consents of merged patients. When HL7 v2 merges a patient into
// another (A40, A34: gateway/identity merge.go), her data, her Consents
// included, move to the survivor; but until an administrator has reviewed
// the two patients' Consents (GET /admin/identity/review lists the merge),
// both patients' choices must govern both: an objection she made applies
// to the data she now shares with the survivor, and the engine's "deny
// overrides permit" gives the stricter answer. So the Consents of patient X
// are X's and those of every Patient X's Patient.link names (the R4
// search parameter "link"; a merge writes "replaces" on the survivor and
// "replaced-by" on the prior patient). Every link type is taken: R4 says
// each names a Patient resource about the same person, so the union can
// only be stricter. One level only: the Patients linked to X, not those
// linked to them (a chain of merges repeats the links on each survivor's
// side it needs: the prior patient keeps hers to the survivor, the
// survivor to each patient it replaced). A Patient whose links were
// written before the link parameter existed is not indexed until written
// again.

// linked returns patient and the Patients its links name, sorted after it.
func linked(r *store.Snapshot, patient string) ([]string, error) {
	_, id, _ := strings.Cut(patient, "/")
	var others []string
	_, err := index(r, "Patient", id, func(v store.IndexValues) {
		for _, ref := range v.Refs("link") {
			if strings.HasPrefix(ref, "Patient/") && ref != patient {
				others = append(others, ref)
			}
		}
	})
	slices.Sort(others)
	return append([]string{patient}, slices.Compact(others)...), err
}

// Stamp implements Consents: for the patient and each Patient linked to
// her, the reference and the sorted (id, version) pairs of its current
// Consents, read from the index in one snapshot.
func (s *StoreSource) Stamp(ctx context.Context, patient string) (string, error) {
	return memoised(ctx, s, "s\x00"+patient, func(r *store.Snapshot) (string, error) {
		_, _, stamp, err := s.gather(r, patient, false)
		return stamp, err
	})
}

// gather reads the current Consents of the patient and of the Patients
// linked to her (parsed only when parse is set), those patients, and
// their stamp.
func (s *StoreSource) gather(r *store.Snapshot, patient string, parse bool) ([]*cpb.Consent, []string, string, error) {
	patients, err := linked(r, patient)
	if err != nil {
		return nil, nil, "", err
	}
	var out []*cpb.Consent
	var b []byte
	for _, p := range patients {
		hits, err := r.Search(refQuery("Consent", "patient", p), nil)
		if err != nil {
			return nil, nil, "", err
		}
		b = append(append(append(b, p...), ':'), stampOf(hits)...)
		b = append(b, '|')
		if !parse {
			continue
		}
		list, err := s.parse(r, hits)
		if err != nil {
			return nil, nil, "", err
		}
		out = append(out, list...)
	}
	return out, patients, string(b), nil
}

func stampOf(hits []store.Hit) string {
	slices.SortFunc(hits, func(a, b store.Hit) int { return strings.Compare(a.ID, b.ID) })
	var b []byte
	for _, h := range hits {
		b = append(b, h.ID...)
		b = append(b, '@')
		b = strconv.AppendUint(b, h.Version, 10)
		b = append(b, ';')
	}
	return string(b)
}

// Consents implements Consents: the versions named by the stamp, parsed,
// the linked patients' included, read from one snapshot (the one ctx
// carries, else one of its own).
func (s *StoreSource) Consents(ctx context.Context, patient string) (list []*cpb.Consent, patients []string, stamp string, err error) {
	err = s.read(ctx, func(r *store.Snapshot) error {
		list, patients, stamp, err = s.gather(r, patient, true)
		return err
	})
	return list, patients, stamp, err
}

func (s *StoreSource) parse(r *store.Snapshot, hits []store.Hit) ([]*cpb.Consent, error) {
	out := make([]*cpb.Consent, 0, len(hits))
	for _, h := range hits {
		rec, err := r.VRead("Consent", h.ID, h.Version)
		if err != nil {
			return nil, fmt.Errorf("read Consent/%s: %w", h.ID, err)
		}
		m, err := s.codec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, fmt.Errorf("parse Consent/%s: %w", h.ID, err)
		}
		if c, ok := m.(*cpb.Consent); ok {
			out = append(out, c)
		}
	}
	return out, nil
}
