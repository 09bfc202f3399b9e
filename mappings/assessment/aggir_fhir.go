package assessment

import (
	"fmt"
	"strconv"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/assessment/aggir"
	"github.com/relais-health/relais/mappings/bundle"
)

var modalityDisplay = map[aggir.Modality]string{
	aggir.A: "Fait seul, spontanément, totalement, habituellement et correctement",
	aggir.B: "Fait partiellement, non spontanément, non habituellement ou non correctement",
	aggir.C: "Ne fait pas",
}

// id derives the id of one resource of this assessment.
func (a *aggirAssessment) id(kind string) string {
	return bundle.ID(append([]string{"aggir", kind}, a.key...)...)
}

// bundle assembles the AGGIR resources, all labelled FUNC; the Patient and
// the assessor also carry ADM, as they do from the needs mapping, so that
// whichever form arrives last leaves the same labels on them.
func (a *aggirAssessment) bundle(input []byte, opts Options) (*bundle.Result, error) {
	now := opts.now()
	b := bundle.New(bundle.Mapping{Name: "assessment-aggir", Version: Version})
	patRef := b.Put(a.patient.patient(""), category.ADM, category.FUNC)
	var prRef string
	if a.assessor != nil {
		prRef = b.Put(a.assessor.practitioner(), category.ADM, category.FUNC)
	}
	qrRef := b.Put(a.questionnaireResponse(patRef, prRef), category.FUNC)
	b.Put(a.observation(patRef, prRef, qrRef, now), category.FUNC)
	if a.senderGIR != 0 && a.senderGIR != a.result.GIR {
		b.Warn("QuestionnaireResponse.item.where(linkId='resultat-eval').answer", fmt.Sprintf(
			"the sender's GIR %d differs from GIR %d computed per CASF annexe 2-2; the Observation carries the computed GIR",
			a.senderGIR, a.result.GIR))
	}
	ct := "application/json"
	if a.qr != nil {
		ct = "application/fhir+json"
	}
	return b.Finish(bundle.Source{Data: input, ContentType: ct, Key: a.key, Recorded: now, Patient: patRef}), nil
}

func girCoding(n int) *dtpb.Coding { return coding(TAASIP, GIRCode(n), "GIR-"+strconv.Itoa(n)) }

func modalityConcept(m aggir.Modality) *dtpb.CodeableConcept {
	return concept(AGGIRModalitySystem, m.String(), modalityDisplay[m])
}

// observation is the "Perte d'autonomie" Observation: value the GIR, one
// component per variable (the eight scored, then the others given), one per
// sub-variable given, and the rank.
func (a *aggirAssessment) observation(patRef, prRef, qrRef string, now time.Time) *obspb.Observation {
	obs := &obspb.Observation{
		Id:        &dtpb.Id{Value: a.id("observation")},
		Status:    &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_FINAL},
		Category:  []*dtpb.CodeableConcept{concept(observationCategory, "survey", "Survey")},
		Code:      concept(TAASIP, CodeLossOfAutonomy, "Perte d'autonomie"),
		Subject:   ref(patRef),
		Effective: &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_DateTime{DateTime: a.date}},
		Issued:    resource.Instant(now),
		Value: &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_CodeableConcept{
			CodeableConcept: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{girCoding(a.result.GIR)}}}},
		Method:      &dtpb.CodeableConcept{Text: str("AGGIR, Code de l'action sociale et des familles, annexes 2-1 et 2-2")},
		DerivedFrom: []*dtpb.Reference{ref(qrRef)},
	}
	if prRef != "" {
		obs.Performer = []*dtpb.Reference{ref(prRef)}
	}
	for v := aggir.Variable(0); v < aggir.NumVariables; v++ {
		obs.Component = append(obs.Component, modalityComponent(v.Name(), v.Label(), a.grid[v]))
	}
	for _, o := range otherVariables {
		if m, ok := a.given[o.key]; ok {
			obs.Component = append(obs.Component, modalityComponent(o.key, o.label, m))
		}
	}
	a.eachSub(func(v aggir.Variable, sub string, m aggir.Modality) {
		obs.Component = append(obs.Component, modalityComponent(subKey(v, sub), subLabel(v, sub), m))
	})
	obs.Component = append(obs.Component, &obspb.Observation_Component{
		Code: concept(AGGIRVariableSystem, "rank", "Rang (CASF annexe 2-2)"),
		Value: &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_Integer{
			Integer: &dtpb.Integer{Value: int32(a.result.Rank)}}},
	})
	return obs
}

// eachSub calls f for every sub-variable given, in the grid's order.
func (a *aggirAssessment) eachSub(f func(v aggir.Variable, sub string, m aggir.Modality)) {
	for v := aggir.Variable(0); v < aggir.NumVariables; v++ {
		subs := a.subs[v.Name()]
		for _, s := range aggir.Subvariables(v) {
			if m, ok := subs[s]; ok {
				f(v, s, m)
			}
		}
	}
}

func subKey(v aggir.Variable, sub string) string   { return v.Name() + "-" + sub }
func subLabel(v aggir.Variable, sub string) string { return v.Label() + " (" + subLabels[sub] + ")" }

func modalityComponent(code, label string, m aggir.Modality) *obspb.Observation_Component {
	return &obspb.Observation_Component{
		Code: concept(AGGIRVariableSystem, code, label),
		Value: &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_CodeableConcept{
			CodeableConcept: modalityConcept(m)}},
	}
}

// questionnaireResponse returns the QuestionnaireResponse received, or one
// built from the JSON (questionnaire AGGIRQuestionnaire).
func (a *aggirAssessment) questionnaireResponse(patRef, prRef string) *qrpb.QuestionnaireResponse {
	if a.qr != nil {
		return a.receivedQR(patRef, prRef)
	}
	qr := &qrpb.QuestionnaireResponse{
		Id:            &dtpb.Id{Value: a.id("questionnaire-response")},
		Questionnaire: &dtpb.Canonical{Value: AGGIRQuestionnaire},
		Status:        &qrpb.QuestionnaireResponse_StatusCode{Value: cpb.QuestionnaireResponseStatusCode_COMPLETED},
		Subject:       ref(patRef),
		Authored:      a.date,
	}
	if prRef != "" {
		qr.Author = ref(prRef)
	}
	qr.Item = append(qr.Item, qrItem("gir", "GIR calculé (CASF annexe 2-2)", girCoding(a.result.GIR)))
	for v := aggir.Variable(0); v < aggir.NumVariables; v++ {
		if m, ok := a.given[v.Name()]; ok {
			qr.Item = append(qr.Item, modalityItem(v.Name(), v.Label(), m))
		}
	}
	a.eachSub(func(v aggir.Variable, sub string, m aggir.Modality) {
		qr.Item = append(qr.Item, modalityItem(subKey(v, sub), subLabel(v, sub), m))
	})
	for _, o := range otherVariables {
		if m, ok := a.given[o.key]; ok {
			qr.Item = append(qr.Item, modalityItem(o.key, o.label, m))
		}
	}
	return qr
}

func modalityItem(linkID, text string, m aggir.Modality) *qrpb.QuestionnaireResponse_Item {
	return qrItem(linkID, text, coding(AGGIRModalitySystem, m.String(), modalityDisplay[m]))
}

func qrItem(linkID, text string, c *dtpb.Coding) *qrpb.QuestionnaireResponse_Item {
	return &qrpb.QuestionnaireResponse_Item{
		LinkId: str(linkID),
		Text:   str(text),
		Answer: []*qrpb.QuestionnaireResponse_Item_Answer{{
			Value: &qrpb.QuestionnaireResponse_Item_Answer_ValueX{
				Choice: &qrpb.QuestionnaireResponse_Item_Answer_ValueX_Coding{Coding: c}},
		}},
	}
}

// ref turns "Type/id" into a typed reference.
func ref(s string) *dtpb.Reference {
	r := &dtpb.Reference{}
	resource.SetRefString(r, s)
	return r
}
