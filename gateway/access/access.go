// Package access is the write policy: what a caller may change. The
// consent engine (gateway/consent) decides what is disclosed; this package
// decides, for a caller that is not a system integration, which resource
// types it may author, and the rules of the resources whose changes are
// acts of their own (Task, Consent, Subscription).
//
// The policy is a table (Table) of who writes what, checked in two steps
// that the API runs in this order, so that no answer tells a hidden
// resource from an absent one:
//
//  1. Allowed: the caller's class, the type and the interaction. It looks
//     at no data, so a refusal (403) says nothing of what is stored.
//  2. Change: the rules of one change, for a resource the caller may see
//     (the API answers 404 for one it may not, as for an absent one):
//     a social role writes only SOC and FUNC data, a Task moves by the R4
//     state machine and only its owner or requester moves it, a Consent is
//     the patient's own, a Subscription its owner's.
//
// Callers whose scope grants the interaction in the system context (the
// hospital's integrations) are not subject to the table: the API records
// their writes and lets them through, apart from the Task state machine,
// which binds everyone.
//
// Caveats: a caller's class comes from the directory (its PractitionerRole
// codes) as it stands at the time of the request; the table is fixed in
// code and served read-only (GET /admin/write-policy).
package access

import (
	"slices"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// Class is what the write policy makes of a caller.
type Class string

// The classes of callers. A professional's class comes from her
// PractitionerRole codes (consent.Standing); a patient's from her fhirUser.
const (
	Health               Class = "health-professional"   // TRE_G15 profession
	Social               Class = "social-role"           // TRE_R85 / TRE_R94 role
	ConsentAdministrator Class = "consent-administrator" // consent.RoleConsentAdministrator
	DischargeCoordinator Class = "discharge-coordinator" // consent.RoleDischargeCoordinator
	Patient              Class = "patient"               // fhirUser Patient/x
	Representative       Class = "legal-representative"  // fhirUser RelatedPerson/r, her legal representative
	Related              Class = "related-person"        // any other RelatedPerson: reads only
	Unclassified         Class = "unclassified"          // unknown, inactive or uncoded
)

// Caller is the requester as the write policy sees it.
type Caller struct {
	Class Class
	// Actor is the token's fhirUser ("PractitionerRole/r", "Patient/p").
	Actor string
	// Refs are Actor and what it acts for (consent.Standing.Refs): a Task
	// owned or requested by any of them is the caller's.
	Refs []string
	// Patient is the patient a Patient, Representative or Related caller
	// acts for ("Patient/p").
	Patient string
	// Roles are a professional's role codes (consent.Standing.Roles).
	Roles []string
}

// Classify gives a professional's class from her standing.
func Classify(st consent.Standing) Class {
	switch {
	case !st.Known || !st.Active:
		return Unclassified
	case st.ConsentAdministrator:
		return ConsentAdministrator
	case st.DischargeCoordinator:
		return DischargeCoordinator
	case st.Social:
		return Social
	case st.Health:
		return Health
	}
	return Unclassified
}

// Rule is one line of the write policy: who may do what to a type.
type Rule struct {
	Type string  `json:"type"`
	Who  []Class `json:"who"`
	// Ops are the interactions allowed: create, update (PUT and PATCH),
	// delete.
	Ops  []string `json:"interactions"`
	Note string   `json:"rule"`
}

// Interactions of a Rule.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

var everyone = []Class{Health, Social, ConsentAdministrator, DischargeCoordinator, Patient, Representative, Related, Unclassified}

// Table is the write policy for callers without a system scope. Anything
// it does not list is refused (403): nobody but a system caller deletes
// clinical data, writes a Patient, an Encounter, a CareTeam or the
// directory, so no professional can change Patient.generalPractitioner or
// a care team's membership, which decide who sees the patient's data.
var Table = []Rule{
	{"Observation", []Class{Health}, []string{OpCreate, OpUpdate},
		"about a patient whose data the author may see"},
	{"Observation", []Class{Social}, []string{OpCreate, OpUpdate},
		"social situation and autonomy only: every data-category label SOC or FUNC"},
	{"Communication", []Class{Health, Social}, []string{OpCreate, OpUpdate},
		"about a patient whose data the author may see"},
	{"DocumentReference", []Class{Health}, []string{OpCreate, OpUpdate},
		"about a patient whose data the author may see"},
	{"QuestionnaireResponse", []Class{Health, Social}, []string{OpCreate, OpUpdate},
		"about a patient whose data the author may see; a social role's only SOC or FUNC"},
	{"Task", []Class{Health, Social, DischargeCoordinator}, []string{OpCreate, OpUpdate},
		"created by its requester; moved by its owner (accept, reject, start, hold, complete, fail) or its requester (cancel, re-assign, entered-in-error), along the R4 state machine"},
	{"Consent", []Class{ConsentAdministrator}, []string{OpCreate, OpUpdate, OpDelete},
		"any patient's objections and permits"},
	{"Consent", []Class{Patient, Representative}, []string{OpCreate, OpUpdate, OpDelete},
		"the patient's own objections and permits"},
	{"Subscription", everyone, []string{OpCreate, OpUpdate, OpDelete},
		"the caller's own Subscriptions only (each is stamped with its owner)"},
}

// Op names an auth.Op as an interaction of the Table.
func Op(op auth.Op) string {
	switch op {
	case auth.Create:
		return OpCreate
	case auth.Delete:
		return OpDelete
	}
	return OpUpdate
}

// Allowed is step 1: may c do op to typ at all? It reads no data.
func Allowed(c *Caller, typ, op string) error {
	for _, r := range Table {
		if r.Type == typ && slices.Contains(r.Who, c.Class) && slices.Contains(r.Ops, op) {
			return nil
		}
	}
	return outcome.New(outcome.Forbidden, "the write policy does not allow this",
		outcome.Issue{Severity: outcome.SevError,
			Text: "the caller's class (" + string(c.Class) + ") may not " + op + " " + typ + " (GET /admin/write-policy lists what each class may write)"})
}
