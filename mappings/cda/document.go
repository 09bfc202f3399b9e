package cda

import (
	"path"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	locpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/location_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/internal/b64"
	"github.com/relais-health/relais/mappings/terminology"
)

const (
	v3ParticipationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	listEmptyReason     = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
	oidActCode          = "2.16.840.1.113883.5.4"
)

// encounter maps componentOf/encompassingEncounter, with its discharge
// disposition, participants, location and service provider.
func (c *conv) encounter() {
	ee := c.root.path("componentOf", "encompassingEncounter")
	if !ee.ok() {
		return
	}
	e := &encpb.Encounter{
		Id:         &dtpb.Id{Value: c.entryID("Encounter", ee)},
		Identifier: identifiers(ee),
		Subject:    c.patientRef(),
		Period:     c.period(ee.child("effectiveTime")),
		ClassValue: c.encounterClass(ee.child("code")),
	}
	c.encounterID = e.Id.Value
	if ee.child("code").attr("codeSystem") != oidActCode {
		if cc := c.concept(ee.child("code")); cc != nil {
			e.Type = append(e.Type, cc)
		}
	}
	e.Status = &encpb.Encounter_StatusCode{Value: cpb.EncounterStatusCode_UNKNOWN}
	if e.Period != nil && e.Period.End != nil {
		e.Status.Value = cpb.EncounterStatusCode_FINISHED
	}
	if dd := c.concept(ee.child("dischargeDispositionCode")); dd != nil {
		e.Hospitalization = &encpb.Encounter_Hospitalization{DischargeDisposition: dd}
	}
	if as := c.concept(ee.sdtc("admissionReferralSourceCode")); as != nil {
		c.hospitalization(e).AdmitSource = as
	}
	c.encounterParticipants(e, ee)
	if hf := ee.path("location", "healthCareFacility"); hf.ok() {
		if loc := c.location(hf); loc != nil {
			e.Location = append(e.Location, &encpb.Encounter_Location{Location: loc})
		}
		if org := hf.child("serviceProviderOrganization"); org.ok() {
			e.ServiceProvider = c.organization(org)
		}
	}
	c.put(e, category.ADM)
}

func (c *conv) hospitalization(e *encpb.Encounter) *encpb.Encounter_Hospitalization {
	if e.Hospitalization == nil {
		e.Hospitalization = &encpb.Encounter_Hospitalization{}
	}
	return e.Hospitalization
}

// encounterClass takes an ActCode encounter code when there is one, else
// the documented service event's (CI-SIS puts IMP there), else IMP for
// discharge documents; otherwise the class is unknown.
func (c *conv) encounterClass(cd el) *dtpb.Coding {
	for _, cand := range []el{cd, c.root.path("documentationOf", "serviceEvent", "code")} {
		if cand.attr("codeSystem") == oidActCode && cand.attr("code") != "" {
			return coding(cand)
		}
	}
	switch c.root.child("code").attr("code") {
	case "18842-5", "11490-0", "18761-7":
		return &dtpb.Coding{System: uri(terminology.V3ActCode), Code: &dtpb.Code{Value: "IMP"}, Display: str("inpatient encounter")}
	}
	return &dtpb.Coding{System: uri(terminology.V3NullFlavor), Code: &dtpb.Code{Value: "UNK"}, Display: str("unknown")}
}

func (c *conv) encounterParticipants(e *encpb.Encounter, ee el) {
	add := func(typ string, role el, p *dtpb.Period) {
		if ref := c.party(role); ref != nil {
			e.Participant = append(e.Participant, &encpb.Encounter_Participant{
				Type:       []*dtpb.CodeableConcept{{Coding: []*dtpb.Coding{{System: uri(v3ParticipationType), Code: &dtpb.Code{Value: typ}}}}},
				Individual: ref,
				Period:     p,
			})
		}
	}
	ee.each("encounterParticipant", func(ep el) {
		typ := ep.attr("typeCode")
		if typ == "" {
			typ = "PART"
		}
		add(typ, ep.child("assignedEntity"), c.period(ep.child("time")))
	})
	if rp := ee.path("responsibleParty", "assignedEntity"); rp.ok() {
		add("RESP", rp, nil)
	}
}

func (c *conv) location(hf el) *dtpb.Reference {
	place := hf.child("location")
	name := place.child("name").text()
	typ := c.concept(hf.child("code"))
	addr := address(place.child("addr"))
	if name == "" && typ == nil && addr == nil {
		return nil
	}
	l := &locpb.Location{Name: str(name), Address: addr, Identifier: identifiers(hf)}
	if typ != nil {
		l.Type = append(l.Type, typ)
	}
	l.Id = &dtpb.Id{Value: c.entryID("Location", hf)}
	return c.putOnce(l, category.ADM)
}

// composition maps the header to the Composition; sections are added by the
// body mapping.
func (c *conv) composition() *comppb.Composition {
	comp := &comppb.Composition{
		Id:         &dtpb.Id{Value: bundle.ID(append([]string{"Composition"}, c.setKey...)...)},
		Identifier: c.setIdentifier(),
		Status:     &comppb.Composition_StatusCode{Value: cpb.CompositionStatusCode_FINAL},
		Type:       c.concept(c.root.child("code")),
		Subject:    c.patientRef(),
		Encounter:  c.encounterRef(),
		Date:       c.docDate,
		Author:     c.authors,
		Title:      str(c.root.child("title").text()),
	}
	if comp.Type == nil {
		comp.Type = textConcept("Clinical document")
	}
	if comp.Date == nil {
		comp.Date = ts{t: c.opts.Now().UTC(), prec: dtpb.DateTime_SECOND}.dateTime()
	}
	if comp.Title == nil {
		comp.Title = str(firstNonEmpty(comp.Type.GetText().GetValue(), displayOf(comp.Type), "Clinical document"))
	}
	if l := c.root.child("languageCode").attr("code"); l != "" {
		comp.Language = &dtpb.Code{Value: code(l)}
	}
	if cf, ok := confidentiality[c.root.child("confidentialityCode").attr("code")]; ok {
		comp.Confidentiality = &comppb.Composition_ConfidentialityCode{Value: cf}
	}
	if org := c.root.path("custodian", "assignedCustodian", "representedCustodianOrganization"); org.ok() {
		comp.Custodian = c.organization(org)
	}
	if len(comp.Author) == 0 {
		comp.Author = []*dtpb.Reference{firstRef(comp.Custodian, &dtpb.Reference{Display: str("unknown author")})}
	}
	if v := c.root.child("versionNumber").attr("value"); v != "" {
		comp.Extension = append(comp.Extension, &dtpb.Extension{Url: uri(ExtVersionNumber),
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: str(v)}}})
	}
	c.attesters(comp)
	c.relatesTo(comp)
	c.events(comp)
	return comp
}

// ExtVersionNumber is the R4 core extension that carries, on the
// Composition, the versionNumber of the document version it holds (CDA R2
// section 4.2.1.8).
const ExtVersionNumber = "http://hl7.org/fhir/StructureDefinition/composition-clinicaldocument-versionNumber"

// setIdentifier is the Composition's identifier: R4 defines
// Composition.identifier as "a version-independent identifier for the
// Composition", the setId of CDA (composition-definitions.html
// #Composition.identifier; CDA R2 section 4.2.1.7). The set has one
// Composition, and each version's own id is its DocumentReference's
// masterIdentifier. A document without a setId is a set of its own.
func (c *conv) setIdentifier() *dtpb.Identifier {
	if set := c.root.child("setId"); set.ok() && set.attr("nullFlavor") == "" {
		if id := identifier(set); id != nil {
			return id
		}
	}
	return identifier(c.root.child("id"))
}

var confidentiality = map[string]vspb.V3ConfidentialityClassificationValueSet_Value{
	"U": vspb.V3ConfidentialityClassificationValueSet_U, "L": vspb.V3ConfidentialityClassificationValueSet_L,
	"M": vspb.V3ConfidentialityClassificationValueSet_M, "N": vspb.V3ConfidentialityClassificationValueSet_N,
	"R": vspb.V3ConfidentialityClassificationValueSet_R, "V": vspb.V3ConfidentialityClassificationValueSet_V,
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func displayOf(cc *dtpb.CodeableConcept) string {
	for _, k := range cc.GetCoding() {
		if d := k.GetDisplay().GetValue(); d != "" {
			return d
		}
	}
	return ""
}

func firstRef(refs ...*dtpb.Reference) *dtpb.Reference {
	for _, r := range refs {
		if r != nil {
			return r
		}
	}
	return nil
}

func (c *conv) attesters(comp *comppb.Composition) {
	add := func(mode cpb.CompositionAttestationModeCode_Value, a el) {
		at := &comppb.Composition_Attester{
			Mode:  &comppb.Composition_Attester_ModeCode{Value: mode},
			Time:  c.dateTime(a.child("time")),
			Party: c.party(a.child("assignedEntity")),
		}
		comp.Attester = append(comp.Attester, at)
	}
	c.root.each("legalAuthenticator", func(a el) { add(cpb.CompositionAttestationModeCode_LEGAL, a) })
	c.root.each("authenticator", func(a el) { add(cpb.CompositionAttestationModeCode_PROFESSIONAL, a) })
}

func (c *conv) relatesTo(comp *comppb.Composition) {
	c.root.each("relatedDocument", func(rd el) {
		var code cpb.DocumentRelationshipTypeCode_Value
		switch rd.attr("typeCode") {
		case "RPLC":
			code = cpb.DocumentRelationshipTypeCode_REPLACES
		case "APND":
			code = cpb.DocumentRelationshipTypeCode_APPENDS
		case "XFRM":
			code = cpb.DocumentRelationshipTypeCode_TRANSFORMS
		default:
			return
		}
		pid := rd.path("parentDocument", "id")
		id := identifier(pid)
		if id == nil {
			return
		}
		if k := idKey(pid); code == cpb.DocumentRelationshipTypeCode_REPLACES && k != nil && pid.attr("nullFlavor") == "" {
			c.replaced = append(c.replaced, k)
		}
		comp.RelatesTo = append(comp.RelatesTo, &comppb.Composition_RelatesTo{
			Code:   &comppb.Composition_RelatesTo_CodeType{Value: code},
			Target: &comppb.Composition_RelatesTo_TargetX{Choice: &comppb.Composition_RelatesTo_TargetX_Identifier{Identifier: id}},
		})
	})
}

func (c *conv) events(comp *comppb.Composition) {
	c.root.each("documentationOf", func(d el) {
		se := d.child("serviceEvent")
		if !se.ok() {
			return
		}
		ev := &comppb.Composition_Event{Period: c.period(se.child("effectiveTime"))}
		if cc := c.concept(se.child("code")); cc != nil {
			ev.Code = append(ev.Code, cc)
		}
		se.each("performer", func(p el) {
			if ref := c.party(p.child("assignedEntity")); ref != nil {
				ev.Detail = append(ev.Detail, ref)
			}
		})
		if ev.Period != nil || ev.Code != nil || ev.Detail != nil {
			comp.Event = append(comp.Event, ev)
		}
	})
}

// sourceBinaryID is the id bundle.Builder.Finish gives the source Binary for
// this document's key (see bundle.Finish); the test suite checks they agree.
func (c *conv) sourceBinaryID() string {
	return bundle.ID(append([]string{"source", Mapping.Name}, c.docKey...)...)
}

// documentReference indexes the original CDA document, pointing at the
// source Binary that bundle.Finish adds.
func (c *conv) documentReference() {
	dr := c.docRef("original")
	binID := c.sourceBinaryID()
	att := &dtpb.Attachment{
		ContentType: &dtpb.Attachment_ContentTypeCode{Value: ContentType},
		Url:         &dtpb.Url{Value: "Binary/" + binID},
		Title:       str(c.root.child("title").text()),
	}
	dr.Content = append(dr.Content, &drpb.DocumentReference_Content{
		Attachment: att,
		Format:     &dtpb.Coding{System: uri("urn:oid:1.3.6.1.4.1.19376.1.2.3"), Code: &dtpb.Code{Value: "urn:hl7-org:sdwg:ccda-structuredBody:2.1"}},
	})
	if c.root.path("component", "nonXMLBody").ok() {
		dr.Content[0].Format.Code.Value = "urn:hl7-org:sdwg:ccda-nonXMLBody:2.1"
	}
	c.put(dr, category.CLIN)
}

// docRefID is the id of the DocumentReference of kind for the document
// key: one per version of a document, not per set, since
// DocumentReference.masterIdentifier identifies one version
// (R4 documentreference-definitions.html#DocumentReference.masterIdentifier)
// and a replaced version stays, superseded, beside the one replacing it
// (IHE ITI TF-3 4.2.4: a replaced DocumentEntry is Deprecated).
func docRefID(kind string, key []string) string {
	return bundle.ID(append([]string{"DocumentReference", kind}, key...)...)
}

// docRef starts a DocumentReference with the document's header metadata.
func (c *conv) docRef(kind string) *drpb.DocumentReference {
	dr := &drpb.DocumentReference{
		Id:          &dtpb.Id{Value: docRefID(kind, c.docKey)},
		Status:      &drpb.DocumentReference_StatusCode{Value: cpb.DocumentReferenceStatusCode_CURRENT},
		DocStatus:   &drpb.DocumentReference_DocStatusCode{Value: cpb.CompositionStatusCode_FINAL},
		Type:        c.concept(c.root.child("code")),
		Subject:     c.patientRef(),
		Author:      c.authors,
		Description: str(c.root.child("title").text()),
	}
	if kind == "original" {
		dr.MasterIdentifier = identifier(c.root.child("id"))
		for _, k := range c.replaced {
			dr.RelatesTo = append(dr.RelatesTo, &drpb.DocumentReference_RelatesTo{
				Code:   &drpb.DocumentReference_RelatesTo_CodeType{Value: cpb.DocumentRelationshipTypeCode_REPLACES},
				Target: resource.Ref("DocumentReference", docRefID(kind, k)),
			})
		}
	}
	if v, ok := c.ts(c.root.child("effectiveTime")); ok {
		dr.Date = v.instant()
	}
	if org := c.root.path("custodian", "assignedCustodian", "representedCustodianOrganization"); org.ok() {
		dr.Custodian = c.organization(org)
	}
	if cf := c.root.child("confidentialityCode"); cf.attr("code") != "" {
		dr.SecurityLabel = append(dr.SecurityLabel, &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
			System: uri(terminology.V3Confidentiality), Code: &dtpb.Code{Value: code(cf.attr("code"))}}}})
	}
	ctx := &drpb.DocumentReference_Context{}
	if r := c.encounterRef(); r != nil {
		ctx.Encounter = append(ctx.Encounter, r)
	}
	if se := c.root.path("documentationOf", "serviceEvent"); se.ok() {
		ctx.Period = c.period(se.child("effectiveTime"))
		if cc := c.concept(se.child("code")); cc != nil {
			ctx.Event = append(ctx.Event, cc)
		}
	}
	if ctx.Encounter != nil || ctx.Period != nil || ctx.Event != nil {
		dr.Context = ctx
	}
	return dr
}

// nonXMLBody maps an unstructured body (text, base64 PDF or a reference to
// an external file) to a DocumentReference holding it as an attachment, and
// gives the Composition one section pointing at it.
func (c *conv) nonXMLBody(comp *comppb.Composition, body el) {
	t := body.child("text")
	att := &dtpb.Attachment{Title: str(c.root.child("title").text())}
	mt := strings.TrimSpace(t.attr("mediaType"))
	ref := strings.TrimSpace(t.child("reference").attr("value"))
	if mt == "" {
		mt = mediaTypeOf(ref) // CDA's default is text/plain; a referenced file's extension says better
	}
	att.ContentType = &dtpb.Attachment_ContentTypeCode{Value: mt}
	if ref != "" {
		att.Url = &dtpb.Url{Value: ref}
	} else if data, ok := c.bodyData(t); ok {
		att.Data = &dtpb.Base64Binary{Value: data}
	} else {
		c.warn(t, "nonXMLBody content could not be decoded")
		return
	}
	dr := c.docRef("body")
	dr.Content = []*drpb.DocumentReference_Content{{Attachment: att}}
	dr.RelatesTo = []*drpb.DocumentReference_RelatesTo{{
		Code:   &drpb.DocumentReference_RelatesTo_CodeType{Value: cpb.DocumentRelationshipTypeCode_TRANSFORMS},
		Target: resource.Ref("DocumentReference", docRefID("original", c.docKey)),
	}}
	drRef := c.put(dr, category.CLIN)
	comp.Section = append(comp.Section, &comppb.Composition_Section{
		Title: comp.Title,
		Text:  textNarrative("Unstructured document: see the attached "+mt+" content.", cpb.NarrativeStatusCode_GENERATED),
		Entry: []*dtpb.Reference{drRef},
	})
}

// bodyData returns the bytes of an ED: base64-decoded when
// representation="B64", else its text.
func (c *conv) bodyData(t el) ([]byte, bool) {
	raw := t.text()
	if strings.EqualFold(t.attr("representation"), "B64") {
		data, err := b64.Decode(t.rawText())
		return data, err == nil && len(data) > 0
	}
	if t.attr("compression") != "" {
		return nil, false
	}
	return []byte(raw), raw != ""
}

// mediaTypeOf guesses the media type of a referenced file from its
// extension; text/plain (the CDA default) otherwise.
func mediaTypeOf(ref string) string {
	ext := strings.ToLower(path.Ext(strings.SplitN(ref, "?", 2)[0]))
	switch ext {
	case ".pdf":
		return "application/pdf"
	case ".rtf":
		return "text/rtf"
	case ".html", ".htm":
		return "text/html"
	case ".xml":
		return "text/xml"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".tif", ".tiff":
		return "image/tiff"
	}
	return "text/plain"
}
