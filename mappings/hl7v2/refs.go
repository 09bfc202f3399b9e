package hl7v2

import dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

// Typed references built directly: resource.Ref goes through protoreflect
// for types it does not know, and these are made for nearly every resource.
// A reference is allocated together with its oneof case and id.

func patientRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_PatientId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.PatientId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}

func encounterRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_EncounterId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.EncounterId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}

func practitionerRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_PractitionerId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.PractitionerId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}

func organizationRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_OrganizationId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.OrganizationId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}

func locationRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_LocationId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.LocationId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}

func conditionRef(id string) *dtpb.Reference {
	e := &struct {
		ref dtpb.Reference
		w   dtpb.Reference_ConditionId
		id  dtpb.ReferenceId
	}{}
	e.id.Value = id
	e.w.ConditionId, e.ref.Reference = &e.id, &e.w
	return &e.ref
}
