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
// more and dominated the cost of mapping small messages. A wrapper or a
// reference is allocated together with its oneof case (one allocation
// instead of two or three: mappings make them for every resource). Every
// function returns its zero value for other types, and the caller falls
// back to the generic path. TestKnownAgreesWithGeneric checks both agree.

// wrapKnown puts m into a ContainedResource, or returns nil.
func wrapKnown(m proto.Message) *bcrpb.ContainedResource {
	switch r := m.(type) {
	case *ppb.Patient:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Patient
		}{}
		e.w.Patient, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *rppb.RelatedPerson:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_RelatedPerson
		}{}
		e.w.RelatedPerson, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *prpb.Practitioner:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Practitioner
		}{}
		e.w.Practitioner, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *prrpb.PractitionerRole:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_PractitionerRole
		}{}
		e.w.PractitionerRole, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *orgpb.Organization:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Organization
		}{}
		e.w.Organization, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *locpb.Location:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Location
		}{}
		e.w.Location, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *ctpb.CareTeam:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_CareTeam
		}{}
		e.w.CareTeam, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *encpb.Encounter:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Encounter
		}{}
		e.w.Encounter, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *eocpb.EpisodeOfCare:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_EpisodeOfCare
		}{}
		e.w.EpisodeOfCare, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *condpb.Condition:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Condition
		}{}
		e.w.Condition, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *procpb.Procedure:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Procedure
		}{}
		e.w.Procedure, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *aipb.AllergyIntolerance:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_AllergyIntolerance
		}{}
		e.w.AllergyIntolerance, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *obspb.Observation:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Observation
		}{}
		e.w.Observation, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *diagpb.DiagnosticReport:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_DiagnosticReport
		}{}
		e.w.DiagnosticReport, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *docpb.DocumentReference:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_DocumentReference
		}{}
		e.w.DocumentReference, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *comppb.Composition:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Composition
		}{}
		e.w.Composition, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *immpb.Immunization:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Immunization
		}{}
		e.w.Immunization, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *medpb.Medication:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Medication
		}{}
		e.w.Medication, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *mrpb.MedicationRequest:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_MedicationRequest
		}{}
		e.w.MedicationRequest, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *mspb.MedicationStatement:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_MedicationStatement
		}{}
		e.w.MedicationStatement, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *goalpb.Goal:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Goal
		}{}
		e.w.Goal, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *cppb.CarePlan:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_CarePlan
		}{}
		e.w.CarePlan, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *srpb.ServiceRequest:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_ServiceRequest
		}{}
		e.w.ServiceRequest, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *taskpb.Task:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Task
		}{}
		e.w.Task, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *qrpb.QuestionnaireResponse:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_QuestionnaireResponse
		}{}
		e.w.QuestionnaireResponse, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *conspb.Consent:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Consent
		}{}
		e.w.Consent, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *binpb.Binary:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Binary
		}{}
		e.w.Binary, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *devpb.Device:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Device
		}{}
		e.w.Device, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *provpb.Provenance:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Provenance
		}{}
		e.w.Provenance, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *oopb.OperationOutcome:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_OperationOutcome
		}{}
		e.w.OperationOutcome, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *aepb.AuditEvent:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_AuditEvent
		}{}
		e.w.AuditEvent, e.cr.OneofResource = r, &e.w
		return &e.cr
	case *subpb.Subscription:
		e := &struct {
			cr bcrpb.ContainedResource
			w  bcrpb.ContainedResource_Subscription
		}{}
		e.w.Subscription, e.cr.OneofResource = r, &e.w
		return &e.cr
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
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_PatientId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.PatientId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "RelatedPerson":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_RelatedPersonId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.RelatedPersonId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Practitioner":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_PractitionerId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.PractitionerId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "PractitionerRole":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_PractitionerRoleId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.PractitionerRoleId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Organization":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_OrganizationId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.OrganizationId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Location":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_LocationId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.LocationId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "CareTeam":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_CareTeamId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.CareTeamId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Encounter":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_EncounterId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.EncounterId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "EpisodeOfCare":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_EpisodeOfCareId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.EpisodeOfCareId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Condition":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ConditionId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ConditionId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Procedure":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ProcedureId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ProcedureId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "AllergyIntolerance":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_AllergyIntoleranceId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.AllergyIntoleranceId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Observation":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ObservationId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ObservationId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "DiagnosticReport":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_DiagnosticReportId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.DiagnosticReportId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "DocumentReference":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_DocumentReferenceId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.DocumentReferenceId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Composition":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_CompositionId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.CompositionId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Immunization":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ImmunizationId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ImmunizationId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Medication":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_MedicationId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.MedicationId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "MedicationRequest":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_MedicationRequestId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.MedicationRequestId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "MedicationStatement":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_MedicationStatementId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.MedicationStatementId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Goal":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_GoalId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.GoalId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "CarePlan":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_CarePlanId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.CarePlanId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "ServiceRequest":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ServiceRequestId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ServiceRequestId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Task":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_TaskId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.TaskId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "QuestionnaireResponse":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_QuestionnaireResponseId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.QuestionnaireResponseId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Consent":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ConsentId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ConsentId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Binary":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_BinaryId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.BinaryId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Device":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_DeviceId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.DeviceId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Provenance":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_ProvenanceId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.ProvenanceId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "OperationOutcome":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_OperationOutcomeId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.OperationOutcomeId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "AuditEvent":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_AuditEventId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.AuditEventId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	case "Subscription":
		e := &struct {
			ref dtpb.Reference
			w   dtpb.Reference_SubscriptionId
			id  dtpb.ReferenceId
		}{}
		e.id.Value = id
		e.w.SubscriptionId, e.ref.Reference = &e.id, &e.w
		return &e.ref
	}
	return nil
}
