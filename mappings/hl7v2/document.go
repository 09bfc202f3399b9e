package hl7v2

import (
	"bytes"
	"encoding/hex"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/internal/b64"
)

// CDAContentType is the attachment type of an embedded CDA document.
const CDAContentType = "application/hl7-cda+xml"

// docBuilder collects an MDM message's TXA and the OBX segments that
// carry the document: text lines (TX, FT, ST) become one text/plain
// attachment, each encapsulated-data value (ED) an attachment of its own.
type docBuilder struct {
	c     *conv
	txa   *er7.Segment
	doc   *drpb.DocumentReference
	lines []string
	parts []*drpb.DocumentReference_Content
	err   error
	// deleted: the message deletes the document (deletion.go), which is
	// named, not written
	deleted bool
}

var txaMapped = []int{1, 2, 3, 4, 5, 6, 9, 12, 13, 17, 18, 19, 22}

// startDocument maps TXA (HL7 v2.5 section 9.6.1) to a DocumentReference.
func (c *conv) startDocument(txa *er7.Segment) *docBuilder {
	if c.deleting {
		return c.startDeletion(txa)
	}
	d := &docBuilder{c: c, txa: txa}
	doc := &drpb.DocumentReference{
		Status:  &drpb.DocumentReference_StatusCode{Value: availability(text(txa.Field(19)))},
		Subject: c.subject(),
		Type:    c.tableConcept(txa.Field(2), "0270"),
	}
	if ds, ok := completion[strings.ToUpper(text(txa.Field(17)))]; ok {
		doc.DocStatus = &drpb.DocumentReference_DocStatusCode{Value: ds}
	}
	for _, f := range []int{6, 4} {
		if t, ok := c.dtm(txa, f); ok && doc.Date == nil {
			doc.Date = t.instant()
		}
	}
	for _, f := range []int{5, 9} {
		for r := range txa.Field(f).Repetitions() {
			if ref := c.practitioner(r); ref != nil && !hasRef(doc.Author, ref) {
				doc.Author = append(doc.Author, ref)
			}
		}
	}
	doc.Authenticator = c.practitioner(txa.Field(22))
	doc.MasterIdentifier = c.entityID(txa.Field(12))
	doc.Id = &dtpb.Id{Value: c.documentID(doc.MasterIdentifier)}
	if parent := c.entityID(txa.Field(13)); parent != nil && c.event == "T10" {
		doc.RelatesTo = []*drpb.DocumentReference_RelatesTo{{
			Code:   &drpb.DocumentReference_RelatesTo_CodeType{Value: cpb.DocumentRelationshipTypeCode_REPLACES},
			Target: resource.Ref("DocumentReference", c.documentID(parent)),
		}}
	}
	if enc := c.encounterRef(); enc != nil {
		doc.Context = &drpb.DocumentReference_Context{Encounter: []*dtpb.Reference{enc}}
	}
	d.doc = doc
	c.unmapped(txa, txaMapped...)
	return d
}

// startDeletion reads the TXA of an MDM that deletes its document: the
// document is the one TXA-12 names (HL7 v2.5 section 9.5.11: the unique
// document number identifies the document cancelled), under the id its
// original notification gave it.
func (c *conv) startDeletion(txa *er7.Segment) *docBuilder {
	d := &docBuilder{c: c, txa: txa, deleted: true, doc: &drpb.DocumentReference{}}
	d.doc.MasterIdentifier = c.entityID(txa.Field(12))
	if d.doc.MasterIdentifier == nil {
		loc := txa.Loc(12)
		d.err = &er7.Error{Loc: loc, Offset: -1, Condition: er7.RequiredFieldMissing,
			Reason: "a document deletion names the document it deletes (TXA-12, unique document number)"}
	}
	d.doc.Id = &dtpb.Id{Value: c.documentID(d.doc.MasterIdentifier)}
	c.deletedLabels(txa)
	c.unmapped(txa, txaMapped...)
	return d
}

func hasRef(refs []*dtpb.Reference, r *dtpb.Reference) bool {
	for _, x := range refs {
		if resource.RefString(x) == resource.RefString(r) {
			return true
		}
	}
	return false
}

// entityID reads an EI (id^namespace^universal id^type) as an Identifier.
func (c *conv) entityID(v er7.Value) *dtpb.Identifier {
	return c.identifier(text(v.Comp(1)), hdOf(text(v.Comp(2)), text(v.Comp(3)), text(v.Comp(4))), "")
}

func (c *conv) documentID(id *dtpb.Identifier) string {
	if id == nil {
		return c.b.ID("DocumentReference", c.scope, "message", c.h.ControlID)
	}
	key := id.GetSystem().GetValue()
	if key == "" {
		key = c.scope + "\x1f" + id.GetAssigner().GetDisplay().GetValue()
	}
	return c.b.ID("DocumentReference", key, id.Value.Value)
}

// availability maps TXA-19 (HL7 table 0273) to DocumentReference.status.
func availability(code string) cpb.DocumentReferenceStatusCode_Value {
	switch strings.ToUpper(code) {
	case "CA":
		return cpb.DocumentReferenceStatusCode_ENTERED_IN_ERROR
	case "OB":
		return cpb.DocumentReferenceStatusCode_SUPERSEDED
	}
	return cpb.DocumentReferenceStatusCode_CURRENT
}

// completion maps TXA-17 (HL7 table 0271) to docStatus.
var completion = map[string]cpb.CompositionStatusCode_Value{
	"AU": cpb.CompositionStatusCode_FINAL, "LA": cpb.CompositionStatusCode_FINAL, "DO": cpb.CompositionStatusCode_FINAL,
	"IP": cpb.CompositionStatusCode_PRELIMINARY, "IN": cpb.CompositionStatusCode_PRELIMINARY,
	"PA": cpb.CompositionStatusCode_PRELIMINARY, "DI": cpb.CompositionStatusCode_PRELIMINARY,
}

// add takes one OBX of the document.
func (d *docBuilder) add(obx *er7.Segment) {
	if d == nil || d.err != nil {
		return
	}
	if d.deleted {
		// only a CDA document it carries says more of what is deleted
		if strings.EqualFold(text(obx.Field(2)), "ED") {
			for r := range obx.Field(5).Repetitions() {
				d.encapsulated(obx, r)
			}
		}
		d.c.unmapped(obx, 1, 2, 3, 4, 5, 11)
		return
	}
	switch typ := strings.ToUpper(text(obx.Field(2))); typ {
	case "TX", "FT", "ST", "":
		for r := range obx.Field(5).Repetitions() {
			d.lines = append(d.lines, r.String())
		}
	case "ED":
		for r := range obx.Field(5).Repetitions() {
			d.encapsulated(obx, r)
		}
	case "RP":
		if u := text(obx.Field(5).Comp(1)); strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			loc := obx.Loc(5)
			loc.Component = 3
			d.parts = append(d.parts, &drpb.DocumentReference_Content{Attachment: &dtpb.Attachment{
				Url: &dtpb.Url{Value: u}, ContentType: d.c.contentType(loc, text(obx.Field(5).Comp(3)), text(obx.Field(5).Comp(4))),
			}})
		} else {
			d.c.warn(obx, 5, "reference pointer that is not a URL not mapped")
		}
	default:
		d.c.warn(obx, 2, "value type not mapped in a document")
	}
	d.c.unmapped(obx, 1, 2, 3, 4, 5, 11)
}

// encapsulated decodes an ED value: source^type^subtype^encoding^data.
func (d *docBuilder) encapsulated(obx *er7.Segment, v er7.Value) {
	data := v.Comp(5).String()
	loc, typeLoc := obx.Loc(5), obx.Loc(5)
	loc.Component, typeLoc.Component = 5, 2
	if strings.TrimSpace(data) == "" {
		if d.deleted {
			return
		}
		d.c.b.Warn(loc.String(), "encapsulated data without content")
		d.parts = append(d.parts, &drpb.DocumentReference_Content{Attachment: &dtpb.Attachment{
			ContentType: d.c.contentType(typeLoc, text(v.Comp(2)), text(v.Comp(3))),
		}})
		return
	}
	raw, err := decodeED(text(v.Comp(4)), data)
	if err != nil {
		d.err = &er7.Error{Loc: loc, Offset: -1, Condition: er7.DataTypeError, Reason: "encapsulated data does not match its encoding (OBX-5.4)"}
		return
	}
	if d.deleted {
		if isCDA(raw) {
			d.c.deletedCDA(obx, raw)
		}
		return
	}
	var ct *dtpb.Attachment_ContentTypeCode
	if isCDA(raw) {
		ct = &dtpb.Attachment_ContentTypeCode{Value: CDAContentType}
		d.c.embeddedCDA(obx, raw, d.doc)
	} else {
		ct = d.c.contentType(typeLoc, text(v.Comp(2)), text(v.Comp(3)))
	}
	d.parts = append(d.parts, &drpb.DocumentReference_Content{Attachment: &dtpb.Attachment{ContentType: ct, Data: &dtpb.Base64Binary{Value: raw}}})
}

// decodeED decodes ED data by its encoding (HL7 table 0299).
func decodeED(encoding, data string) ([]byte, error) {
	switch strings.ToUpper(encoding) {
	case "BASE64":
		return b64.Decode(data)
	case "HEX":
		return hex.DecodeString(strings.TrimSpace(data))
	}
	return []byte(data), nil // "A": ASCII text as it is
}

// contentType is the attachment type of data of type typ and subtype
// sub (mediatype.go), warning at loc when they name no format.
func (c *conv) contentType(loc er7.Location, typ, sub string) *dtpb.Attachment_ContentTypeCode {
	ct, ok := mediaType(typ, sub)
	if !ok {
		c.b.Warn(loc.String(), "type of data and subtype name no known media type: application/octet-stream")
	}
	return &dtpb.Attachment_ContentTypeCode{Value: ct}
}

// isCDA: an XML document whose root is ClinicalDocument.
func isCDA(b []byte) bool {
	head := b
	if len(head) > 4096 {
		head = head[:4096]
	}
	return bytes.Contains(head, []byte("<ClinicalDocument")) || bytes.Contains(head, []byte(":ClinicalDocument"))
}

// finish puts the DocumentReference. TXA-18 V or R (very restricted,
// restricted) labels it R; a psychiatric document type (PC, PH) PSY.
func (d *docBuilder) finish() error {
	if d.err != nil {
		return d.err
	}
	doc := d.doc
	if d.deleted {
		d.c.deletes = append(d.c.deletes, "DocumentReference/"+doc.GetId().GetValue())
		return nil
	}
	if t := strings.TrimSpace(strings.Join(d.lines, "\n")); t != "" {
		doc.Content = append(doc.Content, &drpb.DocumentReference_Content{Attachment: &dtpb.Attachment{
			ContentType: &dtpb.Attachment_ContentTypeCode{Value: "text/plain"},
			Data:        &dtpb.Base64Binary{Value: []byte(t)},
		}})
	}
	doc.Content = append(doc.Content, d.parts...)
	if len(doc.Content) == 0 { // a notification (T01) without the content
		doc.Content = []*drpb.DocumentReference_Content{{Attachment: &dtpb.Attachment{Title: d.c.str("document not transmitted")}}}
	}
	if d.txa != nil {
		switch strings.ToUpper(text(d.txa.Field(18))) {
		case "V", "R":
			category.LabelSensitive(doc, category.R)
		}
		switch strings.ToUpper(text(d.txa.Field(2).Comp(1))) {
		case "PC", "PH":
			category.LabelSensitive(doc, category.PSY)
		}
	}
	d.c.put(doc)
	d.c.documents = append(d.c.documents, doc)
	return nil
}

// resultDocument maps an OBX of a result message whose value is
// encapsulated data (ED): a document, not a measurement. The CI-SIS volet
// "Transmission de documents CDA en HL7 v2" sends a laboratory report so
// (ORU^R01: OBX-2 ED, OBX-3 the document's LOINC type, OBX-5 the CDA R2
// document in Base64): it becomes a DocumentReference related to the
// report of its OBR, and a CDA document goes through the CDA mapping as an
// MDM's does. Its id comes from the report and OBX-3/OBX-4, so that the
// report sent again updates it.
func (c *conv) resultDocument(obx *er7.Segment) error {
	code := c.concept(obx.Field(3))
	dr := &drpb.DocumentReference{
		Status:  &drpb.DocumentReference_StatusCode{Value: cpb.DocumentReferenceStatusCode_CURRENT},
		Subject: c.subject(),
		Type:    code,
	}
	key := c.reportKey
	if c.report == nil {
		key = c.encKey
	}
	dr.Id = &dtpb.Id{Value: c.b.ID("DocumentReference", c.patientID, key, codeKey(code), text(obx.Field(4)))}
	if t, ok := c.dtm(obx, 14); ok {
		dr.Date = t.instant()
	} else if c.report != nil {
		dr.Date = c.report.GetIssued()
	}
	if enc := c.encounterRef(); enc != nil || c.report != nil {
		dr.Context = &drpb.DocumentReference_Context{}
		if enc != nil {
			dr.Context.Encounter = []*dtpb.Reference{enc}
		}
		if c.report != nil {
			dr.Context.Related = []*dtpb.Reference{resource.Ref("DiagnosticReport", c.report.GetId().GetValue())}
		}
	}
	// OBX-11 D deletes the document (deletion.go): named, not written
	d := &docBuilder{c: c, doc: dr, deleted: deletes(obx)}
	for r := range obx.Field(5).Repetitions() {
		d.encapsulated(obx, r)
	}
	c.unmapped(obx, 1, 2, 3, 4, 5, 11, 14)
	return d.finish()
}

// carriesDocument reports whether an OBX's value is encapsulated data
// that holds something (OBX-2 ED, OBX-5.5): an ED without its data, as
// some senders type a number, stays an observation.
func carriesDocument(obx *er7.Segment) bool {
	if !strings.EqualFold(text(obx.Field(2)), "ED") {
		return false
	}
	for r := range obx.Field(5).Repetitions() {
		if strings.TrimSpace(r.Comp(5).String()) != "" {
			return true
		}
	}
	return false
}

// metaDMPMSS is the coding system of the OBX that carry, beside a
// document, what the CI-SIS volet "Transmission de documents CDA en HL7
// v2" calls its DMP and MSSanté metadata (masking, visibility, recipients,
// acknowledgements, the body of the mail): instructions about the
// document, not observations of the patient.
const metaDMPMSS = "METADMPMSS"

// documentMeta takes an OBX of that metadata, reporting whether it was
// one. MASQUE_PS Y (the document is masked from health professionals)
// labels the documents the message carries, and what they map to, R; the
// rest is reported as not mapped.
func (c *conv) documentMeta(obx *er7.Segment) bool {
	if !isMeta(obx) {
		return false
	}
	if strings.EqualFold(text(obx.Field(3).Comp(1)), "MASQUE_PS") {
		c.masked = c.masked || strings.EqualFold(text(obx.Field(5).Comp(1)), "Y")
		c.unmapped(obx, 1, 2, 3, 5, 11)
		return true
	}
	c.warn(obx, 3, "DMP and MSSanté transmission metadata not mapped")
	return true
}

// isMeta reports whether an OBX carries the volet's DMP and MSSanté
// metadata (OBX-3 coded in MetaDMPMSS).
func isMeta(obx *er7.Segment) bool {
	return strings.EqualFold(text(obx.Field(3).Comp(3)), metaDMPMSS)
}
