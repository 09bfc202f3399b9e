package bundle

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	aipb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/allergy_intolerance_go_proto"
	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	condpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	devpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_go_proto"
	docpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	procpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
)

// entryParts are a PUT entry and its request.
type entryParts struct {
	entry   bcrpb.Bundle_Entry
	request bcrpb.Bundle_Entry_Request
	method  bcrpb.Bundle_Entry_Request_MethodCode
	url     dtpb.Uri
}

// labelSpare is room for a resource's meta and its first category label.
type labelSpare struct {
	meta     dtpb.Meta
	security [2]*dtpb.Coding // room for a sensitivity label
}

// entryBlock is everything putting a resource of the types mappings make
// most allocates, in one block: the entry and its request, the
// ContainedResource with its oneof case W, and the resource's meta with a
// category label. Four allocations per resource were a fifth of a mapping's.
type entryBlock[W any] struct {
	entryParts
	labelSpare
	cr bcrpb.ContainedResource
	w  W
}

func (b *entryBlock[W]) parts() *entryParts {
	b.entry.Resource = &b.cr
	return &b.entryParts
}

// newEntry returns the entry for res, which it wraps, and room for its
// labels when res is of a type it knows; else what resource.MustWrap and a
// separate entry give, and no room.
func newEntry(res proto.Message, ref string) (*bcrpb.Bundle_Entry, *labelSpare) {
	e, spare := knownEntry(res)
	if e == nil {
		e = &entryParts{}
		e.entry.Resource = resource.MustWrap(res)
	}
	e.method.Value = cpb.HTTPVerbCode_PUT
	e.url.Value = ref
	e.request.Method, e.request.Url = &e.method, &e.url
	e.entry.Request = &e.request
	return &e.entry, spare
}

// knownEntry is newEntry's fast path, or nil. A resource that has no meta
// gets the block's.
func knownEntry(res proto.Message) (*entryParts, *labelSpare) {
	switch r := res.(type) {
	case *ppb.Patient:
		blk := &entryBlock[bcrpb.ContainedResource_Patient]{}
		blk.w.Patient = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *rppb.RelatedPerson:
		blk := &entryBlock[bcrpb.ContainedResource_RelatedPerson]{}
		blk.w.RelatedPerson = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *prpb.Practitioner:
		blk := &entryBlock[bcrpb.ContainedResource_Practitioner]{}
		blk.w.Practitioner = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *orgpb.Organization:
		blk := &entryBlock[bcrpb.ContainedResource_Organization]{}
		blk.w.Organization = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *locpb.Location:
		blk := &entryBlock[bcrpb.ContainedResource_Location]{}
		blk.w.Location = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *encpb.Encounter:
		blk := &entryBlock[bcrpb.ContainedResource_Encounter]{}
		blk.w.Encounter = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *condpb.Condition:
		blk := &entryBlock[bcrpb.ContainedResource_Condition]{}
		blk.w.Condition = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *procpb.Procedure:
		blk := &entryBlock[bcrpb.ContainedResource_Procedure]{}
		blk.w.Procedure = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *aipb.AllergyIntolerance:
		blk := &entryBlock[bcrpb.ContainedResource_AllergyIntolerance]{}
		blk.w.AllergyIntolerance = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *obspb.Observation:
		blk := &entryBlock[bcrpb.ContainedResource_Observation]{}
		blk.w.Observation = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *docpb.DocumentReference:
		blk := &entryBlock[bcrpb.ContainedResource_DocumentReference]{}
		blk.w.DocumentReference = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *binpb.Binary:
		blk := &entryBlock[bcrpb.ContainedResource_Binary]{}
		blk.w.Binary = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *devpb.Device:
		blk := &entryBlock[bcrpb.ContainedResource_Device]{}
		blk.w.Device = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *provpb.Provenance:
		blk := &entryBlock[bcrpb.ContainedResource_Provenance]{}
		blk.w.Provenance = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	case *oopb.OperationOutcome:
		blk := &entryBlock[bcrpb.ContainedResource_OperationOutcome]{}
		blk.w.OperationOutcome = r
		blk.cr.OneofResource = &blk.w
		if r.Meta == nil {
			r.Meta = &blk.meta
		}
		return blk.parts(), &blk.labelSpare
	}
	return nil, nil
}
