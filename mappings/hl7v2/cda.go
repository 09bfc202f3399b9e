package hl7v2

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// wrapUp lists what a mapping's Finish adds around its resources; the HL7
// message has its own.
var wrapUp = map[string]bool{"Binary": true, "Device": true, "Provenance": true, "OperationOutcome": true}

// embeddedCDA runs opts.EmbeddedCDA over a CDA document found in an OBX and
// merges its resources into the Bundle. The CDA's own Patient gives way to
// the PID Patient: references to it are redirected. The DocumentReference
// lists the resulting Composition(s) in context.related.
func (c *conv) embeddedCDA(obx *er7.Segment, doc []byte, dr *drpb.DocumentReference) {
	if c.opts.EmbeddedCDA == nil {
		return
	}
	res, err := c.opts.EmbeddedCDA(doc)
	where := obx.Loc(5).String()
	if err != nil || res == nil || res.Bundle == nil {
		c.b.Warn(where, "embedded CDA document could not be mapped; kept as attachment only")
		return
	}
	patient := "Patient/" + c.patientID
	redirect := map[string]string{}
	var keep []proto.Message
	for _, e := range res.Bundle.Entry {
		r := resource.Unwrap(e.GetResource())
		switch {
		case r == nil || wrapUp[resource.Type(r)]:
		case resource.Type(r) == "Patient":
			redirect["Patient/"+resource.ID(r)] = patient
		default:
			keep = append(keep, r)
		}
	}
	for _, r := range keep {
		rewriteRefs(r.ProtoReflect(), redirect)
		c.put(r)
		if resource.Type(r) == "Composition" {
			if dr.Context == nil {
				dr.Context = &drpb.DocumentReference_Context{}
			}
			dr.Context.Related = append(dr.Context.Related, resource.Ref("Composition", resource.ID(r)))
		}
	}
	for _, is := range res.Issues {
		c.b.Warn(where+" "+is.Path, is.Text)
	}
}

var referenceName = (&dtpb.Reference{}).ProtoReflect().Descriptor().FullName()

// rewriteRefs points every Reference in m whose target is a key of to at
// its value instead.
func rewriteRefs(m protoreflect.Message, to map[string]string) {
	if len(to) == 0 {
		return
	}
	if m.Descriptor().FullName() == referenceName {
		ref := m.Interface().(*dtpb.Reference)
		if target, ok := to[resource.RefString(ref)]; ok {
			resource.SetRefString(ref, target)
		}
		return
	}
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if f.Kind() != protoreflect.MessageKind {
			return true
		}
		if f.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				rewriteRefs(v.List().Get(i).Message(), to)
			}
		} else if !f.IsMap() {
			rewriteRefs(v.Message(), to)
		}
		return true
	})
}
