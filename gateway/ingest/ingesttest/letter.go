package ingesttest

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Liaison is a CI-SIS discharge letter (LDL-SES: LOINC 11490-0, templateId
// 1.2.250.1.213.1.1.1.29), written from the CDA R2 header and the IHE PCC
// entries the CI-SIS volet reuses: version ver (CDA R2 4.2.1.8) of the set
// LDL-SET-42, its own id docID, created at effective (4.2.1.6), replacing
// the document parent (relatedDocument RPLC, 4.2.3.1) when not empty. Its
// "Problèmes actifs" section (LOINC 11450-4) states each discharge
// diagnosis of diags (CIM-10 codes, 2.16.840.1.113883.6.3) in an IHE PCC
// problem concern (1.3.6.1.4.1.19376.1.5.3.1.4.5.2); with meds, its
// "Traitements à la sortie" section (LOINC 10183-2) states a FR-Traitement
// (1.2.250.1.213.1.1.3.42).
func Liaison(docID string, ver int, effective, parent string, meds bool, diags ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <realmCode code="FR"/>
 <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <templateId root="2.16.840.1.113883.2.8.2.1"/>
 <templateId root="1.2.250.1.213.1.1.1.1"/>
 <templateId root="1.2.250.1.213.1.1.1.29"/>
 <id root="1.2.250.1.999.42.1" extension="%s"/>
 <code code="11490-0" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison à la sortie d'un établissement de soins"/>
 <title>Lettre de liaison à la sortie</title>
 <effectiveTime value="%s"/>
 <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
 <languageCode code="fr-FR"/>
 <setId root="1.2.250.1.999.42.2" extension="LDL-SET-42"/>
 <versionNumber value="%d"/>
 <recordTarget><patientRole>
  <id root="1.2.250.1.999.42.3" extension="IPP-4242"/>
  <addr use="H"><streetAddressLine>3 rue Nationale</streetAddressLine><postalCode>59000</postalCode><city>Lille</city></addr>
  <patient>
   <name><given>Jeanne</given><family qualifier="BR">MARCHAND</family></name>
   <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
   <birthTime value="19520611"/>
  </patient>
 </patientRole></recordTarget>
 <author><time value="%[2]s"/><assignedAuthor>
  <id root="1.2.250.1.71.4.2.1" extension="810000004242"/>
  <assignedPerson><name><given>Anne</given><family>ROUSSEL</family></name></assignedPerson>
 </assignedAuthor></author>
 <custodian><assignedCustodian><representedCustodianOrganization>
  <id root="1.2.250.1.71.4.2.2" extension="1590004242"/><name>CH de Lille</name>
 </representedCustodianOrganization></assignedCustodian></custodian>
`, docID, effective, ver)
	if parent != "" {
		fmt.Fprintf(&b, ` <relatedDocument typeCode="RPLC"><parentDocument>
  <id root="1.2.250.1.999.42.1" extension="%s"/>
  <setId root="1.2.250.1.999.42.2" extension="LDL-SET-42"/><versionNumber value="%d"/>
 </parentDocument></relatedDocument>
`, parent, ver-1)
	}
	b.WriteString(` <componentOf><encompassingEncounter>
  <id root="1.2.250.1.999.42.4" extension="SEJ-4242"/>
  <effectiveTime><low value="20260226091500+0100"/><high value="20260305120000+0100"/></effectiveTime>
  <location><healthCareFacility>
   <serviceProviderOrganization><id root="1.2.250.1.71.4.2.2" extension="1590004242"/><name>CH de Lille</name></serviceProviderOrganization>
  </healthCareFacility></location>
 </encompassingEncounter></componentOf>
 <component><structuredBody>
  <component><section>
   <templateId root="1.3.6.1.4.1.19376.1.5.3.1.3.6"/>
   <code code="11450-4" codeSystem="2.16.840.1.113883.6.1" displayName="Problèmes actifs"/>
   <title>Diagnostics de sortie</title><text>Diagnostics de sortie</text>
`)
	for _, d := range diags {
		fmt.Fprintf(&b, `   <entry><act classCode="ACT" moodCode="EVN">
    <templateId root="2.16.840.1.113883.10.20.1.27"/><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.1"/>
    <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.2"/>
    <id root="1.2.250.1.999.42.5" extension="PB-%[1]s"/>
    <code nullFlavor="NA"/><statusCode code="active"/>
    <effectiveTime><low value="20260226"/></effectiveTime>
    <entryRelationship typeCode="SUBJ" inversionInd="false"><observation classCode="OBS" moodCode="EVN">
     <templateId root="2.16.840.1.113883.10.20.1.28"/><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5"/>
     <id root="1.2.250.1.999.42.6" extension="DG-%[1]s"/>
     <code code="282291009" codeSystem="2.16.840.1.113883.6.96" displayName="Diagnostic"/>
     <statusCode code="completed"/>
     <effectiveTime><low value="20260226"/></effectiveTime>
     <value xsi:type="CD" code="%[1]s" codeSystem="2.16.840.1.113883.6.3"/>
    </observation></entryRelationship>
   </act></entry>
`, d)
	}
	b.WriteString("  </section></component>\n")
	if meds {
		b.WriteString(`  <component><section>
   <code code="10183-2" codeSystem="2.16.840.1.113883.6.1" displayName="Traitements à la sortie"/>
   <title>Traitements à la sortie</title><text>Furosémide 40 mg, 1 par jour</text>
   <entry><substanceAdministration classCode="SBADM" moodCode="INT">
    <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.7"/><templateId root="1.2.250.1.213.1.1.3.42"/>
    <id root="1.2.250.1.999.42.9" extension="TT-FURO"/>
    <statusCode code="completed"/>
    <effectiveTime xsi:type="IVL_TS"><low value="20260305"/></effectiveTime>
    <consumable><manufacturedProduct><manufacturedMaterial>
     <code code="C03CA01" codeSystem="2.16.840.1.113883.6.73" displayName="furosémide"/>
    </manufacturedMaterial></manufacturedProduct></consumable>
   </substanceAdministration></entry>
  </section></component>
`)
	}
	b.WriteString(" </structuredBody></component>\n</ClinicalDocument>\n")
	return []byte(b.String())
}

// MDM is an HL7 v2.5 MDM message (chapter 9) of the stay SEJ-4242 that
// carries doc whole, base64-encoded, in an OBX-5 of type ED (section
// 2.A.24: source^type^subtype^encoding^data): a T02 (original document
// notification and content), or a T10 (document replacement notification
// and content) whose TXA-13 names the document it replaces. TXA-12 is the
// document's unique number.
func MDM(event, control, at, docID, parent string, doc []byte) []byte {
	segs := []string{
		"MSH|^~\\&|DXCARE|CHLILLE|RELAIS|RELAIS|" + at + "||MDM^" + event + "^MDM_T02|" + control + "|P|2.5||||||UNICODE UTF-8|||",
		"EVN|" + event + "|" + at,
		"PID|1||IPP-4242^^^CHLILLE&1.2.250.1.999.42.3&ISO^PI||MARCHAND^Jeanne^^^^^L||19520611|F|||3 rue Nationale^^Lille^^59000^FRA^H",
		"PV1|1|I|CARDIO^^^CHLILLE||||||||||||||||SEJ-4242^^^CHLILLE&1.2.250.1.999.42.4&ISO^VN",
		"TXA|1|DS^Discharge summary^HL70270|AP|" + at + "|||" + at + "|||||" + docID + "^CHLILLE^1.2.250.1.999.42.1^ISO|" + parent + "||||AU||AV",
		"OBX|1|ED|11490-0^Lettre de liaison^LN||^text^xml^Base64^" + base64.StdEncoding.EncodeToString(doc) + "||||||F",
	}
	if parent != "" {
		segs[4] = strings.Replace(segs[4], "|"+parent+"|", "|"+parent+"^CHLILLE^1.2.250.1.999.42.1^ISO|", 1)
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

// MDMDeletion is the deletion of the document docID of the stay SEJ-4242:
// for a T04, as the ANS CI-SIS volet "Transmission de documents CDA en HL7
// v2" sends it (évènements déclenchants: MDM^T04^MDM_T02; ORC-1 CA, the
// OBR of the document's type, OBX-11 D, the deleted document doc carried
// in the OBX-5 ED); for a T11, a document cancel notification (HL7 v2.5
// section 9.5.11, MDM_T01: TXA-12 names the document, nothing is carried).
func MDMDeletion(event, control, at, docID string, doc []byte) []byte {
	structure := "MDM_T02"
	if event == "T11" {
		structure = "MDM_T01"
	}
	segs := []string{
		"MSH|^~\\&|DXCARE|CHLILLE|RELAIS|RELAIS|" + at + "||MDM^" + event + "^" + structure + "|" + control + "|P|2.5||||||UNICODE UTF-8|||",
		"EVN|" + event + "|" + at,
		"PID|1||IPP-4242^^^CHLILLE&1.2.250.1.999.42.3&ISO^PI||MARCHAND^Jeanne^^^^^L||19520611|F|||3 rue Nationale^^Lille^^59000^FRA^H",
		"PV1|1|I|CARDIO^^^CHLILLE||||||||||||||||SEJ-4242^^^CHLILLE&1.2.250.1.999.42.4&ISO^VN",
	}
	if event != "T11" {
		segs = append(segs, "ORC|CA", "OBR|1|||11490-0^Lettre de liaison^LN")
	}
	segs = append(segs, "TXA|1|DS^Discharge summary^HL70270|AP|"+at+"|||"+at+"|||||"+docID+"^CHLILLE^1.2.250.1.999.42.1^ISO|||||AU||AV")
	if event != "T11" {
		segs = append(segs, "OBX|1|ED|11490-0^Lettre de liaison^LN||^text^XML^Base64^"+base64.StdEncoding.EncodeToString(doc)+"||||||D")
	}
	return []byte(strings.Join(segs, "\r") + "\r")
}

// ORU is an HL7 v2.5 ORU^R01 of the stay SEJ-4242 as the ANS CI-SIS volet
// "Transmission de documents CDA en HL7 v2" sends a document: ORC-1 the
// request (NW to send it, CA to delete it), the OBR of the order CR-42
// that the document reports, and the document doc in an OBX-5 ED whose
// OBX-11 is status (F sent, D deleted).
func ORU(control, at, orderControl, status string, doc []byte) []byte {
	return []byte(strings.Join([]string{
		"MSH|^~\\&|SIL|CHLILLE|RELAIS|RELAIS|" + at + "||ORU^R01^ORU_R01|" + control + "|P|2.5||||||UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
		"PID|1||IPP-4242^^^CHLILLE&1.2.250.1.999.42.3&ISO^PI||MARCHAND^Jeanne^^^^^L||19520611|F|||3 rue Nationale^^Lille^^59000^FRA^H",
		"PV1|1|I|CARDIO^^^CHLILLE||||||||||||||||SEJ-4242^^^CHLILLE&1.2.250.1.999.42.4&ISO^VN",
		"ORC|" + orderControl + "|CMD-42^CHLILLE|CR-42^LABO",
		"OBR|1|CMD-42^CHLILLE|CR-42^LABO|11490-0^Lettre de liaison^LN|||" + at + "|||||||||||||||" + at + "||LAB|F",
		"OBX|1|ED|11490-0^Lettre de liaison^LN||^TEXT^XML^Base64^" + base64.StdEncoding.EncodeToString(doc) + "||||||" + status,
	}, "\r") + "\r")
}
