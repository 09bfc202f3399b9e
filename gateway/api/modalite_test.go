package api_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/gateway/pathways"
)

// ldlSES is a discharge letter (CI-SIS "Lettre de liaison à la sortie
// d'un établissement de santé", LDL-SES: LOINC 11490-0, templateId
// 1.2.250.1.213.1.1.1.29) of an 88-year-old patient's stay, written from
// the ANS specification: its section "Synthèse médicale du séjour"
// (LOINC 42545-4) carries the FR-Modalite-sortie entry
// (1.2.250.1.213.1.1.3.48.7, code TA_ASIP ORG-074), whose value the test
// sets ({code}, {system}, {display}; {n} makes each letter a stay of its own).
const ldlSES = `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <realmCode code="FR"/>
 <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <templateId root="2.16.840.1.113883.2.8.2.1"/>
 <templateId root="1.2.250.1.213.1.1.1.1"/>
 <templateId root="1.2.250.1.213.1.1.1.29"/>
 <id root="1.2.250.1.999.7.1" extension="LDL-{n}"/>
 <code code="11490-0" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison à la sortie d'un établissement de soins"/>
 <title>Lettre de liaison à la sortie</title>
 <effectiveTime value="20260305140000+0100"/>
 <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
 <languageCode code="fr-FR"/>
 <recordTarget><patientRole>
  <id root="1.2.250.1.999.7.2" extension="IPP-{n}"/>
  <addr><streetAddressLine>12 rue des Arts</streetAddressLine><postalCode>59000</postalCode><city>Lille</city></addr>
  <patient>
   <name><given>Louise</given><family qualifier="BR">LEFEBVRE</family></name>
   <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
   <birthTime value="19380214"/>
  </patient>
 </patientRole></recordTarget>
 <author><time value="20260305140000+0100"/><assignedAuthor>
  <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
  <assignedPerson><name><given>Paul</given><family>BERNARD</family></name></assignedPerson>
 </assignedAuthor></author>
 <custodian><assignedCustodian><representedCustodianOrganization>
  <id root="1.2.250.1.71.4.2.2" extension="1590000099"/><name>CH de Lille</name>
 </representedCustodianOrganization></assignedCustodian></custodian>
 <componentOf><encompassingEncounter>
  <id root="1.2.250.1.999.7.3" extension="SEJ-{n}"/>
  <effectiveTime><low value="20260226091500+0100"/><high value="20260305120000+0100"/></effectiveTime>
  <location><healthCareFacility>
   <serviceProviderOrganization><id root="1.2.250.1.71.4.2.2" extension="1590000099"/><name>CH de Lille</name></serviceProviderOrganization>
  </healthCareFacility></location>
 </encompassingEncounter></componentOf>
 <component><structuredBody><component><section>
  <templateId root="1.3.6.1.4.1.19376.1.5.3.1.1.21.2.9"/>
  <templateId root="1.2.250.1.213.1.1.2.163"/>
  <code code="42545-4" codeSystem="2.16.840.1.113883.6.1" displayName="Evènements observés"/>
  <title>Synthèse médicale du séjour</title>
  <text><paragraph>Sortie le 05/03/2026 : <content ID="sortie">{display}</content></paragraph></text>
  <entry><observation classCode="OBS" moodCode="EVN">
   <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.13"/>
   <templateId root="1.2.250.1.213.1.1.3.48"/>
   <templateId root="1.2.250.1.213.1.1.3.48.7"/>
   <id root="1.2.250.1.999.7.4" extension="SOR-{n}"/>
   <code code="ORG-074" codeSystem="1.2.250.1.213.1.1.4.322" displayName="Modalité de sortie"/>
   <text><reference value="#sortie"/></text>
   <statusCode code="completed"/>
   <effectiveTime value="20260305"/>
   <value xsi:type="CE" code="{code}" codeSystem="{system}" displayName="{display}"/>
  </observation></entry>
 </section></component></structuredBody></component>
</ClinicalDocument>`

// TestDischargeLetterModaliteSortie: the hospital sends the discharge
// letter of an 88-year-old patient (the older-person pathway); its
// FR-Modalite-sortie entry says where she went, in the codes of ANS's
// JDV_ModaliteSortie_CISIS (1.2.250.1.213.1.1.5.74). A patient who went
// home is routed; one who left for another establishment (a rehabilitation
// or hospital-at-home establishment, a nursing home, "Autre établissement
// de santé", the code of ANS's own LDL-SES example) or died (SNOMED CT
// 419620001, in ANS's JDV_ModeSortie_CISIS) is not handed over: $route
// answers 422 saying why.
func TestDischargeLetterModaliteSortie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if err := pathways.Load(context.Background(), e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	validated := t.TempDir() // the stays as served, for the independent validator
	const taASIP, snomed, r66 = "1.2.250.1.213.1.1.4.322", "2.16.840.1.113883.6.96", "1.2.250.1.213.1.6.1.8"
	for i, c := range []struct {
		code, system, display string
		routed                bool
	}{
		{"160849004", snomed, "retour au domicile", true},
		{"GEN-092.06.01", taASIP, "Autre établissement de santé", false},
		{"109", r66, "Etablissement de santé privé autorisé en SSR", false},
		{"127", r66, "Hospitalisation à Domicile", false},
		{"500", r66, "Etablissement d'hébergement pour personnes âgées dépendantes", false},
		{"419620001", snomed, "mort", false},
	} {
		t.Run(c.display, func(t *testing.T) {
			n := string(rune('a' + i))
			doc := strings.NewReplacer("{code}", c.code, "{system}", c.system, "{display}", c.display, "{n}", n).Replace(ldlSES)
			r := e.do("POST", "/ingest/cda", doc, "Content-Type", "application/hl7-cda+xml")
			if r.status != 200 {
				t.Fatalf("ingest: %d %s", r.status, r.body)
			}
			var bundle struct {
				Entry []struct{ Response struct{ Location string } }
			}
			if err := json.Unmarshal(r.body, &bundle); err != nil {
				t.Fatal(err)
			}
			stay := ""
			for _, x := range bundle.Entry {
				if strings.HasPrefix(x.Response.Location, "Encounter/") {
					stay = strings.Split(x.Response.Location, "/_history")[0]
				}
			}
			if stay == "" {
				t.Fatalf("no Encounter stored: %s", r.body)
			}
			enc := e.do("GET", "/fhir/"+stay, "")
			if err := os.WriteFile(filepath.Join(validated, "Encounter-"+n+".json"), enc.body, 0o644); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(enc.body), `"dischargeDisposition"`) || !strings.Contains(string(enc.body), c.code) {
				t.Errorf("the stay's discharge disposition: %s", enc.body)
			}
			r = e.do("POST", "/fhir/"+stay+"/$route", "")
			switch {
			case c.routed && r.status != 200:
				t.Errorf("$route of a patient gone home: %d %.300s", r.status, r.body)
			case !c.routed && (r.status != 422 || !strings.Contains(string(r.body), "left for another establishment") && !strings.Contains(string(r.body), "died")):
				t.Errorf("$route of a patient who did not go home: %d %.300s", r.status, r.body)
			}
		})
	}
	if os.Getenv("RELAIS_VALIDATE") != "" {
		fhirtest.RunValidator(t, validated)
	}
}
