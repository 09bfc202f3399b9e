package resource

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	aepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"
	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	ctpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_team_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	condpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	conspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	devpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_go_proto"
	diagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	docpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	eocpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/episode_of_care_go_proto"
	goalpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/goal_go_proto"
	immpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/immunization_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	medpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_request_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"
	taskpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	"google.golang.org/protobuf/proto"
)

// The resource types Relais's mappings and gateway produce get direct,
// generated-code access here: protoreflect, which the generic paths of
// Wrap, Unwrap, Meta and Ref use for all 146 types, costs several times
// more and dominated the cost of mapping small messages. Every function
// returns its zero value for other types, and the caller falls back to the
// generic path. TestKnownAgreesWithGeneric checks both agree.

// wrapKnown puts m into a ContainedResource, or returns nil.
func wrapKnown(m proto.Message) *bcrpb.ContainedResource {
	switch r := m.(type) {
	case *ppb.Patient:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Patient{Patient: r}}
	case *rppb.RelatedPerson:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_RelatedPerson{RelatedPerson: r}}
	case *prpb.Practitioner:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Practitioner{Practitioner: r}}
	case *prrpb.PractitionerRole:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_PractitionerRole{PractitionerRole: r}}
	case *orgpb.Organization:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Organization{Organization: r}}
	case *locpb.Location:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Location{Location: r}}
	case *ctpb.CareTeam:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_CareTeam{CareTeam: r}}
	case *encpb.Encounter:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Encounter{Encounter: r}}
	case *eocpb.EpisodeOfCare:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_EpisodeOfCare{EpisodeOfCare: r}}
	case *condpb.Condition:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Condition{Condition: r}}
	case *procpb.Procedure:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Procedure{Procedure: r}}
	case *aipb.AllergyIntolerance:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_AllergyIntolerance{AllergyIntolerance: r}}
	case *obspb.Observation:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Observation{Observation: r}}
	case *diagpb.DiagnosticReport:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_DiagnosticReport{DiagnosticReport: r}}
	case *docpb.DocumentReference:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_DocumentReference{DocumentReference: r}}
	case *comppb.Composition:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Composition{Composition: r}}
	case *immpb.Immunization:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Immunization{Immunization: r}}
	case *medpb.Medication:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Medication{Medication: r}}
	case *mrpb.MedicationRequest:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_MedicationRequest{MedicationRequest: r}}
	case *mspb.MedicationStatement:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_MedicationStatement{MedicationStatement: r}}
	case *goalpb.Goal:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Goal{Goal: r}}
	case *cppb.CarePlan:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_CarePlan{CarePlan: r}}
	case *srpb.ServiceRequest:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_ServiceRequest{ServiceRequest: r}}
	case *taskpb.Task:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Task{Task: r}}
	case *qrpb.QuestionnaireResponse:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_QuestionnaireResponse{QuestionnaireResponse: r}}
	case *conspb.Consent:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Consent{Consent: r}}
	case *binpb.Binary:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Binary{Binary: r}}
	case *devpb.Device:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Device{Device: r}}
	case *provpb.Provenance:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Provenance{Provenance: r}}
	case *oopb.OperationOutcome:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_OperationOutcome{OperationOutcome: r}}
	case *aepb.AuditEvent:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_AuditEvent{AuditEvent: r}}
	case *subpb.Subscription:
		return &bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Subscription{Subscription: r}}
	}
	return nil
}

// unwrapKnown returns the resource in cr, or nil and false.
func unwrapKnown(cr *bcrpb.ContainedResource) (proto.Message, bool) {
	switch r := cr.GetOneofResource().(type) {
	case *bcrpb.ContainedResource_Patient:
		return r.Patient, true
	case *bcrpb.ContainedResource_RelatedPerson:
		return r.RelatedPerson, true
	case *bcrpb.ContainedResource_Practitioner:
		return r.Practitioner, true
	case *bcrpb.ContainedResource_PractitionerRole:
		return r.PractitionerRole, true
	case *bcrpb.ContainedResource_Organization:
		return r.Organization, true
	case *bcrpb.ContainedResource_Location:
		return r.Location, true
	case *bcrpb.ContainedResource_CareTeam:
		return r.CareTeam, true
	case *bcrpb.ContainedResource_Encounter:
		return r.Encounter, true
	case *bcrpb.ContainedResource_EpisodeOfCare:
		return r.EpisodeOfCare, true
	case *bcrpb.ContainedResource_Condition:
		return r.Condition, true
	case *bcrpb.ContainedResource_Procedure:
		return r.Procedure, true
	case *bcrpb.ContainedResource_AllergyIntolerance:
		return r.AllergyIntolerance, true
	case *bcrpb.ContainedResource_Observation:
		return r.Observation, true
	case *bcrpb.ContainedResource_DiagnosticReport:
		return r.DiagnosticReport, true
	case *bcrpb.ContainedResource_DocumentReference:
		return r.DocumentReference, true
	case *bcrpb.ContainedResource_Composition:
		return r.Composition, true
	case *bcrpb.ContainedResource_Immunization:
		return r.Immunization, true
	case *bcrpb.ContainedResource_Medication:
		return r.Medication, true
	case *bcrpb.ContainedResource_MedicationRequest:
		return r.MedicationRequest, true
	case *bcrpb.ContainedResource_MedicationStatement:
		return r.MedicationStatement, true
	case *bcrpb.ContainedResource_Goal:
		return r.Goal, true
	case *bcrpb.ContainedResource_CarePlan:
		return r.CarePlan, true
	case *bcrpb.ContainedResource_ServiceRequest:
		return r.ServiceRequest, true
	case *bcrpb.ContainedResource_Task:
		return r.Task, true
	case *bcrpb.ContainedResource_QuestionnaireResponse:
		return r.QuestionnaireResponse, true
	case *bcrpb.ContainedResource_Consent:
		return r.Consent, true
	case *bcrpb.ContainedResource_Binary:
		return r.Binary, true
	case *bcrpb.ContainedResource_Device:
		return r.Device, true
	case *bcrpb.ContainedResource_Provenance:
		return r.Provenance, true
	case *bcrpb.ContainedResource_OperationOutcome:
		return r.OperationOutcome, true
	case *bcrpb.ContainedResource_AuditEvent:
		return r.AuditEvent, true
	case *bcrpb.ContainedResource_Subscription:
		return r.Subscription, true
	}
	return nil, false
}

// newMetaKnown gives m an empty meta and returns it, or returns nil.
func newMetaKnown(m proto.Message) *dtpb.Meta {
	switch r := m.(type) {
	case *ppb.Patient:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *rppb.RelatedPerson:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *prpb.Practitioner:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *prrpb.PractitionerRole:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *orgpb.Organization:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *locpb.Location:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *ctpb.CareTeam:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *encpb.Encounter:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *eocpb.EpisodeOfCare:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *condpb.Condition:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *procpb.Procedure:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *aipb.AllergyIntolerance:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *obspb.Observation:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *diagpb.DiagnosticReport:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *docpb.DocumentReference:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *comppb.Composition:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *immpb.Immunization:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *medpb.Medication:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *mrpb.MedicationRequest:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *mspb.MedicationStatement:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *goalpb.Goal:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *cppb.CarePlan:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *srpb.ServiceRequest:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *taskpb.Task:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *qrpb.QuestionnaireResponse:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *conspb.Consent:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *binpb.Binary:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *devpb.Device:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *provpb.Provenance:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *oopb.OperationOutcome:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *aepb.AuditEvent:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	case *subpb.Subscription:
		r.Meta = &dtpb.Meta{}
		return r.Meta
	}
	return nil
}

// refKnown returns the typed reference to typ/id, or nil.
func refKnown(typ, id string) *dtpb.Reference {
	switch typ {
	case "Patient":
		return &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: id}}}
	case "RelatedPerson":
		return &dtpb.Reference{Reference: &dtpb.Reference_RelatedPersonId{RelatedPersonId: &dtpb.ReferenceId{Value: id}}}
	case "Practitioner":
		return &dtpb.Reference{Reference: &dtpb.Reference_PractitionerId{PractitionerId: &dtpb.ReferenceId{Value: id}}}
	case "PractitionerRole":
		return &dtpb.Reference{Reference: &dtpb.Reference_PractitionerRoleId{PractitionerRoleId: &dtpb.ReferenceId{Value: id}}}
	case "Organization":
		return &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: id}}}
	case "Location":
		return &dtpb.Reference{Reference: &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: id}}}
	case "CareTeam":
		return &dtpb.Reference{Reference: &dtpb.Reference_CareTeamId{CareTeamId: &dtpb.ReferenceId{Value: id}}}
	case "Encounter":
		return &dtpb.Reference{Reference: &dtpb.Reference_EncounterId{EncounterId: &dtpb.ReferenceId{Value: id}}}
	case "EpisodeOfCare":
		return &dtpb.Reference{Reference: &dtpb.Reference_EpisodeOfCareId{EpisodeOfCareId: &dtpb.ReferenceId{Value: id}}}
	case "Condition":
		return &dtpb.Reference{Reference: &dtpb.Reference_ConditionId{ConditionId: &dtpb.ReferenceId{Value: id}}}
	case "Procedure":
		return &dtpb.Reference{Reference: &dtpb.Reference_ProcedureId{ProcedureId: &dtpb.ReferenceId{Value: id}}}
	case "AllergyIntolerance":
		return &dtpb.Reference{Reference: &dtpb.Reference_AllergyIntoleranceId{AllergyIntoleranceId: &dtpb.ReferenceId{Value: id}}}
	case "Observation":
		return &dtpb.Reference{Reference: &dtpb.Reference_ObservationId{ObservationId: &dtpb.ReferenceId{Value: id}}}
	case "DiagnosticReport":
		return &dtpb.Reference{Reference: &dtpb.Reference_DiagnosticReportId{DiagnosticReportId: &dtpb.ReferenceId{Value: id}}}
	case "DocumentReference":
		return &dtpb.Reference{Reference: &dtpb.Reference_DocumentReferenceId{DocumentReferenceId: &dtpb.ReferenceId{Value: id}}}
	case "Composition":
		return &dtpb.Reference{Reference: &dtpb.Reference_CompositionId{CompositionId: &dtpb.ReferenceId{Value: id}}}
	case "Immunization":
		return &dtpb.Reference{Reference: &dtpb.Reference_ImmunizationId{ImmunizationId: &dtpb.ReferenceId{Value: id}}}
	case "Medication":
		return &dtpb.Reference{Reference: &dtpb.Reference_MedicationId{MedicationId: &dtpb.ReferenceId{Value: id}}}
	case "MedicationRequest":
		return &dtpb.Reference{Reference: &dtpb.Reference_MedicationRequestId{MedicationRequestId: &dtpb.ReferenceId{Value: id}}}
	case "MedicationStatement":
		return &dtpb.Reference{Reference: &dtpb.Reference_MedicationStatementId{MedicationStatementId: &dtpb.ReferenceId{Value: id}}}
	case "Goal":
		return &dtpb.Reference{Reference: &dtpb.Reference_GoalId{GoalId: &dtpb.ReferenceId{Value: id}}}
	case "CarePlan":
		return &dtpb.Reference{Reference: &dtpb.Reference_CarePlanId{CarePlanId: &dtpb.ReferenceId{Value: id}}}
	case "ServiceRequest":
		return &dtpb.Reference{Reference: &dtpb.Reference_ServiceRequestId{ServiceRequestId: &dtpb.ReferenceId{Value: id}}}
	case "Task":
		return &dtpb.Reference{Reference: &dtpb.Reference_TaskId{TaskId: &dtpb.ReferenceId{Value: id}}}
	case "QuestionnaireResponse":
		return &dtpb.Reference{Reference: &dtpb.Reference_QuestionnaireResponseId{QuestionnaireResponseId: &dtpb.ReferenceId{Value: id}}}
	case "Consent":
		return &dtpb.Reference{Reference: &dtpb.Reference_ConsentId{ConsentId: &dtpb.ReferenceId{Value: id}}}
	case "Binary":
		return &dtpb.Reference{Reference: &dtpb.Reference_BinaryId{BinaryId: &dtpb.ReferenceId{Value: id}}}
	case "Device":
		return &dtpb.Reference{Reference: &dtpb.Reference_DeviceId{DeviceId: &dtpb.ReferenceId{Value: id}}}
	case "Provenance":
		return &dtpb.Reference{Reference: &dtpb.Reference_ProvenanceId{ProvenanceId: &dtpb.ReferenceId{Value: id}}}
	case "OperationOutcome":
		return &dtpb.Reference{Reference: &dtpb.Reference_OperationOutcomeId{OperationOutcomeId: &dtpb.ReferenceId{Value: id}}}
	case "AuditEvent":
		return &dtpb.Reference{Reference: &dtpb.Reference_AuditEventId{AuditEventId: &dtpb.ReferenceId{Value: id}}}
	case "Subscription":
		return &dtpb.Reference{Reference: &dtpb.Reference_SubscriptionId{SubscriptionId: &dtpb.ReferenceId{Value: id}}}
	}
	return nil
}
