// Package category defines Relais's data categories and sensitivity labels,
// carried in meta.security, on which consent decisions are made.
//
// Categories (our own code system, System): ADM identity, contact and
// encounter dates; CLIN diagnoses, procedures, results, allergies; MED
// medication; ORD orders, tasks and activities addressed to a recipient; FUNC
// autonomy, GIR, mobility; SOC living situation, carers, housing, benefits.
//
// Sensitivity labels are HL7 v3 ActCode PSY, HIV, ETH, SEX and v3
// Confidentiality R; data carrying one is never routed automatically.
package category

import (
	"slices"

	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// Code systems of the labels.
const (
	System          = "https://relais-health.github.io/fhir/CodeSystem/data-category"
	ActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	Confidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
)

// Code is a data category.
type Code string

// The data categories.
const (
	ADM  Code = "ADM"
	CLIN Code = "CLIN"
	MED  Code = "MED"
	ORD  Code = "ORD"
	FUNC Code = "FUNC"
	SOC  Code = "SOC"
)

// All lists the categories in a fixed order.
var All = []Code{ADM, CLIN, MED, ORD, FUNC, SOC}

// Display names of the categories, also used by the published CodeSystem.
var Display = map[Code]string{
	ADM:  "Administrative: identity, contact, encounter dates",
	CLIN: "Clinical: diagnoses, procedures, results, allergies",
	MED:  "Medication",
	ORD:  "Orders, tasks and activities addressed to a recipient",
	FUNC: "Functional status: autonomy, GIR, mobility",
	SOC:  "Social: living situation, carers, housing, benefits",
}

// Sensitivity is a sensitivity label: a (system, code) pair.
type Sensitivity struct{ System, Code string }

// The sensitivity labels that are never released without a provision naming them.
var (
	PSY = Sensitivity{ActCode, "PSY"}
	HIV = Sensitivity{ActCode, "HIV"}
	ETH = Sensitivity{ActCode, "ETH"}
	SEX = Sensitivity{ActCode, "SEX"}
	R   = Sensitivity{Confidentiality, "R"}
)

// Sensitive lists every sensitivity label.
var Sensitive = []Sensitivity{PSY, HIV, ETH, SEX, R}

// IsSensitive reports whether (system, code) is a sensitivity label.
func IsSensitive(system, code string) bool {
	for _, s := range Sensitive {
		if s.System == system && s.Code == code {
			return true
		}
	}
	return false
}

// defaults gives the category of a resource type without labels. Types not
// listed are ADM (they describe people, places and organisations) unless
// isClinical says otherwise.
var defaults = map[string]Code{
	"Patient": ADM, "RelatedPerson": ADM, "Encounter": ADM, "EpisodeOfCare": ADM,
	"Practitioner": ADM, "PractitionerRole": ADM, "Organization": ADM, "Location": ADM,
	"HealthcareService": ADM, "Endpoint": ADM, "CareTeam": ADM, "Coverage": ADM,
	"Appointment": ADM, "Consent": ADM, "Device": ADM, "Binary": ADM,

	"Condition": CLIN, "Procedure": CLIN, "AllergyIntolerance": CLIN, "Observation": CLIN,
	"DiagnosticReport": CLIN, "Immunization": CLIN, "FamilyMemberHistory": CLIN,
	"ClinicalImpression": CLIN, "DocumentReference": CLIN, "Composition": CLIN,
	"Specimen": CLIN, "ImagingStudy": CLIN, "Goal": CLIN, "RiskAssessment": CLIN,
	"Provenance": CLIN, "OperationOutcome": CLIN, "Bundle": CLIN,

	"Medication": MED, "MedicationRequest": MED, "MedicationStatement": MED,
	"MedicationAdministration": MED, "MedicationDispense": MED,

	"ServiceRequest": ORD, "Task": ORD, "CarePlan": ORD, "Communication": ORD,
	"CommunicationRequest": ORD, "DeviceRequest": ORD, "NutritionOrder": ORD,

	"QuestionnaireResponse": FUNC,
}

// Default returns the category a resource of the given type has when it
// carries no category label. Autonomy observations are labelled FUNC by the
// mappings that make them; an unlabelled Observation is CLIN.
func Default(resourceType string) Code {
	if c, ok := defaults[resourceType]; ok {
		return c
	}
	return CLIN
}

// LabelContent adds to m the categories its content has beyond its type's:
// an Encounter that states why the patient came or what she was found to
// have (reasonCode, reasonReference, diagnosis) holds clinical data, CLIN,
// besides its ADM dates and places; a recipient allowed only ADM (a social
// role's permit) must not read a diagnosis there. Likewise a CarePlan that
// instantiates a care pathway (R4 instantiatesCanonical, instantiatesUri:
// the heart-failure pathway names the diagnosis) or states the conditions
// it addresses is CLIN besides ORD: a recipient allowed only orders (a
// home-help service's permit) reads the Tasks she is asked, not the plan.
// Every mapping applies it to its outputs (bundle.Builder's Finish),
// ingestion to a stay completed from the stored one, the API's write
// decision to FHIR writes, and the store to whatever it writes (the
// routing plans included).
func LabelContent(m proto.Message) {
	switch r := m.(type) {
	case *encpb.Encounter:
		if len(r.GetReasonCode()) == 0 && len(r.GetReasonReference()) == 0 && len(r.GetDiagnosis()) == 0 {
			return
		}
	case *cppb.CarePlan:
		if len(r.GetInstantiatesCanonical()) == 0 && len(r.GetInstantiatesUri()) == 0 && len(r.GetAddresses()) == 0 {
			return
		}
	default:
		return
	}
	if len(Of(m)) == 0 {
		Label(m, Default(resource.Type(m)))
	}
	Label(m, CLIN)
}

// Coding returns the meta.security coding for c.
func (c Code) Coding() *dtpb.Coding {
	// Every resource written gets labels: the coding and its elements are
	// allocated together.
	e := &struct {
		coding  dtpb.Coding
		system  dtpb.Uri
		code    dtpb.Code
		display dtpb.String
	}{}
	e.system.Value, e.code.Value, e.display.Value = System, string(c), Display[c]
	e.coding.System, e.coding.Code, e.coding.Display = &e.system, &e.code, &e.display
	return &e.coding
}

// Coding returns the meta.security coding for s.
func (s Sensitivity) Coding() *dtpb.Coding {
	e := &struct {
		coding dtpb.Coding
		system dtpb.Uri
		code   dtpb.Code
	}{}
	e.system.Value, e.code.Value = s.System, s.Code
	e.coding.System, e.coding.Code = &e.system, &e.code
	return &e.coding
}

// Label adds the category labels to m's meta.security, skipping those it
// already has. With no codes it adds the default category of m's type when m
// has no category label at all.
func Label(m proto.Message, codes ...Code) {
	meta := resource.Meta(m)
	if len(codes) == 0 {
		for _, c := range meta.Security {
			if c.GetSystem().GetValue() == System {
				return
			}
		}
		codes = []Code{Default(resource.Type(m))}
	}
	meta.Security = slices.Grow(meta.Security, len(codes))
	for _, c := range codes {
		if !has(meta.Security, System, string(c)) {
			meta.Security = append(meta.Security, c.Coding())
		}
	}
}

// LabelSensitive adds sensitivity labels to m's meta.security.
func LabelSensitive(m proto.Message, labels ...Sensitivity) {
	meta := resource.Meta(m)
	for _, s := range labels {
		if !has(meta.Security, s.System, s.Code) {
			meta.Security = append(meta.Security, s.Coding())
		}
	}
}

// Of returns the category labels m carries, in meta.security order.
func Of(m proto.Message) []Code {
	var out []Code
	for _, c := range securityOf(m) {
		if c.GetSystem().GetValue() == System {
			out = append(out, Code(c.GetCode().GetValue()))
		}
	}
	return out
}

// Effective returns the categories that govern m: its labels, or its type's
// default when it has none.
func Effective(m proto.Message) []Code {
	if cs := Of(m); len(cs) > 0 {
		return cs
	}
	return []Code{Default(resource.Type(m))}
}

// SensitivityOf returns the sensitivity labels m carries.
func SensitivityOf(m proto.Message) []Sensitivity {
	var out []Sensitivity
	for _, c := range securityOf(m) {
		if IsSensitive(c.GetSystem().GetValue(), c.GetCode().GetValue()) {
			out = append(out, Sensitivity{c.GetSystem().GetValue(), c.GetCode().GetValue()})
		}
	}
	return out
}

func securityOf(m proto.Message) []*dtpb.Coding {
	if meta := resource.PeekMeta(m); meta != nil {
		return meta.Security
	}
	return nil
}

func has(cs []*dtpb.Coding, system, code string) bool {
	for _, c := range cs {
		if c.GetSystem().GetValue() == system && c.GetCode().GetValue() == code {
			return true
		}
	}
	return false
}
