package cda

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_request_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// Medications (C-CDA Medication Activity .4.16, Planned Medication Activity
// .4.42; CCD .1.24; IHE PCC Medications 1.3.6.1.4.1.19376.1.5.3.1.4.7;
// CI-SIS FR-Traitement 1.2.250.1.213.1.1.3.42). Events become
// MedicationStatements; intents, and the treatments at discharge, become
// MedicationRequests.

const medRequestCategory = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

// medication is the consumable's product code, or its name, or the entry's
// narrative.
func (c *conv) medication(s el) *dtpb.CodeableConcept {
	mm := s.path("consumable", "manufacturedProduct", "manufacturedMaterial")
	cc := c.concept(mm.child("code"))
	name := mm.child("name").text()
	if cc == nil {
		cc = textConcept(firstNonEmpty(name, c.entryText(s), "unknown medication"))
	} else if cc.Text == nil && name != "" {
		cc.Text = str(name)
	}
	return cc
}

// effectiveTimes splits a substanceAdministration's effectiveTime elements
// into the treatment interval (IVL_TS or TS) and the frequency (PIVL_TS).
func effectiveTimes(s el) (span, freq el) {
	s.each("effectiveTime", func(et el) {
		switch et.xsiType() {
		case "PIVL_TS", "EIVL_TS", "SXPR_TS":
			if !freq.ok() {
				freq = et
			}
		default:
			if !span.ok() {
				span = et
			}
		}
	})
	return span, freq
}

var timeUnits = map[string]vspb.UnitsOfTimeValueSet_Value{
	"s": vspb.UnitsOfTimeValueSet_S, "min": vspb.UnitsOfTimeValueSet_MIN, "h": vspb.UnitsOfTimeValueSet_H,
	"d": vspb.UnitsOfTimeValueSet_D, "wk": vspb.UnitsOfTimeValueSet_WK, "mo": vspb.UnitsOfTimeValueSet_MO,
	"a": vspb.UnitsOfTimeValueSet_A,
}

// dosage maps frequency, dose, rate, maximum dose, route and site.
func (c *conv) dosage(s el) *dtpb.Dosage {
	d := &dtpb.Dosage{
		Route: c.concept(s.child("routeCode")),
		Site:  c.concept(s.child("approachSiteCode")),
	}
	_, freq := effectiveTimes(s)
	if p := freq.child("period"); freq.xsiType() == "PIVL_TS" && p.ok() {
		if u, ok := timeUnits[strings.TrimSpace(p.attr("unit"))]; ok && decimal(p.attr("value")) != nil {
			d.Timing = &dtpb.Timing{Repeat: &dtpb.Timing_Repeat{
				Frequency:  &dtpb.PositiveInt{Value: 1},
				Period:     decimal(p.attr("value")),
				PeriodUnit: &dtpb.Timing_Repeat_PeriodUnitCode{Value: u},
			}}
		}
	}
	dr := &dtpb.Dosage_DoseAndRate{}
	dose := s.child("doseQuantity")
	if q := simpleQuantity(dose); q != nil {
		dr.Dose = &dtpb.Dosage_DoseAndRate_DoseX{Choice: &dtpb.Dosage_DoseAndRate_DoseX_Quantity{Quantity: q}}
	} else if r := pqRange(dose); r != nil {
		dr.Dose = &dtpb.Dosage_DoseAndRate_DoseX{Choice: &dtpb.Dosage_DoseAndRate_DoseX_Range{Range: r}}
	}
	rate := s.child("rateQuantity")
	if q := simpleQuantity(rate); q != nil {
		dr.Rate = &dtpb.Dosage_DoseAndRate_RateX{Choice: &dtpb.Dosage_DoseAndRate_RateX_Quantity{Quantity: q}}
	} else if r := pqRange(rate); r != nil {
		dr.Rate = &dtpb.Dosage_DoseAndRate_RateX{Choice: &dtpb.Dosage_DoseAndRate_RateX_Range{Range: r}}
	}
	if dr.Dose != nil || dr.Rate != nil {
		d.DoseAndRate = []*dtpb.Dosage_DoseAndRate{dr}
	}
	if max := s.child("maxDoseQuantity"); max.ok() {
		n, den := quantity(max.child("numerator")), quantity(max.child("denominator"))
		if n != nil && den != nil {
			d.MaxDosePerPeriod = &dtpb.Ratio{Numerator: n, Denominator: den}
		}
	}
	if t := c.entryText(s); t != "" {
		d.Text = str(t)
	}
	d.PatientInstruction = str(c.instructions(s))
	if d.Route == nil && d.Site == nil && d.Timing == nil && d.DoseAndRate == nil && d.MaxDosePerPeriod == nil && d.Text == nil && d.PatientInstruction == nil {
		return nil
	}
	return d
}

// instructions reads Instruction acts (C-CDA .4.20, IHE PCC patient
// medication instructions) attached to a statement.
func (c *conv) instructions(s el) string {
	var out []string
	s.each("entryRelationship", func(er el) {
		a := er.child("act")
		if a.hasTemplate("2.16.840.1.113883.10.20.22.4.20", "1.3.6.1.4.1.19376.1.5.3.1.4.3", "2.16.840.1.113883.10.20.1.49") {
			if t := firstNonEmpty(c.entryText(a), c.concept(a.child("code")).GetText().GetValue()); t != "" {
				out = append(out, t)
			}
		}
	})
	return strings.Join(out, "; ")
}

// reasons reads indications (RSON entry relationships).
func (c *conv) reasons(s el) []*dtpb.CodeableConcept {
	var out []*dtpb.CodeableConcept
	s.each("entryRelationship", func(er el) {
		if er.attr("typeCode") != "RSON" {
			return
		}
		o := er.child("observation")
		if cc := c.concept(o.child("value")); cc != nil {
			out = append(out, cc)
		} else if cc := c.concept(o.child("code")); cc != nil {
			out = append(out, cc)
		}
	})
	return out
}

func (c *conv) medicationStatement(s el) *dtpb.Reference {
	ms := &mspb.MedicationStatement{
		Id:                &dtpb.Id{Value: c.entryID("MedicationStatement", s)},
		Identifier:        identifiers(s),
		Status:            &mspb.MedicationStatement_StatusCode{Value: medStatementStatus(s)},
		Medication:        &mspb.MedicationStatement_MedicationX{Choice: &mspb.MedicationStatement_MedicationX_CodeableConcept{CodeableConcept: c.medication(s)}},
		Subject:           c.patientRef(),
		Context:           c.encounterRef(),
		InformationSource: c.entryAuthor(s),
		ReasonCode:        c.reasons(s),
	}
	span, _ := effectiveTimes(s)
	if v := c.dateTime(span); v != nil {
		ms.Effective = &mspb.MedicationStatement_EffectiveX{Choice: &mspb.MedicationStatement_EffectiveX_DateTime{DateTime: v}}
	} else if p := c.period(span); p != nil {
		ms.Effective = &mspb.MedicationStatement_EffectiveX{Choice: &mspb.MedicationStatement_EffectiveX_Period{Period: p}}
	}
	if d := c.dosage(s); d != nil {
		ms.Dosage = []*dtpb.Dosage{d}
	}
	if v, ok := c.ts(s.path("author", "time")); ok {
		ms.DateAsserted = v.dateTime()
	}
	return c.put(ms, category.MED)
}

func medStatementStatus(s el) cpb.MedicationStatementStatusCodes_Value {
	if s.attr("negationInd") == "true" {
		return cpb.MedicationStatementStatusCodes_NOT_TAKEN
	}
	switch s.child("statusCode").attr("code") {
	case "active":
		return cpb.MedicationStatementStatusCodes_ACTIVE
	case "completed":
		return cpb.MedicationStatementStatusCodes_COMPLETED
	case "aborted", "cancelled":
		return cpb.MedicationStatementStatusCodes_STOPPED
	case "suspended", "held":
		return cpb.MedicationStatementStatusCodes_ON_HOLD
	case "new":
		return cpb.MedicationStatementStatusCodes_INTENDED
	}
	if isRequest(mood(s)) {
		return cpb.MedicationStatementStatusCodes_INTENDED
	}
	return cpb.MedicationStatementStatusCodes_UNKNOWN
}

// medicationRequest maps planned medications and treatments at discharge.
func (c *conv) medicationRequest(sec *section, s el) *dtpb.Reference {
	mr := &mrpb.MedicationRequest{
		Id:         &dtpb.Id{Value: c.entryID("MedicationRequest", s)},
		Identifier: identifiers(s),
		Status:     &mrpb.MedicationRequest_StatusCode{Value: medRequestStatus(s)},
		Intent:     &mrpb.MedicationRequest_IntentCode{Value: medRequestIntent(mood(s))},
		Medication: &mrpb.MedicationRequest_MedicationX{Choice: &mrpb.MedicationRequest_MedicationX_CodeableConcept{CodeableConcept: c.medication(s)}},
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Requester:  firstRef(c.entryAuthor(s), c.firstAuthor()),
		ReasonCode: c.reasons(s),
		AuthoredOn: firstDateTime(c.dateTime(s.path("author", "time")), c.docDate),
	}
	if sec.kind == secDischargeMeds {
		mr.Category = []*dtpb.CodeableConcept{codeConcept(medRequestCategory, "discharge")}
	}
	if d := c.dosage(s); d != nil {
		span, _ := effectiveTimes(s)
		if p := c.period(span); p != nil {
			if d.Timing == nil {
				d.Timing = &dtpb.Timing{}
			}
			if d.Timing.Repeat == nil {
				d.Timing.Repeat = &dtpb.Timing_Repeat{}
			}
			d.Timing.Repeat.Bounds = &dtpb.Timing_Repeat_BoundsX{Choice: &dtpb.Timing_Repeat_BoundsX_Period{Period: p}}
		}
		mr.DosageInstruction = []*dtpb.Dosage{d}
	}
	ref := c.put(mr, category.MED)
	if sec.kind == secPlan || sec.kind == secDischargeMeds {
		sec.requests = append(sec.requests, ref)
	}
	return ref
}

func (c *conv) firstAuthor() *dtpb.Reference {
	if len(c.authors) == 0 {
		return nil
	}
	return c.authors[0]
}

func firstDateTime(ds ...*dtpb.DateTime) *dtpb.DateTime {
	for _, d := range ds {
		if d != nil {
			return d
		}
	}
	return nil
}

func medRequestStatus(s el) cpb.MedicationrequestStatusCode_Value {
	switch s.child("statusCode").attr("code") {
	case "active", "":
		return cpb.MedicationrequestStatusCode_ACTIVE
	case "completed":
		return cpb.MedicationrequestStatusCode_COMPLETED
	case "aborted":
		return cpb.MedicationrequestStatusCode_STOPPED
	case "cancelled":
		return cpb.MedicationrequestStatusCode_CANCELLED
	case "suspended", "held":
		return cpb.MedicationrequestStatusCode_ON_HOLD
	case "new":
		return cpb.MedicationrequestStatusCode_DRAFT
	}
	return cpb.MedicationrequestStatusCode_UNKNOWN
}

func medRequestIntent(m string) cpb.MedicationRequestIntentCode_Value {
	switch m {
	case "RQO":
		return cpb.MedicationRequestIntentCode_ORDER
	case "PRP":
		return cpb.MedicationRequestIntentCode_PROPOSAL
	}
	return cpb.MedicationRequestIntentCode_PLAN
}
