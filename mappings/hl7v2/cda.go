package hl7v2

import (
	"slices"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// wrapUp lists what a mapping's Finish adds around its resources that the
// HL7 message has its own of: the source (the message holds the
// document, and the DocumentReference attaches it) and the warnings
// (merged into the message's).
var wrapUp = map[string]bool{"Binary": true, "OperationOutcome": true}

// embeddedCDA runs opts.EmbeddedCDA over a CDA document found in an OBX and
// merges its resources into the Bundle. The CDA's own Patient gives way to
// the PID Patient, and its Encounter, when it names the stay of the PV1
// (a visit number both hold), to the message's, which the ADT feed owns
// (see the MDM rule in gateway/ingest): references to them are redirected.
// The DocumentReference lists the resulting Composition(s) in
// context.related.
//
// The document is the same document as when it is posted on its own, and
// a later version replaces it the same way (CDA R2 section 4.2.3.1,
// gateway/ingest replace.go): its Provenance is kept, under the id the
// document's id gives it, naming what the document stated and the
// DocumentReference that carries it, which is its source too; and when it states its
// content (effectiveTime) and which documents it replaces (RPLC) travels
// with the message's result.
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
	dropped := map[string]bool{}
	var keep []proto.Message
	for _, e := range res.Bundle.Entry {
		r := resource.Unwrap(e.GetResource())
		switch {
		case r == nil:
		case wrapUp[resource.Type(r)]:
			dropped[resource.Type(r)+"/"+resource.ID(r)] = true
			if resource.Type(r) == "Binary" {
				redirect["Binary/"+resource.ID(r)] = "DocumentReference/" + dr.GetId().GetValue()
			}
		case resource.Type(r) == "Patient":
			redirect["Patient/"+resource.ID(r)] = patient
		case resource.Type(r) == "Encounter" && c.sameStay(r.(*encpb.Encounter)):
			redirect["Encounter/"+resource.ID(r)] = "Encounter/" + c.encounter.GetId().GetValue()
			c.letterDischarge(r.(*encpb.Encounter))
		default:
			keep = append(keep, r)
		}
	}
	for _, r := range keep {
		if p, ok := r.(*provpb.Provenance); ok {
			// its warnings are the message's now
			p.Entity = slices.DeleteFunc(p.Entity, func(en *provpb.Provenance_Entity) bool {
				ref := resource.RefString(en.GetWhat())
				_, kept := redirect[ref]
				return dropped[ref] && !kept
			})
			// the DocumentReference that carries the document is one of
			// its outputs: a replacement supersedes it with the others
			p.Target = append(p.Target, resource.Ref("DocumentReference", dr.GetId().GetValue()))
		}
		rewriteRefs(r.ProtoReflect(), redirect)
		c.put(r)
		c.documents = append(c.documents, r)
		if resource.Type(r) == "Composition" {
			if dr.Context == nil {
				dr.Context = &drpb.DocumentReference_Context{}
			}
			dr.Context.Related = append(dr.Context.Related, resource.Ref("Composition", resource.ID(r)))
		}
	}
	if c.doc.asserted.IsZero() {
		c.doc.asserted = res.Asserted
	}
	c.doc.replaces = append(c.doc.replaces, res.Replaces...)
	for _, is := range res.Issues {
		c.b.Warn(where+" "+is.Path, is.Text)
	}
}

// letterDischarge gives the message's stay what the document it carries
// states of the stay's end and the PV1 does not: CDA R2's
// encompassingEncounter effectiveTime (section 4.2.3.3), mapped to its
// period, and its dischargeDispositionCode. A discharge letter carried in
// an MDM (the ANS volet "Transmission de documents CDA en HL7 v2") is the
// same letter as one posted on its own, which finishes its stay: so it
// does here (finishEncounter: an MDM whose stay has an end is finished;
// gateway/ingest applies that discharge to a stay stored before it).
func (c *conv) letterDischarge(doc *encpb.Encounter) {
	e := c.encounter
	end := doc.GetPeriod().GetEnd()
	if c.code != "MDM" || end == nil || e.GetPeriod().GetEnd() != nil {
		return
	}
	if e.Period == nil {
		e.Period = &dtpb.Period{}
	}
	e.Period.End = end
	if e.Period.Start == nil {
		e.Period.Start = doc.GetPeriod().GetStart()
	}
	if dd := doc.GetHospitalization().GetDischargeDisposition(); dd != nil && e.GetHospitalization().GetDischargeDisposition() == nil {
		if e.Hospitalization == nil {
			e.Hospitalization = &encpb.Encounter_Hospitalization{}
		}
		e.Hospitalization.DischargeDisposition = dd
	}
}

// sameStay reports whether a CDA document's Encounter names the stay of
// the message's PV1: a visit number (system and value) both hold.
func (c *conv) sameStay(e *encpb.Encounter) bool {
	if c.encounter == nil {
		return false
	}
	for _, a := range e.GetIdentifier() {
		for _, b := range c.encounter.GetIdentifier() {
			if a.GetSystem().GetValue() != "" && a.GetValue().GetValue() != "" &&
				a.GetSystem().GetValue() == b.GetSystem().GetValue() && a.GetValue().GetValue() == b.GetValue().GetValue() {
				return true
			}
		}
	}
	return false
}

// documentStated is when the documents a message carries state their
// content, and the Provenances of the documents they replace
// (bundle.Result.Asserted, Replaces), as their own mapping says.
type documentStated struct {
	asserted time.Time
	replaces []string
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
