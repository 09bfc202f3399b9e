package cda

import (
	"strconv"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// Observations: results, vital signs, social history, functional and
// cognitive status, and every other observation event (C-CDA Result
// Observation .4.2, Vital Sign Observation .4.27, Social History .4.38,
// Smoking Status .4.78, Functional Status .4.67; IHE PCC Simple Observation;
// CI-SIS FR-Simple-Observation and its specialisations).

const (
	obsCategory       = "http://terminology.hl7.org/CodeSystem/observation-category"
	dataAbsentReasons = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
)

var (
	tplSocial = []string{
		"2.16.840.1.113883.10.20.22.4.38", "2.16.840.1.113883.10.20.22.4.78", "2.16.840.1.113883.10.20.22.4.85",
		"2.16.840.1.113883.10.20.1.33", "1.3.6.1.4.1.19376.1.5.3.1.4.13.4",
	}
	tplFunctional = []string{
		"2.16.840.1.113883.10.20.22.4.67", "2.16.840.1.113883.10.20.22.4.68", "2.16.840.1.113883.10.20.22.4.74",
		"2.16.840.1.113883.10.20.22.4.73", "2.16.840.1.113883.10.20.22.4.66", "2.16.840.1.113883.10.20.22.4.75",
		"2.16.840.1.113883.10.20.22.4.69",
	}
	tplVital  = []string{"2.16.840.1.113883.10.20.22.4.27", "2.16.840.1.113883.10.20.22.4.26", "2.16.840.1.113883.10.20.1.31", "2.16.840.1.113883.10.20.1.35", "1.3.6.1.4.1.19376.1.5.3.1.4.13.2", "1.3.6.1.4.1.19376.1.5.3.1.4.13.1"}
	tplResult = []string{"2.16.840.1.113883.10.20.22.4.2", "2.16.840.1.113883.10.20.22.4.1", "2.16.840.1.113883.10.20.1.31", "2.16.840.1.113883.10.20.1.32",
		// IHE PaLM (XD-LAB) Laboratory Observation, Battery and Isolate Organizers
		"1.3.6.1.4.1.19376.1.3.1.6", "1.3.6.1.4.1.19376.1.3.1.4", "1.3.6.1.4.1.19376.1.3.1.5"}
)

// obsKind gives an observation's FHIR category code and data category.
func obsKind(sec *section, s el) (string, category.Code) {
	switch {
	case s.hasTemplate(tplVital...) || sec.kind == secVitals:
		return "vital-signs", category.CLIN
	case s.hasTemplate(tplFunctional...) || sec.kind == secFunctional:
		return "survey", category.FUNC
	case s.hasTemplate(tplSocial...) || sec.kind == secSocial:
		return "social-history", category.SOC
	case s.hasTemplate(tplResult...) || sec.kind == secResults:
		return "laboratory", category.CLIN
	}
	return "", category.CLIN
}

func obsStatus(s el) cpb.ObservationStatusCode_Value {
	switch s.child("statusCode").attr("code") {
	case "active":
		return cpb.ObservationStatusCode_PRELIMINARY
	case "aborted", "cancelled":
		return cpb.ObservationStatusCode_CANCELLED
	case "new", "held":
		return cpb.ObservationStatusCode_REGISTERED
	}
	return cpb.ObservationStatusCode_FINAL
}

// observation maps an observation event. members are the references of an
// organizer's components (for panels).
func (c *conv) observation(sec *section, s el, members []*dtpb.Reference) *dtpb.Reference {
	o := &obspb.Observation{
		Id:         &dtpb.Id{Value: c.entryID("Observation", s)},
		Identifier: identifiers(s),
		Status:     &obspb.Observation_StatusCode{Value: obsStatus(s)},
		Code:       c.concept(s.child("code")),
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		HasMember:  members,
		Method:     c.concept(s.child("methodCode")),
		BodySite:   c.concept(s.child("targetSiteCode")),
	}
	text := c.entryText(s)
	if o.Code == nil {
		o.Code = textConcept(firstNonEmpty(text, "observation"))
	}
	catCode, cat := obsKind(sec, s)
	if catCode != "" {
		o.Category = []*dtpb.CodeableConcept{codeConcept(obsCategory, catCode)}
	}
	if at, p := c.effective(s); at != nil {
		o.Effective = &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_DateTime{DateTime: at}}
	} else if p != nil {
		o.Effective = &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_Period{Period: p}}
	}
	o.Performer = c.performers(s)
	if a := c.entryAuthor(s); a != nil {
		o.Performer = append(o.Performer, a)
	}
	if members == nil {
		c.obsValue(o, s.child("value"), text)
	}
	s.each("interpretationCode", func(ic el) {
		if cc := c.concept(ic); cc != nil {
			o.Interpretation = append(o.Interpretation, cc)
		}
	})
	s.each("referenceRange", func(rr el) {
		if r := c.referenceRange(rr.child("observationRange")); r != nil {
			o.ReferenceRange = append(o.ReferenceRange, r)
		}
	})
	c.encounterFacts(s, o.GetValue().GetCodeableConcept())
	return c.put(o, cat)
}

// obsValue maps value by its xsi:type; an absent value falls back to the
// entry's narrative text, a null one to a dataAbsentReason (obs-6).
func (c *conv) obsValue(o *obspb.Observation, v el, text string) {
	if !v.ok() {
		if text != "" {
			o.Value = &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: str(text)}}
		}
		return
	}
	if val := c.value(v); val != nil {
		o.Value = val
		return
	}
	if nf := v.attr("nullFlavor"); nf != "" {
		o.DataAbsentReason = codeConcept(dataAbsentReasons, absentReason(nf))
	} else if text != "" {
		o.Value = &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: str(text)}}
	}
}

func absentReason(nullFlavor string) string {
	switch nullFlavor {
	case "ASKU":
		return "asked-unknown"
	case "NAV":
		return "temp-unknown"
	case "NASK":
		return "not-asked"
	case "MSK":
		return "masked"
	case "NA":
		return "not-applicable"
	case "NINF", "PINF", "NAN":
		return "not-a-number"
	}
	return "unknown"
}

// value maps an ANY-typed value element.
func (c *conv) value(v el) *obspb.Observation_ValueX {
	typ := v.xsiType()
	switch typ {
	case "PQ":
		if q := quantity(v); q != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: q}}
		}
		return nil
	case "REAL", "MO":
		if d := decimal(v.attr("value")); d != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: &dtpb.Quantity{Value: d}}}
		}
		return nil
	case "INT":
		if n, err := strconv.ParseInt(strings.TrimSpace(v.attr("value")), 10, 32); err == nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Integer{Integer: &dtpb.Integer{Value: int32(n)}}}
		}
		return nil
	case "BL":
		if b := v.attr("value"); b == "true" || b == "false" {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: b == "true"}}}
		}
		return nil
	case "ST", "ED", "SC":
		if t := v.text(); t != "" {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: str(t)}}
		}
		if t := c.originalText(v); t != "" {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: str(t)}}
		}
		return nil
	case "TS":
		if d := c.dateTime(v); d != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_DateTime{DateTime: d}}
		}
		return nil
	case "IVL_TS":
		if p := c.period(v); p != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Period{Period: p}}
		}
		return nil
	case "IVL_PQ":
		if r := pqRange(v); r != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Range{Range: r}}
		}
		return nil
	case "RTO", "RTO_PQ_PQ", "RTO_INT_INT", "RTO_QTY_QTY":
		n, d := quantity(v.child("numerator")), quantity(v.child("denominator"))
		if n == nil && d == nil {
			return nil
		}
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Ratio{Ratio: &dtpb.Ratio{Numerator: n, Denominator: d}}}
	}
	// CD, CE, CV, CO, CS and untyped coded values.
	if cc := c.concept(v); cc != nil {
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_CodeableConcept{CodeableConcept: cc}}
	}
	if typ == "" && v.attr("value") != "" {
		if q := quantity(v); q != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: q}}
		}
	}
	if t := v.text(); t != "" && typ == "" {
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: str(t)}}
	}
	return nil
}

func pqRange(v el) *dtpb.Range {
	r := &dtpb.Range{Low: simpleQuantity(v.child("low")), High: simpleQuantity(v.child("high"))}
	if r.Low == nil && r.High == nil {
		return nil
	}
	return r
}

func (c *conv) referenceRange(or el) *obspb.Observation_ReferenceRange {
	if !or.ok() {
		return nil
	}
	r := &obspb.Observation_ReferenceRange{}
	if v := or.child("value"); v.ok() {
		r.Low, r.High = simpleQuantity(v.child("low")), simpleQuantity(v.child("high"))
	}
	if t := c.originalText(or.child("text")); t != "" {
		r.Text = str(t)
	}
	if r.Low == nil && r.High == nil && r.Text == nil {
		return nil // obs-3
	}
	return r
}

// organizer maps a result, vital-signs or functional-status organizer to a
// panel Observation whose members are its component observations.
func (c *conv) organizer(sec *section, org el) []*dtpb.Reference {
	var members, others []*dtpb.Reference
	org.each("component", func(cmp el) {
		switch stmt := cmp.firstElem(); {
		case stmt.name() == "observation" && mood(stmt) == "EVN":
			members = append(members, c.observation(sec, stmt, nil))
		case stmt.name() == "organizer":
			members = append(members, c.organizer(sec, stmt)...)
		case statementNames[stmt.name()]:
			// Medical equipment and other organizers group other statements.
			refs := c.statement(sec, stmt)
			if refs == nil {
				c.warn(stmt, "organizer component "+stmt.name()+" not mapped")
			}
			others = append(others, refs...)
		}
	})
	if len(members) == 0 {
		return others
	}
	panel := c.observation(sec, org, members)
	return append(append([]*dtpb.Reference{panel}, members...), others...)
}

// encounterFacts copies CI-SIS admission and discharge modalities
// (FR-Modalite-entree, FR-Modalite-sortie) onto the Encounter.
func (c *conv) encounterFacts(s el, value *dtpb.CodeableConcept) {
	if value == nil || c.encounterID == "" {
		return
	}
	e, _ := c.b.Get("Encounter/" + c.encounterID).(*encpb.Encounter)
	if e == nil {
		return
	}
	switch {
	case s.hasTemplate(tplModaliteSortie):
		if e.GetHospitalization().GetDischargeDisposition() == nil {
			c.hospitalization(e).DischargeDisposition = value
		}
	case s.hasTemplate(tplModaliteEntree):
		if e.GetHospitalization().GetAdmitSource() == nil {
			c.hospitalization(e).AdmitSource = value
		}
	}
}
