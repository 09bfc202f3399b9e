package hl7v2

import (
	"strings"

	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Document deletions. A document is deleted, with no replacement, when it
// was sent in error or about the wrong patient (HL7 v2.5 section 9.2.1.2,
// availability status "canceled": "removed from a patient's record with
// no replacement"). Senders say so in several ways, all read here:
//
//   - an MDM T11, document cancel notification (HL7 v2.5 section 9.5.11),
//     naming the document by TXA-12 and carrying no content;
//   - the ANS CI-SIS volet "Transmission de documents CDA en HL7 v2"
//     (évènements déclenchants; contraintes, segments ORC and OBX): an MDM
//     T04, or an ORU R01, whose OBX carrying the document has OBX-11 D
//     ("deletes the OBX record", HL7 table 0085) and whose ORC-1 is CA
//     (cancel); the message carries the deleted document, whose
//     ClinicalDocument/id names it;
//   - an MDM T04 (document status change) whose TXA-19 is CA (HL7 table
//     0273, canceled).
//
// A deletion writes nothing of the document: no DocumentReference, none
// of what its CDA document states, no report for an order it cancels. It
// names them instead (bundle.Result.Deletes), and the gateway withdraws
// what the store holds of them as it withdraws a replaced version's
// statements (gateway/ingest replace.go). The message holds the document
// it deletes (or what identifies it): its source Binary and warnings
// carry the sensitivity labels the document's own outputs would (TXA-18,
// TXA-2, MASQUE_PS, its CDA document's), and the gateway labels its
// Provenance with those of what it withdraws. A message that only deletes
// (every document it carries is deleted) states nothing of the stay
// either: no Encounter is written, so that a deletion neither creates a
// stay nor changes one. Its patient is written as every message's PID is.
//
// The volet requires ORC-1, OBX-11 and the MDM event to agree, and has the
// receiver refuse a message where they do not: an OBX-11 D or ORC-1 CA in
// an MDM that sends (T01, T02) or replaces (T10) a document, an MDM
// deletion whose ORC-1 is not CA or whose document OBX-11 is not D, an
// ORU order ORC-1 CA cancels carrying anything but the documents it
// deletes (OBX-11 D), OBX-11 D under ORC-1 NW or RO. Such a message, and
// an MDM deletion that names no document (TXA-12), is answered AE (HL7
// table 0357: 103 at the field that disagrees, 101 at TXA-12) and
// nothing of it is stored.

// deletionStatus is OBX-11 (HL7 table 0085) of a deleted OBX record, and
// cancelled ORC-1 (HL7 table 0119) and TXA-19 (HL7 table 0273) values.
const (
	deletionStatus = "D"
	cancelled      = "CA"
)

// readDeletion decides, before the visit is mapped, whether the message
// only deletes documents (c.deleting) and, for an MDM, whether its event,
// ORC-1 and OBX-11 agree.
func (c *conv) readDeletion() error {
	switch c.code {
	case "MDM":
		return c.mdmDeletion()
	case "ORU":
		n := 0
		for _, obx := range c.msg.All("OBX") {
			if isMeta(obx) {
				continue
			}
			if !carriesDocument(obx) || !deletes(obx) {
				return nil
			}
			n++
		}
		c.deleting = n > 0
	}
	return nil
}

// mdmDeletion reads the deletion an MDM may be (an MDM carries one
// document: its OBX, but for the volet's metadata, are the document's).
func (c *conv) mdmDeletion() error {
	orc, txa := c.msg.First("ORC"), c.msg.First("TXA")
	var volet *er7.Location // where the message says deletion as the volet does
	if orc != nil && strings.EqualFold(text(orc.Field(1)), cancelled) {
		l := orc.Loc(1)
		volet = &l
	}
	for _, obx := range c.msg.All("OBX") {
		if !isMeta(obx) && deletes(obx) && volet == nil {
			l := obx.Loc(11)
			volet = &l
		}
	}
	c.deleting = c.event == "T11" || volet != nil ||
		c.event == "T04" && txa != nil && strings.EqualFold(text(txa.Field(19)), cancelled)
	if !c.deleting {
		return nil
	}
	if c.event != "T04" && c.event != "T11" {
		return &er7.Error{Loc: *volet, Offset: -1, Condition: er7.TableValueNotFound,
			Reason: "a document deletion (ORC-1 CA, OBX-11 D) is sent as MDM T04 or T11, not " + c.event + " (CI-SIS volet Transmission de documents CDA en HL7 v2)"}
	}
	if orc != nil && !orc.Field(1).Empty() && !strings.EqualFold(text(orc.Field(1)), cancelled) {
		return &er7.Error{Loc: orc.Loc(1), Offset: -1, Condition: er7.TableValueNotFound,
			Reason: "ORC-1 of a document deletion is CA (CI-SIS volet Transmission de documents CDA en HL7 v2)"}
	}
	for _, obx := range c.msg.All("OBX") {
		if !isMeta(obx) && !obx.Field(11).Empty() && !deletes(obx) && volet != nil {
			return &er7.Error{Loc: obx.Loc(11), Offset: -1, Condition: er7.TableValueNotFound,
				Reason: "every OBX of a deleted document has OBX-11 D (CI-SIS volet Transmission de documents CDA en HL7 v2)"}
		}
	}
	return nil
}

// deletes reports whether an OBX says its record is deleted (OBX-11 D).
func deletes(obx *er7.Segment) bool {
	return strings.EqualFold(text(obx.Field(11)), deletionStatus)
}

// checkOrder checks an OBX of a result message against the order control
// of its order (ORC-1, c.reportOrder): CA cancels the order, which then
// carries only the documents it deletes (OBX-11 D); NW and RO send or
// replace its documents, which a deletion contradicts.
func (c *conv) checkOrder(obx *er7.Segment) error {
	deleted := carriesDocument(obx) && deletes(obx)
	switch {
	case c.reportOrder == cancelled && !deleted:
		return &er7.Error{Loc: obx.Loc(11), Offset: -1, Condition: er7.TableValueNotFound,
			Reason: "an order cancelled (ORC-1 CA) carries only the documents it deletes, with OBX-11 D (CI-SIS volet Transmission de documents CDA en HL7 v2)"}
	case deleted && (c.reportOrder == "NW" || c.reportOrder == "RO"):
		return &er7.Error{Loc: obx.Loc(11), Offset: -1, Condition: er7.TableValueNotFound,
			Reason: "a document deleted (OBX-11 D) in an order that ORC-1 " + c.reportOrder + " sends or replaces (CI-SIS volet Transmission de documents CDA en HL7 v2)"}
	}
	return nil
}

// deletionVisit reads the PV1 of a message that only deletes: it states
// nothing of the stay, but its visit number keys the ids of the documents
// a result message carried without an order (resultDocument), as
// mapEncounter keys them.
func (c *conv) deletionVisit(pv1 *er7.Segment) {
	visit, a := c.cx(pv1.Field(19))
	c.encKey = c.stayKey(pv1, visit, a)
	c.warn(pv1, 0, "a document deletion states nothing of the stay: PV1 not mapped")
}

// deletedCDA names the CDA document an OBX of a deletion carries: the
// Provenance its own mapping writes, whose id comes from the document's id
// (ClinicalDocument/id, which the volet has the receiver read), so that
// the document is found whichever way it came (posted as CDA, or carried
// in an MDM or ORU).
func (c *conv) deletedCDA(obx *er7.Segment, doc []byte) {
	if c.opts.EmbeddedCDA == nil {
		return
	}
	res, err := c.opts.EmbeddedCDA(doc)
	if err != nil || res == nil || res.Bundle == nil {
		c.b.Warn(obx.Loc(5).String(), "embedded CDA document could not be read: only the document the message names is deleted")
		return
	}
	for _, e := range res.Bundle.Entry {
		r := resource.Unwrap(e.GetResource())
		if p, ok := r.(*provpb.Provenance); ok {
			c.deletes = append(c.deletes, "Provenance/"+p.GetId().GetValue())
		}
		// the message holds the document: its source carries what the
		// document's own outputs are labelled (restricted, psychiatric...)
		c.sourceSens = append(c.sourceSens, category.SensitivityOf(r)...)
	}
}

// deletedLabels are the sensitivity labels the TXA of a deleted document
// gives it, as finish gives them to a document sent (TXA-18 V or R
// restricted; a psychiatric type, TXA-2 PC or PH): the message that
// deletes it holds what identifies it, and its source carries them.
func (c *conv) deletedLabels(txa *er7.Segment) {
	switch strings.ToUpper(text(txa.Field(18))) {
	case "V", "R":
		c.sourceSens = append(c.sourceSens, category.R)
	}
	switch strings.ToUpper(text(txa.Field(2).Comp(1))) {
	case "PC", "PH":
		c.sourceSens = append(c.sourceSens, category.PSY)
	}
}
