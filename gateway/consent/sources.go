package consent

import (
	"context"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
)

// Actor is what the directory knows of a requester.
type Actor struct {
	Ref   string // as asked: "PractitionerRole/r1"
	Known bool   // the reference resolved to a stored, current resource
	// Active is false for a PractitionerRole (or every role of a
	// Practitioner) marked inactive.
	Active bool
	// Belongs are the references the actor acts for: a PractitionerRole's
	// Practitioner, Organization and HealthcareServices; a Practitioner's
	// active roles, their organisations and services.
	Belongs []string
	// Roles are "system|code" of PractitionerRole.code and specialty (of all
	// the Practitioner's active roles when the actor is a Practitioner).
	Roles []string
	// Qualifications are "system|code" of Practitioner.qualification.code
	// of the actor's Practitioner (or of the actor, a Practitioner): where
	// the Annuaire Santé states the profession and the specialties, its
	// PractitionerRole.code coding the practitioner's situation in the
	// structure instead (Policy.codes).
	Qualifications []string
	// Identifiers are "system|value" of the actor's, its Practitioner's and
	// its Organization's identifiers (for cross-border recipients).
	Identifiers []string
}

// Circle is the patient's care team.
type Circle struct {
	GeneralPractitioners []string // Patient.generalPractitioner references
	Teams                []Team   // the patient's active CareTeams
	// Asked are the patient's open Tasks (requested, received, accepted,
	// ready, in progress) that make their owners candidates: the
	// recipients routing asked to act, who must see what they are asked
	// and who and where the patient is, and nothing else.
	Asked []Asked
	// Requesters requested one of those Tasks or the patient's other
	// Tasks (Task.requester): the discharging hospital, whose staff
	// follow up what it asked.
	Requesters []string
	// Orders are every Task of the patient a trusted issuer wrote
	// (Circle.trusts), whatever its status: the orders (Policy.Addressed)
	// an actor outside the care team receives under a permit are those
	// addressed to or from her.
	Orders []Order
}

// Order is one Task of the patient: whom it is between and what it names.
type Order struct {
	Parties []string // Task.owner and Task.requester
	Refs    []string // the Task and what it is about (Task.focus): "Type/id"
}

// Asked is one open Task of the patient and what its owner may see for it.
type Asked struct {
	Owners []string // Task.owner
	Refs   []string // the Task and what it is about (Task.focus): "Type/id"
}

// Team is one active CareTeam and the references of its members.
type Team struct {
	Ref     string // "CareTeam/id"
	Members []string
}

// Directory resolves requesters.
type Directory interface {
	Actor(ctx context.Context, ref string) (Actor, error)
}

// CareTeams gives a patient's care team.
type CareTeams interface {
	Circle(ctx context.Context, patient string) (Circle, error)
}

// Consents gives a patient's Consents. Stamp must change whenever one of
// them is created, updated or deleted (or moves to another patient): it is
// checked before every decision, so it must be cheap.
type Consents interface {
	Stamp(ctx context.Context, patient string) (string, error)
	// Consents returns the current Consents that govern the patient (any
	// status), the patients whose Consents they are, and the stamp they
	// correspond to: hers, and those of the patients the source says are
	// the same person (StoreSource: the Patients her Patient.link names,
	// such as a merge's), which the engine applies together. A Consent of
	// a patient not listed is ignored.
	Consents(ctx context.Context, patient string) (list []*cpb.Consent, patients []string, stamp string, err error)
}
