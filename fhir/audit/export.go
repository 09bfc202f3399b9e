package audit

import "time"

// Push is a disclosure by push delivery: a notification that carried a
// resource to a Subscription's endpoint under a consent decision.
type Push struct {
	ID       string
	Time     time.Time
	Decision string // the consent decision it was sent under
	Patient  string // "Patient/id", "" when the resource names none
	What     string // the resource version sent, "Type/id/_history/v"
	// Recipient is the Subscription's owner (a reference, or
	// "client:<id>"); Endpoint the host its notifications go to.
	Recipient, Endpoint string
	Subscription        string // "Subscription/id"
	// Server is the FHIR base URL of Relais, the source's network
	// address ("" when unknown).
	Server string
}

// PushEvent is p as an AuditEvent after the BALP export pattern (DICOM
// Export, https://profiles.ihe.net/ITI/BALP/content.html#3573-basic-audit-log-patterns:
// type DCM 110106, action R, outcome 0): Relais as the source, the
// recipient as the destination with the endpoint's host as its network
// address, the patient, the resource sent, and the Subscription it was
// sent for; the patient entity names the decision. The source is the
// observer (BALP PrivacyDisclosure.Source: val-audit-source) at the
// server's base URL.
func PushEvent(p *Push) Event {
	e := Event{
		ID: p.ID, Time: p.Time, Kind: KindDisclosure, Type: TypeExport, Subtype: []Code{SubTransmit},
		Action: ActionRead, Outcome: OutcomeSuccess, Purpose: []string{"TREAT"},
		Agents: []Agent{{Type: AgentSource, Display: serverDisplay, Requestor: true}, destination(p.Recipient, p.Endpoint)},
	}
	if p.Server != "" {
		e.Agents[0].Network, e.Agents[0].NetworkType = p.Server, NetworkURI
	}
	if p.Patient != "" {
		pe := PatientEntity(p.Patient)
		pe.Details = []Detail{{Type: DetailDecision, Value: p.Decision}}
		e.Entities = append(e.Entities, pe)
	}
	e.Entities = append(e.Entities, Entity{What: p.What, Type: EntityObject, Role: RoleResource})
	if p.Subscription != "" {
		e.Entities = append(e.Entities, Entity{What: p.Subscription, Type: EntityObject, Role: RoleJob})
	}
	return e
}

func destination(who, endpoint string) Agent {
	a := requester(who, "")
	a.Type, a.Requestor, a.Network, a.NetworkType = AgentDest, false, endpoint, NetworkName
	return a
}
