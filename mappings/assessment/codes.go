package assessment

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/mappings/terminology"
)

// Code systems and canonicals this package writes. The project's own systems
// live under https://relais-health.github.io/fhir/; routing and the directory
// (HealthcareService.category and .type) match on the same system and codes.
const (
	// TAASIP is the ANS CI-SIS terminology: MED-346 "Perte d'autonomie",
	// MED-339..MED-344 "GIR-1".."GIR-6".
	TAASIP = terminology.TAASIP
	// ICF is the WHO International Classification of Functioning, used by
	// the ANS TDDUI AGGIR questionnaire (items and qualifiers qf0, qf2, qf4).
	ICF = "http://hl7.org/fhir/sid/icf"

	// AGGIRVariableSystem codes the AGGIR variables and sub-variables; codes
	// are the JSON keys ("transferts", "toilette-haut", "rank").
	AGGIRVariableSystem = "https://relais-health.github.io/fhir/CodeSystem/aggir-variable"
	// AGGIRModalitySystem codes the modalities A, B and C.
	AGGIRModalitySystem = "https://relais-health.github.io/fhir/CodeSystem/aggir-modality"
	// AGGIRQuestionnaire is the canonical of the QuestionnaireResponse built
	// from AGGIR JSON: one item per variable given (linkId = JSON key), one
	// per sub-variable (linkId "toilette-haut", ...), and "gir", the computed
	// GIR coded in TA_ASIP.
	AGGIRQuestionnaire = "https://relais-health.github.io/fhir/Questionnaire/aggir"
	// TDDUIAGGIRQuestionnaire is the ANS TDDUI AGGIR PA SSIAD questionnaire
	// accepted as input.
	TDDUIAGGIRQuestionnaire = "https://interop.esante.gouv.fr/ig/fhir/tddui/Questionnaire/tddui-questionnaire-aggir-pa-ssiad"

	// NeedsAssessmentSystem codes the Observations made from a needs
	// assessment: living-situation, informal-carer, housing, income-support,
	// and their components.
	NeedsAssessmentSystem = "https://relais-health.github.io/fhir/CodeSystem/needs-assessment"
	// NeedSystem codes a need (ServiceRequest.code): personal-care, meals,
	// shopping, housework, transport, night-presence, home-adaptation,
	// social-support.
	NeedSystem = "https://relais-health.github.io/fhir/CodeSystem/social-care-need"
	// ServiceCategorySystem codes the kind of service that meets a need
	// (ServiceRequest.category; HealthcareService.category in the
	// directory): home-help, meals-delivery, transport, night-care,
	// home-adaptation, social-work. See ServiceCategoryOf.
	ServiceCategorySystem = "https://relais-health.github.io/fhir/CodeSystem/social-care-service"

	observationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	ucum                = terminology.UCUM
)

// The TA_ASIP codes.
const (
	CodeLossOfAutonomy = "MED-346"
)

// GIRCode returns the TA_ASIP code of GIR n (1–6): MED-339 to MED-344.
func GIRCode(n int) string {
	return [...]string{"", "MED-339", "MED-340", "MED-341", "MED-342", "MED-343", "MED-344"}[n]
}

// girOfCode is the inverse of GIRCode, or 0.
func girOfCode(code string) int {
	for n := 1; n <= 6; n++ {
		if GIRCode(n) == code {
			return n
		}
	}
	return 0
}

// Needs and the service category that meets each, in a fixed order.
var needs = []struct{ code, display, service string }{
	{"personal-care", "Aide à la toilette, à l'habillage et aux soins d'hygiène", "home-help"},
	{"meals", "Repas: portage ou aide à la préparation", "meals-delivery"},
	{"shopping", "Courses", "home-help"},
	{"housework", "Entretien du logement et du linge", "home-help"},
	{"transport", "Transport accompagné", "transport"},
	{"night-presence", "Présence ou garde de nuit", "night-care"},
	{"home-adaptation", "Adaptation du logement", "home-adaptation"},
	{"social-support", "Accompagnement social et accès aux droits", "social-work"},
}

var serviceDisplay = map[string]string{
	"home-help":       "Service d'aide et d'accompagnement à domicile",
	"meals-delivery":  "Portage de repas",
	"transport":       "Transport accompagné",
	"night-care":      "Garde de nuit",
	"home-adaptation": "Adaptation du logement",
	"social-work":     "Service social",
}

// ServiceCategoryOf returns the ServiceCategorySystem code of the service
// that meets a need (a NeedSystem code), or "".
func ServiceCategoryOf(need string) string {
	for _, n := range needs {
		if n.code == need {
			return n.service
		}
	}
	return ""
}

func needDisplay(code string) string {
	for _, n := range needs {
		if n.code == code {
			return n.display
		}
	}
	return code
}

func coding(system, code, display string) *dtpb.Coding {
	c := &dtpb.Coding{System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: code}}
	if display != "" {
		c.Display = &dtpb.String{Value: display}
	}
	return c
}

func concept(system, code, display string) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{coding(system, code, display)}}
}

func str(s string) *dtpb.String { return &dtpb.String{Value: s} }
