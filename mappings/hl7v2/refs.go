package hl7v2

import dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

// Typed references built directly: resource.Ref goes through protoreflect,
// which dominates the cost of small messages.

func patientRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: id}}}
}

func encounterRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_EncounterId{EncounterId: &dtpb.ReferenceId{Value: id}}}
}

func practitionerRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_PractitionerId{PractitionerId: &dtpb.ReferenceId{Value: id}}}
}

func organizationRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: id}}}
}

func locationRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_LocationId{LocationId: &dtpb.ReferenceId{Value: id}}}
}

func conditionRef(id string) *dtpb.Reference {
	return &dtpb.Reference{Reference: &dtpb.Reference_ConditionId{ConditionId: &dtpb.ReferenceId{Value: id}}}
}
