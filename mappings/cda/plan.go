package cda

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// Planned acts, procedures, observations and encounters become
// ServiceRequests: C-CDA Planned Act/Procedure/Observation/Encounter
// (.4.39, .4.41, .4.44, .4.40), CCD plan of care activities (.1.25), and the
// CI-SIS follow-up entries of "Suites à donner" (18776-5): FR-Acte
// (1.2.250.1.213.1.1.3.62), FR-Demande-d-examen-ou-de-suivi
// (1.2.250.1.213.1.1.3.27) and FR-Rencontre (1.2.250.1.213.1.1.3.58). Each
// keeps its code, its timing and the type of professional who should act.

func requestStatus(s el) cpb.RequestStatusCode_Value {
	switch s.child("statusCode").attr("code") {
	case "active", "new", "":
		return cpb.RequestStatusCode_ACTIVE
	case "completed":
		return cpb.RequestStatusCode_COMPLETED
	case "cancelled", "aborted", "obsolete":
		return cpb.RequestStatusCode_REVOKED
	case "held", "suspended":
		return cpb.RequestStatusCode_ON_HOLD
	}
	return cpb.RequestStatusCode_UNKNOWN
}

func requestIntent(m string) cpb.RequestIntentCode_Value {
	switch m {
	case "RQO", "ARQ", "APT", "RQO.CRT":
		return cpb.RequestIntentCode_ORDER
	case "PRP", "PRP.CRT":
		return cpb.RequestIntentCode_PROPOSAL
	}
	return cpb.RequestIntentCode_PLAN
}

// priorities maps HL7 v3 ActPriority to FHIR request priority.
var priorities = map[string]cpb.RequestPriorityCode_Value{
	"R": cpb.RequestPriorityCode_ROUTINE, "RR": cpb.RequestPriorityCode_ROUTINE, "EL": cpb.RequestPriorityCode_ROUTINE,
	"UR": cpb.RequestPriorityCode_URGENT, "PRN": cpb.RequestPriorityCode_ROUTINE,
	"A": cpb.RequestPriorityCode_ASAP, "CR": cpb.RequestPriorityCode_ASAP, "CSR": cpb.RequestPriorityCode_ASAP,
	"EM": cpb.RequestPriorityCode_STAT, "S": cpb.RequestPriorityCode_STAT,
}

// serviceRequest maps a planned act of any class.
func (c *conv) serviceRequest(sec *section, s el) *dtpb.Reference {
	sr := &srpb.ServiceRequest{
		Id:         &dtpb.Id{Value: c.entryID("ServiceRequest", s)},
		Identifier: identifiers(s),
		Status:     &srpb.ServiceRequest_StatusCode{Value: requestStatus(s)},
		Intent:     &srpb.ServiceRequest_IntentCode{Value: requestIntent(mood(s))},
		Code:       c.concept(s.child("code")),
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Requester:  firstRef(c.entryAuthor(s), c.firstAuthor()),
		AuthoredOn: firstDateTime(c.dateTime(s.path("author", "time")), c.docDate),
		Performer:  c.performers(s),
		ReasonCode: c.reasons(s),
	}
	c.requestCode(sr, s)
	if at, p := c.effective(s); at != nil {
		sr.Occurrence = &srpb.ServiceRequest_OccurrenceX{Choice: &srpb.ServiceRequest_OccurrenceX_DateTime{DateTime: at}}
	} else if p != nil {
		sr.Occurrence = &srpb.ServiceRequest_OccurrenceX{Choice: &srpb.ServiceRequest_OccurrenceX_Period{Period: p}}
	}
	pc := s.child("priorityCode")
	if v, ok := priorities[pc.attr("code")]; ok {
		sr.Priority = &srpb.ServiceRequest_PriorityCode{Value: v}
	} else if d := firstNonEmpty(pc.attr("displayName"), pc.attr("code")); d != "" {
		sr.Note = note("Priority: " + d) // e.g. CS, "call back to schedule"
	}
	sr.PerformerType = c.performerType(s)
	if cc := c.concept(s.child("targetSiteCode")); cc != nil {
		sr.BodySite = append(sr.BodySite, cc)
	}
	sr.PatientInstruction = str(c.instructions(s))
	ref := c.put(sr, category.ORD)
	sec.requests = append(sec.requests, ref)
	return ref
}

// requestCode completes the code: CI-SIS requests carry a generic code
// (TA_ASIP ORG-064 "Demande d'examen ou de suivi") and say what is asked in
// the value and the narrative, which become the code's text.
func (c *conv) requestCode(sr *srpb.ServiceRequest, s el) {
	text := ""
	if v := s.child("value"); v.ok() {
		if v.xsiType() == "ST" || v.xsiType() == "ED" {
			text = v.text()
		} else if cc := c.concept(v); cc != nil {
			if sr.Code == nil {
				sr.Code = cc
			} else {
				sr.OrderDetail = append(sr.OrderDetail, cc)
			}
		}
	}
	text = firstNonEmpty(text, c.entryText(s))
	switch {
	case sr.Code == nil:
		sr.Code = textConcept(firstNonEmpty(text, "unspecified request"))
	case sr.Code.Text == nil && text != "":
		sr.Code.Text = str(text)
	}
}

// performerType is the coded role of the intended performer: the performer
// or participant (PRF) code, e.g. a TRE_G15 profession.
func (c *conv) performerType(s el) *dtpb.CodeableConcept {
	var out *dtpb.CodeableConcept
	s.each("performer", func(p el) {
		if out == nil {
			if codes, _ := c.profession(p.path("assignedEntity", "code")); codes != nil {
				out = codes[0]
			}
		}
	})
	s.each("participant", func(p el) {
		if out == nil && (p.attr("typeCode") == "PRF" || p.attr("typeCode") == "CON") {
			if codes, _ := c.profession(p.path("participantRole", "code")); codes != nil {
				out = codes[0]
			}
		}
	})
	return out
}
