package cda

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	condpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/terminology"
)

// Problems and allergies (C-CDA Problem Concern Act 2.16.840.1.113883.10.20.22.4.3,
// Problem Observation .4.4, Allergy Concern Act .4.30, Allergy - Intolerance
// Observation .4.7; IHE PCC Concern/Problem/Allergy entries; CI-SIS
// FR-Probleme, FR-Allergie-ou-hypersensibilite), as in C-CDA on FHIR.

const (
	conditionClinical    = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	conditionVerStatus   = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	conditionCategory    = "http://terminology.hl7.org/CodeSystem/condition-category"
	allergyClinical      = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	allergyVerification  = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	snomedNoKnownAllergy = "716186003"
)

func codeConcept(system, c string) *dtpb.CodeableConcept {
	// One allocation for the concept, its coding and their elements.
	x := &struct {
		cc      dtpb.CodeableConcept
		codings [1]*dtpb.Coding
		coding  dtpb.Coding
		system  dtpb.Uri
		code    dtpb.Code
	}{}
	x.system.Value, x.code.Value = system, c
	x.coding.System, x.coding.Code = &x.system, &x.code
	x.codings[0] = &x.coding
	x.cc.Coding = x.codings[:]
	return &x.cc
}

// problemStatus reads the status of a problem: the Problem Status
// observation's SNOMED value, else the concern act's statusCode.
func problemStatus(obs, concern el) string {
	st := ""
	obs.each("entryRelationship", func(er el) {
		o := er.child("observation")
		if o.hasTemplate("2.16.840.1.113883.10.20.22.4.6", "2.16.840.1.113883.10.20.1.50", "2.16.840.1.113883.10.20.22.4.28") || o.child("code").attr("code") == "33999-4" {
			switch o.child("value").attr("code") {
			case "55561003":
				st = "active"
			case "73425007":
				st = "inactive"
			case "413322009":
				st = "resolved"
			}
		}
	})
	if st != "" {
		return st
	}
	switch concern.child("statusCode").attr("code") {
	case "active", "suspended":
		return "active"
	case "completed":
		return "resolved"
	case "aborted":
		return "inactive"
	}
	return ""
}

// condition maps a problem observation (inside concern, which may be absent).
func (c *conv) condition(obs, concern el) *dtpb.Reference {
	cd := &condpb.Condition{
		Id:         &dtpb.Id{Value: c.entryID("Condition", obs)},
		Identifier: identifiers(obs),
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Code:       c.concept(obs.child("value")),
		Recorder:   c.entryAuthor(obs),
	}
	if cd.Code == nil {
		cd.Code = textConcept(c.entryText(obs))
	}
	cat := "problem-list-item"
	if concern.hasTemplate("2.16.840.1.113883.10.20.22.4.80", "2.16.840.1.113883.10.20.22.4.33", "2.16.840.1.113883.10.20.22.4.34") {
		cat = "encounter-diagnosis"
	}
	cd.Category = []*dtpb.CodeableConcept{codeConcept(conditionCategory, cat)}
	et := obs.child("effectiveTime")
	if v := c.dateTime(et.child("low")); v != nil {
		cd.Onset = &condpb.Condition_OnsetX{Choice: &condpb.Condition_OnsetX_DateTime{DateTime: v}}
	} else if v := c.dateTime(et); v != nil {
		cd.Onset = &condpb.Condition_OnsetX{Choice: &condpb.Condition_OnsetX_DateTime{DateTime: v}}
	}
	status := problemStatus(obs, concern)
	if v := c.dateTime(et.child("high")); v != nil {
		cd.Abatement = &condpb.Condition_AbatementX{Choice: &condpb.Condition_AbatementX_DateTime{DateTime: v}}
		if status == "" || status == "active" {
			status = "resolved" // con-4: an abated condition is not active
		}
	}
	if status == "" {
		status = "active"
	}
	if obs.attr("negationInd") == "true" {
		cd.VerificationStatus = codeConcept(conditionVerStatus, "refuted")
	}
	cd.ClinicalStatus = codeConcept(conditionClinical, status)
	if v, ok := c.ts(concern.path("author", "time")); ok {
		cd.RecordedDate = v.dateTime()
	}
	ref := c.put(cd, category.CLIN)
	return ref
}

// allergyTypes maps the SNOMED allergy/intolerance types of C-CDA's
// Allergy and Intolerance Type value set.
var allergyTypes = map[string]struct {
	intolerance bool
	cat         cpb.AllergyIntoleranceCategoryCode_Value
}{
	"416098002": {false, cpb.AllergyIntoleranceCategoryCode_MEDICATION},  // drug allergy
	"419511003": {false, cpb.AllergyIntoleranceCategoryCode_MEDICATION},  // propensity to adverse reactions to drug
	"59037007":  {true, cpb.AllergyIntoleranceCategoryCode_MEDICATION},   // drug intolerance
	"414285001": {false, cpb.AllergyIntoleranceCategoryCode_FOOD},        // food allergy
	"418471000": {false, cpb.AllergyIntoleranceCategoryCode_FOOD},        // propensity to adverse reactions to food
	"235719002": {true, cpb.AllergyIntoleranceCategoryCode_FOOD},         // food intolerance
	"426232007": {false, cpb.AllergyIntoleranceCategoryCode_ENVIRONMENT}, // environmental allergy
	"419199007": {false, cpb.AllergyIntoleranceCategoryCode_INVALID_UNINITIALIZED},
}

// allergy maps an allergy-intolerance observation.
func (c *conv) allergy(obs, concern el) *dtpb.Reference {
	ai := &aipb.AllergyIntolerance{
		Id:         &dtpb.Id{Value: c.entryID("AllergyIntolerance", obs)},
		Identifier: identifiers(obs),
		Patient:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Recorder:   c.entryAuthor(obs),
	}
	substance := obs.path("participant", "participantRole", "playingEntity", "code")
	ai.Code = c.concept(substance)
	if t, ok := allergyTypes[obs.child("value").attr("code")]; ok {
		if t.intolerance {
			ai.Type = &aipb.AllergyIntolerance_TypeCode{Value: cpb.AllergyIntoleranceTypeCode_INTOLERANCE}
		} else {
			ai.Type = &aipb.AllergyIntolerance_TypeCode{Value: cpb.AllergyIntoleranceTypeCode_ALLERGY}
		}
		if t.cat != cpb.AllergyIntoleranceCategoryCode_INVALID_UNINITIALIZED {
			ai.Category = []*aipb.AllergyIntolerance_CategoryCode{{Value: t.cat}}
		}
	}
	if ai.Code == nil {
		if name := obs.path("participant", "participantRole", "playingEntity", "name").text(); name != "" {
			ai.Code = textConcept(name)
		}
	}
	if obs.attr("negationInd") == "true" {
		if ai.Code == nil {
			ai.Code = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: uri(terminology.SNOMED),
				Code: &dtpb.Code{Value: snomedNoKnownAllergy}, Display: str("No known allergy (situation)")}}}
			ai.VerificationStatus = codeConcept(allergyVerification, "confirmed")
		} else {
			ai.VerificationStatus = codeConcept(allergyVerification, "refuted")
		}
	}
	if ai.Code == nil {
		ai.Code = textConcept(c.entryText(obs))
	}
	status := "active"
	switch problemStatus(obs, concern) {
	case "inactive":
		status = "inactive"
	case "resolved":
		status = "resolved"
	}
	ai.ClinicalStatus = codeConcept(allergyClinical, status) // ait-1
	if v := c.dateTime(obs.path("effectiveTime", "low")); v != nil {
		ai.Onset = &aipb.AllergyIntolerance_OnsetX{Choice: &aipb.AllergyIntolerance_OnsetX_DateTime{DateTime: v}}
	}
	c.reactions(ai, obs)
	return c.put(ai, category.CLIN)
}

// reactions maps Reaction Observations (typeCode MFST) and their severity.
func (c *conv) reactions(ai *aipb.AllergyIntolerance, obs el) {
	obs.each("entryRelationship", func(er el) {
		o := er.child("observation")
		if er.attr("typeCode") != "MFST" || !o.ok() {
			return
		}
		m := c.concept(o.child("value"))
		if m == nil {
			return
		}
		r := &aipb.AllergyIntolerance_Reaction{Manifestation: []*dtpb.CodeableConcept{m}}
		if v := c.dateTime(o.path("effectiveTime", "low")); v != nil {
			r.Onset = v
		}
		o.each("entryRelationship", func(ser el) {
			switch ser.path("observation", "value").attr("code") {
			case "255604002", "371923003":
				r.Severity = &aipb.AllergyIntolerance_Reaction_SeverityCode{Value: cpb.AllergyIntoleranceSeverityCode_MILD}
			case "6736007", "371924009":
				r.Severity = &aipb.AllergyIntolerance_Reaction_SeverityCode{Value: cpb.AllergyIntoleranceSeverityCode_MODERATE}
			case "24484000", "399166001":
				r.Severity = &aipb.AllergyIntolerance_Reaction_SeverityCode{Value: cpb.AllergyIntoleranceSeverityCode_SEVERE}
			}
		})
		ai.Reaction = append(ai.Reaction, r)
	})
}
