package hl7v2

import (
	"github.com/relais-health/relais/fhir/resource"
	"regexp"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	condpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Ids of clinical resources combine the patient, the encounter and what
// the segment is about (its code), not the segment's position, so that the
// same diagnosis sent in an A01 and again in the A03 is one Condition.

func (c *conv) subject() *dtpb.Reference { return resource.Ref("Patient", c.patientID) }

func (c *conv) encounterRef() *dtpb.Reference {
	if c.encounter == nil {
		return nil
	}
	return resource.Ref("Encounter", c.encounter.Id.Value)
}

// codeKey identifies a concept for ids: its first coding, else its text.
func codeKey(cc *dtpb.CodeableConcept) string {
	if len(cc.GetCoding()) > 0 {
		return cc.Coding[0].GetSystem().GetValue() + "|" + cc.Coding[0].GetCode().GetValue()
	}
	return "text|" + cc.GetText().GetValue()
}

// codeOrText reads a coded field, falling back to a free-text field (DG1-4,
// PR1-4 in v2.3).
func (c *conv) codeOrText(s *er7.Segment, codeField, textField int) *dtpb.CodeableConcept {
	if cc := c.concept(s.Field(codeField)); cc != nil {
		if cc.Text == nil {
			cc.Text = c.str(text(s.Field(textField)))
		}
		return cc
	}
	if t := text(s.Field(textField)); t != "" {
		return &dtpb.CodeableConcept{Text: c.str(t)}
	}
	return nil
}

var diagnosisRoles = map[string][2]string{
	"A": {"AD", "Admission diagnosis"}, "F": {"DD", "Discharge diagnosis"}, "W": {"CC", "Chief complaint"},
}

// mapDG1 maps a diagnosis to an encounter-diagnosis Condition, listed in
// Encounter.diagnosis with its type (DG1-6) and priority (DG1-15).
func (c *conv) mapDG1(s *er7.Segment) {
	code := c.codeOrText(s, 3, 4)
	if code == nil {
		c.warn(s, 3, "diagnosis without code or description not mapped")
		return
	}
	cond := &condpb.Condition{
		Id:        c.a.id(c.b.ID("Condition", c.patientID, c.encKey, codeKey(code))),
		Subject:   c.subject(),
		Encounter: c.encounterRef(),
		Code:      code,
		Category:  c.a.conceptList.one(c.a.conceptOf("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis", "Encounter Diagnosis")),
	}
	if t, ok := c.dtm(s, 5); ok {
		cond.RecordedDate = c.dateTime(t)
	}
	for r := range s.Field(16).Repetitions() {
		if ref := c.practitioner(r); ref != nil && cond.Asserter == nil {
			cond.Asserter = ref
		}
	}
	c.put(cond)
	c.listDiagnosis(s, cond.Id.Value)
	c.unmapped(s, 1, 2, 3, 4, 5, 6, 15, 16)
}

func (c *conv) listDiagnosis(s *er7.Segment, id string) {
	if c.encounter == nil {
		return
	}
	d := &encpb.Encounter_Diagnosis{Condition: resource.Ref("Condition", id)}
	if role, ok := diagnosisRoles[strings.ToUpper(text(s.Field(6)))]; ok {
		d.Use = c.a.conceptOf("http://terminology.hl7.org/CodeSystem/diagnosis-role", role[0], role[1])
	}
	if p := text(s.Field(15)); isDigits(p) && p != "0" && len(p) < 6 {
		n := uint32(0)
		for _, r := range p {
			n = n*10 + uint32(r-'0')
		}
		d.Rank = &dtpb.PositiveInt{Value: n}
	}
	c.encounter.Diagnosis = append(c.encounter.Diagnosis, d)
}

// mapPR1 maps a procedure to a completed Procedure with its date (PR1-5)
// and surgeon/anaesthetist/practitioners (PR1-8, PR1-11, PR1-12).
func (c *conv) mapPR1(s *er7.Segment) {
	code := c.codeOrText(s, 3, 4)
	if code == nil {
		c.warn(s, 3, "procedure without code or description not mapped")
		return
	}
	pr := &procpb.Procedure{
		Status:    &procpb.Procedure_StatusCode{Value: cpb.EventStatusCode_COMPLETED},
		Subject:   c.subject(),
		Encounter: c.encounterRef(),
		Code:      code,
	}
	when := ""
	if t, ok := c.dtm(s, 5); ok {
		pr.Performed = &procpb.Procedure_PerformedX{Choice: &procpb.Procedure_PerformedX_DateTime{DateTime: c.dateTime(t)}}
		when = text(s.Field(5).Comp(1))
	}
	pr.Id = c.a.id(c.b.ID("Procedure", c.patientID, c.encKey, codeKey(code), when))
	for _, f := range []int{8, 11, 12} {
		for r := range s.Field(f).Repetitions() {
			if ref := c.practitioner(r); ref != nil {
				pr.Performer = append(pr.Performer, &procpb.Procedure_Performer{Actor: ref})
			}
		}
	}
	c.put(pr)
	c.unmapped(s, 1, 2, 3, 4, 5, 8, 11, 12)
}

// allergenTypes maps AL1-2 (HL7 table 0127) to AllergyIntolerance.category.
var allergenTypes = map[string]cpb.AllergyIntoleranceCategoryCode_Value{
	"DA": cpb.AllergyIntoleranceCategoryCode_MEDICATION, "FA": cpb.AllergyIntoleranceCategoryCode_FOOD,
	"EA": cpb.AllergyIntoleranceCategoryCode_ENVIRONMENT, "AA": cpb.AllergyIntoleranceCategoryCode_ENVIRONMENT,
	"PA": cpb.AllergyIntoleranceCategoryCode_ENVIRONMENT, "LA": cpb.AllergyIntoleranceCategoryCode_ENVIRONMENT,
}

// severities maps AL1-4 (HL7 table 0128) to criticality and reaction severity.
var severities = map[string]struct {
	crit cpb.AllergyIntoleranceCriticalityCode_Value
	sev  cpb.AllergyIntoleranceSeverityCode_Value
}{
	"SV": {cpb.AllergyIntoleranceCriticalityCode_HIGH, cpb.AllergyIntoleranceSeverityCode_SEVERE},
	"MO": {cpb.AllergyIntoleranceCriticalityCode_LOW, cpb.AllergyIntoleranceSeverityCode_MODERATE},
	"MI": {cpb.AllergyIntoleranceCriticalityCode_LOW, cpb.AllergyIntoleranceSeverityCode_MILD},
	"U":  {cpb.AllergyIntoleranceCriticalityCode_UNABLE_TO_ASSESS, 0},
}

// mapAL1 maps an allergy to an active AllergyIntolerance.
func (c *conv) mapAL1(s *er7.Segment) {
	code := c.concept(s.Field(3))
	if code == nil {
		c.warn(s, 3, "allergy without allergen not mapped")
		return
	}
	ai := &aipb.AllergyIntolerance{
		Id:             c.a.id(c.b.ID("AllergyIntolerance", c.patientID, codeKey(code))),
		Patient:        c.subject(),
		Code:           code,
		ClinicalStatus: c.a.conceptOf("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", ""),
	}
	typ := strings.ToUpper(text(s.Field(2)))
	if cat, ok := allergenTypes[typ]; ok {
		ai.Category = []*aipb.AllergyIntolerance_CategoryCode{{Value: cat}}
	}
	if typ == "MC" || typ == "DI" {
		ai.Type = &aipb.AllergyIntolerance_TypeCode{Value: cpb.AllergyIntoleranceTypeCode_INTOLERANCE}
	} else if typ != "" {
		ai.Type = &aipb.AllergyIntolerance_TypeCode{Value: cpb.AllergyIntoleranceTypeCode_ALLERGY}
	}
	sev, hasSev := severities[strings.ToUpper(text(s.Field(4)))]
	if hasSev {
		ai.Criticality = &aipb.AllergyIntolerance_CriticalityCode{Value: sev.crit}
	}
	if r := c.reaction(s, sev.sev); r != nil {
		ai.Reaction = []*aipb.AllergyIntolerance_Reaction{r}
	}
	if t, ok := c.dtm(s, 6); ok {
		ai.RecordedDate = c.dateTime(t)
	}
	c.put(ai)
	c.unmapped(s, 1, 2, 3, 4, 5, 6)
}

// reaction: the manifestations (AL1-5, repeating) with the severity.
func (c *conv) reaction(s *er7.Segment, sev cpb.AllergyIntoleranceSeverityCode_Value) *aipb.AllergyIntolerance_Reaction {
	r := &aipb.AllergyIntolerance_Reaction{}
	for m := range s.Field(5).Repetitions() {
		if t := text(m); t != "" {
			r.Manifestation = append(r.Manifestation, &dtpb.CodeableConcept{Text: c.str(t)})
		}
	}
	if len(r.Manifestation) == 0 {
		return nil
	}
	if sev != 0 {
		r.Severity = &aipb.AllergyIntolerance_Reaction_SeverityCode{Value: sev}
	}
	return r
}

// resultStatuses maps OBX-11 (HL7 table 0085) to Observation.status.
var resultStatuses = map[string]cpb.ObservationStatusCode_Value{
	"F": cpb.ObservationStatusCode_FINAL, "C": cpb.ObservationStatusCode_CORRECTED,
	"P": cpb.ObservationStatusCode_PRELIMINARY, "R": cpb.ObservationStatusCode_PRELIMINARY,
	"S": cpb.ObservationStatusCode_PRELIMINARY, "I": cpb.ObservationStatusCode_REGISTERED,
	"X": cpb.ObservationStatusCode_CANCELLED, "D": cpb.ObservationStatusCode_ENTERED_IN_ERROR,
	"W": cpb.ObservationStatusCode_ENTERED_IN_ERROR, "U": cpb.ObservationStatusCode_FINAL,
}

// mapOBX maps an observation of an ADT message to an Observation.
func (c *conv) mapOBX(s *er7.Segment) {
	code := c.concept(s.Field(3))
	if code == nil {
		c.warn(s, 3, "observation without identifier not mapped")
		return
	}
	status, ok := resultStatuses[strings.ToUpper(text(s.Field(11)))]
	if !ok {
		status = cpb.ObservationStatusCode_UNKNOWN
	}
	o := &obspb.Observation{
		Status:    &obspb.Observation_StatusCode{Value: status},
		Code:      code,
		Subject:   c.subject(),
		Encounter: c.encounterRef(),
	}
	when := ""
	if t, ok := c.dtm(s, 14); ok {
		o.Effective = &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_DateTime{DateTime: c.dateTime(t)}}
		when = text(s.Field(14).Comp(1))
	}
	o.Id = c.a.id(c.b.ID("Observation", c.patientID, c.encKey, codeKey(code), text(s.Field(4)), when))
	o.Value = c.obxValue(s)
	if r := text(s.Field(7)); r != "" {
		o.ReferenceRange = []*obspb.Observation_ReferenceRange{{Text: c.str(r)}}
	}
	for r := range s.Field(8).Repetitions() {
		if t := text(r.Comp(1)); t != "" {
			o.Interpretation = append(o.Interpretation, c.a.conceptOf("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", t, ""))
		}
	}
	for r := range s.Field(16).Repetitions() {
		if ref := c.practitioner(r); ref != nil {
			o.Performer = append(o.Performer, ref)
		}
	}
	c.put(o)
	c.unmapped(s, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 16)
}

// fhirDecimal is FHIR's decimal syntax.
var fhirDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// obxValue reads OBX-5 by its type OBX-2. Repeated values are joined for
// text types; for other types the first is kept and the rest reported.
func (c *conv) obxValue(s *er7.Segment) *obspb.Observation_ValueX {
	reps := s.Field(5).Reps()
	if len(reps) == 0 {
		return nil
	}
	typ := strings.ToUpper(text(s.Field(2)))
	if len(reps) > 1 && typ != "TX" && typ != "FT" && typ != "ST" {
		c.warn(s, 5, "repeated values: only the first is mapped")
	}
	v := reps[0]
	switch typ {
	case "NM":
		if q := c.quantity(text(v), s.Field(6)); q != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: q}}
		}
	case "CE", "CWE", "CNE", "CF":
		if cc := c.concept(v); cc != nil {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_CodeableConcept{CodeableConcept: cc}}
		}
		return nil
	case "DT", "DTM", "TS":
		if t, ok := parseDTM(text(v.Comp(1)), c.zone, &c.zones); ok {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_DateTime{DateTime: c.dateTime(t)}}
		}
	case "ST", "TX", "FT":
		var lines []string
		for _, r := range reps {
			lines = append(lines, r.String())
		}
		if t := strings.TrimSpace(strings.Join(lines, "\n")); t != "" {
			return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: &dtpb.String{Value: t}}}
		}
		return nil
	default:
		c.warn(s, 2, "value type not mapped")
		return nil
	}
	if t := text(v); t != "" { // a malformed number or date: keep the text
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_StringValue{StringValue: &dtpb.String{Value: t}}}
	}
	return nil
}

// quantity builds a Quantity from an NM value and its units (OBX-6, CWE).
func (c *conv) quantity(num string, units er7.Value) *dtpb.Quantity {
	num = strings.TrimPrefix(strings.TrimSpace(num), "+")
	if strings.HasPrefix(num, ".") {
		num = "0" + num
	} else if strings.HasPrefix(num, "-.") {
		num = "-0" + num[1:]
	}
	num = strings.TrimSuffix(num, ".")
	for len(num) > 1 && num[0] == '0' && num[1] != '.' {
		num = num[1:]
	}
	if !fhirDecimal.MatchString(num) {
		return nil
	}
	q := &dtpb.Quantity{Value: &dtpb.Decimal{Value: num}}
	code, unit := text(units.Comp(1)), text(units.Comp(2))
	if unit == "" {
		unit = code
	}
	q.Unit = c.str(unit)
	if code != "" {
		sys := text(units.Comp(3))
		if uri, ok := codingSystem(sys); ok { // a code needs its system (qty-3)
			q.System = &dtpb.Uri{Value: uri}
			q.Code = &dtpb.Code{Value: code}
		}
	}
	return q
}
