package api_test

// The GP a discharge letter names (CI-SIS "médecin traitant": a header
// participant with functionCode PCP, identified by her IDNPS) is the
// community GP of the directory, whatever role her software signs in with:
// she receives the discharge's Task, reads what it is about and accepts it
// (DESIGN.md: "The GP always receives the whole CarePlan").

import (
	"strings"
	"testing"

	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// gpLetter is a minimal CI-SIS LDL-SES (templateId
// 1.2.250.1.213.1.1.1.29, LOINC 11490-0) for a heart-failure stay of a
// patient living in Lille, whose médecin traitant is the GP of IDNPS
// 8 + RPPS 10000000555 (ANS "identification des acteurs de santé"), with a
// coded role and no organisation, as CI-SIS allows.
const gpLetter = `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.2.250.1.213.1.1.1.29"/>
  <id root="1.2.250.1.999.70.1" extension="LDL-1"/>
  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>
  <title>Lettre de liaison à la sortie</title>
  <effectiveTime value="20260305120000+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <setId root="1.2.250.1.999.70.2" extension="LDL-SET-1"/>
  <versionNumber value="1"/>
  <recordTarget><patientRole>
    <id root="1.2.250.1.213.1.4.10" extension="284035912355555"/>
    <addr><streetAddressLine>1 rue Nationale</streetAddressLine><postalCode>59000</postalCode><city>Lille</city></addr>
    <patient><name><family>LETTRE</family><given>ANNE</given></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19600102"/></patient>
  </patientRole></recordTarget>
  <author><time value="20260305120000+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000999"/>
    <assignedPerson><name><family>AUTEUR</family></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1590780193"/><name>CHU</name></representedOrganization>
  </assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1590780193"/><name>CHU</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <participant typeCode="INF">
    <functionCode code="PCP" codeSystem="2.16.840.1.113883.5.88"/>
    <associatedEntity classCode="PROV">
      <id root="1.2.250.1.71.4.2.1" extension="810000000555"/>
      <code code="G15_10/SM54" codeSystem="1.2.250.1.213.1.1.4.5"/>
      <associatedPerson><name><family>TRAITANT</family><given>Claire</given></name></associatedPerson>
    </associatedEntity>
  </participant>
  <componentOf><encompassingEncounter>
    <id root="1.2.250.1.999.70.3" extension="STAY-1"/>
    <effectiveTime><low value="20260301080000+0100"/><high value="20260305110000+0100"/></effectiveTime>
    <location><healthCareFacility><serviceProviderOrganization>
      <id root="1.2.250.1.71.4.2.2" extension="1590780193"/><name>CHU</name>
    </serviceProviderOrganization></healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component><structuredBody><component><section>
    <templateId root="1.3.6.1.4.1.19376.1.5.3.1.3.6"/>
    <code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>
    <title>Diagnostic de sortie</title>
    <text>Insuffisance cardiaque congestive</text>
    <entry><act classCode="ACT" moodCode="EVN">
      <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.1"/>
      <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.2"/>
      <id root="1.2.250.1.999.70.4" extension="PC1"/>
      <code nullFlavor="NA"/><statusCode code="active"/>
      <effectiveTime><low value="20260301"/></effectiveTime>
      <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
        <templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5"/>
        <id root="1.2.250.1.999.70.4" extension="P1"/>
        <code code="282291009" codeSystem="2.16.840.1.113883.6.96"/>
        <statusCode code="completed"/>
        <effectiveTime><low value="20260301"/></effectiveTime>
        <value xsi:type="CD" code="I50.0" codeSystem="2.16.840.1.113883.6.3"/>
      </observation></entryRelationship>
    </act></entry>
  </section></component></structuredBody></component>
</ClinicalDocument>`

func TestDischargeLetterReachesTheGPItNames(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.add(`{"resourceType":"Practitioner","id":"gp-rpps-p","identifier":[{"system":"https://rpps.esante.gouv.fr","value":"10000000555"}],"name":[{"family":"Traitant"}]}`)
	s.add(`{"resourceType":"PractitionerRole","id":"gp-rpps","active":true,"practitioner":{"reference":"Practitioner/gp-rpps-p"},` +
		`"organization":{"reference":"Organization/cabinet-lille"},"code":[{"coding":[` + g15("10") + `]}],"specialty":[{"coding":[` + r38("SM54") + `]}]}`)
	s.write()
	if r := s.do("POST", "/ingest/cda", gpLetter, "Content-Type", "application/hl7-cda+xml"); r.status != 200 {
		t.Fatalf("the discharge letter: %d %s", r.status, r.body)
	}
	stays := s.search("/fhir/Encounter?identifier=urn:oid:1.2.250.1.999.70.3|STAY-1", nil)
	if len(stays) != 1 {
		t.Fatalf("the letter's stay: %d Encounters", len(stays))
	}
	s.route(resource.ID(stays[0]))
	var task, patient string
	for _, m := range s.search("/fhir/Task?status=requested", nil) {
		if tk := m.(*tpb.Task); strings.HasSuffix(tk.GetId().GetValue(), "-gp-1") {
			task, patient = tk.GetId().GetValue(), resource.RefString(tk.GetForValue())
		}
	}
	if task == "" {
		t.Fatal("the letter's stay was not routed to a GP")
	}
	// Her software signs in as her directory role or as herself; either
	// way she is the GP the letter names: her Task, and the patient's
	// record as her care team's GP (the diagnosis included).
	for _, who := range []string{"PractitionerRole/gp-rpps", "Practitioner/gp-rpps-p"} {
		tok := s.as(who)
		for _, path := range []string{"/fhir/Task/" + task, "/fhir/" + patient, "/fhir/Condition?patient=" + patient} {
			r := s.do("GET", path, "", "Authorization", tok)
			if r.status != 200 || strings.Contains(path, "?") && !strings.Contains(string(r.body), "I50.0") {
				t.Errorf("%s, the GP the letter names, GET %s: %d %.200s", who, path, r.status, r.body)
			}
		}
	}
	// Her software finds it among its work by the role it signs in as
	// (Task.owner: her one GP role in the directory, not the person the
	// letter names).
	if r := s.do("GET", "/fhir/Task?owner=PractitionerRole/gp-rpps&status=requested", "", "Authorization", s.as("PractitionerRole/gp-rpps")); !strings.Contains(string(r.body), task) {
		t.Errorf("Task?owner= her role does not list the discharge's Task: %d %.300s", r.status, r.body)
	}
	r := s.do("PATCH", "/fhir/Task/"+task, `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", s.as("PractitionerRole/gp-rpps"), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("the GP accepts the discharge's Task: %d %s", r.status, r.body)
	}
}
