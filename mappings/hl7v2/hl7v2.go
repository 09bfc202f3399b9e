// Package hl7v2 translates HL7 v2 ADT, MDM, ORU and REF messages into a
// FHIR R4 transaction Bundle (see mappings/bundle): Patient, RelatedPerson,
// Practitioner, PractitionerRole, Organization, Location, Encounter,
// Condition, Procedure, AllergyIntolerance, Observation, DiagnosticReport,
// DocumentReference, ServiceRequest and Task, each labelled with its data
// category, plus the source message as a Binary and a Provenance.
//
// Supported (supportedEvents): ADT A01 to A08, A11 to A14, A16, A21,
// A22, A25, A27, A38, A52 to A55 (the stay's movements), the PAM France
// correction of a movement Z99 (see readMovement), A28 and A31 (the
// person, without a visit), A34 and A40 (the merge as the message states
// it: see mapMRG), A47 (identifiers corrected: see mapRetired), MDM T01, T02, T04, T10, T11 (a document
// deleted: see deletion.go), ORU R01 and REF I12, I13, I14,
// versions 2.3 to 2.8, including the IHE PAM France profile (INS
// in PID-3, identity reliability in PID-32, the ZBE movement segment, RPPS
// in XCN). Anything else is refused with an *er7.Error that an AR/CR
// acknowledgement can carry.
//
// Resource ids are derived (bundle.ID) from the sender's own identifiers:
// the patient's PID-3 identifier and assigning authority, the visit number
// PV1-19, the practitioner's XCN-1 and XCN-9, the document's TXA-12. An A01
// and a later A03 for the same stay therefore update one Patient and one
// Encounter. Field-level mapping follows the HL7 v2-to-FHIR implementation
// guide (https://build.fhir.org/ig/HL7/v2-to-fhir/) where it has one.
//
// The package is pure: bytes in, protos out. It logs nothing; warnings about
// unmapped content go into the Bundle's OperationOutcome with their HL7
// location, never with their value.
package hl7v2

import (
	"time"

	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Mapping identifies this mapping and its version in Provenance.
var Mapping = bundle.Mapping{Name: "hl7v2", Version: "1.0.0"}

// ContentType is the media type of the source Binary (and of ACKs).
const ContentType = "x-application/hl7-v2+er7"

// Options configure a conversion. The zero Options are usable.
type Options struct {
	// EmbeddedCDA maps a CDA document carried in an MDM message; its
	// resources join the Bundle. Nil: the document is only attached to the
	// DocumentReference.
	EmbeddedCDA func(doc []byte) (*bundle.Result, error)
	// Now is the clock for Provenance.recorded; nil means time.Now.
	Now func() time.Time
	// Zone reads date-times that carry no UTC offset; nil means UTC.
	Zone *time.Location
}

// Header is what the gateway needs from a message besides its resources:
// resend detection (sender + control ID), ordering of events (EventTime)
// and the acknowledgement mode.
type Header struct {
	SendingApplication, SendingFacility     string    // MSH-3, MSH-4 (first component)
	ReceivingApplication, ReceivingFacility string    // MSH-5, MSH-6
	ControlID                               string    // MSH-10
	MessageCode, TriggerEvent, Structure    string    // MSH-9
	Version                                 string    // MSH-12
	ProcessingID                            string    // MSH-11
	AcceptAckType, ApplicationAckType       string    // MSH-15, MSH-16
	MessageTime                             time.Time // MSH-7
	// EventTime orders events about the same patient: EVN-2, else MSH-7.
	EventTime time.Time
	// Occurred is EVN-6, when the event actually happened (zero if absent).
	Occurred time.Time
	// Patient and Encounter are the "Type/id" references of the subject
	// resources ("" when the message has none).
	Patient, Encounter string
	// IfAbsent lists the "Type/id" of resources to create only when absent:
	// a referral's Task, whose status belongs to its recipient once sent.
	IfAbsent []string
	// Nulled lists the fields of the visit segments (PV1, PV2, ZBE) the
	// message sends as the HL7 null `""` ("PV2-9"): their stored values
	// are to be deleted, where an absent field leaves them as they are
	// (HL7 v2.5 section 2.5.3).
	Nulled []string
	// FacilityProvider is true when the Encounter's serviceProvider is the
	// sending facility (MSH-4) for want of a responsible unit (ZBE-7):
	// a unit stored earlier is the better answer.
	FacilityProvider bool
	// CancelledMovement is the "system|value" of the movement a PAM
	// France cancellation (ZBE-4 CANCEL) cancels: the stay loses it.
	CancelledMovement string
	// CorrectedMovement is the "system|value" of the movement a PAM
	// France correction (Z99, ZBE-4 UPDATE) corrects.
	CorrectedMovement string
	// Historic is true when the message is about a past movement of the
	// stay (IHE PAM France ZBE-5 Y: a correction Z99 or a movement
	// inserted in the history): the location, responsible unit, class
	// and status it carries are that movement's, so the mapping leaves
	// out the first two and the stay keeps its own four.
	Historic bool
	// StayRequired is true when the message is a movement of a stay the
	// receiver must already know (OpensStay): the gateway refuses it,
	// with ErrUnknownStay, when no stored stay is the Encounter's.
	StayRequired bool
}

// Converted is the result of a conversion.
type Converted struct {
	*bundle.Result
	Header  Header
	Message *er7.Message
}

// Convert parses data and translates it. Errors are *er7.Error (so that
// er7.Ack or er7.Nack can report them): parse errors, an unsupported
// message type, event or version (conditions 200, 201, 203, for which
// er7.CodeFor chooses AR/CR), or content that cannot be mapped (AE/CE).
func Convert(data []byte, opts Options) (*Converted, error) {
	msg, err := er7.Parse(data)
	if err != nil {
		return nil, err
	}
	return ConvertMessage(msg, data, opts)
}

// ConvertMessage translates a message already parsed from data (which is
// kept as the source Binary).
func ConvertMessage(msg *er7.Message, data []byte, opts Options) (*Converted, error) {
	if err := supported(msg); err != nil {
		return nil, err
	}
	c := newConv(msg, opts)
	if err := c.run(); err != nil {
		return nil, err
	}
	res := c.b.Finish(bundle.Source{
		Data:        data,
		ContentType: ContentType,
		Key:         []string{c.h.SendingApplication, c.h.SendingFacility, c.h.ControlID},
		Recorded:    c.now(),
		Patient:     c.h.Patient,
		Sensitivity: c.sourceSens,
	})
	res.Asserted, res.Replaces, res.Deletes = c.doc.asserted, c.doc.replaces, c.deletes
	if len(c.deletes) > 0 && res.Asserted.IsZero() {
		res.Asserted = c.h.EventTime // what it deletes, it deletes at its event
	}
	return &Converted{Result: res, Header: c.h, Message: msg}, nil
}

// Supported lists the message types and events Convert accepts.
var supportedEvents = map[string][]string{
	"ADT": {"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A12", "A13", "A14", "A16", "A21", "A22", "A25", "A27", "A28", "A31", "A34", "A38", "A40", "A47", "A52", "A53", "A54", "A55", "Z99"},
	"MDM": {"T01", "T02", "T04", "T10", "T11"},
	"ORU": {"R01"},
	"REF": {"I12", "I13", "I14"},
}

var supportedVersions = []string{"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}

// supported refuses messages outside the mapping's scope.
func supported(msg *er7.Message) error {
	msh := msg.MSH()
	code, trigger, _ := msg.Type()
	events, ok := supportedEvents[code]
	if !ok {
		return &er7.Error{Loc: loc(msh, 9, 1), Offset: -1, Condition: er7.UnsupportedMessageType, Reason: "unsupported message type (ADT, MDM, ORU and REF are)"}
	}
	if !contains(events, trigger) {
		return &er7.Error{Loc: loc(msh, 9, 2), Offset: -1, Condition: er7.UnsupportedEventCode, Reason: "unsupported trigger event for this message type"}
	}
	if !contains(supportedVersions, msg.Version()) {
		return &er7.Error{Loc: loc(msh, 12, 1), Offset: -1, Condition: er7.UnsupportedVersion, Reason: "unsupported HL7 version (2.3 to 2.8 are)"}
	}
	return nil
}

func loc(s *er7.Segment, field, comp int) er7.Location {
	l := s.Loc(field)
	l.Component = comp
	return l
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
