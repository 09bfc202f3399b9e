package ingest

import (
	"context"
	"testing"

	"github.com/relais-health/relais/fhir/store"
)

// pastStays is a CDA document (CI-SIS structure: an obstetric summary
// listing the patient's earlier hospitalisations as IHE PCC Encounter
// entries, templateId 1.3.6.1.4.1.19376.1.5.3.1.4.14) whose sender copied
// one entry's id into the next, as published examples do.
func pastStays(reusedID bool) []byte {
	second := `<id root="6d0f3c3a-0b7e-4a52-9a4e-7c2b1f0e9a11"/>`
	if reusedID {
		second = `<id root="2a4bd3e0-8f55-4c6b-b1c6-0d3e7a7f5c22"/>`
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
 <realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <id root="1.2.250.1.999.91.1" extension="DOC-1"/>
 <code code="57055-6" codeSystem="2.16.840.1.113883.6.1" displayName="Synthèse"/>
 <title>Synthèse</title><effectiveTime value="20260320120000+0100"/>
 <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>
 <setId root="1.2.250.1.999.91.2" extension="SET-1"/><versionNumber value="1"/>
 <recordTarget><patientRole><id root="1.2.250.1.999.91.3" extension="IPP-91"/>
  <patient><name><given>Ruth</given><family>Nessi</family></name>
   <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19790328"/></patient>
 </patientRole></recordTarget>
 <author><time value="20260320120000+0100"/><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="801234567897"/>
  <assignedPerson><name><given>Charles</given><family>David</family></name></assignedPerson></assignedAuthor></author>
 <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.71.4.2.2" extension="1750803447"/>
  <name>Maternité de test</name></representedCustodianOrganization></assignedCustodian></custodian>
 <componentOf><encompassingEncounter><id root="1.2.250.1.999.91.6" extension="STAY-91"/>
  <effectiveTime><low value="20260310"/><high value="20260320"/></effectiveTime>
 </encompassingEncounter></componentOf>
 <component><structuredBody><component><section>
  <code code="46240-8" codeSystem="2.16.840.1.113883.6.1" displayName="Historique des rencontres"/>
  <title>Hospitalisations antérieures</title><text>Deux hospitalisations</text>
  <entry><encounter classCode="ENC" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.14"/>
   <id root="2a4bd3e0-8f55-4c6b-b1c6-0d3e7a7f5c22"/>
   <code code="IMP" codeSystem="2.16.840.1.113883.5.4"/>
   <effectiveTime><low value="20251211"/><high value="20251214"/></effectiveTime></encounter></entry>
  <entry><encounter classCode="ENC" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.14"/>
   ` + second + `
   <code code="IMP" codeSystem="2.16.840.1.113883.5.4"/>
   <effectiveTime><low value="20260111"/><high value="20260118"/></effectiveTime></encounter></entry>
 </section></component></structuredBody></component>
</ClinicalDocument>
`)
}

// TestEncountersSharingAnID: two entries of one document that give the
// same id to two different encounters (a copy-paste; CDA R2 wants an II
// unique) are both stored, as the document lists them, and the document
// is taken, with every Encounter it states; the sender's error is not
// a reason to lose the hand-over.
func TestEncountersSharingAnID(t *testing.T) {
	t.Parallel()
	for _, reused := range []bool{false, true} {
		in, st := newTest(t)
		s, err := in.CDA(context.Background(), pastStays(reused), nil)
		if err != nil {
			t.Fatalf("reused id %v: %v", reused, err)
		}
		ids := map[string]bool{}
		for _, r := range s.Results {
			if r.Record != nil && r.Record.Type == "Encounter" {
				ids[r.Record.ID] = true
			}
		}
		if len(ids) != 3 {
			t.Errorf("reused id %v: Encounters %v written, want the stay and its two earlier ones", reused, ids)
		}
		in.Sync()
		h, err := st.TypeHistory("Encounter", store.HistoryOptions{Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Records) != 3 {
			t.Errorf("reused id %v: %d Encounter versions stored, want 3", reused, len(h.Records))
		}
	}
}
