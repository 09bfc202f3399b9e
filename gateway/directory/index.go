package directory

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	hspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/healthcare_service_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
)

// Index is an in-memory view of the directory for choosing candidates:
// every PractitionerRole and HealthcareService with a pathway role, with
// the territories, languages and hours it was resolved to. It is
// immutable once built and safe for concurrent use.
type Index struct {
	generation uint64
	entries    []entry
	byRole     map[Role][]int32 // entries taking a role, in entry order
	// byPlace lists the entries of a role covering a territory, in entry
	// order, keyed by role and Territory.key(): a query reads the few
	// lists of the patient's territories instead of every entry of the
	// role.
	byPlace map[string][]int32
	// capacities is whether any entry states a capacity: without one, a
	// query reads no loads.
	capacities bool
}

func placeKey(r Role, territoryKey string) string { return string(r) + "\x00" + territoryKey }

type entry struct {
	ref         string // "PractitionerRole/id" or "HealthcareService/id"
	holder      string // a PractitionerRole's practitioner: "Practitioner/id"
	stated      bool   // its active element says true (RoleHeldBy)
	roles       []Role
	inactive    string           // why it is not in active use (a Reason code); "" when it is
	territories map[string]Level // Territory.key() -> level
	langs       []string         // primary language subtags, lower case
	avail       []window         // availableTime; none: no constraint
	notAvail    [][2]int64       // notAvailable.during, Unix µs [start, end)
	period      [2]int64         // PractitionerRole.period, Unix µs [start, end)
	capacity    int64            // ExtOpenTaskCapacity, noCapacity: none
}

// window is one availableTime: days (bit 1<<time.Weekday) and the hours,
// µs since midnight [start, end); allDay ignores the hours.
type window struct {
	days       uint8
	allDay     bool
	start, end int64
}

// at is x for generation gen: the same entries, the directory having
// changed in nothing they depend on.
func (x *Index) at(gen uint64) *Index {
	y := *x
	y.generation = gen
	return &y
}

// Generation is the store generation the index was built from.
func (x *Index) Generation() uint64 { return x.generation }

// Len is the number of entries (resources with a pathway role).
func (x *Index) Len() int { return len(x.entries) }

// BuildIndex indexes resources (PractitionerRole, HealthcareService,
// Organization, Practitioner; others are ignored). A PractitionerRole
// covers the territories of its HealthcareServices and its Organization
// and speaks its Practitioner's languages; a HealthcareService covers its
// own territories and its providedBy Organization's.
func BuildIndex(generation uint64, resources []proto.Message) *Index {
	orgs := map[string]*orgpb.Organization{}
	pracs := map[string]*prpb.Practitioner{}
	services := map[string]*hspb.HealthcareService{}
	for _, r := range resources {
		id := resource.ID(r)
		switch v := r.(type) {
		case *orgpb.Organization:
			orgs["Organization/"+id] = v
		case *prpb.Practitioner:
			pracs["Practitioner/"+id] = v
		case *hspb.HealthcareService:
			services["HealthcareService/"+id] = v
		}
	}
	x := &Index{generation: generation, byRole: map[Role][]int32{}, byPlace: map[string][]int32{}}
	table := roleByCode()
	for _, r := range resources {
		var holder *prpb.Practitioner
		if pr, ok := r.(*prrpb.PractitionerRole); ok {
			holder = pracs[resource.RefString(pr.GetPractitioner())]
		}
		roles := rolesOf(r, holder, table)
		if len(roles) == 0 {
			continue
		}
		e := entry{ref: resource.Type(r) + "/" + resource.ID(r), roles: roles, territories: map[string]Level{}, capacity: noCapacity}
		switch v := r.(type) {
		case *prrpb.PractitionerRole:
			e.holder, e.stated = resource.RefString(v.GetPractitioner()), v.GetActive().GetValue()
			e.inactive = inactive(v.GetActive(), ReasonInactive)
			if e.inactive == "" {
				e.inactive = inactive(pracs[resource.RefString(v.GetPractitioner())].GetActive(), ReasonInactivePractitioner)
			}
			if e.inactive == "" {
				e.inactive = inactive(orgs[resource.RefString(v.GetOrganization())].GetActive(), ReasonInactiveOrganization)
			}
			for _, s := range v.GetHealthcareService() {
				e.addTerritories(TerritoriesOf(services[resource.RefString(s)]))
			}
			e.addTerritories(TerritoriesOf(orgs[resource.RefString(v.GetOrganization())]))
			e.langs = languages(pracs[resource.RefString(v.GetPractitioner())].GetCommunication())
			e.avail, e.notAvail = roleHours(v)
			e.period = period(v.GetPeriod())
			e.capacity = capacityOf(v.GetExtension())
		case *hspb.HealthcareService:
			e.inactive = inactive(v.GetActive(), ReasonInactive)
			if e.inactive == "" {
				e.inactive = inactive(orgs[resource.RefString(v.GetProvidedBy())].GetActive(), ReasonInactiveOrganization)
			}
			e.addTerritories(TerritoriesOf(v))
			e.addTerritories(TerritoriesOf(orgs[resource.RefString(v.GetProvidedBy())]))
			e.langs = languages(v.GetCommunication())
			e.avail, e.notAvail = serviceHours(v)
			e.period = period(nil)
			e.capacity = capacityOf(v.GetExtension())
		}
		x.capacities = x.capacities || e.capacity != noCapacity
		x.entries = append(x.entries, e)
	}
	slices.SortFunc(x.entries, func(a, b entry) int { return strings.Compare(a.ref, b.ref) })
	for i, e := range x.entries {
		for _, role := range e.roles {
			x.byRole[role] = append(x.byRole[role], int32(i))
			for k := range e.territories {
				x.byPlace[placeKey(role, k)] = append(x.byPlace[placeKey(role, k)], int32(i))
			}
		}
	}
	return x
}

// RoleHeldBy is the one PractitionerRole in which practitioner
// ("Practitioner/id") takes role, stated active and in its period at at,
// "" when she holds none or several (then which one acts is not the
// directory's to say). A source names a patient's general practitioner as
// the person (HL7 v2 PD1-4, a CDA participant PCP): her Tasks are
// addressed to her directory role, which her software signs in as and
// searches its work by (Task.owner). Only a role that states active is
// taken: directory exports state it (ROR, Annuaire Santé), while the role
// a mapping makes of a document's author or participant (her profession
// as the document gives it, no place of practice) never does, and reading
// its absence as true (R4 PractitionerRole.active) would leave her two.
func (x *Index) RoleHeldBy(practitioner string, role Role, at time.Time) string {
	found := ""
	us := at.UnixMicro()
	for _, i := range x.byRole[role] {
		e := &x.entries[i]
		if e.holder != practitioner || !e.stated || e.inactive != "" || us < e.period[0] || us >= e.period[1] {
			continue
		}
		if found != "" {
			return ""
		}
		found = e.ref
	}
	return found
}

// Left says why ref, a role or service of the index, has left the
// directory at at: it is not in active use (inactive: itself, the
// Practitioner who holds it or the Organization it is for), or its period
// is over (R4 PractitionerRole.period, "the period during which the
// person is authorized to act as a practitioner in these role(s) for the
// organization"): Reason.Code ReasonInactive, ReasonInactivePractitioner,
// ReasonInactiveOrganization or ReasonPeriodEnded. The zero Reason while
// it is in, and for a reference the index does not hold (no pathway role:
// not the directory's to say). Candidates skips for the same reasons.
func (x *Index) Left(ref string, at time.Time) Reason {
	i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].ref >= ref })
	if i == len(x.entries) || x.entries[i].ref != ref {
		return Reason{}
	}
	switch e := &x.entries[i]; {
	case e.inactive != "":
		return reason(ref, e.inactive)
	case at.UnixMicro() >= e.period[1]:
		return reason(ref, ReasonPeriodEnded)
	}
	return Reason{}
}

// Ended lists the roles whose period ended in (after, until], in
// reference order: those Left starts to name as the clock moves, with no
// write to tell.
func (x *Index) Ended(after, until time.Time) []string {
	a, b := after.UnixMicro(), until.UnixMicro()
	var out []string
	for i := range x.entries {
		if end := x.entries[i].period[1]; end > a && end <= b {
			out = append(out, x.entries[i].ref)
		}
	}
	return out
}

// inactive says why a resource whose active element is a is not in
// active use: code ("" when it is: R4 reads an absent active as true). A role is
// taken only while the Practitioner who holds it and the Organization it
// is for are in active use too (R4 Practitioner.active, Organization.active:
// "whether this record is in active use"), and a service only while the
// Organization that provides it is: a practitioner who retired or an
// organisation that closed leaves its roles and services behind in a
// directory export.
func inactive(a *dtpb.Boolean, code string) string {
	if a == nil || a.GetValue() {
		return ""
	}
	return code
}

func (e *entry) addTerritories(ts []Territory) {
	for _, t := range ts {
		e.territories[t.key()] = t.Level
	}
}

// languages returns the primary subtags of BCP 47 codes ("fr-FR" -> "fr").
func languages(ccs []*dtpb.CodeableConcept) []string {
	var out []string
	for _, cc := range ccs {
		for _, c := range cc.GetCoding() {
			if l := primaryLanguage(c.GetCode().GetValue()); l != "" && !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

func primaryLanguage(code string) string {
	l, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(code)), "-")
	return l
}

func roleHours(v *prrpb.PractitionerRole) ([]window, [][2]int64) {
	return hours(v.GetAvailableTime(), v.GetNotAvailable())
}

func serviceHours(v *hspb.HealthcareService) ([]window, [][2]int64) {
	return hours(v.GetAvailableTime(), v.GetNotAvailable())
}

// availableTime is what R4's PractitionerRole.availableTime and
// HealthcareService.availableTime have in common.
type availableTime[D interface {
	GetValue() codes.DaysOfWeekCode_Value
}] interface {
	GetAllDay() *dtpb.Boolean
	GetAvailableStartTime() *dtpb.Time
	GetAvailableEndTime() *dtpb.Time
	GetDaysOfWeek() []D
}

// hours reads availableTime and notAvailable.during (the same elements in
// both resources) as windows and unavailable periods.
func hours[D interface {
	GetValue() codes.DaysOfWeekCode_Value
}, A availableTime[D], N interface{ GetDuring() *dtpb.Period }](times []A, notAvailable []N) ([]window, [][2]int64) {
	var ws []window
	for _, a := range times {
		w := window{allDay: a.GetAllDay().GetValue(), start: a.GetAvailableStartTime().GetValueUs(), end: a.GetAvailableEndTime().GetValueUs()}
		for _, d := range a.GetDaysOfWeek() {
			w.days |= dayBit(int(d.GetValue()))
		}
		ws = append(ws, w)
	}
	var na [][2]int64
	for _, n := range notAvailable {
		na = append(na, period(n.GetDuring()))
	}
	return ws, na
}

// dayBit maps the DaysOfWeek enum (MON=1 … SUN=7) to 1<<time.Weekday.
func dayBit(d int) uint8 {
	if d < 1 || d > 7 {
		return 0
	}
	return 1 << uint(d%7)
}

// period returns [start, end) in Unix µs; an open end is unbounded. The
// end is taken at its precision's full extent only for seconds: a
// notAvailable period is usually written with dateTimes.
func period(p *dtpb.Period) [2]int64 {
	out := [2]int64{-1 << 62, 1 << 62}
	if s := p.GetStart(); s != nil {
		out[0] = s.GetValueUs()
	}
	if e := p.GetEnd(); e != nil {
		out[1] = e.GetValueUs()
	}
	return out
}

// maxWindowDays bounds the days of a window read for availableTime: past
// it, a recipient's weekly hours have long repeated.
const maxWindowDays = 400

// available reports whether e can be reached at some time in [from, to)
// (at from alone when to is not after it): inside its period, inside one
// of its availableTime windows, read as wall-clock hours in from's
// location, and outside every notAvailable period. Absent availableTime
// and period are no constraint. A window whose end is not after its start
// runs past midnight (20:00 to 08:00). When it cannot, why is a Reason
// code.
func (e *entry) available(from, to time.Time) (ok bool, why string) {
	a, b := from.UnixMicro(), to.UnixMicro()
	if b <= a {
		b = a + 1
	}
	a, b = max(a, e.period[0]), min(b, e.period[1])
	if a >= b {
		return false, ReasonOutsidePeriod
	}
	if len(e.avail) == 0 {
		if e.free(a, b) {
			return true, ""
		}
		return false, ReasonNotAvailable
	}
	loc := from.Location()
	y, m, d := time.UnixMicro(a).In(loc).Date()
	open := false // some availableTime falls in the window
	// From the day before a: a window running past midnight reaches it.
	for i := -1; i <= maxWindowDays; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
		if day.UnixMicro() >= b {
			break
		}
		bit := uint8(1) << uint(day.Weekday())
		for _, w := range e.avail {
			if w.days != 0 && w.days&bit == 0 {
				continue
			}
			s, t := day.UnixMicro(), time.Date(y, m, d+i+1, 0, 0, 0, 0, loc).UnixMicro()
			if !w.allDay {
				s = time.Date(y, m, d+i, 0, 0, 0, int(w.start*1000), loc).UnixMicro()
				if w.end > w.start {
					t = time.Date(y, m, d+i, 0, 0, 0, int(w.end*1000), loc).UnixMicro()
				} else if w.end != 0 {
					t = time.Date(y, m, d+i+1, 0, 0, 0, int(w.end*1000), loc).UnixMicro()
				}
			}
			s, t = max(s, a), min(t, b)
			if s >= t {
				continue
			}
			open = true
			if e.free(s, t) {
				return true, ""
			}
		}
	}
	if open {
		return false, ReasonNotAvailable
	}
	return false, ReasonOutsideHours
}

// free reports whether some time in [a, b) lies outside every
// notAvailable period.
func (e *entry) free(a, b int64) bool {
	for moved := true; moved && a < b; {
		moved = false
		for _, n := range e.notAvail {
			if n[0] <= a && a < n[1] {
				a, moved = n[1], true
			}
		}
	}
	return a < b
}

// Query asks for the candidates of a role for a patient.
type Query struct {
	Role Role
	// Place is the patient's (Communes.PlaceOf); with no territory no
	// candidate is in territory.
	Place Place
	// Languages are the patient's (Patient.communication, primary
	// subtags); none: no constraint.
	Languages []string
	// At, when set, keeps only candidates available then (availableTime
	// in At's location, notAvailable, PractitionerRole.period); zero: no
	// constraint. Pass it in the patient's zone (Place.Location).
	At time.Time
	// Until, when after At, widens At to the window [At, Until): a
	// candidate available at some time in it is kept, as one who works
	// on weekdays is for a visit due within 48 h of a Saturday discharge.
	Until time.Time
	// Limit caps the candidates returned (0: all).
	Limit int
}

// PatientLanguages returns the languages of Patient.communication.
func PatientLanguages(p *patpb.Patient) []string {
	var ccs []*dtpb.CodeableConcept
	for _, c := range p.GetCommunication() {
		ccs = append(ccs, c.GetLanguage())
	}
	return languages(ccs)
}

// Candidate is one resource kept for a role.
type Candidate struct {
	Ref string // "PractitionerRole/id" or "HealthcareService/id"
	// Match is the most precise division of the patient's place it covers.
	Match Territory
}

// Explanation says why candidates were kept and others skipped.
type Explanation struct {
	Kept    []Reason
	Skipped []Reason // at most MaxSkipped
	// SkippedTotal counts every skipped resource of the role, listed or not.
	SkippedTotal int
}

// Reason is one resource and why: in English (Why), and coded (Code, one
// of the Reason constants, with its particulars in Detail: codes and
// numbers, no words), for routing to carry in its explanations and
// readers in other languages to say in theirs.
type Reason struct {
	Ref, Why string
	Code     string
	Detail   []string
}

// Reason codes. A candidate kept covers the patient's commune, département
// or région, or her Belgian postal code (Detail: its code, then, when it
// states a capacity, its open Tasks and its capacity); one skipped is
// inactive (itself, its Practitioner, its Organization), speaks none of
// her languages (Detail: its languages, hers), is unavailable throughout
// the window (outside its period, its notAvailable, outside its
// availableTime), at capacity (Detail: open Tasks, capacity), out of
// territory (Detail: the territories it covers, "c:59350, d:59", "+N"
// for more) or declares none. One that left (Left) is inactive or past
// its period.
const (
	ReasonCoversCommune        = "covers-commune"
	ReasonCoversDepartement    = "covers-departement"
	ReasonCoversRegion         = "covers-region"
	ReasonCoversPostalCode     = "covers-postal-code"
	ReasonInactive             = "inactive"
	ReasonInactivePractitioner = "inactive-practitioner"
	ReasonInactiveOrganization = "inactive-organization"
	ReasonPeriodEnded          = "period-ended"
	ReasonLanguage             = "language"
	ReasonOutsidePeriod        = "outside-period"
	ReasonNotAvailable         = "not-available"
	ReasonOutsideHours         = "outside-hours"
	ReasonAtCapacity           = "at-capacity"
	ReasonOutOfTerritory       = "out-of-territory"
	ReasonNoTerritory          = "no-territory"
)

// reasonWhy is each code's English, %s its Detail in order.
var reasonWhy = map[string]string{
	ReasonInactive:             "inactive",
	ReasonInactivePractitioner: "inactive (its Practitioner)",
	ReasonInactiveOrganization: "inactive (its Organization)",
	ReasonPeriodEnded:          "its period ended (PractitionerRole.period)",
	ReasonLanguage:             "speaks %s, not %s",
	ReasonOutsidePeriod:        "outside its period (PractitionerRole.period)",
	ReasonNotAvailable:         "notAvailable throughout the window",
	ReasonOutsideHours:         "outside its availableTime throughout the window",
	ReasonAtCapacity:           "at capacity: %s open Tasks of %s",
	ReasonOutOfTerritory:       "out of territory: covers %s",
	ReasonNoTerritory:          "declares no territory (ror-territorial-division on its service or organization)",
}

// reason is ref's Reason code, with its English.
func reason(ref, code string, detail ...string) Reason {
	args := make([]any, len(detail))
	for i, d := range detail {
		args[i] = d
	}
	why := reasonWhy[code]
	if len(args) > 0 {
		why = fmt.Sprintf(why, args...)
	}
	return Reason{Ref: ref, Why: why, Code: code, Detail: detail}
}

// MaxSkipped caps Explanation.Skipped.
const MaxSkipped = 20

// Loads counts the open Tasks each owner holds, in the order of owners:
// store.Snapshot.OpenTasks.
type Loads interface {
	OpenTasks(owners []string) ([]int, error)
}

// Candidates returns the active resources of q.Role whose territory
// covers the patient's place, that speak one of her languages (when both
// say), are available at q.At (when set) and hold fewer open Tasks than
// their capacity (ExtOpenTaskCapacity, when stated), ranked:
//
//  1. the lowest load first: open Tasks over capacity, compared as exact
//     fractions; a resource stating no capacity has no constraint and
//     counts as empty (0);
//  2. then the most precise territorial match (commune, then
//     département, then région);
//  3. then by reference.
//
// The order is deterministic for one index and one set of loads. loads
// is read once, for the resources kept so far that state a capacity; nil
// counts no open Task anywhere (a capacity of 0 still excludes).
func (x *Index) Candidates(q Query, loads Loads) ([]Candidate, Explanation, error) {
	// The entries of the role covering one of the patient's territories,
	// with the most precise territory each covers.
	in := map[int32]int{} // entry -> index in q.Place.Territories
	for ti, t := range q.Place.Territories {
		for _, i := range x.byPlace[placeKey(q.Role, t.key())] {
			if prev, ok := in[i]; !ok || t.Level > q.Place.Territories[prev].Level {
				in[i] = ti
			}
		}
	}
	order := make([]int32, 0, len(in))
	for i := range in {
		order = append(order, i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(q.Place.Territories[in[b]].Level, q.Place.Territories[in[a]].Level); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var ex Explanation
	// The reasons are written only for the skipped entries listed.
	skip := func(e *entry, why func(e *entry) Reason) {
		if len(ex.Skipped) < MaxSkipped {
			ex.Skipped = append(ex.Skipped, why(e))
		}
	}
	kept := make([]int32, 0, len(order))
	for _, i := range order {
		e := &x.entries[i]
		switch {
		case e.inactive != "":
			skip(e, func(e *entry) Reason { return reason(e.ref, e.inactive) })
			continue
		case len(q.Languages) > 0 && len(e.langs) > 0 && !overlap(q.Languages, e.langs):
			skip(e, func(e *entry) Reason {
				return reason(e.ref, ReasonLanguage, strings.Join(e.langs, ", "), strings.Join(q.Languages, ", "))
			})
			continue
		}
		if !q.At.IsZero() {
			if ok, why := e.available(q.At, q.Until); !ok {
				skip(e, func(e *entry) Reason { return reason(e.ref, why) })
				continue
			}
		}
		kept = append(kept, i)
	}
	ranked, open, err := x.byLoad(kept, loads, skip)
	if err != nil {
		return nil, Explanation{}, err
	}
	// Out of territory: the first entries of the role outside, up to the cap.
	for _, i := range x.byRole[q.Role] {
		if len(ex.Skipped) >= MaxSkipped {
			break
		}
		if _, ok := in[i]; !ok {
			skip(&x.entries[i], (*entry).outOfTerritory)
		}
	}
	ex.SkippedTotal = len(x.byRole[q.Role]) - len(ranked)
	if q.Limit > 0 && len(ranked) > q.Limit {
		ranked = ranked[:q.Limit]
	}
	out := make([]Candidate, 0, len(ranked))
	for _, i := range ranked {
		e := &x.entries[i]
		c := Candidate{Ref: e.ref, Match: q.Place.Territories[in[i]]}
		k := Reason{Ref: c.Ref, Why: "covers the patient's " + c.Match.String(), Code: c.Match.covers(), Detail: []string{c.Match.Code}}
		if e.capacity != noCapacity {
			k.Why += fmt.Sprintf("; %d open Tasks of %d", open[i], e.capacity)
			k.Detail = append(k.Detail, strconv.FormatInt(open[i], 10), strconv.FormatInt(e.capacity, 10))
		}
		out = append(out, c)
		ex.Kept = append(ex.Kept, k)
	}
	return out, ex, nil
}

// byLoad reads the open Tasks of the entries of kept that state a
// capacity, skips those at or above it, and sorts the others by load
// (open/capacity, none: 0), stably: kept's order breaks ties. open maps
// an entry to its open Tasks, for those with a capacity.
func (x *Index) byLoad(kept []int32, loads Loads, skip func(*entry, func(*entry) Reason)) ([]int32, map[int32]int64, error) {
	var refs []string
	var with []int32
	for _, i := range kept {
		if x.entries[i].capacity != noCapacity {
			refs, with = append(refs, x.entries[i].ref), append(with, i)
		}
	}
	if len(with) == 0 {
		return kept, nil, nil
	}
	open := make(map[int32]int64, len(with))
	if loads != nil {
		counts, err := loads.OpenTasks(refs)
		if err != nil {
			return nil, nil, fmt.Errorf("open Tasks of the candidates: %w", err)
		}
		for j, i := range with {
			open[i] = int64(counts[j])
		}
	}
	out := kept[:0:0]
	for _, i := range kept {
		e := &x.entries[i]
		if n := open[i]; e.capacity != noCapacity && n >= e.capacity {
			skip(e, func(e *entry) Reason {
				return reason(e.ref, ReasonAtCapacity, strconv.FormatInt(n, 10), strconv.FormatInt(e.capacity, 10))
			})
			continue
		}
		out = append(out, i)
	}
	// n/c against m/d as n·d against m·c: capacities are capped at 2^31
	// (capacityOf) and counts are far below, so the products fit.
	frac := func(i int32) (n, c int64) {
		if c = x.entries[i].capacity; c == noCapacity {
			return 0, 1
		}
		return open[i], c
	}
	slices.SortStableFunc(out, func(a, b int32) int {
		n, c := frac(a)
		m, d := frac(b)
		return cmp.Compare(n*d, m*c)
	})
	return out, open, nil
}

func (e *entry) outOfTerritory() Reason {
	if len(e.territories) == 0 {
		return reason(e.ref, ReasonNoTerritory)
	}
	ks := make([]string, 0, len(e.territories))
	for k := range e.territories {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	if len(ks) <= 5 {
		return reason(e.ref, ReasonOutOfTerritory, strings.Join(ks, ", "))
	}
	more := len(ks) - 5
	r := reason(e.ref, ReasonOutOfTerritory, strings.Join(ks[:5], ", ")+", … "+strconv.Itoa(more)+" more")
	r.Detail = []string{strings.Join(ks[:5], ", ") + ", +" + strconv.Itoa(more)}
	return r
}

func overlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
