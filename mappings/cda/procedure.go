package cda

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	devpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_go_proto"
	dusp "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_use_statement_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	goalpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/goal_go_proto"
	immpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/bundle"
)

// Procedures, immunizations, goals, devices and encounter activities.

func procedureStatus(s el) cpb.EventStatusCode_Value {
	if s.attr("negationInd") == "true" {
		return cpb.EventStatusCode_NOT_DONE
	}
	switch s.child("statusCode").attr("code") {
	case "completed":
		return cpb.EventStatusCode_COMPLETED
	case "active":
		return cpb.EventStatusCode_IN_PROGRESS
	case "aborted":
		return cpb.EventStatusCode_STOPPED
	case "cancelled":
		return cpb.EventStatusCode_NOT_DONE
	case "new":
		return cpb.EventStatusCode_PREPARATION
	case "held", "suspended":
		return cpb.EventStatusCode_ON_HOLD
	}
	return cpb.EventStatusCode_UNKNOWN
}

// procedure maps a procedure event (C-CDA Procedure Activity Procedure,
// Act and Observation; IHE PCC and CI-SIS FR-Acte in event mood).
func (c *conv) procedure(s el) *dtpb.Reference {
	p := &procpb.Procedure{
		Id:         &dtpb.Id{Value: c.entryID("Procedure", s)},
		Identifier: identifiers(s),
		Status:     &procpb.Procedure_StatusCode{Value: procedureStatus(s)},
		Code:       c.concept(s.child("code")),
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Recorder:   c.entryAuthor(s),
		ReasonCode: c.reasons(s),
	}
	if p.Code == nil {
		p.Code = textConcept(c.entryText(s))
	}
	if cc := c.concept(s.child("targetSiteCode")); cc != nil {
		p.BodySite = append(p.BodySite, cc)
	}
	if at, per := c.effective(s); at != nil {
		p.Performed = &procpb.Procedure_PerformedX{Choice: &procpb.Procedure_PerformedX_DateTime{DateTime: at}}
	} else if per != nil {
		p.Performed = &procpb.Procedure_PerformedX{Choice: &procpb.Procedure_PerformedX_Period{Period: per}}
	}
	for _, r := range c.performers(s) {
		p.Performer = append(p.Performer, &procpb.Procedure_Performer{Actor: r})
	}
	return c.put(p, category.CLIN)
}

// immunization maps an immunization activity in event mood.
func (c *conv) immunization(s el) *dtpb.Reference {
	mm := s.path("consumable", "manufacturedProduct", "manufacturedMaterial")
	im := &immpb.Immunization{
		Id:           &dtpb.Id{Value: c.entryID("Immunization", s)},
		Identifier:   identifiers(s),
		Status:       &immpb.Immunization_StatusCode{Value: vspb.ImmunizationStatusCodesValueSet_COMPLETED},
		VaccineCode:  c.medication(s),
		Patient:      c.patientRef(),
		Encounter:    c.encounterRef(),
		LotNumber:    str(mm.child("lotNumberText").text()),
		Route:        c.concept(s.child("routeCode")),
		Site:         c.concept(s.child("approachSiteCode")),
		DoseQuantity: simpleQuantity(s.child("doseQuantity")),
		ReasonCode:   c.reasons(s),
	}
	if s.attr("negationInd") == "true" {
		im.Status.Value = vspb.ImmunizationStatusCodesValueSet_NOT_DONE
	}
	if org := s.path("consumable", "manufacturedProduct", "manufacturerOrganization"); org.ok() {
		im.Manufacturer = c.organization(org)
	}
	span, _ := effectiveTimes(s)
	if v := firstDateTime(c.dateTime(span), c.dateTime(span.child("low")), c.dateTime(span.child("center"))); v != nil {
		im.Occurrence = &immpb.Immunization_OccurrenceX{Choice: &immpb.Immunization_OccurrenceX_DateTime{DateTime: v}}
	} else {
		im.Occurrence = &immpb.Immunization_OccurrenceX{Choice: &immpb.Immunization_OccurrenceX_StringValue{StringValue: str("unknown")}}
	}
	for _, r := range c.performers(s) {
		im.Performer = append(im.Performer, &immpb.Immunization_Performer{Actor: r})
	}
	return c.put(im, category.CLIN)
}

// goal maps a goal observation (C-CDA Goal Observation .4.121, mood GOL):
// code and value describe the target measure.
func (c *conv) goal(s el) *dtpb.Reference {
	g := &goalpb.Goal{
		Id:          &dtpb.Id{Value: c.entryID("Goal", s)},
		Identifier:  identifiers(s),
		Subject:     c.patientRef(),
		ExpressedBy: c.entryAuthor(s),
	}
	status := cpb.GoalLifecycleStatusCode_ACTIVE
	switch s.child("statusCode").attr("code") {
	case "completed":
		status = cpb.GoalLifecycleStatusCode_COMPLETED
	case "cancelled", "aborted":
		status = cpb.GoalLifecycleStatusCode_CANCELLED
	case "suspended", "held":
		status = cpb.GoalLifecycleStatusCode_ON_HOLD
	}
	g.LifecycleStatus = &goalpb.Goal_LifecycleStatusCode{Value: status}
	code := c.concept(s.child("code"))
	g.Description = textConcept(c.entryText(s))
	if g.Description == nil {
		g.Description = code
	}
	if g.Description == nil {
		g.Description = textConcept("goal")
	}
	if t := c.goalTarget(s, code); t != nil {
		g.Target = []*goalpb.Goal_Target{t}
	}
	if v, ok := c.ts(s.child("effectiveTime").child("low")); ok {
		g.Start = &goalpb.Goal_StartX{Choice: &goalpb.Goal_StartX_Date{Date: v.date()}}
	} else if v, ok := c.ts(s.child("effectiveTime")); ok {
		g.Start = &goalpb.Goal_StartX{Choice: &goalpb.Goal_StartX_Date{Date: v.date()}}
	}
	ref := c.put(g, category.CLIN)
	c.goals = append(c.goals, ref)
	return ref
}

// goalTarget maps value as the target of the measure code (gol-1 needs a
// measure with any detail).
func (c *conv) goalTarget(s el, measure *dtpb.CodeableConcept) *goalpb.Goal_Target {
	v := s.child("value")
	if !v.ok() || measure == nil {
		return nil
	}
	t := &goalpb.Goal_Target{Measure: measure}
	switch v.xsiType() {
	case "PQ":
		if q := quantity(v); q != nil {
			t.Detail = &goalpb.Goal_Target_DetailX{Choice: &goalpb.Goal_Target_DetailX_Quantity{Quantity: q}}
		}
	case "IVL_PQ":
		if r := pqRange(v); r != nil {
			t.Detail = &goalpb.Goal_Target_DetailX{Choice: &goalpb.Goal_Target_DetailX_Range{Range: r}}
		}
	case "ST":
		if x := v.text(); x != "" {
			t.Detail = &goalpb.Goal_Target_DetailX{Choice: &goalpb.Goal_Target_DetailX_StringValue{StringValue: str(x)}}
		}
	default:
		if cc := c.concept(v); cc != nil {
			t.Detail = &goalpb.Goal_Target_DetailX{Choice: &goalpb.Goal_Target_DetailX_CodeableConcept{CodeableConcept: cc}}
		}
	}
	if t.Detail == nil {
		return nil
	}
	return t
}

// device maps a device supply (CI-SIS FR-Dispositif-medical, C-CDA
// Non-Medicinal Supply): the Device and a DeviceUseStatement.
func (c *conv) device(s el) []*dtpb.Reference {
	var pr el
	s.each("participant", func(p el) {
		if !pr.ok() && p.path("participantRole", "playingDevice").ok() {
			pr = p.child("participantRole")
		}
	})
	if !pr.ok() {
		pr = s.path("product", "manufacturedProduct")
	}
	pd := pr.child("playingDevice")
	d := &devpb.Device{
		Identifier: identifiers(s),
		Type:       c.concept(pd.child("code")),
		Patient:    c.patientRef(),
	}
	if d.Type == nil {
		d.Type = textConcept(c.entryText(s))
	}
	pr.each("id", func(ii el) {
		if ext := ii.attr("extension"); ext != "" {
			d.UdiCarrier = append(d.UdiCarrier, &devpb.Device_UdiCarrier{CarrierHrf: str(ext), Issuer: issuer(ii.attr("root"))})
		}
	})
	if n := pd.child("manufacturerModelName").text(); n != "" {
		d.DeviceName = append(d.DeviceName, &devpb.Device_DeviceName{Name: str(n), Type: &devpb.Device_DeviceName_TypeCode{Value: cpb.DeviceNameTypeCode_MODEL_NAME}})
	}
	d.Id = &dtpb.Id{Value: c.entryID("Device", s)}
	devRef := c.put(d, category.CLIN)
	u := &dusp.DeviceUseStatement{
		Id:      &dtpb.Id{Value: bundle.ID("DeviceUseStatement", d.Id.Value)},
		Status:  &dusp.DeviceUseStatement_StatusCode{Value: cpb.DeviceUseStatementStatusCode_ACTIVE},
		Subject: c.patientRef(),
		Device:  devRef,
		Source:  c.entryAuthor(s),
	}
	if s.child("statusCode").attr("code") == "completed" && s.path("effectiveTime", "high").ok() {
		u.Status.Value = cpb.DeviceUseStatementStatusCode_COMPLETED
	}
	if at, p := c.effective(s); at != nil {
		u.Timing = &dusp.DeviceUseStatement_TimingX{Choice: &dusp.DeviceUseStatement_TimingX_DateTime{DateTime: at}}
	} else if p != nil {
		u.Timing = &dusp.DeviceUseStatement_TimingX{Choice: &dusp.DeviceUseStatement_TimingX_Period{Period: p}}
	}
	return []*dtpb.Reference{devRef, c.put(u, category.CLIN)}
}

func issuer(root string) *dtpb.Uri {
	if s := systemFor(root); s != "" {
		return uri(s)
	}
	return nil
}

// encounterActivity maps an encounter event listed in a section (C-CDA
// Encounter Activity .4.49, IHE PCC Encounter).
func (c *conv) encounterActivity(s el) *dtpb.Reference {
	e := &encpb.Encounter{
		Id:         &dtpb.Id{Value: c.entryID("Encounter", s)},
		Identifier: identifiers(s),
		Subject:    c.patientRef(),
		Period:     c.period(s.child("effectiveTime")),
		ReasonCode: c.reasons(s),
		Status:     &encpb.Encounter_StatusCode{Value: cpb.EncounterStatusCode_UNKNOWN},
	}
	cd := s.child("code")
	if cd.attr("codeSystem") == oidActCode && cd.attr("code") != "" {
		e.ClassValue = coding(cd)
	} else {
		e.ClassValue = &dtpb.Coding{System: uri("http://terminology.hl7.org/CodeSystem/v3-NullFlavor"), Code: &dtpb.Code{Value: "UNK"}}
		if cc := c.concept(cd); cc != nil {
			e.Type = append(e.Type, cc)
		}
	}
	if e.Period != nil && (e.Period.End != nil || s.child("statusCode").attr("code") == "completed") {
		e.Status.Value = cpb.EncounterStatusCode_FINISHED
	}
	for _, r := range c.performers(s) {
		e.Participant = append(e.Participant, &encpb.Encounter_Participant{Individual: r})
	}
	return c.put(e, category.ADM)
}
