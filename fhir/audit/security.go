package audit

import (
	"strconv"
	"strings"
	"time"
)

// Codes of the security and import patterns (DICOM PS3.16 CID 403 and
// 400, as IHE ITI TF-2 3.20 and BALP use them).
var (
	SubEmergencyStart = Code{SystemDCM, "110127", "Emergency Override Started"}
	// SubGetToken is IHE IUA's Get Access Token transaction (ITI-71).
	SubGetToken   = Code{"urn:ihe:event-type-code", "ITI-71", "Get Access Token"}
	SystemTokenID = "urn:relais:token"
)

// BreakGlassEvent is the opening (or the use, with a fresh reason) of a
// break-the-glass grant that d permitted: type DCM 110113 Security Alert,
// subtype 110127 Emergency Override Started, action E, purpose BTG, the
// requester, the patient, and the decision (its reason and expiry are in
// the decision's own event). Kept as a disclosure, so that the patient's
// disclosure log shows it, flagged.
func BreakGlassEvent(id string, d *Decision) Event {
	e := Event{
		ID: id, Time: d.Time, Kind: KindDisclosure, Type: TypeAlert, Subtype: []Code{SubEmergencyStart},
		Action: ActionExecute, Outcome: OutcomeSuccess, Purpose: []string{"BTG"}, BreakGlass: true,
		Agents: []Agent{requester(d.Actor, d.Token)},
	}
	e.AddPeers(d.Peers)
	if d.Purpose != "" && d.Purpose != "BTG" {
		e.Purpose = append(e.Purpose, d.Purpose)
	}
	pe := PatientEntity(d.Patient)
	pe.Details = []Detail{{Type: DetailDecision, Value: d.ID}}
	e.Entities = []Entity{pe, DecisionRef(d.ID)}
	return e
}

// Token is an access token request at the token endpoint.
type Token struct {
	ID      string
	Time    time.Time
	Client  string // the client_id the assertion proved, else the one claimed
	JTI     string // the token issued, "" when refused
	Scope   string // granted, else requested: scope names, no content
	Refusal string // the RFC 6749 error code of a refusal
	// Request is the token request as received, its credentials left
	// out (no client_assertion, no client_secret).
	Request []byte
	// Peers: the client's address, and ServerURL the token endpoint's.
	Peers Peers
}

// TokenEvent is a token request after IHE IUA's Get Access Token audit
// (BALP https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.IUA.71):
// type DCM 110114 User Authentication, subtype ITI-71, action E, outcome
// 0 when a token was issued and 4 when refused (its error code as
// outcomeDesc); the client application (DICOM 110150) at its address,
// the requester, whose policy is the issued token's jti; Relais as the
// OAuth authorization server at the token endpoint's URL; the request
// (a query entity, its credentials left out) and the token issued (by
// its jti, a security resource whose detail is the scope).
func TokenEvent(t *Token) Event {
	client := Agent{Type: AgentApplication, Client: t.Client, Requestor: true,
		Network: t.Peers.ClientAddr, NetworkType: NetworkIP}
	if t.Client == "" {
		client.Display = "unidentified client"
	}
	if t.JTI != "" {
		client.Policy = []string{JTIPrefix + t.JTI}
	}
	e := Event{
		ID: t.ID, Time: t.Time, Kind: KindSecurity, Type: TypeAuth, Subtype: []Code{SubGetToken},
		Action: ActionExecute, Outcome: OutcomeSuccess,
		Agents: []Agent{client, t.Peers.server(AgentServer)},
	}
	if t.Refusal != "" {
		e.Outcome, e.OutcomeDesc = OutcomeMinor, t.Refusal
	}
	if len(t.Request) > 0 {
		e.Entities = append(e.Entities, Entity{Type: EntityObject, Role: RoleQuery, Query: t.Request})
	}
	if t.JTI != "" {
		e.Entities = append(e.Entities, Entity{IDSystem: SystemTokenID, IDValue: JTIPrefix + t.JTI, Type: EntityObject, Role: RoleSecurity,
			Details: []Detail{{Type: "scope", Value: t.Scope}}})
	}
	return e
}

// Import is a message or document taken in: an HL7 v2 message or a CDA
// document, its source kept as a Binary and described by a Provenance.
type Import struct {
	ID      string
	Time    time.Time
	Format  string // "HL7v2 ADT^A01", "CDA"
	Sender  string // the sending application and facility, the caller ("Type/id"), or the client ("client:<id>")
	Token   string // the caller's access token ID (jti), when it had one
	Patient string
	Source  []string // the Binary and Provenance references
	Failed  bool     // accepted, but its resources could not be written
	// Peers: the sender's address and Relais's base URL, when it came
	// over HTTP.
	Peers Peers
}

// ImportEvent is i as an AuditEvent after the BALP create/import pattern
// (DICOM 110107 Import, action C, as IHE ITI TF-2 3.20.4.1.1.1 and BALP's
// Create use it): the sender as the source, Relais as the destination,
// the patient, and the source Binary and Provenance by reference (never
// the message). Outcome 8 when the message was accepted and could not be
// written (it waits in the failed inbox).
func ImportEvent(i *Import) Event {
	e := Event{
		ID: i.ID, Time: i.Time, Kind: KindIngest, Type: TypeImport, Subtype: []Code{{SystemDCM, "110107", "Import"}},
		Action: ActionCreate, Outcome: OutcomeSuccess,
		Agents: []Agent{{Type: AgentSource, Display: or(i.Sender, "unknown sender"), Requestor: true},
			{Type: AgentDest, Display: "Relais"}},
	}
	if strings.HasPrefix(i.Sender, "client:") || strings.Contains(i.Sender, "/") {
		e.Agents[0] = requester(i.Sender, i.Token)
		e.Agents[0].Type = AgentSource
	}
	if i.Peers.ClientAddr != "" {
		e.Agents[0].Network, e.Agents[0].NetworkType = i.Peers.ClientAddr, NetworkIP
	}
	if i.Peers.ServerURL != "" {
		e.Agents[1].Network, e.Agents[1].NetworkType = i.Peers.ServerURL, NetworkURI
	}
	if i.Failed {
		e.Outcome = OutcomeSerious
	}
	if i.Patient != "" {
		e.Entities = append(e.Entities, PatientEntity(i.Patient))
	}
	for _, s := range i.Source {
		e.Entities = append(e.Entities, Entity{What: s, Type: EntityObject, Role: RoleResource, Name: i.Format})
	}
	return e
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SubObjectSecurity is DICOM 110135 Object Security Attributes Changed
// (PS3.16 CID 403 Security Alert Type).
var SubObjectSecurity = Code{SystemDCM, "110135", "Object Security Attributes Changed"}

// Relabel is a new version the labelling service wrote of a stored
// resource whose security labels the current rules change (gateway/relabel).
type Relabel struct {
	ID      string
	Time    time.Time
	Patient string // "Patient/id", "" when the resource names none
	What    string // the version written, "Type/id/_history/v"
	Rules   int    // the version of the labelling rules that changed it
}

// DetailRules is the detail of a relabelled resource's entity that holds
// the labelling rules' version.
const DetailRules = "sensitivity-rules"

// RelabelEvent is r as a change of an object's security attributes: type
// DCM 110113 Security Alert, subtype 110135 Object Security Attributes
// Changed (DICOM PS3.15 A.5.3, as IHE BALP records its security alerts),
// action U, outcome 0; Relais, which changed it, as the requesting
// application and the observer; the patient, and the version written,
// whose detail is the rules' version. By reference only: the labels, and
// the codes that gave them, are in the version and its predecessor, for
// whoever may read them, not in the log. Kept as a change, for as long.
// BALP has no profile for a change no user asked for; one event per
// version written and patient, as its RESTful changes are, lets a
// patient's log say when the labels of her data changed.
func RelabelEvent(r *Relabel) Event {
	e := Event{
		ID: r.ID, Time: r.Time, Kind: KindChange, Type: TypeAlert, Subtype: []Code{SubObjectSecurity},
		Action: ActionUpdate, Outcome: OutcomeSuccess,
		Agents: []Agent{{Type: AgentApplication, Display: serverDisplay, Requestor: true}},
	}
	if r.Patient != "" {
		e.Entities = append(e.Entities, PatientEntity(r.Patient))
	}
	e.Entities = append(e.Entities, Entity{What: r.What, Type: EntityObject, Role: RoleResource,
		Details: []Detail{{Type: DetailRules, Value: strconv.Itoa(r.Rules)}}})
	return e
}
