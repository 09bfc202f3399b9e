package consent

import (
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// CodeSystemID is the id under which the gateway stores CodeSystem().
const CodeSystemID = "relais-data-category"

// CodeSystem returns the data-category code system (category.System) as an
// R4 CodeSystem, for the gateway to store and serve. A new value on each
// call: callers may stamp it.
func CodeSystem() *cspb.CodeSystem {
	cs := &cspb.CodeSystem{
		Id:            &dtpb.Id{Value: CodeSystemID},
		Url:           &dtpb.Uri{Value: category.System},
		Name:          &dtpb.String{Value: "RelaisDataCategory"},
		Title:         &dtpb.String{Value: "Relais data categories"},
		Status:        &cspb.CodeSystem_StatusCode{Value: cdpb.PublicationStatusCode_ACTIVE},
		Description:   &dtpb.Markdown{Value: "Categories of patient data on which Relais consent decisions are made, carried in meta.security. Sensitivity labels (v3-ActCode PSY, HIV, ETH, SEX; v3-Confidentiality R) are not part of this system."},
		CaseSensitive: &dtpb.Boolean{Value: true},
		Content:       &cspb.CodeSystem_ContentCode{Value: cdpb.CodeSystemContentModeCode_COMPLETE},
		Count:         &dtpb.UnsignedInt{Value: uint32(len(category.All))},
	}
	for _, c := range category.All {
		cs.Concept = append(cs.Concept, &cspb.CodeSystem_ConceptDefinition{
			Code:    &dtpb.Code{Value: string(c)},
			Display: &dtpb.String{Value: category.Display[c]},
		})
	}
	return cs
}
