package cda

import (
	"fmt"
	"testing"

	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
)

// versionedLetter is a CI-SIS discharge letter (LDL-SES: LOINC 11490-0,
// templateId 1.2.250.1.213.1.1.1.29) written from the CDA R2 header: its
// own id docID, version ver of the set LDL-SET-9 (setId, versionNumber:
// CDA R2 sections 4.2.1.7 and 4.2.1.8).
func versionedLetter(docID string, ver int) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
 <realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <templateId root="1.2.250.1.213.1.1.1.1"/><templateId root="1.2.250.1.213.1.1.1.29"/>
 <id root="1.2.250.1.999.91.1" extension="%s"/>
 <code code="11490-0" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison à la sortie d'un établissement de soins"/>
 <title>Lettre de liaison à la sortie</title>
 <effectiveTime value="2026030%d120000+0100"/>
 <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
 <setId root="1.2.250.1.999.91.2" extension="LDL-SET-9"/>
 <versionNumber value="%d"/>
 <recordTarget><patientRole><id root="1.2.250.1.999.91.3" extension="IPP-91"/>
  <patient><name><given>Odile</given><family>FAURE</family></name>
   <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19480101"/></patient>
 </patientRole></recordTarget>
 <author><time value="20260305120000+0100"/><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="810000009191"/>
  <assignedPerson><name><given>Luc</given><family>MOREL</family></name></assignedPerson></assignedAuthor></author>
 <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.71.4.2.2" extension="1590009191"/>
  <name>CH de test</name></representedCustodianOrganization></assignedCustodian></custodian>
 <component><structuredBody><component><section>
  <code code="42545-4" codeSystem="2.16.840.1.113883.6.1"/><title>Synthèse médicale du séjour</title><text>RAS</text>
 </section></component></structuredBody></component>
</ClinicalDocument>
`, docID, 4+ver, ver))
}

// TestCompositionIdentifiesTheSet: FHIR R4 defines Composition.identifier
// as the version-independent identifier of the composition ("similar to
// ClinicalDocument/setId in CDA"), and the set has one Composition: each
// version of a letter gives it the setId as identifier and its own
// versionNumber (the R4 extension composition-clinicaldocument-versionNumber),
// while each version's DocumentReference.masterIdentifier is that
// version's id.
func TestCompositionIdentifiesTheSet(t *testing.T) {
	t.Parallel()
	var compID string
	for ver, docID := range map[int]string{1: "LDL-91-A", 2: "LDL-91-B"} {
		res, err := Convert(versionedLetter(docID, ver), Options{})
		if err != nil {
			t.Fatal(err)
		}
		comps := ofType[*comppb.Composition](res.Bundle)
		if len(comps) != 1 {
			t.Fatalf("version %d: %d Compositions", ver, len(comps))
		}
		comp := comps[0]
		if compID != "" && comp.Id.Value != compID {
			t.Errorf("version %d: Composition %s, the set's is %s", ver, comp.Id.Value, compID)
		}
		compID = comp.Id.Value
		if got := comp.GetIdentifier(); got.GetSystem().GetValue() != "urn:oid:1.2.250.1.999.91.2" || got.GetValue().GetValue() != "LDL-SET-9" {
			t.Errorf("version %d: Composition.identifier %v, want the setId", ver, got)
		}
		version := ""
		for _, e := range comp.Extension {
			if e.GetUrl().GetValue() == ExtVersionNumber {
				version = e.GetValue().GetStringValue().GetValue()
			}
		}
		if version != fmt.Sprint(ver) {
			t.Errorf("version %d: versionNumber extension %q", ver, version)
		}
		for _, dr := range ofType[*drpb.DocumentReference](res.Bundle) {
			if dr.MasterIdentifier != nil && dr.MasterIdentifier.GetValue().GetValue() != docID {
				t.Errorf("version %d: DocumentReference.masterIdentifier %v, want the version's id", ver, dr.MasterIdentifier)
			}
		}
	}
}
