package fhirdoc

import (
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/terminology"
)

// notWritten are the types a document's entry is not written as: they
// govern who may see what (Consent, CareTeam membership) or ask someone to
// act (Task, PlanDefinition, Subscription, Endpoint), which a document
// states no authority for, or are the server's own record of what it did
// (AuditEvent, Provenance, OperationOutcome); a Bundle inside a Bundle is
// not content either.
var notWritten = map[string]bool{
	"Consent": true, "CareTeam": true, "Task": true, "PlanDefinition": true, "Subscription": true,
	"Endpoint": true, "AuditEvent": true, "Provenance": true, "OperationOutcome": true, "Bundle": true,
}

// convert builds the transaction Bundle of a checked document.
func (d *doc) convert(data []byte, opts Options) (*bundle.Result, error) {
	b := bundle.New(Mapping)
	docKey := identifierKey(d.bundle.GetIdentifier())
	d.assignIDs(docKey)
	for _, e := range d.entries {
		if e.dropped {
			b.Warn(e.full, e.typ+" is not taken from a document (it governs access or workflow, or is the server's own record)")
		}
	}
	if err := d.rewrite(); err != nil {
		return nil, err
	}
	patient := d.entries[d.subject]
	// the document's sources are keyed by its patient too: another
	// patient's document under the same identifier (a sender reusing
	// example identifiers) never rewrites hers
	srcKey := append(append([]string{}, docKey...), patient.id)
	restricted := restrictedOf(d.comp)
	put := func(e *entry) {
		if restricted {
			category.LabelSensitive(e.res, category.R)
		}
		b.Put(e.res)
	}
	put(patient) // first: the Patient the result is about
	for i, e := range d.entries {
		if i != d.subject && !e.dropped {
			put(e)
		}
	}
	dr := d.documentReference(srcKey)
	if restricted {
		category.LabelSensitive(dr, category.R)
	}
	b.Put(dr, category.CLIN)
	res := b.Finish(bundle.Source{
		Data:        data,
		ContentType: ContentType,
		Key:         srcKey,
		Recorded:    opts.Now(),
		Patient:     "Patient/" + patient.id,
	})
	res.Asserted = time.UnixMicro(d.bundle.GetTimestamp().GetValueUs())
	res.OrderedByTime = true
	for _, k := range d.replaced() {
		res.Replaces = append(res.Replaces, bundle.ProvenanceID(Mapping, append(k, patient.id)))
	}
	return res, nil
}

// restrictedOf reports whether the document is restricted or very
// restricted (Composition.confidentiality R or V): every resource is then
// labelled R, as a CDA document's confidentialityCode labels them.
func restrictedOf(c *comppb.Composition) bool {
	switch c.GetConfidentiality().GetValue() {
	case vspb.V3ConfidentialityClassificationValueSet_R, vspb.V3ConfidentialityClassificationValueSet_V:
		return true
	}
	return false
}

// replaced are the document keys (Bundle.identifier) of the versions the
// Composition says it replaces (relatesTo replaces with a
// targetIdentifier). A targetReference names a Composition, which holds a
// set rather than a version: the set's earlier versions are replaced
// anyway (bundle.Result.OrderedByTime).
func (d *doc) replaced() [][]string {
	var out [][]string
	for _, rt := range d.comp.GetRelatesTo() {
		if rt.GetCode().GetValue() != cpb.DocumentRelationshipTypeCode_REPLACES {
			continue
		}
		if k := identifierKey(rt.GetTarget().GetIdentifier()); k != nil {
			out = append(out, k)
		}
	}
	return out
}

// documentReference indexes this version of the document (R4
// documents.html#content: a document is found and exchanged through its
// DocumentReference), its content the source Binary that bundle.Finish
// adds. Its masterIdentifier is the Bundle.identifier, which names the
// version; each version has its own, and one it replaces is named by
// relatesTo and becomes superseded when stored.
func (d *doc) documentReference(srcKey []string) *drpb.DocumentReference {
	// its own copy: the Bundle's resources share no element that a later
	// step (identity resolution) may rewrite in place
	c := proto.Clone(d.comp).(*comppb.Composition)
	dr := &drpb.DocumentReference{
		Id:               &dtpb.Id{Value: docRefID(srcKey)},
		MasterIdentifier: proto.Clone(d.bundle.GetIdentifier()).(*dtpb.Identifier),
		Status:           &drpb.DocumentReference_StatusCode{Value: cpb.DocumentReferenceStatusCode_CURRENT},
		Type:             c.GetType(),
		Category:         c.GetCategory(),
		Subject:          c.GetSubject(),
		Date:             proto.Clone(d.bundle.GetTimestamp()).(*dtpb.Instant),
		Author:           c.GetAuthor(),
		Custodian:        c.GetCustodian(),
		Description:      c.GetTitle(),
	}
	if c.GetIdentifier() != nil {
		dr.Identifier = []*dtpb.Identifier{c.GetIdentifier()}
	}
	if s := c.GetStatus(); s != nil {
		dr.DocStatus = &drpb.DocumentReference_DocStatusCode{Value: s.GetValue()}
	}
	patient := d.entries[d.subject].id
	for _, k := range d.replaced() {
		dr.RelatesTo = append(dr.RelatesTo, &drpb.DocumentReference_RelatesTo{
			Code:   &drpb.DocumentReference_RelatesTo_CodeType{Value: cpb.DocumentRelationshipTypeCode_REPLACES},
			Target: resource.Ref("DocumentReference", docRefID(append(k, patient))),
		})
	}
	if cf := c.GetConfidentiality(); cf != nil {
		dr.SecurityLabel = []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{{
			System: &dtpb.Uri{Value: terminology.V3Confidentiality}, Code: &dtpb.Code{Value: cf.GetValue().String()}}}}}
	}
	dr.Content = []*drpb.DocumentReference_Content{{Attachment: &dtpb.Attachment{
		ContentType: &dtpb.Attachment_ContentTypeCode{Value: ContentType},
		Url:         &dtpb.Url{Value: "Binary/" + bundle.ID(append([]string{"source", Mapping.Name}, srcKey...)...)},
		Title:       c.GetTitle(),
	}}}
	ctx := &drpb.DocumentReference_Context{}
	if c.GetEncounter() != nil {
		ctx.Encounter = []*dtpb.Reference{c.GetEncounter()}
	}
	for _, ev := range c.GetEvent() {
		ctx.Event = append(ctx.Event, ev.GetCode()...)
		if ctx.Period == nil {
			ctx.Period = ev.GetPeriod()
		}
	}
	if ctx.Encounter != nil || ctx.Event != nil || ctx.Period != nil {
		dr.Context = ctx
	}
	return dr
}

// docRefID is the id of the DocumentReference of the version srcKey
// names.
func docRefID(srcKey []string) string {
	return bundle.ID(append([]string{"DocumentReference", Mapping.Name}, srcKey...)...)
}
