// Package audit is the shape of what Relais audits: FHIR R4 AuditEvents
// (https://hl7.org/fhir/R4/auditevent.html) following the IHE Basic Audit
// Log Patterns (BALP, https://profiles.ihe.net/ITI/BALP/), rendered to the
// JSON the audit log's leaf hashes commit to (Render), their stored form
// (Encode, Decode: binary.go), and the index fields the store keeps for
// each.
//
// An Event names people and resources by reference only ("Patient/p1",
// "PractitionerRole/gp"), never clinical content: no narrative, no codes
// of the data disclosed. A query is the one exception BALP makes: its
// request as received (entity.query, base64, so that malformed or
// malicious requests stay on record), with its resource type and
// parameter names as its cleaned form; recorded once per patient, it is
// the cleaned form alone (gateway/consent).
//
// Events are rendered by hand (Render) rather than through the jsonformat
// marshaller: one or two are recorded for every read, and the marshaller
// costs tens of microseconds where Render costs one or two. The tests parse
// every pattern back through the project's codec, and run the FHIR
// validator over them (RELAIS_VALIDATE=1), so that what is rendered is an
// R4 AuditEvent.
package audit

import (
	"time"
)

// Kind is an event's retention class: how long its body is kept
// (store.PruneAudit); its leaf hash is kept for ever.
type Kind string

// The kinds.
const (
	KindDisclosure Kind = "disclosure" // reads, searches, push deliveries, break-the-glass
	KindDecision   Kind = "decision"   // consent and write-policy decisions (AuthZ)
	KindChange     Kind = "change"     // creates, updates, deletes, label changes (RelabelEvent)
	KindSecurity   Kind = "security"   // tokens issued
	KindIngest     Kind = "ingest"     // HL7 v2 and CDA documents imported
)

// Kinds are every kind, in a fixed order.
var Kinds = []Kind{KindDisclosure, KindDecision, KindChange, KindSecurity, KindIngest}

// Code systems of the patterns.
const (
	SystemDCM         = "http://dicom.nema.org/resources/ontology/DCM"
	SystemRestful     = "http://hl7.org/fhir/restful-interaction"
	SystemAuthZ       = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
	SystemAgentTypes  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
	SystemParticipant = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	SystemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	SystemActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	// SystemClient names a backend-service client by its client_id.
	SystemClient = "urn:relais:client"
	// SystemDecision names a consent decision by its ID.
	SystemDecision = "urn:relais:decision"
)

// Outcomes (AuditEvent.outcome, http://hl7.org/fhir/audit-event-outcome).
const (
	OutcomeSuccess = "0"
	OutcomeMinor   = "4"
	OutcomeSerious = "8"
)

// Actions (AuditEvent.action, http://hl7.org/fhir/audit-event-action).
const (
	ActionCreate  = "C"
	ActionRead    = "R"
	ActionUpdate  = "U"
	ActionDelete  = "D"
	ActionExecute = "E"
)

// Code is a Coding.
type Code struct{ System, Code, Display string }

// Event types and subtypes of the patterns.
var (
	TypeRest     = Code{"http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "Restful Operation"}
	TypeAlert    = Code{SystemDCM, "110113", "Security Alert"}
	TypeExport   = Code{SystemDCM, "110106", "Export"}
	TypeImport   = Code{SystemDCM, "110107", "Import"}
	TypeAuth     = Code{SystemDCM, "110114", "User Authentication"}
	SubAuthZ     = Code{SystemAuthZ, "AuthZ-Consent", "Authorization Decision using Roles and Consent"}
	SubLogin     = Code{SystemDCM, "110122", "Login"}
	SubRead      = Code{SystemRestful, "read", "read"}
	SubVRead     = Code{SystemRestful, "vread", "vread"}
	SubSearch    = Code{SystemRestful, "search-type", "search-type"}
	SubHistory   = Code{SystemRestful, "history-instance", "history-instance"}
	SubCreate    = Code{SystemRestful, "create", "create"}
	SubUpdate    = Code{SystemRestful, "update", "update"}
	SubPatch     = Code{SystemRestful, "patch", "patch"}
	SubDelete    = Code{SystemRestful, "delete", "delete"}
	SubTransmit  = Code{SystemDCM, "110106", "Export"}
	AgentOAuth   = Code{SystemAgentTypes, "UserOauthAgent", "User OAuth Agent participant"}
	AgentServer  = Code{SystemAgentTypes, "AuthzOauthService", "OAuth Authorization Server"}
	AgentSource  = Code{SystemDCM, "110153", "Source Role ID"}
	AgentDest    = Code{SystemDCM, "110152", "Destination Role ID"}
	AgentRecip   = Code{SystemParticipant, "IRCP", "information recipient"}
	AgentCustody = Code{SystemParticipant, "CST", "custodian"}
	// AgentApplication is the client application of an OAuth token
	// (BALP OAUTHaccessTokenUse.Comprehensive oClient, AuthZconsent
	// client, IUA ITI-71 client, PatientDelete client).
	AgentApplication = Code{SystemDCM, "110150", "Application"}
	// AgentAuthor is the user who writes (BALP DataSources: Create,
	// Update, Delete).
	AgentAuthor = Code{SystemParticipant, "AUT", "author (originator)"}
	// AgentAuthorizer is the authorization server of BALP AuthZconsent.
	AgentAuthorizer = Code{"http://terminology.hl7.org/CodeSystem/extra-security-role-type", "authserver", "authorization server"}
	// AgentCustodian is the server of BALP PatientDelete.
	AgentCustodian = Code{"http://terminology.hl7.org/CodeSystem/provenance-participant-type", "custodian", "Custodian"}
	// AgentUserOrg is the organization the user acts for (BALP
	// AuthZconsent agent[userorg], requestor false).
	AgentUserOrg = Code{"http://terminology.hl7.org/CodeSystem/v3-RoleClass", "PROV", "healthcare provider"}
)

// Entity types (AuditEvent.entity.type, bound to R4's
// AuditEventEntityType: the audit-entity-type codes and the resource
// types; BALP adds its own).
var (
	EntityPerson  = Code{System: SystemEntityType, Code: "1"} // Person
	EntityObject  = Code{System: SystemEntityType, Code: "2"} // System Object
	EntityConsent = Code{"http://hl7.org/fhir/resource-types", "Consent", "Consent"}
	// EntityToken is the access token of BALP AuthZconsent (entity[token]).
	EntityToken = AgentOAuth
	// EntityOther types an entity that names a consent decision
	// (DecisionRef). BALP's RESTful profiles slice their entities by type
	// alone, and give System Object (2) to the resource read or written
	// (Read, Update: entity[data] 1..1) and to the query (Query:
	// entity[query], role 24, no what, no detail): a decision typed 2
	// would be taken for a second one of those.
	EntityOther = Code{System: SystemEntityType, Code: "4", Display: "Other"}
)

// Network address types (AuditEvent.agent.network.type,
// http://hl7.org/fhir/network-type).
const (
	NetworkName = "1" // machine name
	NetworkIP   = "2" // IP address
	NetworkURI  = "5" // URI
)

// JTIPrefix prefixes a token's jti where BALP records it
// (OAUTHaccessTokenUse.Minimal agent.policy, AuthZconsent entity[token]:
// "jti SHALL be prefixed with urn:ietf:params:oauth:jti:", RFC 3553).
const JTIPrefix = "urn:ietf:params:oauth:jti:"

// Object roles (AuditEvent.entity.role, object-role).
const (
	RolePatient  = "1"  // Patient
	RoleResource = "4"  // Domain Resource
	RoleSecurity = "13" // Security Resource
	RoleQuery    = "24" // Query
	RoleJob      = "20" // Job
)

// Event is one AuditEvent. Zero fields are left out.
type Event struct {
	ID          string
	Time        time.Time
	Kind        Kind
	Type        Code
	Subtype     []Code
	Action      string
	Outcome     string
	OutcomeDesc string
	Purpose     []string // v3-ActReason codes (purposeOfEvent)
	Agents      []Agent
	Entities    []Entity
	// BreakGlass marks an access under a break-the-glass grant (purpose
	// BTG is then in Purpose too): the store indexes it for review.
	BreakGlass bool
}

// Agent is one participant. Who is a reference ("PractitionerRole/gp");
// without one, Client names a backend client by its client_id.
type Agent struct {
	Type      Code
	Who       string
	Client    string
	Display   string
	Requestor bool
	// Policy holds the access token's jti, JTIPrefix first (BALP:
	// agent.policy is the token ID of an OAuth agent).
	Policy []string
	// Network is the agent's address (agent.network.address) and
	// NetworkType its kind (NetworkName, NetworkIP, NetworkURI).
	Network, NetworkType string
}

// Entity is one object. What is a reference; without one, Identifier is
// its identifier (System|Value).
type Entity struct {
	What     string
	IDSystem string
	IDValue  string
	Type     Code // EntityPerson, EntityObject, EntityConsent, EntityToken
	Role     string
	Name     string // a message type: no content
	// Description and Query are a query's (BALP Query entity[query]):
	// its cleaned form, the parameters' names, and the request as
	// received, rendered base64.
	Description string
	Query       []byte
	Details     []Detail
}

// Detail is an entity's additional information (a string value).
type Detail struct{ Type, Value string }

// Patients are the patients an event is about: the entities in the
// patient role.
func (e *Event) Patients() []string {
	var out []string
	for _, en := range e.Entities {
		if en.Role == RolePatient && en.What != "" {
			out = append(out, en.What)
		}
	}
	return out
}

// AgentRefs are the references and client names of the agents
// ("client:<id>" for a client) but the client application's
// (AgentApplication) and the user's organization (AgentUserOrg): an
// agent is who asked or received, as the decision log lists them, not
// the software each request went through nor everyone its requester
// works with.
func (e *Event) AgentRefs() []string {
	var out []string
	for _, a := range e.Agents {
		switch {
		case a.Type == AgentApplication && !a.Requestor, a.Type == AgentUserOrg:
		case a.Who != "":
			out = append(out, a.Who)
		case a.Client != "":
			out = append(out, "client:"+a.Client)
		}
	}
	return out
}

// EntityRefs are the references of the entities that are not patients.
func (e *Event) EntityRefs() []string {
	var out []string
	for _, en := range e.Entities {
		if en.Role != RolePatient && en.What != "" {
			out = append(out, en.What)
		}
	}
	return out
}

// SubtypeCodes are the subtypes' codes.
func (e *Event) SubtypeCodes() []string {
	out := make([]string, len(e.Subtype))
	for i, c := range e.Subtype {
		out[i] = c.Code
	}
	return out
}
