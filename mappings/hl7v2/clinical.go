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
	c.ref.reasons = append(c.ref.reasons, resource.Ref("Condition", cond.Id.Value)) // a referral's reasons
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

// mapOBX maps an observation (HL7 v2.5 section 7.4.2) to an Observation:
// its value by type (OBX-2, OBX-5, OBX-6), reference range (OBX-7),
// abnormal flags (OBX-8), status (OBX-11), time (OBX-14) and responsible
// observer (OBX-16). Its id adds the report it belongs to, if any, and
// the sub-id (OBX-4), so that a corrected result sent again updates it.
func (c *conv) mapOBX(s *er7.Segment) *obspb.Observation {
	code := c.concept(s.Field(3))
	if code == nil {
		c.warn(s, 3, "observation without identifier not mapped")
		return nil
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
	if c.report != nil {
		o.Id = c.a.id(c.b.ID("Observation", c.patientID, c.reportKey, codeKey(code), text(s.Field(4))))
	} else {
		o.Id = c.a.id(c.b.ID("Observation", c.patientID, c.encKey, codeKey(code), text(s.Field(4)), when))
	}
	o.Value = c.obxValue(s)
	if r := c.referenceRange(s); r != nil {
		o.ReferenceRange = []*obspb.Observation_ReferenceRange{r}
	}
	for r := range s.Field(8).Repetitions() {
		if i := c.interpretation(r); i != nil {
			o.Interpretation = append(o.Interpretation, i)
		}
	}
	for r := range s.Field(16).Repetitions() {
		if ref := c.practitioner(r); ref != nil {
			o.Performer = append(o.Performer, ref)
		}
	}
	c.put(o)
	c.unmapped(s, 1, 2, 3, 4, 5, 6, 7, 8, 11, 14, 16)
	return o
}

const interpretationSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

// interpretations lists the codes of HL7 table 0078 (abnormal flags) that
// are v3 ObservationInterpretation codes too, with their display; the
// v2-to-FHIR guide maps them one to one.
var interpretations = map[string]string{
	"L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high", "<": "Off scale low",
	">": "Off scale high", "N": "Normal", "A": "Abnormal", "AA": "Critical abnormal",
	"U": "Significant change up", "D": "Significant change down", "B": "Better", "W": "Worse",
	"S": "Susceptible", "R": "Resistant", "I": "Intermediate", "MS": "moderately susceptible",
	"VS": "very susceptible", "POS": "Positive", "NEG": "Negative", "IND": "Indeterminate",
	"DET": "Detected", "ND": "Not detected", "HU": "Significantly high", "LU": "Significantly low",
}

// interpretation maps one OBX-8 repetition: a table 0078 code to its v3
// equivalent, another code in the system the sender names (else table
// 0078's), so that no code is given a meaning it does not have.
func (c *conv) interpretation(v er7.Value) *dtpb.CodeableConcept {
	code := text(v.Comp(1))
	if code == "" {
		return nil
	}
	if display, ok := interpretations[strings.ToUpper(code)]; ok {
		return c.a.conceptOf(interpretationSystem, strings.ToUpper(code), display)
	}
	return c.tableConcept(v, "0078")
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
	case "SN":
		if x := c.structuredNumeric(v, s.Field(6)); x != nil {
			return x
		}
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

// structuredNumeric reads an SN value (HL7 v2.5 section 2.A.73:
// comparator^num1^separator/suffix^num2): a plain or compared number is a
// Quantity, "num1-num2" a Range, "num1:num2" or "num1/num2" a Ratio, all
// in the units of OBX-6. Other forms ("2+") are kept as text by the
// caller.
func (c *conv) structuredNumeric(v er7.Value, units er7.Value) *obspb.Observation_ValueX {
	cmp, n1, sep, n2 := text(v.Comp(1)), text(v.Comp(2)), text(v.Comp(3)), text(v.Comp(4))
	switch {
	case sep == "" && n2 == "":
		q := c.quantity(n1, units)
		if q == nil {
			return nil
		}
		if cmp != "" && cmp != "=" {
			op, ok := comparators[cmp]
			if !ok {
				return nil
			}
			q.Comparator = &dtpb.Quantity_ComparatorCode{Value: op}
		}
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: q}}
	case cmp != "" && cmp != "=":
		return nil
	case sep == "-":
		lo, hi := c.quantity(n1, units), c.quantity(n2, units)
		if lo == nil || hi == nil {
			return nil
		}
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Range{Range: &dtpb.Range{Low: simple(lo), High: simple(hi)}}}
	case sep == ":" || sep == "/":
		num, den := c.quantity(n1, er7.Value{}), c.quantity(n2, er7.Value{})
		if num == nil || den == nil {
			return nil
		}
		return &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Ratio{Ratio: &dtpb.Ratio{Numerator: num, Denominator: den}}}
	}
	return nil
}

var comparators = map[string]cpb.QuantityComparatorCode_Value{
	"<": cpb.QuantityComparatorCode_LESS_THAN, "<=": cpb.QuantityComparatorCode_LESS_THAN_OR_EQUAL_TO,
	">": cpb.QuantityComparatorCode_GREATER_THAN, ">=": cpb.QuantityComparatorCode_GREATER_THAN_OR_EQUAL_TO,
}

// simple is q without a comparator, as Range and reference ranges need.
func simple(q *dtpb.Quantity) *dtpb.SimpleQuantity {
	return &dtpb.SimpleQuantity{Value: q.Value, Unit: q.Unit, System: q.System, Code: q.Code}
}

// rangeText matches the reference ranges senders write in OBX-7 (HL7 v2.5
// section 7.4.2.7: "lower-upper", "> lower", "< upper"), with the spaces
// and brackets some add: "[ 80 - 98 ]", "[ < 0.21 ]".
var rangeText = regexp.MustCompile(`^\[?\s*(?:([-+]?[0-9.]+)\s*-\s*([-+]?[0-9.]+)|([<>]=?)\s*([-+]?[0-9.]+))\s*\]?$`)

// referenceRange maps OBX-7: its text always, and its bounds, in the
// units of OBX-6, when it is one of the forms rangeText reads.
func (c *conv) referenceRange(s *er7.Segment) *obspb.Observation_ReferenceRange {
	t := text(s.Field(7))
	if t == "" {
		return nil
	}
	r := &obspb.Observation_ReferenceRange{Text: c.str(t)}
	m := rangeText.FindStringSubmatch(t)
	if m == nil {
		return r
	}
	bound := func(num string) *dtpb.SimpleQuantity {
		if q := c.quantity(num, s.Field(6)); q != nil {
			return simple(q)
		}
		return nil
	}
	switch {
	case m[1] != "":
		r.Low, r.High = bound(m[1]), bound(m[2])
	case m[3][0] == '<':
		r.High = bound(m[4])
	default:
		r.Low = bound(m[4])
	}
	return r
}
