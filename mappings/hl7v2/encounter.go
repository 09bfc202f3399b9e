package hl7v2

import (
	"slices"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

const (
	actCode           = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	participationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	locationType      = "http://terminology.hl7.org/CodeSystem/location-physical-type"

	// ExpectedDischargeURL is the extension that carries an Encounter's
	// expected discharge date-time (PV2-9), so that routing can plan the
	// hand-over before the A03. No FHIR R4 core element holds it:
	// Encounter.period.end is the actual end. The independent validator
	// accepts extensions it has no definition for, without an issue.
	ExpectedDischargeURL = "https://relais-health.github.io/fhir/StructureDefinition/expected-discharge"
)

// patientClasses maps PV1-2 (HL7 table 0004) to Encounter.class (v3 ActCode).
var patientClasses = map[string][2]string{
	"I": {"IMP", "inpatient encounter"}, "B": {"IMP", "inpatient encounter"},
	"O": {"AMB", "ambulatory"}, "R": {"AMB", "ambulatory"}, "C": {"AMB", "ambulatory"},
	"E": {"EMER", "emergency"}, "P": {"PRENC", "pre-admission"},
}

var pv1Mapped = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 19, 36, 37, 42, 43, 44, 45}

// mapEncounter maps PV1 to the Encounter. Its id comes from the visit
// number PV1-19 and its assigning authority; without one, from the
// patient and the admission time (PV1-44), so that the A01 and the A03 of
// a stay still meet. PV1-2 = N with no visit number means "no visit".
func (c *conv) mapEncounter(pv1 *er7.Segment) {
	class := strings.ToUpper(text(pv1.Field(2)))
	visit, a := c.cx(pv1.Field(19))
	if visit == nil && class == "N" {
		c.unmapped(pv1, pv1Mapped...)
		return
	}
	e := &encpb.Encounter{Subject: resource.Ref("Patient", c.patientID)}
	c.encKey = c.stayKey(pv1, visit, a)
	switch {
	case visit != nil:
		e.Identifier = append(e.Identifier, visit)
	case !pv1.Field(44).Empty():
		c.warn(pv1, 19, "no visit number: encounter identified by patient and admission time")
	default:
		c.warn(pv1, 19, "no visit number nor admission time: encounter identified by this message only")
	}
	e.Id = c.a.id(c.b.ID("Encounter", c.encKey))
	c.h.StayRequired = c.code == "ADT" && !OpensStay(c.event)
	e.ClassValue = c.encounterClass(class)
	if pre, _ := c.cx(pv1.Field(5)); pre != nil {
		e.Hospitalization = &encpb.Encounter_Hospitalization{PreAdmissionIdentifier: pre}
	}
	if t := c.tableConcept(pv1.Field(4), "0007"); t != nil {
		e.Type = append(e.Type, t)
	}
	e.ServiceType = c.tableConcept(pv1.Field(10), "0069")
	c.encounter = e
	c.visitPeople(pv1)
	c.visitLocations(pv1)
	c.visitPeriod(pv1)
	c.hospitalization(pv1)
	c.h.Encounter = c.put(e)
	c.unmapped(pv1, pv1Mapped...)
}

// stayKey is what identifies the stay of a PV1, for the ids of the
// Encounter and of what belongs to it: its visit number (PV1-19), else
// the patient and her admission time (PV1-44), else the message.
func (c *conv) stayKey(pv1 *er7.Segment, visit *dtpb.Identifier, a authority) string {
	switch {
	case visit != nil:
		return authorityKey(a, c.scope) + "\x1f" + visit.Value.Value
	case !pv1.Field(44).Empty():
		return c.patientID + "\x1fadmit\x1f" + text(pv1.Field(44).Comp(1))
	}
	return c.patientID + "\x1fmessage\x1f" + c.h.ControlID
}

// opensStay are the ADT events that may name a stay the receiver does not
// know yet. IHE PAM (ITI TF-2b 3.31; PAM France section 5.1.4 and the
// table of section 5.3.2) makes a venue a sequence of movements whose
// first is its entry: a pre-admission (A05), an admission (A01), a
// pending admission (A14) or an outpatient registration (A04). Every
// other movement (a transfer, a leave, a change of class or doctor, a
// pending discharge, a cancellation, a correction Z99) is one of a venue
// already known, and for an unknown one it is an error, not a new stay.
// Two more may come first here: the discharge (A03), since a feed
// filtered to discharges is all a hand-over needs (and a discharge letter
// creates its stay too), and the generic update A08 (HL7 v2.5 section
// 3.3.8), which PAM France does not use.
var opensStay = map[string]bool{"A01": true, "A03": true, "A04": true, "A05": true, "A08": true, "A14": true}

// OpensStay reports whether an ADT trigger event may create the stay it
// names (opensStay); the others require a stored one (Header.StayRequired).
func OpensStay(event string) bool { return opensStay[event] }

// ErrUnknownStay is the error of a movement (Header.StayRequired) whose
// stay no stored Encounter is: HL7 table 0357 code 204, unknown key
// identifier, at the visit number PV1-19, in an AE; nothing is stored.
func ErrUnknownStay() *er7.Error {
	return &er7.Error{Loc: er7.Location{Segment: "PV1", Seq: 1, Field: 19}, Offset: -1, Condition: er7.UnknownKeyIdentifier,
		Reason: "no known stay has the visit number of PV1-19: a movement of a stay needs its admission first; nothing was stored"}
}

func (c *conv) encounterClass(code string) *dtpb.Coding {
	if cl, ok := patientClasses[code]; ok {
		return c.a.codingOf(actCode, cl[0], cl[1])
	}
	// Encounter.class is required; the v3 null flavour says we do not know.
	return c.a.codingOf("http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "UNK", "unknown")
}

// visitPeople: attending (PV1-7), referring (PV1-8), consulting (PV1-9)
// and admitting (PV1-17) doctors.
func (c *conv) visitPeople(pv1 *er7.Segment) {
	for _, p := range []struct {
		field   int
		code    string
		display string
	}{{7, "ATND", "attender"}, {8, "REF", "referrer"}, {9, "CON", "consultant"}, {17, "ADM", "admitter"}} {
		var role *dtpb.CodeableConcept // shared by the field's repetitions
		for r := range pv1.Field(p.field).Repetitions() {
			ref := c.practitioner(r)
			if ref == nil {
				continue
			}
			if role == nil {
				role = c.a.conceptOf(participationType, p.code, p.display)
			}
			c.addParticipant(role, ref)
		}
	}
}

func (c *conv) addParticipant(role *dtpb.CodeableConcept, ref *dtpb.Reference) {
	e := c.a.participants.new()
	e.part.Individual = ref
	if role != nil {
		e.types[0] = role
		e.part.Type = e.types[:]
	}
	c.encounter.Participant = append(c.encounter.Participant, &e.part)
}

// LocationClassificationURL is the extension the HL7 v2-to-FHIR mapping
// (PV1 to Encounter: PV1-11, PV1-43) puts on an Encounter.location to say
// the patient is there temporarily, with LocationClassificationSystem's
// code "temporary": R4 Encounter.location has no element for it, and a
// temporary location is not the one a transfer leaves.
const (
	LocationClassificationURL    = "http://hl7.org/fhir/StructureDefinition/subject-locationClassification"
	LocationClassificationSystem = "http://hl7.org/fhir/subject-locationClassification"
)

// TemporaryLocation reports whether l is where the patient is, or was,
// temporarily (PV1-11, PV1-43), not her assigned location.
func TemporaryLocation(l *encpb.Encounter_Location) bool {
	for _, x := range l.GetExtension() {
		if x.GetUrl().GetValue() == LocationClassificationURL {
			for _, c := range x.GetValue().GetCodeableConcept().GetCoding() {
				if c.GetCode().GetValue() == "temporary" {
					return true
				}
			}
		}
	}
	return false
}

// visitLocations maps the locations PV1 names, as the HL7 v2-to-FHIR
// mapping does (PV1 to Encounter; R4 Encounter.location.status): the
// assigned location PV1-3 (where PAM France puts the unit that houses her,
// section 6.10.2) active, or planned for a stay not begun (a
// pre-admission A05, a pending admission A14, or the correction of one:
// v2-to-FHIR reads it from patient class P, which PAM France does not
// use, and the Encounter is planned for these events); the prior
// location PV1-6 completed; the temporary location PV1-11 active and the
// prior temporary location PV1-43 completed, both classified temporary;
// the pending location PV1-42 (a transfer announced) reserved. A past
// movement (Header.Historic) names none of where the patient is now.
func (c *conv) visitLocations(pv1 *er7.Segment) {
	if c.movement.historic {
		for _, f := range []int{3, 6, 11, 42, 43} {
			if !pv1.Field(f).Empty() {
				c.warn(pv1, f, "location of a past movement (ZBE-5 Y): not applied to the stay")
			}
		}
		return
	}
	assigned := cpb.EncounterLocationStatusCode_ACTIVE
	if c.event == "A05" || c.event == "A14" || c.event == "Z99" && (c.movement.original == "A05" || c.movement.original == "A14") {
		assigned = cpb.EncounterLocationStatusCode_PLANNED
	}
	for _, l := range []struct {
		field     int
		status    cpb.EncounterLocationStatusCode_Value
		temporary bool
	}{
		{3, assigned, false},
		{6, cpb.EncounterLocationStatusCode_COMPLETED, false},
		{11, cpb.EncounterLocationStatusCode_ACTIVE, true},
		{43, cpb.EncounterLocationStatusCode_COMPLETED, true},
		{42, cpb.EncounterLocationStatusCode_RESERVED, false},
	} {
		ref := c.location(pv1.Field(l.field))
		if ref == nil {
			continue
		}
		el := &encpb.Encounter_Location{Location: ref, Status: &encpb.Encounter_Location_StatusCode{Value: l.status}}
		if l.temporary {
			el.Extension = append(el.Extension, &dtpb.Extension{
				Url:   &dtpb.Uri{Value: LocationClassificationURL},
				Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_CodeableConcept{CodeableConcept: c.a.conceptOf(LocationClassificationSystem, "temporary", "Temporary")}},
			})
		}
		if l.field == 3 {
			c.assigned = el
		}
		c.encounter.Location = append(c.encounter.Location, el)
	}
}

// location maps a PL (point of care^room^bed^facility^...^building^floor)
// to a Location identified by its facility and parts.
func (c *conv) location(v er7.Value) *dtpb.Reference {
	var partBuf [3]string
	parts := partBuf[:0]
	for _, i := range []int{1, 2, 3} {
		if p := text(v.Comp(i).Sub(1)); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	fac := hdSubs(v.Comp(4))
	facKey := fac.key
	if facKey == "" {
		facKey = c.scope
	}
	l := &locpb.Location{
		Id:   c.a.id(c.b.ID(append(append(make([]string, 0, 5), "Location", facKey), parts...)...)),
		Name: c.str(strings.Join(parts, " ")),
		Mode: &locpb.Location_ModeCode{Value: cpb.LocationModeCode_INSTANCE},
	}
	if d := text(v.Comp(9)); d != "" {
		l.Description = c.str(d)
	}
	phys := [2]string{"wa", "Ward"}
	switch {
	case text(v.Comp(3).Sub(1)) != "":
		phys = [2]string{"bd", "Bed"}
	case text(v.Comp(2).Sub(1)) != "":
		phys = [2]string{"ro", "Room"}
	}
	l.PhysicalType = c.a.conceptOf(locationType, phys[0], phys[1])
	c.put(l)
	return resource.Ref("Location", l.Id.Value)
}

// visitPeriod: admission (PV1-44) and discharge (PV1-45) date-times.
func (c *conv) visitPeriod(pv1 *er7.Segment) {
	p := &dtpb.Period{}
	if t, ok := c.dtm(pv1, 44); ok {
		p.Start = c.dateTime(t)
	}
	if t, ok := c.dtm(pv1, 45); ok {
		p.End = c.dateTime(t)
	}
	if p.Start != nil || p.End != nil {
		c.encounter.Period = p
	}
}

// hospitalization: re-admission (PV1-13), admit source (PV1-14), VIP
// indicator (PV1-16) and discharge disposition (PV1-36).
func (c *conv) hospitalization(pv1 *er7.Segment) {
	h := c.encounter.Hospitalization
	if h == nil {
		h = &encpb.Encounter_Hospitalization{}
	}
	h.ReAdmission = c.tableConcept(pv1.Field(13), "0092")
	h.AdmitSource = c.tableConcept(pv1.Field(14), "0023")
	if vip := c.tableConcept(pv1.Field(16), "0099"); vip != nil {
		h.SpecialCourtesy = append(h.SpecialCourtesy, vip)
	}
	h.DischargeDisposition = c.tableConcept(pv1.Field(36), "0112")
	if loc := pv1.Field(37).Comp(1); !loc.Empty() {
		// PV1-37, discharged to location: IHE PAM France gives the FINESS
		// number of the establishment of destination (section 6.10.16).
		// Elsewhere it is a code of the sender's (table 0113, user
		// defined), which may be the patient's home: not a destination.
		if code := text(loc); isFINESS(code) {
			h.Destination = &dtpb.Reference{Identifier: &dtpb.Identifier{System: &dtpb.Uri{Value: terminology.FINESS}, Value: &dtpb.String{Value: code}}}
		} else {
			c.warn(pv1, 37, "field not mapped")
		}
	}
	if h.PreAdmissionIdentifier != nil || h.ReAdmission != nil || h.AdmitSource != nil ||
		len(h.SpecialCourtesy) > 0 || h.DischargeDisposition != nil || h.Destination != nil {
		c.encounter.Hospitalization = h
	}
}

// mapPV2: the admit reason (PV2-3) and the expected discharge date-time
// (PV2-9, HL7 v2.5 section 3.4.4.9), which an A16 (pending discharge)
// announces. An A25 cancels the pending discharge (HL7 v2.5 section
// 3.3.25): its Encounter carries no expected discharge, whatever its PV2
// says, and replaces the A16's. An A03 has the actual discharge instead,
// and the stay an A11 cancels is not expected to end.
func (c *conv) mapPV2(s *er7.Segment) {
	if c.encounter == nil {
		c.warnSegment(s)
		return
	}
	if r := c.concept(s.Field(3)); r != nil {
		c.encounter.ReasonCode = append(c.encounter.ReasonCode, r)
	}
	mapped := []int{3}
	if c.event != "A25" && c.event != "A03" && c.event != "A11" {
		if t, ok := c.dtm(s, 9); ok {
			c.encounter.Extension = append(c.encounter.Extension, &dtpb.Extension{
				Url:   &dtpb.Uri{Value: ExpectedDischargeURL},
				Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_DateTime{DateTime: c.dateTime(t)}},
			})
		}
		mapped = append(mapped, 9)
	}
	c.unmapped(s, mapped...)
}

// movement is what the IHE PAM France movement segment says of the
// message (PAM France section 6.13): whether it is about a past movement
// (ZBE-5 Y) and the event that inserted the movement it updates or
// cancels (ZBE-6).
type movement struct {
	original string
	historic bool
}

// readMovement reads the ZBE before PV1 is mapped, since whether the
// movement is past decides what PV1 says of the stay. A past movement
// matters only to the events that move a patient within a stay (a
// correction Z99, a transfer, a leave, the updates): the others begin,
// end or cancel the stay itself.
//
// Z99 (PAM France section 5.3.2, remark 2) is the only event that
// corrects a movement, current or past, named by ZBE-1, and only with
// ZBE-4 UPDATE; ZBE-6 is the event that inserted it. PAM France replaces
// A08 with it for a stay's and a movement's data.
func (c *conv) readMovement() movement {
	zbe := c.msg.First("ZBE")
	if zbe == nil {
		if c.event == "Z99" {
			c.warn(c.msg.MSH(), 9, "Z99 without ZBE: taken as a correction of the current movement")
		}
		return movement{}
	}
	m := movement{original: strings.ToUpper(text(zbe.Field(6)))}
	if c.event == "Z99" && !strings.EqualFold(text(zbe.Field(4)), "UPDATE") {
		c.warn(zbe, 4, "a Z99 corrects a movement: its action is UPDATE")
	}
	within := c.event == "Z99" || updateEvents[c.event] || c.event == "A02" || c.event == "A21" || c.event == "A53"
	m.historic = within && strings.EqualFold(text(zbe.Field(5)), "Y")
	return m
}

// movementType is the text of the type of an Encounter's identifier that
// is one of its movements (ZBE-1).
const movementType = "movement"

// Movements returns the "system|value" of each movement (ZBE-1) a stay
// mapped from PAM France messages records among its identifiers.
func Movements(ids []*dtpb.Identifier) []string {
	var out []string
	for _, id := range ids {
		if id.GetType().GetText().GetValue() == movementType {
			out = append(out, id.GetSystem().GetValue()+"|"+id.GetValue().GetValue())
		}
	}
	return out
}

// ErrUnknownMovement is the error of a correction or a cancellation whose
// movement (ZBE-1) is none of its stay's: HL7 table 0357 code 204,
// unknown key identifier, at ZBE-1, in an AE; nothing is stored.
func ErrUnknownMovement() *er7.Error {
	return &er7.Error{Loc: er7.Location{Segment: "ZBE", Seq: 1, Field: 1}, Offset: -1, Condition: er7.UnknownKeyIdentifier,
		Reason: "the stay has no movement with the identifier of ZBE-1: a correction or a cancellation names a movement the receiver was sent; nothing was stored"}
}

// mapZBE maps the IHE PAM France movement segment: the movement id
// (ZBE-1) as a secondary identifier, its start (ZBE-2) on the current
// location, and the responsible medical unit (ZBE-7, an XON) as the
// Encounter's service provider.
func (c *conv) mapZBE(s *er7.Segment) {
	if c.encounter == nil {
		c.warnSegment(s)
		return
	}
	e := c.encounter
	// ZBE-1 is an EI: id^namespace^universal id^universal id type.
	ei := s.Field(1)
	mv := c.identifier(text(ei.Comp(1)), hdOf(text(ei.Comp(2)), text(ei.Comp(3)), text(ei.Comp(4))), "")
	if strings.EqualFold(text(s.Field(4)), "CANCEL") {
		// IHE PAM France: a cancellation's ZBE repeats the movement it
		// cancels (its id, start and unit): not the stay's any more, but
		// for the unit of a movement that did not move her (ZBE-6, the
		// event cancelled, other than a transfer A02): hers still.
		if mv != nil {
			c.h.CancelledMovement = mv.GetSystem().GetValue() + "|" + mv.GetValue().GetValue()
		}
		if text(s.Field(6)) != "A02" && !c.movement.historic {
			if org := c.organization(s.Field(7)); org != nil {
				e.ServiceProvider = org
			}
		}
		c.unmapped(s, 1, 2, 4, 5, 6, 7)
		return
	}
	if mv != nil {
		mv.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_SECONDARY}
		mv.Type = &dtpb.CodeableConcept{Text: c.str(movementType)}
		e.Identifier = append(e.Identifier, mv)
		if c.event == "Z99" {
			c.h.CorrectedMovement = mv.GetSystem().GetValue() + "|" + mv.GetValue().GetValue()
		}
	}
	if c.movement.historic {
		// its start and unit are the past movement's (readMovement)
		if !s.Field(7).Empty() {
			c.warn(s, 7, "responsible unit of a past movement (ZBE-5 Y): not applied to the stay")
		}
		c.unmapped(s, 1, 2, 4, 5, 6, 7)
		return
	}
	if t, ok := c.dtm(s, 2); ok && c.assigned != nil {
		if c.dischargeMovement() {
			// ZBE-2 is the effective time of the movement's event (PAM
			// France section 6.13.2): for a discharge, when she left her
			// location, not when she arrived there
			c.assigned.Period = &dtpb.Period{End: c.dateTime(t)}
		} else {
			c.assigned.Period = &dtpb.Period{Start: c.dateTime(t)}
		}
	}
	if org := c.organization(s.Field(7)); org != nil {
		e.ServiceProvider = org
	}
	c.unmapped(s, 1, 2, 4, 5, 6, 7)
}

// DischargeDispositionSystem is FHIR's code system of where a patient
// goes when she leaves (R4 valueset-encounter-discharge-disposition).
const DischargeDispositionSystem = "http://terminology.hl7.org/CodeSystem/discharge-disposition"

// pmsiDischarge maps the PMSI mode of discharge (ZFM-2; PAM France
// section 6.17.2, table IHE-FRANCE-ZFM-2) that ends a stay, and for a
// transfer the kind of destination (ZFM-4, table IHE-FRANCE-ZFM-3-4), to
// FHIR's discharge disposition: 8 home, 9 death, 4 against medical
// advice, 7 a transfer to another establishment (MCO 1 hospital, SSR 2
// rehabilitation, USLD 3 long-term care, 4 psychiatry, 6 hospitalisation
// at home and 7 a social-care home: other care than the community's).
// The others (0 transfer for a procedure, 5 trial, 6 a move within the
// hospital) do not end the stay.
func pmsiDischarge(mode, dest string) (code, display string) {
	switch mode {
	case "8":
		return "home", "Home"
	case "9":
		return "exp", "Expired"
	case "4":
		return "aadvice", "Left against advice"
	case "7":
		switch dest {
		case "1":
			return "hosp", "Acute care hospital"
		case "2":
			return "rehab", "Rehabilitation"
		case "3":
			return "long", "Long-term care"
		case "4":
			return "psy", "Psychiatric hospital"
		case "7":
			return "snf", "Skilled nursing facility"
		}
		return "other-hcf", "Other healthcare facility"
	}
	return "", ""
}

// dischargeMovement reports whether the message's movement is the
// discharge: an A03, or a Z99 that corrects one (ZBE-6 A03).
func (c *conv) dischargeMovement() bool {
	return c.event == "A03" || c.event == "Z99" && c.movement.original == "A03"
}

// mapZFM maps the PAM France PMSI movement segment of a discharge (an A03,
// or a Z99 that corrects one): its mode of discharge and destination
// (pmsiDischarge), which routing reads (a patient who died or goes to
// another establishment is not handed over to the community).
func (c *conv) mapZFM(s *er7.Segment) {
	discharge := c.dischargeMovement()
	code, display := pmsiDischarge(text(s.Field(2)), text(s.Field(4)))
	if c.encounter == nil || !discharge || code == "" {
		c.warnSegment(s)
		return
	}
	e := c.encounter
	if e.Hospitalization == nil {
		e.Hospitalization = &encpb.Encounter_Hospitalization{}
	}
	dd := e.Hospitalization.DischargeDisposition
	if dd == nil {
		dd = &dtpb.CodeableConcept{}
		e.Hospitalization.DischargeDisposition = dd
	}
	dd.Coding = append(dd.Coding, c.a.codingOf(DischargeDispositionSystem, code, display))
	c.unmapped(s, 2, 4)
}

// finishEncounter sets the status the trigger event implies: A03 finishes
// the stay (ending it at PV1-45, else at the event), A11 cancels the
// admission, A13 cancels the discharge. A16 (pending discharge) and A25
// (its cancellation) leave the stay in progress: the patient has not left,
// so a discharge date-time in PV1-45 is not the end of the stay.
// updateEvents change a stay without moving it in or out: patient
// information (A08), a change of class (A06, A07), a transfer cancelled
// (A12), a return from leave (A22) or a leave cancelled (A52), the
// attending doctor changed or the change cancelled (A54, A55), a PAM
// France correction of a movement (Z99, readMovement). Their PV1
// is the stay as it is, and a stay it says has ended (PV1-45) is finished;
// otherwise it is in progress.
var updateEvents = map[string]bool{"A06": true, "A07": true, "A08": true, "A12": true, "A22": true, "A52": true, "A54": true, "A55": true, "Z99": true}

// KeepsDischarge reports whether an ADT trigger event, applied to a stay
// an A03 finished, leaves it finished. Only the cancellation of the
// discharge (A13, HL7 v2.5 section 3.3.13) takes a discharged patient
// back; an update (updateEvents) does not carry the discharge unless it
// says so in PV1-45, and a movement after the discharge (a pending
// discharge, which PAM France section 5.3.6 has always before the A03, a
// transfer, a leave) comes late or out of order: neither ends or reopens
// the stay. The cancellations of the stay itself (A11, A27, A38) cancel
// it whatever its status.
func KeepsDischarge(event string) bool {
	switch event {
	case "A13", "A11", "A27", "A38":
		return false
	}
	return true
}

func (c *conv) finishEncounter() {
	e := c.encounter
	if e == nil {
		return
	}
	if e.ServiceProvider == nil {
		// Without ZBE-7 the stay's organisation is the facility that sent
		// the message (MSH-4), which discharges the patient and asks the
		// community to take over.
		e.ServiceProvider = c.sendingFacility()
		c.h.FacilityProvider = e.ServiceProvider != nil
	}
	status := cpb.EncounterStatusCode_IN_PROGRESS
	ev := c.event
	if ev == "Z99" && !c.movement.historic && (c.movement.original == "A05" || c.movement.original == "A14" || c.movement.original == "A21") {
		// the correction of the current movement, a pre-admission or a
		// leave, leaves the stay where that movement put it; a corrected
		// discharge (A03) is an update whose PV1-45 ends the stay
		ev = c.movement.original
	}
	switch ev {
	case "A03":
		status = cpb.EncounterStatusCode_FINISHED
		if e.Period == nil {
			e.Period = &dtpb.Period{}
		}
		if e.Period.End == nil {
			e.Period.End = c.eventDateTime()
		}
	case "A11":
		status = cpb.EncounterStatusCode_CANCELLED
	case "A16", "A25":
		if e.Period != nil && e.Period.End != nil {
			e.Period.End = nil
			c.warn(c.msg.First("PV1"), 45, "discharge date-time of a stay not yet discharged not mapped")
		}
		if e.Period != nil && e.Period.Start == nil {
			e.Period = nil
		}
	case "A13":
		if e.Period != nil {
			e.Period.End = nil
		}
		if e.Hospitalization != nil {
			e.Hospitalization.DischargeDisposition = nil
		}
	case "A05", "A14": // pre-admit, pending admit (HL7 v2.5 sections 3.3.5, 3.3.14): the stay is planned
		status = cpb.EncounterStatusCode_PLANNED
	case "A38", "A27": // cancel pre-admit, cancel pending admit (sections 3.3.38, 3.3.27)
		status = cpb.EncounterStatusCode_CANCELLED
	case "A21", "A53": // leave of absence (3.3.21), its return cancelled (3.3.53)
		status = cpb.EncounterStatusCode_ONLEAVE
	default:
		// An update or a document tells where the stay is only through
		// PV1-45; an MDM without it does not know.
		if c.code == "MDM" {
			status = cpb.EncounterStatusCode_UNKNOWN
		}
		if (c.code == "MDM" || updateEvents[c.event]) && e.Period != nil && e.Period.End != nil {
			status = cpb.EncounterStatusCode_FINISHED
		}
	}
	if status == cpb.EncounterStatusCode_FINISHED {
		// where she was is completed; where she was to go, she never went
		e.Location = slices.DeleteFunc(e.Location, func(l *encpb.Encounter_Location) bool {
			return l.GetStatus().GetValue() == cpb.EncounterLocationStatusCode_RESERVED
		})
		for _, l := range e.Location {
			l.Status = &encpb.Encounter_Location_StatusCode{Value: cpb.EncounterLocationStatusCode_COMPLETED}
		}
	}
	e.Status = &encpb.Encounter_StatusCode{Value: status}
}

// eventDateTime: when the event happened (EVN-6), else was recorded.
func (c *conv) eventDateTime() *dtpb.DateTime {
	evn := c.msg.First("EVN")
	for _, f := range []int{6, 2} {
		if t, ok := parseDTM(text(evn.Field(f).Comp(1)), c.zone, &c.zones); ok {
			return c.dateTime(t)
		}
	}
	if t, ok := parseDTM(text(c.msg.MSH().Field(7).Comp(1)), c.zone, &c.zones); ok {
		return c.dateTime(t)
	}
	return nil
}
