package assessment

import (
	"encoding/json"
	"strconv"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
)

// needsForm is the needs-assessment JSON (schema/needs-assessment.schema.json).
type needsForm struct {
	Identifier      *identifier `json:"identifier"`
	Date            string      `json:"date"`
	Patient         person      `json:"patient"`
	Assessor        *person     `json:"assessor"`
	Country         string      `json:"country"`
	LivingSituation *struct {
		LivesAlone               bool   `json:"livesAlone"`
		HouseholdSize            *int   `json:"householdSize"`
		LivesWithDependentPerson *bool  `json:"livesWithDependentPerson"`
		Isolated                 *bool  `json:"isolated"`
		Notes                    string `json:"notes"`
	} `json:"livingSituation"`
	InformalCarers []struct {
		Relationship     string `json:"relationship"`
		LivesWithPatient *bool  `json:"livesWithPatient"`
		Availability     string `json:"availability"`
		Exhaustion       *bool  `json:"exhaustion"`
		Notes            string `json:"notes"`
	} `json:"informalCarers"`
	Housing *struct {
		Type              string   `json:"type"`
		Tenure            string   `json:"tenure"`
		Floor             *int     `json:"floor"`
		Elevator          *bool    `json:"elevator"`
		StepsOrStairs     *bool    `json:"stepsOrStairs"`
		Adapted           *bool    `json:"adapted"`
		AdaptationsNeeded []string `json:"adaptationsNeeded"`
		Notes             string   `json:"notes"`
	} `json:"housing"`
	IncomeSupport []struct {
		Benefit string `json:"benefit"`
		Status  string `json:"status"`
		Notes   string `json:"notes"`
	} `json:"incomeSupport"`
	Needs []need `json:"needs"`
}

type need struct {
	Category     string   `json:"category"`
	Priority     string   `json:"priority"`
	DesiredStart string   `json:"desiredStart"`
	HoursPerWeek *float64 `json:"hoursPerWeek"`
	Details      string   `json:"details"`
}

type needsAssessment struct {
	form needsForm
	date *dtpb.DateTime
	key  []string
}

func parseNeeds(input []byte) (*needsAssessment, error) {
	if err := validate(needsSchema, input); err != nil {
		return nil, err
	}
	n := &needsAssessment{}
	if err := json.Unmarshal(input, &n.form); err != nil {
		return nil, invalidJSON(err) // unreachable after schema validation
	}
	date, err := parseDateTime(n.form.Date)
	if err != nil {
		return nil, invalid("invalid date", issue("date", err.Error()))
	}
	n.date = date
	if id := n.form.Identifier; id != nil {
		n.key = []string{"id", id.System, id.Value}
	} else {
		p := n.form.Patient.Identifier
		n.key = []string{"patient", p.System, p.Value, dateString(date)}
	}
	return n, nil
}

func (n *needsAssessment) id(parts ...string) string {
	return bundle.ID(append(append([]string{"needs"}, n.key...), parts...)...)
}

// bundle assembles the needs assessment: Patient and assessor, SOC
// Observations, and one ServiceRequest (ORD) per need.
func (n *needsAssessment) bundle(input []byte, opts Options) (*bundle.Result, error) {
	carePlan, err := opts.carePlan()
	if err != nil {
		return nil, err
	}
	now := opts.now()
	b := bundle.New(bundle.Mapping{Name: "assessment-needs", Version: Version})
	country := n.form.Country
	if country == "" {
		country = "FR"
	}
	patRef := b.Put(n.form.Patient.patient(country), category.ADM, category.FUNC)
	var prRef string
	if n.form.Assessor != nil {
		prRef = b.Put(n.form.Assessor.practitioner(), category.ADM, category.FUNC)
	}
	var soc []string
	for _, obs := range n.observations(patRef, prRef, now) {
		soc = append(soc, b.Put(obs, category.SOC))
	}
	for _, sr := range n.serviceRequests(patRef, prRef, carePlan, soc) {
		b.Put(sr, category.ORD)
	}
	return b.Finish(bundle.Source{Data: input, ContentType: "application/json", Key: n.key, Recorded: now, Patient: patRef}), nil
}

// serviceRequests makes one ServiceRequest per need. The id counts needs of
// the same category, so reordering different categories keeps the ids.
func (n *needsAssessment) serviceRequests(patRef, prRef, carePlan string, supporting []string) []*srpb.ServiceRequest {
	seen := map[string]int{}
	var out []*srpb.ServiceRequest
	for _, nd := range n.form.Needs {
		seen[nd.Category]++
		sr := n.serviceRequest(nd, seen[nd.Category], patRef, prRef)
		if carePlan != "" {
			sr.BasedOn = []*dtpb.Reference{ref(carePlan)}
		}
		for _, s := range supporting {
			sr.SupportingInfo = append(sr.SupportingInfo, ref(s))
		}
		out = append(out, sr)
	}
	return out
}

var priorities = map[string]cpb.RequestPriorityCode_Value{
	"routine": cpb.RequestPriorityCode_ROUTINE, "urgent": cpb.RequestPriorityCode_URGENT, "asap": cpb.RequestPriorityCode_ASAP,
}

func (n *needsAssessment) serviceRequest(nd need, nth int, patRef, prRef string) *srpb.ServiceRequest {
	svc := ServiceCategoryOf(nd.Category)
	sr := &srpb.ServiceRequest{
		Id:         &dtpb.Id{Value: n.id("service-request", nd.Category, strconv.Itoa(nth))},
		Status:     &srpb.ServiceRequest_StatusCode{Value: cpb.RequestStatusCode_ACTIVE},
		Intent:     &srpb.ServiceRequest_IntentCode{Value: cpb.RequestIntentCode_PLAN},
		Category:   []*dtpb.CodeableConcept{concept(ServiceCategorySystem, svc, serviceDisplay[svc])},
		Priority:   &srpb.ServiceRequest_PriorityCode{Value: priorities[nd.Priority]},
		Code:       concept(NeedSystem, nd.Category, needDisplay(nd.Category)),
		Subject:    ref(patRef),
		AuthoredOn: n.date,
	}
	if start, err := parseDateTime(nd.DesiredStart); err == nil {
		sr.Occurrence = &srpb.ServiceRequest_OccurrenceX{Choice: &srpb.ServiceRequest_OccurrenceX_Period{
			Period: &dtpb.Period{Start: start}}}
	}
	if nd.HoursPerWeek != nil {
		sr.Quantity = &srpb.ServiceRequest_QuantityX{Choice: &srpb.ServiceRequest_QuantityX_Ratio{Ratio: &dtpb.Ratio{
			Numerator:   ucumQuantity(strconv.FormatFloat(*nd.HoursPerWeek, 'f', -1, 64), "h"),
			Denominator: ucumQuantity("1", "wk"),
		}}}
	}
	if prRef != "" {
		sr.Requester = ref(prRef)
	}
	if nd.Details != "" {
		sr.Note = []*dtpb.Annotation{{Text: &dtpb.Markdown{Value: nd.Details}}}
	}
	return sr
}

func ucumQuantity(value, unit string) *dtpb.Quantity {
	return &dtpb.Quantity{
		Value: &dtpb.Decimal{Value: value}, Unit: str(unit),
		System: &dtpb.Uri{Value: ucum}, Code: &dtpb.Code{Value: unit},
	}
}

// observations makes the SOC Observations, in the form's order.
func (n *needsAssessment) observations(patRef, prRef string, now time.Time) []*obspb.Observation {
	f := &n.form
	var out []*obspb.Observation
	add := func(code, display string, idParts []string, comps []*obspb.Observation_Component, notes string) {
		obs := socObservation(n.id(append([]string{"observation", code}, idParts...)...), code, display, patRef, prRef, n.date, now)
		obs.Component = comps
		if notes != "" {
			obs.Note = []*dtpb.Annotation{{Text: &dtpb.Markdown{Value: notes}}}
		}
		out = append(out, obs)
	}
	if ls := f.LivingSituation; ls != nil {
		comps := []*obspb.Observation_Component{boolComponent("lives-alone", "Vit seul(e)", ls.LivesAlone)}
		if ls.HouseholdSize != nil {
			comps = append(comps, intComponent("household-size", "Personnes au foyer", *ls.HouseholdSize))
		}
		comps = appendBool(comps, "lives-with-dependent-person", "Vit avec une personne dépendante", ls.LivesWithDependentPerson)
		comps = appendBool(comps, "isolated", "Sans contact avec la famille ni le voisinage", ls.Isolated)
		add("living-situation", "Situation de vie", nil, comps, ls.Notes)
	}
	for i, c := range f.InformalCarers {
		comps := []*obspb.Observation_Component{codeComponent("relationship", "Lien avec la personne", c.Relationship)}
		comps = appendBool(comps, "lives-with-patient", "Vit avec la personne", c.LivesWithPatient)
		if c.Availability != "" {
			comps = append(comps, codeComponent("availability", "Disponibilité", c.Availability))
		}
		comps = appendBool(comps, "exhaustion", "Épuisement de l'aidant", c.Exhaustion)
		add("informal-carer", "Aidant informel", []string{strconv.Itoa(i)}, comps, c.Notes)
	}
	if h := f.Housing; h != nil {
		comps := []*obspb.Observation_Component{codeComponent("housing-type", "Type de logement", h.Type)}
		if h.Tenure != "" {
			comps = append(comps, codeComponent("tenure", "Statut d'occupation", h.Tenure))
		}
		if h.Floor != nil {
			comps = append(comps, intComponent("floor", "Étage", *h.Floor))
		}
		comps = appendBool(comps, "elevator", "Ascenseur", h.Elevator)
		comps = appendBool(comps, "steps-or-stairs", "Marches ou escaliers", h.StepsOrStairs)
		comps = appendBool(comps, "adapted", "Logement adapté", h.Adapted)
		for _, a := range h.AdaptationsNeeded {
			comps = append(comps, codeComponent("adaptation-needed", "Adaptation nécessaire", a))
		}
		add("housing", "Logement", nil, comps, h.Notes)
	}
	for _, s := range f.IncomeSupport {
		comps := []*obspb.Observation_Component{
			codeComponent("benefit", "Prestation", s.Benefit),
			codeComponent("benefit-status", "Statut de la demande", s.Status),
		}
		add("income-support", "Aides et prestations", []string{s.Benefit}, comps, s.Notes)
	}
	return out
}

func socObservation(id, code, display, patRef, prRef string, date *dtpb.DateTime, now time.Time) *obspb.Observation {
	obs := &obspb.Observation{
		Id:        &dtpb.Id{Value: id},
		Status:    &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_FINAL},
		Category:  []*dtpb.CodeableConcept{concept(observationCategory, "social-history", "Social History")},
		Code:      concept(NeedsAssessmentSystem, code, display),
		Subject:   ref(patRef),
		Effective: &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_DateTime{DateTime: date}},
		Issued:    resource.Instant(now),
	}
	if prRef != "" {
		obs.Performer = []*dtpb.Reference{ref(prRef)}
	}
	return obs
}

func component(code, display string) *obspb.Observation_Component {
	return &obspb.Observation_Component{Code: concept(NeedsAssessmentSystem, code, display)}
}

func boolComponent(code, display string, v bool) *obspb.Observation_Component {
	c := component(code, display)
	c.Value = &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: v}}}
	return c
}

func appendBool(comps []*obspb.Observation_Component, code, display string, v *bool) []*obspb.Observation_Component {
	if v == nil {
		return comps
	}
	return append(comps, boolComponent(code, display, *v))
}

func intComponent(code, display string, v int) *obspb.Observation_Component {
	c := component(code, display)
	c.Value = &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_Integer{Integer: &dtpb.Integer{Value: int32(v)}}}
	return c
}

// codeComponent holds a value from the form's enumerations, coded in
// NeedsAssessmentSystem under the same code as in the JSON.
func codeComponent(code, display, value string) *obspb.Observation_Component {
	c := component(code, display)
	c.Value = &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_CodeableConcept{
		CodeableConcept: concept(NeedsAssessmentSystem, value, "")}}
	return c
}
