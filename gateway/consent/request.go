package consent

import (
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/category"
)

// Actions a request may take (http://terminology.hl7.org/CodeSystem/consentaction).
const (
	ActionAccess   = "access"
	ActionDisclose = "disclose"
)

// ActionWrite prefixes the action of a write decision's record
// ("write:create", "write:update", "write:delete"): the write policy's
// decisions are recorded with the consent engine's (Filter.NoteWrite).
const ActionWrite = "write"

// Purposes of use with a meaning of their own here (v3-ActReason).
const (
	PurposeTreat      = "TREAT"
	PurposeEmergency  = "ETREAT"
	PurposeBreakGlass = "BTG"
)

// Request is one question to the engine: may Actor receive this resource of
// Patient for Purpose?
type Request struct {
	Patient string // "Patient/id"
	// Actor is the requester: a Practitioner, PractitionerRole, Organization
	// or CareTeam reference ("PractitionerRole/123").
	Actor   string
	Action  string // access (default) or disclose
	Purpose string // v3-ActReason code, default TREAT
	// System marks a caller whose system scopes read every type (the
	// hospital's integration): permitted by configuration, still recorded.
	System bool
	// SystemTypes, for a Filter, tells the types the caller reads under a
	// system scope: those pass as for System, the others go through the
	// engine. Having some system scope is not enough: the scope that
	// grants the read of that type decides.
	SystemTypes func(typ string) bool
	// Self, when set ("Patient/x"), says the requester is the patient
	// herself or someone acting for her (a RelatedPerson): she receives
	// her own record whole (right of access, CSP L.1111-7) and nothing of
	// anyone else's. Actor is then her Patient or RelatedPerson reference.
	Self string
	// Owner names the requester as the owner of the resources of the
	// Policy.Owned types (a Subscription carries its owner in a meta.tag
	// of OwnerSystem, set by the server): those pass only for their owner
	// or a system caller.
	Owner string
	// BreakGlassReason, with purpose ETREAT or BTG, opens a time-limited
	// break-the-glass grant (X-Break-Glass-Reason).
	BreakGlassReason string
	// Token is the requester's access token ID (jti), recorded with the
	// decision; Client its client_id, which names a requester without a
	// fhirUser in the audit log.
	Token, Client string
	// Peers are the request's network ends, for its AuditEvents' client
	// and server agents (zero for the server's own decisions).
	Peers audit.Peers
	// EvaluatedBy, on a what-if ($evaluate), is who asks ("Type/id", or
	// "client:<id>"): the decision is recorded as hers, about Actor,
	// whose access is only evaluated.
	EvaluatedBy string
	Resource    ResourceFacts
	// Draft is evaluated as if saved: it replaces the stored Consent with its
	// id, or is added. A what-if for administrators; never cached.
	Draft   *cpb.Consent
	Explain bool // fill Decision.Trace
}

// ResourceFacts are what the engine needs to know of the data.
type ResourceFacts struct {
	Type       string          // resource type
	Categories []category.Code // data-category labels; none: category.Default(Type)
	// Labels are the other meta.security labels: the sensitive ones
	// (category.Sensitive) and any other (e.g. v3-Confidentiality N) that a
	// securityLabel criterion may name.
	Labels []category.Sensitivity
	Date   time.Time // clinically relevant date; zero when unknown
	Ref    string    // "Type/id", for data criteria; empty when unknown
	// Related are the references the resource holds (for data meaning
	// related: the resource refers to the named instance).
	Related []string
	Codes   []string // "system|code" of the resource's code; empty when unknown
}

// Decision is the engine's answer.
type Decision struct {
	ID     string
	Time   time.Time
	Permit bool
	// Basis are the Consents ("Consent/id") that decided; empty when the
	// base policy decided.
	Basis []string
	// Provision is the path of the deciding provision, e.g.
	// "Consent/c1#provision.provision[1]".
	Provision string
	// Policy is the base-policy rule that decided, or that limited a
	// Consent's permit (category or label not named).
	Policy string
	// Obligations are the data categories the actor may receive for this
	// patient under the deciding rule; empty on deny.
	Obligations []category.Code
	// Objection: the patient's Consents deny, a deny provision decided
	// (R4 consent.html: across applicable Consents deny overrides
	// permit). A permit that applies but does not reach the whole request
	// (Policy PolicyCategory, PolicySensitive, PolicyNotAddressed) denies
	// too, and is no objection: what the patient allowed stands, and
	// Uncovered names what it leaves out. Routing removes a candidate she
	// objected to, never one she gave a narrow permit.
	Objection bool
	// Uncovered are, when the patient's permit applies but does not pass
	// every data category of the request (PolicyCategory with Basis), the
	// request's categories it does not pass.
	Uncovered  []category.Code
	BreakGlass bool      // access under a break-the-glass grant, to review
	Expires    time.Time // end of the break-the-glass grant
	Trace      []string  // the evaluation, when Request.Explain
}

// Base-policy rules named in Decision.Policy.
const (
	PolicySystem           = "system-access"
	PolicyBreakGlass       = "break-glass"
	PolicyBreakGlassDenied = "break-glass-health-professionals-only"
	PolicyCareTeam         = "care-team"
	PolicyCandidate        = "routing-candidate"
	PolicyNotAddressed     = "order-not-addressed-to-recipient"
	PolicyCategory         = "category-not-permitted"
	PolicySensitive        = "sensitive-label-not-named"
	PolicyExplicitPermit   = "explicit-permit-required"
	PolicyNonHealth        = "non-health-professional"
	PolicyOutsideTeam      = "outside-care-team"
	PolicyCrossBorder      = "cross-border"
	PolicyUnclassified     = "unclassified-actor"
	PolicyConsentOffice    = "consent-administrator-not-a-recipient"
	PolicyPurpose          = "purpose-requires-permit"
	PolicyBadRequest       = "invalid-request"
	PolicySelf             = "patient-own-record"
	PolicyNotSelf          = "not-the-patients-own-record"
)
