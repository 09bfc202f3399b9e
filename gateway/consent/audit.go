package consent

import (
	"slices"
	"strings"

	"github.com/relais-health/relais/fhir/audit"
)

// Disclosure says what a filtered request discloses, for its audit event
// (IHE BALP's RESTful patterns: Read, Query): the interaction and the
// resource read ("Type/id"), or a search: its type and parameter names
// ("Observation?code&patient", the cleaned query of BALP's
// entity[query].description) and the request as received (the raw
// query BALP's entity[query].query holds, base64).
type Disclosure struct {
	Interaction audit.Code // audit.SubRead, SubVRead, SubSearch, SubHistory
	What        string     // a read's "Type/id"
	Query       string     // a search's type and parameter names
	Request     []byte     // a search's request line (and form body)
	// Patients are the patients a search names in its parameters
	// (search.Query.Patients): it is about them whatever it finds, and an
	// empty answer is recorded as one about them (IHE BALP PatientQuery:
	// "success may result in zero or more results").
	Patients []string
}

// Describe sets what the request discloses: its records then come with a
// disclosure AuditEvent (Record).
func (f *Filter) Describe(d Disclosure) { f.disclosure = &d }

// events are the AuditEvents recorded for out: own, the records that
// are kept as AuthZ consent events of their own, and also, the others:
// the disclosure (Describe), naming each patient whose data passed with
// the decision it passed under, and one change per write decided
// (NoteWrite), and a break-the-glass event for each record that opened
// (or used, with a reason) a grant. A permitted read of one resource (a
// system caller's too, whose decision names no patient) is one event that
// records both its decision and its disclosure (audit.ReadEvent). Data
// passed under a system scope is disclosed too: its patients are named
// with the system decision, so that each finds the access in her
// disclosure log.
func (f *Filter) events(out []Record) (own []Record, also []audit.Event) {
	own = out
	for i := range out {
		if r := &out[i]; r.BreakGlass && r.Permit && r.Reason != "" && r.Patient != "" {
			also = append(also, audit.BreakGlassEvent(f.e.newID(), r))
		}
	}
	if d := f.disclosure; d != nil {
		if r := &out[0]; len(out) == 1 && d.What != "" && r.Permit && (r.Permitted > 0 || r.System) && r.Parts == nil &&
			!strings.HasPrefix(r.Action, ActionWrite) {
			read := *r
			if read.System && read.Patient == "" && len(f.sysPatients) == 1 {
				read.Patient = f.sysPatients[0]
			}
			read.Peers = f.req.Peers
			e := audit.ReadEvent(&read, d.Interaction, d.What)
			e.Agents[0] = f.requester()
			return nil, append(also, e)
		}
		also = append(also, f.disclosureEvents(d, out)...)
	}
	for i := range f.writes {
		also = append(also, f.changeEvent(&f.writes[i]))
	}
	return own, also
}

func (f *Filter) requester() audit.Agent {
	return audit.Requester(f.req.requester(), f.req.Token)
}

// requester names who asked, as the audit log records her: the Actor,
// else the backend client ("client:<id>") whose token has no fhirUser
// (BALP: the user agent's who is required, and the decision log lists a
// client's decisions under it).
func (req *Request) requester() string {
	if req.Actor == "" && req.Client != "" {
		return "client:" + req.Client
	}
	return req.Actor
}

// disclosureEvents are the request's disclosure: one event per patient
// whose data passed (IHE BALP, Query: a query about several patients is
// recorded once per patient, so that each patient's disclosure log shows
// her own and names nobody else), or one naming none. A patient's event
// holds the request as received only when the search named her and no
// one else in its parameters (Disclosure.Patients); otherwise its query
// is the cleaned form, since a value of the request may name someone
// else (another patient's name or INS, among the values of a search
// that found nothing of hers, or that the caller may not see), and the
// request as received is kept for auditors in one more event of the
// query that names no patient (IHE BALP Query).
func (f *Filter) disclosureEvents(d *Disclosure, out []Record) []audit.Event {
	e := f.disclosureEvent(d, out)
	var pats, rest []audit.Entity
	raw := false // a query entity holds the request as received
	for _, en := range e.Entities {
		if en.Role == audit.RolePatient {
			pats = append(pats, en)
		} else {
			rest = append(rest, en)
			raw = raw || en.Role == audit.RoleQuery && string(en.Query) != en.Description
		}
	}
	if len(pats) == 0 || !raw && len(pats) == 1 || raw && len(pats) == 1 && slices.Equal(d.Patients, []string{pats[0].What}) {
		return []audit.Event{e}
	}
	evs := make([]audit.Event, 0, len(pats)+1)
	for i, p := range pats {
		ev := e
		if i > 0 {
			ev.ID = f.e.newID()
		}
		ev.Entities = append([]audit.Entity{p}, rest...)
		for j := range ev.Entities {
			if en := &ev.Entities[j]; en.Role == audit.RoleQuery {
				en.Query = []byte(en.Description)
			}
		}
		evs = append(evs, ev)
	}
	if raw {
		ev := e
		ev.ID, ev.Entities = f.e.newID(), rest
		evs = append(evs, ev)
	}
	return evs
}

func (f *Filter) disclosureEvent(d *Disclosure, out []Record) audit.Event {
	e := audit.Event{
		ID: f.e.newID(), Time: f.now, Kind: audit.KindDisclosure, Type: audit.TypeRest,
		Subtype: []audit.Code{d.Interaction}, Action: audit.ActionRead, Outcome: audit.OutcomeMinor,
		Purpose: []string{f.req.Purpose}, Agents: []audit.Agent{f.requester()},
	}
	e.AddPeers(f.req.Peers)
	if d.Query != "" {
		e.Action = audit.ActionExecute
	}
	var named []string // the patients named so far, each once
	patient := func(p, decision string) {
		if !slices.Contains(named, p) {
			named = append(named, p)
			pe := audit.PatientEntity(p)
			pe.Details = []audit.Detail{{Type: audit.DetailDecision, Value: decision}}
			e.Entities = append(e.Entities, pe)
		}
	}
	denied := func(p string) bool {
		return slices.ContainsFunc(out, func(r Record) bool { return r.Patient == p && !r.Permit })
	}
	for _, r := range out {
		if r.BreakGlass {
			e.BreakGlass = true
		}
		// a query that withheld nothing succeeded, even with no match; a
		// read succeeded only if it disclosed what it named
		if r.Permit && r.Parts == nil && r.Action != "" && !strings.HasPrefix(r.Action, ActionWrite) &&
			(d.What == "" || r.Permitted > 0 || r.System) {
			e.Outcome = audit.OutcomeSuccess
		}
		if strings.HasPrefix(r.Action, ActionWrite) || !r.Permit || r.Parts != nil {
			continue // the request's own record: the patients named below
		}
		if r.System {
			// the patients whose data passed under the system scope
			for _, p := range f.sysPatients {
				patient(p, r.ID)
			}
		}
		if r.Patient != "" && !denied(r.Patient) {
			patient(r.Patient, r.ID)
		}
	}
	if len(out) > 0 {
		// a patient the search named and found nothing of, or nothing it
		// withheld: the query was about her all the same, under the
		// request's own record
		for _, p := range d.Patients {
			if !denied(p) {
				patient(p, out[0].ID)
			}
		}
	}
	if len(out) > 0 {
		// the request's own record (out[0]) names all of them
		e.Entities = append(e.Entities, audit.DecisionRef(out[0].ID))
	}
	switch {
	case d.What != "":
		e.Entities = append(e.Entities, audit.Entity{What: d.What, Type: audit.EntityObject, Role: audit.RoleResource})
	case d.Query != "":
		// BALP Query entity[query]: no what, the request base64 (the
		// cleaned query when the request is unknown), its cleaned form
		q := d.Request
		if len(q) == 0 {
			q = []byte(d.Query)
		}
		e.Entities = append(e.Entities, audit.Entity{Type: audit.EntityObject, Role: audit.RoleQuery, Description: d.Query, Query: q})
	}
	if e.BreakGlass && !containsString(e.Purpose, PurposeBreakGlass) {
		e.Purpose = append(e.Purpose, PurposeBreakGlass)
	}
	return e
}

// InteractionPatch is the interaction of a write that was a PATCH
// (Write.Interaction): decided as an update, recorded as a patch.
const InteractionPatch = "patch"

// changeEvent is a write decision's BALP Create, Update or Delete event;
// a PATCH's is an Update whose subtype is patch (BALP Update
// subtype[anyPatch], action U).
func (f *Filter) changeEvent(r *Record) audit.Event {
	sub, act := audit.SubCreate, audit.ActionCreate
	switch strings.TrimPrefix(r.Action, ActionWrite+":") {
	case "update":
		sub, act = audit.SubUpdate, audit.ActionUpdate
	case InteractionPatch:
		sub, act = audit.SubPatch, audit.ActionUpdate
	case "delete":
		sub, act = audit.SubDelete, audit.ActionDelete
	}
	user := audit.Requester(r.Actor, r.Token)
	user.Type = audit.AgentAuthor // BALP Create, Update, Delete: agent[user] from DataSources
	e := audit.Event{
		ID: f.e.newID(), Time: r.Time, Kind: audit.KindChange, Type: audit.TypeRest, Subtype: []audit.Code{sub},
		Action: act, Outcome: audit.OutcomeSuccess, Purpose: []string{f.req.Purpose},
		Agents: []audit.Agent{user},
	}
	e.AddPeers(f.req.Peers)
	if !r.Permit {
		e.Outcome = audit.OutcomeMinor
	}
	if r.Patient != "" {
		e.Entities = append(e.Entities, audit.PatientEntity(r.Patient))
	}
	if strings.Contains(r.Resource, "/") {
		e.Entities = append(e.Entities, audit.Entity{What: r.Resource, Type: audit.EntityObject, Role: audit.RoleResource,
			Details: []audit.Detail{{Type: audit.DetailDecision, Value: r.ID}}})
	}
	return e
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
