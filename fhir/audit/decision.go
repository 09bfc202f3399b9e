package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decision is a consent or write-policy decision as it is audited. Its
// JSON is the record of the decision log before storage version 8 (the
// store's migration reads those records with it), and what
// /admin/decisions serves: the log's view of the decision's AuditEvent.
type Decision struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor,omitempty"`
	Patient    string    `json:"patient,omitempty"`
	Permit     bool      `json:"permit"`
	Basis      []string  `json:"basis,omitempty"`
	Provision  string    `json:"provision,omitempty"`
	Policy     string    `json:"policy,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	Action     string    `json:"action,omitempty"`
	Resource   string    `json:"resource,omitempty"`
	System     bool      `json:"system,omitempty"`
	BreakGlass bool      `json:"breakGlass,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Expires    time.Time `json:"expires,omitzero"`
	Permitted  int       `json:"permitted,omitempty"`
	Denied     int       `json:"denied,omitempty"`
	Parts      []string  `json:"parts,omitempty"`
	// Token is the requester's access token ID (jti), when it had one.
	Token string `json:"token,omitempty"`
	// Evaluated, on a what-if ($evaluate), is the actor whose access was
	// evaluated; Actor is then who asked. Nothing was disclosed to either.
	Evaluated string `json:"evaluated,omitempty"`
	// Org is the organization the requester acts for ("Organization/x"),
	// when the directory tells one: BALP AuthZconsent's agent[userorg].
	Org string `json:"organization,omitempty"`
	// Peers are the request's network ends (its AuditEvent's client and
	// server agents); not in the decision log's JSON.
	Peers Peers `json:"-"`
}

// Details of a decision, on its patient's entity, else on the entity
// naming the decision (DecisionEvent).
const (
	detailPolicy    = "policy"
	detailProvision = "provision"
	detailAction    = "action"
	detailResource  = "resource"
	detailSystem    = "system"
	detailBTG       = "break-glass"
	detailReason    = "break-glass-reason"
	detailExpires   = "break-glass-expires"
	detailPermitted = "permitted"
	detailDenied    = "denied"
	detailPart      = "part"
	detailEvaluated = "evaluated-actor"
	// DetailDecision, on a disclosure's entity, names the decision it was
	// made under.
	DetailDecision = "decision"
)

// DecisionEvent is d as a BALP AuthZ consent AuditEvent
// (https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.AuthZconsent):
// type DCM 110113 Security Alert, subtype AuthZ-Consent, action E, outcome
// 0 for permit and 8 for deny (BALP's deny example), the requester as the
// user (information recipient) whose policy is the token's jti, the
// organization she acts for (agent[userorg]) when known, Relais as the
// authorization server (the source's observer), the client application at
// its address; and as entities only the three the profile's closed
// slicing admits: the patient, the Consents that decided (entity type
// Consent, role security resource) and the token by its jti
// (entity[token]). The decision's own details (what the decision log
// holds) are the patient entity's, after the decision's ID: the event is
// about her. A decision about no patient cannot follow the profile (its
// patient is 1..1); it names the decision by an entity of its own
// (DecisionRef) that holds them.
func DecisionEvent(d *Decision) Event {
	e := Event{
		ID: d.ID, Time: d.Time, Kind: KindDecision, Type: TypeAlert, Subtype: []Code{SubAuthZ},
		Action: ActionExecute, Outcome: OutcomeSerious, OutcomeDesc: d.Policy, BreakGlass: d.BreakGlass,
	}
	if d.Permit {
		e.Outcome = OutcomeSuccess
	}
	if d.Purpose != "" {
		e.Purpose = []string{d.Purpose}
	}
	e.Agents = decisionAgents(d)
	e.AddPeers(d.Peers)
	// room for the patient (or the decision), the Consents, the token and
	// a read's resource
	e.Entities = make([]Entity, 0, len(d.Basis)+3)
	subject := DecisionRef(d.ID)
	if d.Patient != "" {
		subject = PatientEntity(d.Patient)
		subject.Details = append(make([]Detail, 0, 7), Detail{DetailDecision, d.ID})
	}
	subject.Details = d.appendDetails(subject.Details)
	e.Entities = append(e.Entities, subject)
	for _, c := range d.Basis {
		e.Entities = append(e.Entities, Entity{What: c, Type: EntityConsent, Role: RoleSecurity})
	}
	if d.Token != "" {
		e.Entities = append(e.Entities, Entity{IDSystem: SystemTokenID, IDValue: JTIPrefix + d.Token, Type: EntityToken})
	}
	return e
}

// DecisionRef is an entity naming a consent decision by its ID, where an
// event refers to the decision it was made under and names no patient
// whose entity would (a system caller's request, a query's own record).
func DecisionRef(id string) Entity {
	return Entity{IDSystem: SystemDecision, IDValue: id, Type: EntityOther, Role: RoleJob}
}

// appendDetails appends what the decision log holds of d beyond the
// event's own fields, as entity details (DecisionOf reads them back).
func (d *Decision) appendDetails(out []Detail) []Detail {
	add := func(k, v string) {
		if v != "" {
			out = append(out, Detail{k, v})
		}
	}
	add(detailPolicy, d.Policy)
	add(detailProvision, d.Provision)
	add(detailAction, d.Action)
	add(detailResource, d.Resource)
	if d.System {
		add(detailSystem, "true")
	}
	if d.BreakGlass {
		add(detailBTG, "true")
	}
	add(detailReason, d.Reason)
	if !d.Expires.IsZero() {
		add(detailExpires, d.Expires.UTC().Format(time.RFC3339Nano))
	}
	if d.Permitted != 0 {
		add(detailPermitted, strconv.Itoa(d.Permitted))
	}
	if d.Denied != 0 {
		add(detailDenied, strconv.Itoa(d.Denied))
	}
	for _, p := range d.Parts {
		add(detailPart, p)
	}
	add(detailEvaluated, d.Evaluated)
	return out
}

// ReadEvent is a read of one resource permitted by d, and d itself, as one
// AuditEvent: the BALP Patient Read pattern
// (https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead:
// type rest, subtype the interaction, action R, the requester as the
// OAuth agent whose policy is the token's jti, the patient (none for a
// system caller's read: its decision names none), the resource read),
// whose open slices also carry what DecisionEvent records: the
// AuthZ-Consent subtype, the user's organization, Relais as the
// authorization server, the Consents that decided, the token, and the
// decision's details on the patient entity. One entry per read instead of
// two; the decision log reads it back (DecisionOf) as it reads an AuthZ
// consent event. Its id is the decision's.
func ReadEvent(d *Decision, interaction Code, what string) Event {
	e := DecisionEvent(d)
	e.Kind, e.Type, e.Action, e.Outcome = KindDisclosure, TypeRest, ActionRead, OutcomeSuccess
	e.Subtype = []Code{interaction, SubAuthZ}
	e.Agents = decisionAgents(d)
	e.AddPeers(d.Peers)
	e.Entities = append(e.Entities, Entity{What: what, Type: EntityObject, Role: RoleResource})
	return e
}

// decisionAgents are the requester, the organization she acts for when
// known, and Relais as the authorization server of d.
func decisionAgents(d *Decision) []Agent {
	out := make([]Agent, 0, 5) // and the peers' (AddPeers)
	out = append(out, requester(d.Actor, d.Token))
	if d.Org != "" {
		out = append(out, Agent{Type: AgentUserOrg, Who: d.Org})
	}
	return append(out, Agent{Type: AgentAuthorizer, Display: serverDisplay})
}

// requester is the agent who asked: a reference, or a client
// ("client:<id>"), as the user (BALP agent[user], information
// recipient, requestor) whose policy is the token's jti (BALP
// OAUTHaccessTokenUse: agent.policy, JTIPrefix first).
func requester(actor, jti string) Agent {
	a := Agent{Type: AgentRecip, Requestor: true}
	if c, ok := strings.CutPrefix(actor, "client:"); ok {
		a.Client = c
	} else if strings.Contains(actor, "/") {
		a.Who = actor
	} else {
		a.Display = "unidentified requester"
	}
	if jti != "" {
		a.Policy = []string{JTIPrefix + jti}
	}
	return a
}

// Requester is the agent who asked (actor a reference or "client:<id>"),
// with the token's jti.
func Requester(actor, jti string) Agent { return requester(actor, jti) }

// PatientEntity is the patient an event is about.
func PatientEntity(ref string) Entity {
	return Entity{What: ref, Type: EntityPerson, Role: RolePatient}
}

// parsed is the part of a stored AuditEvent the views read back.
type parsed struct {
	ID             string `json:"id"`
	Recorded       string `json:"recorded"`
	Outcome        string `json:"outcome"`
	PurposeOfEvent []struct {
		Coding []struct{ Code string } `json:"coding"`
	} `json:"purposeOfEvent"`
	Subtype []coding `json:"subtype"`
	Agent   []struct {
		Type struct {
			Coding []coding `json:"coding"`
		} `json:"type"`
		Who       ref      `json:"who"`
		Requestor bool     `json:"requestor"`
		Policy    []string `json:"policy"`
	} `json:"agent"`
	Entity []struct {
		What   ref                   `json:"what"`
		Role   struct{ Code string } `json:"role"`
		Detail []struct {
			Type        string `json:"type"`
			ValueString string `json:"valueString"`
		} `json:"detail"`
	} `json:"entity"`
}

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type ref struct {
	Reference  string `json:"reference"`
	Identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

func (r ref) name() string {
	if r.Reference != "" {
		return r.Reference
	}
	if r.Identifier.System == SystemClient {
		return "client:" + r.Identifier.Value
	}
	return ""
}

// ErrNotDecision is DecisionOf's answer for an AuditEvent that records no
// decision.
var ErrNotDecision = errors.New("audit event: not a decision")

// DecisionOf reads back the decision an AuthZ consent AuditEvent
// (DecisionEvent's, or ReadEvent's) records: one whose subtypes hold
// AuthZ-Consent. Its details are on its patient's entity, or on the
// entity naming the decision (that of every event recorded before the
// patient's entity held them).
func DecisionOf(js []byte) (Decision, error) {
	var p parsed
	if err := json.Unmarshal(js, &p); err != nil {
		return Decision{}, fmt.Errorf("audit event: %w", err)
	}
	if !slices.Contains(p.Subtype, coding{SubAuthZ.System, SubAuthZ.Code}) {
		return Decision{}, ErrNotDecision
	}
	t, err := ParseTime(p.Recorded)
	if err != nil {
		return Decision{}, fmt.Errorf("audit event time: %w", err)
	}
	d := Decision{ID: p.ID, Time: t, Permit: p.Outcome == OutcomeSuccess}
	for _, pe := range p.PurposeOfEvent {
		for _, c := range pe.Coding {
			d.Purpose = c.Code
		}
	}
	for _, a := range p.Agent {
		if slices.Contains(a.Type.Coding, coding{AgentUserOrg.System, AgentUserOrg.Code}) {
			d.Org = a.Who.Reference
		}
		if a.Requestor {
			d.Actor = a.Who.name()
			if len(a.Policy) > 0 {
				// entries recorded before the prefix have the bare jti
				d.Token = strings.TrimPrefix(a.Policy[0], JTIPrefix)
			}
		}
	}
	for _, en := range p.Entity {
		switch {
		case en.Role.Code == RolePatient:
			d.Patient = en.What.Reference
		case en.Role.Code == RoleSecurity && en.What.Reference != "":
			d.Basis = append(d.Basis, en.What.Reference)
			continue
		case en.What.Identifier.System != SystemDecision:
			continue
		}
		for _, dt := range en.Detail {
			if err := d.set(dt.Type, dt.ValueString); err != nil {
				return Decision{}, err
			}
		}
	}
	return d, nil
}

func (d *Decision) set(k, v string) (err error) {
	switch k {
	case detailPolicy:
		d.Policy = v
	case detailEvaluated:
		d.Evaluated = v
	case detailProvision:
		d.Provision = v
	case detailAction:
		d.Action = v
	case detailResource:
		d.Resource = v
	case detailSystem:
		d.System = v == "true"
	case detailBTG:
		d.BreakGlass = v == "true"
	case detailReason:
		d.Reason = v
	case detailExpires:
		d.Expires, err = time.Parse(time.RFC3339Nano, v)
	case detailPermitted:
		d.Permitted, err = strconv.Atoi(v)
	case detailDenied:
		d.Denied, err = strconv.Atoi(v)
	case detailPart:
		d.Parts = append(d.Parts, v)
	}
	if err != nil {
		return fmt.Errorf("audit event detail %s: %w", k, err)
	}
	return nil
}
