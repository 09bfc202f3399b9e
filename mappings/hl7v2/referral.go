package hl7v2

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	rolepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	taskpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

// Patient referrals (HL7 v2.5 chapter 11, REF^I12 refer, I13 modify, I14
// cancel). The referral (RF1) is a ServiceRequest, requested by the
// referring provider (PRD-1 RP) of the referred-to provider (PRD-1 RT),
// and a Task addressed to the latter, whose status is the recipient's to
// change: the gateway creates it only when absent (Header.IfAbsent) but
// on a cancellation. Both ids come from the originating referral
// identifier (RF1-6), so that a resend, an I13 and an I14 reach the same
// resources.

// referralCode says what the ServiceRequest asks for (SNOMED CT 3457005
// "Patient referral"); RF1-3 (table 0281, referral type) is its category.
const referralCode = "3457005"

// referralPriorities maps RF1-2 (HL7 table 0280) to request priorities.
var referralPriorities = map[string]cpb.RequestPriorityCode_Value{
	"S": cpb.RequestPriorityCode_STAT, "A": cpb.RequestPriorityCode_ASAP, "R": cpb.RequestPriorityCode_ROUTINE,
}

// referral holds a REF message's RF1 and PRD segments until the rest of
// the message (diagnoses, results) is mapped.
type referral struct {
	rf1                  *er7.Segment
	requester, performer *dtpb.Reference
	reasons, support     []*dtpb.Reference
}

var rf1Mapped = []int{2, 3, 6, 7, 8, 9, 10, 11}

// mapPRD maps a provider (HL7 v2.5 section 11.6.3) to a Practitioner and
// its PractitionerRole, and keeps the referring (RP) and referred-to (RT)
// ones for the referral; a primary care provider (PP) becomes the
// patient's general practitioner.
func (c *conv) mapPRD(s *er7.Segment) {
	ref := c.providerRole(s)
	if ref == nil {
		c.warn(s, 2, "provider without identifier or name not mapped")
		return
	}
	for r := range s.Field(1).Repetitions() {
		switch strings.ToUpper(text(r.Comp(1))) {
		case "RP":
			c.ref.requester = ref
		case "RT":
			c.ref.performer = ref
		case "PP":
			c.addGP(ref)
		}
	}
	c.unmapped(s, 1, 2, 3, 5, 7, 8, 9, 10)
}

// providerRole puts the Practitioner a PRD names and its role in the
// organization of PRD-10; nil when PRD names nobody.
func (c *conv) providerRole(s *er7.Segment) *dtpb.Reference {
	pract := c.provider(s)
	if pract == "" {
		return nil
	}
	role := &rolepb.PractitionerRole{Practitioner: resource.Ref("Practitioner", pract)}
	role.Organization = c.organization(s.Field(10))
	orgKey := resource.RefString(role.Organization)
	role.Id = c.a.id(c.b.ID("PractitionerRole", pract, orgKey))
	if c.b.GetID("PractitionerRole", role.Id.Value) != nil {
		return resource.Ref("PractitionerRole", role.Id.Value)
	}
	role.Telecom = c.telecoms(s.Field(5), cpb.ContactPointUseCode_WORK)
	start, hasStart := c.dtm(s, 8)
	end, hasEnd := c.dtm(s, 9)
	if hasStart || hasEnd {
		role.Period = &dtpb.Period{}
		if hasStart {
			role.Period.Start = c.dateTime(start)
		}
		if hasEnd {
			role.Period.End = c.dateTime(end)
		}
	}
	c.put(role)
	return resource.Ref("PractitionerRole", role.Id.Value)
}

// provider puts the Practitioner of a PRD and returns its id, "" when PRD
// names nobody. Its identifiers are the PLN of PRD-7 (id^type^...); an
// RPPS number or an IDNPS (table 0338 type RPPS or IDNPS, CI-SIS usage)
// gives the id the same Practitioner has when an XCN names it (people.go),
// so that a referral and an admission meet on one doctor.
func (c *conv) provider(s *er7.Segment) string {
	var ids []*dtpb.Identifier
	key := []string{}
	for r := range s.Field(7).Repetitions() {
		value, typ := text(r.Comp(1)), strings.ToUpper(text(r.Comp(2)))
		if value == "" {
			continue
		}
		rpps := ""
		switch {
		case typ == "RPPS" && len(value) == 11 && isDigits(value):
			rpps = value
		case typ == "IDNPS" && len(value) == 12 && value[0] == '8' && isDigits(value):
			rpps = value[1:]
		}
		switch {
		case rpps != "":
			ids = append(ids,
				&dtpb.Identifier{System: &dtpb.Uri{Value: terminology.IDNPS}, Value: &dtpb.String{Value: "8" + rpps}},
				&dtpb.Identifier{System: &dtpb.Uri{Value: terminology.RPPS}, Value: &dtpb.String{Value: rpps}})
			key = []string{terminology.IDNPS, "8" + rpps}
		default:
			ids = append(ids, c.identifier(value, authority{}, typ))
			if len(key) == 0 {
				key = []string{c.scope, value}
			}
		}
	}
	var name *dtpb.HumanName
	for r := range s.Field(2).Repetitions() {
		if name = c.humanName(r, 1, 7); name != nil {
			break
		}
	}
	switch {
	case len(key) > 0:
	case name != nil:
		key = []string{c.scope, "name", name.GetFamily().GetValue(), givenOf(name)}
	default:
		return ""
	}
	id := c.b.ID(append([]string{"Practitioner"}, key...)...)
	if c.b.GetID("Practitioner", id) != nil {
		return id
	}
	p := &prpb.Practitioner{Id: c.a.id(id), Identifier: ids}
	if name != nil {
		p.Name = []*dtpb.HumanName{name}
	}
	if a := c.address(s.Field(3)); a != nil {
		p.Address = []*dtpb.Address{a}
	}
	c.put(p)
	return id
}

// finishReferral puts the ServiceRequest and the Task of a REF message,
// once its diagnoses (reasons) and results (supporting information) are
// mapped.
func (c *conv) finishReferral() error {
	rf1 := c.ref.rf1
	if rf1 == nil {
		return &er7.Error{Loc: er7.Location{Segment: "RF1"}, Offset: -1, Condition: er7.SegmentSequenceError, Reason: "required RF1 segment missing"}
	}
	sr := c.serviceRequest(rf1)
	c.put(sr)
	c.referralTask(sr)
	c.unmapped(rf1, rf1Mapped...)
	return nil
}

// serviceRequest maps RF1: its identifiers (RF1-6 originating, RF1-11
// external), priority (RF1-2), type (RF1-3), validity (RF1-7 effective,
// RF1-8 expiration), process date (RF1-9) and reason (RF1-10). Its status
// is the event's: I12 and I13 active, I14 revoked.
func (c *conv) serviceRequest(rf1 *er7.Segment) *srpb.ServiceRequest {
	status := cpb.RequestStatusCode_ACTIVE
	if c.event == "I14" {
		status = cpb.RequestStatusCode_REVOKED
	}
	sr := &srpb.ServiceRequest{
		Status:    &srpb.ServiceRequest_StatusCode{Value: status},
		Intent:    &srpb.ServiceRequest_IntentCode{Value: cpb.RequestIntentCode_ORDER},
		Code:      c.a.conceptOf(terminology.SNOMED, referralCode, "Patient referral"),
		Subject:   c.subject(),
		Encounter: c.encounterRef(),
		Requester: c.ref.requester,
	}
	if c.ref.performer != nil {
		sr.Performer = []*dtpb.Reference{c.ref.performer}
	}
	sr.Id = c.a.id(c.referralID(rf1, sr))
	if p, ok := referralPriorities[strings.ToUpper(text(rf1.Field(2).Comp(1)))]; ok {
		sr.Priority = &srpb.ServiceRequest_PriorityCode{Value: p}
	}
	if cat := c.tableConcept(rf1.Field(3), "0281"); cat != nil {
		sr.Category = []*dtpb.CodeableConcept{cat}
	}
	c.referralDates(rf1, sr)
	if r := c.tableConcept(rf1.Field(10), "0336"); r != nil {
		sr.ReasonCode = []*dtpb.CodeableConcept{r}
	}
	sr.ReasonReference, sr.SupportingInfo = c.ref.reasons, c.ref.support
	return sr
}

// referralID: the originating referral identifier (RF1-6, an EI), else the
// first external one (RF1-11), else the message: then an I13 or I14 cannot
// find the referral, which a warning says.
func (c *conv) referralID(rf1 *er7.Segment, sr *srpb.ServiceRequest) string {
	var key []string
	for i, v := range append([]er7.Value{rf1.Field(6)}, rf1.Field(11).Reps()...) {
		a := hdOf(text(v.Comp(2)), text(v.Comp(3)), text(v.Comp(4)))
		typ := ""
		if i == 0 {
			typ = "PLAC" // assigned by the referring provider
		}
		if id := c.identifier(text(v.Comp(1)), a, typ); id != nil {
			sr.Identifier = append(sr.Identifier, id)
			if key == nil {
				key = []string{authorityKey(a, c.scope), id.Value.Value}
			}
		}
	}
	if key == nil {
		c.warn(rf1, 6, "no referral identifier: the referral is identified by this message only")
		key = []string{c.scope, "message", c.h.ControlID}
	}
	return c.b.ID(append([]string{"ServiceRequest"}, key...)...)
}

// referralDates: the referral is valid from RF1-7 to RF1-8 and was
// processed (authored) on RF1-9.
func (c *conv) referralDates(rf1 *er7.Segment, sr *srpb.ServiceRequest) {
	start, hasStart := c.dtm(rf1, 7)
	end, hasEnd := c.dtm(rf1, 8)
	if hasStart || hasEnd {
		p := &dtpb.Period{}
		if hasStart {
			p.Start = c.dateTime(start)
		}
		if hasEnd {
			p.End = c.dateTime(end)
		}
		sr.Occurrence = &srpb.ServiceRequest_OccurrenceX{Choice: &srpb.ServiceRequest_OccurrenceX_Period{Period: p}}
	}
	if t, ok := c.dtm(rf1, 9); ok {
		sr.AuthoredOn = c.dateTime(t)
	}
}

// referralTask puts the Task that asks the referred-to provider (owner) to
// fulfil the referral (focus): requested, or cancelled by an I14. Its id
// follows the ServiceRequest's.
func (c *conv) referralTask(sr *srpb.ServiceRequest) {
	status := cpb.TaskStatusCode_REQUESTED
	if c.event == "I14" {
		status = cpb.TaskStatusCode_CANCELLED
	}
	t := &taskpb.Task{
		Id:         c.a.id(c.b.ID("Task", sr.Id.Value)),
		Status:     &taskpb.Task_StatusCode{Value: status},
		Intent:     &taskpb.Task_IntentCode{Value: vspb.TaskIntentValueSet_ORDER},
		Code:       c.a.conceptOf(terminology.TaskCode, terminology.TaskFulfil, "Fulfill the focal request"),
		Focus:      resource.Ref("ServiceRequest", sr.Id.Value),
		ForValue:   c.subject(),
		Encounter:  sr.Encounter,
		AuthoredOn: sr.AuthoredOn,
		Requester:  sr.Requester,
		Owner:      c.ref.performer,
	}
	if sr.Priority != nil {
		t.Priority = &taskpb.Task_PriorityCode{Value: sr.Priority.Value}
	}
	if c.ref.performer == nil {
		c.warn(c.ref.rf1, 0, "no referred-to provider (PRD-1 RT): the task has no owner")
	}
	ref := c.put(t)
	if c.event != "I14" {
		c.h.IfAbsent = append(c.h.IfAbsent, ref)
	}
}
