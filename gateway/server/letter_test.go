package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/gateway/auth"
)

// The discharge letters below are written for these tests from the ANS
// CI-SIS volet "Lettre de liaison à la sortie d'un établissement de
// santé" (LDL-SES: LOINC 11490-0, templateId 1.2.250.1.213.1.1.1.29) on
// the CDA R2 header (sections 4.2.1.6 to 4.2.1.8 and 4.2.3.1, RPLC), the
// encompassingEncounter stating the stay and its end (4.2.3.3), and IHE
// PCC problem concerns (1.3.6.1.4.1.19376.1.5.3.1.4.5.2) in the "Problèmes
// actifs" section for the discharge diagnoses (CIM-10,
// 2.16.840.1.113883.6.3). The stay is SEJ-9100 of the CH de Roubaix.

// letterStay is the stay the letters are about.
type letterStay struct {
	ipp, visit, family string
	low, high          string // encompassingEncounter effectiveTime
}

var roubaix = letterStay{ipp: "IPP-9100", visit: "SEJ-9100", family: "VANDAMME", low: "20260412083000+0200", high: "20260420113000+0200"}

// ldl is version ver of the letter LDL-9100-<ver>, written at effective,
// replacing the version before it when ver > 1, stating diagnoses.
func ldl(s letterStay, ver int, effective string, diagnoses ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<realmCode code="FR"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<templateId root="2.16.840.1.113883.2.8.2.1"/><templateId root="1.2.250.1.213.1.1.1.1"/><templateId root="1.2.250.1.213.1.1.1.29"/>
<id root="1.2.250.1.888.1.1" extension="LDL-9100-%[1]d"/>
<code code="11490-0" codeSystem="2.16.840.1.113883.6.1" displayName="Lettre de liaison à la sortie d'un établissement de soins"/>
<title>Lettre de liaison</title><effectiveTime value="%[2]s"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>
<setId root="1.2.250.1.888.1.2" extension="LDL-9100"/><versionNumber value="%[1]d"/>
<recordTarget><patientRole><id root="1.2.250.1.888.1.3" extension="%[3]s"/>
<addr use="H"><streetAddressLine>8 place de la Liberté</streetAddressLine><postalCode>59100</postalCode><city>Roubaix</city></addr>
<patient><name><given>Odette</given><family qualifier="BR">%[4]s</family></name>
<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19490915"/></patient>
</patientRole></recordTarget>
<author><time value="%[2]s"/><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="810000009100"/>
<assignedPerson><name><given>Claire</given><family>LEROY</family></name></assignedPerson></assignedAuthor></author>
<custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.71.4.2.2" extension="1590009100"/><name>CH de Roubaix</name></representedCustodianOrganization></assignedCustodian></custodian>
`, ver, effective, s.ipp, s.family)
	if ver > 1 {
		fmt.Fprintf(&b, `<relatedDocument typeCode="RPLC"><parentDocument><id root="1.2.250.1.888.1.1" extension="LDL-9100-%d"/>
<setId root="1.2.250.1.888.1.2" extension="LDL-9100"/><versionNumber value="%d"/></parentDocument></relatedDocument>
`, ver-1, ver-1)
	}
	fmt.Fprintf(&b, `<componentOf><encompassingEncounter><id root="1.2.250.1.888.1.4" extension="%s"/>
<effectiveTime><low value="%s"/><high value="%s"/></effectiveTime>
<location><healthCareFacility><serviceProviderOrganization><id root="1.2.250.1.71.4.2.2" extension="1590009100"/><name>CH de Roubaix</name></serviceProviderOrganization></healthCareFacility></location>
</encompassingEncounter></componentOf>
<component><structuredBody><component><section>
<templateId root="1.3.6.1.4.1.19376.1.5.3.1.3.6"/><code code="11450-4" codeSystem="2.16.840.1.113883.6.1" displayName="Problèmes actifs"/>
<title>Diagnostics de sortie</title><text>Diagnostics de sortie</text>
`, s.visit, s.low, s.high)
	for _, d := range diagnoses {
		fmt.Fprintf(&b, `<entry><act classCode="ACT" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.1.27"/>
<templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.1"/><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5.2"/>
<id root="1.2.250.1.888.1.5" extension="PC-%[1]s"/><code nullFlavor="NA"/><statusCode code="active"/><effectiveTime><low value="20260412"/></effectiveTime>
<entryRelationship typeCode="SUBJ" inversionInd="false"><observation classCode="OBS" moodCode="EVN">
<templateId root="2.16.840.1.113883.10.20.1.28"/><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.5"/>
<id root="1.2.250.1.888.1.6" extension="DX-%[1]s"/><code code="282291009" codeSystem="2.16.840.1.113883.6.96" displayName="Diagnostic"/>
<statusCode code="completed"/><effectiveTime><low value="20260412"/></effectiveTime>
<value xsi:type="CD" code="%[1]s" codeSystem="2.16.840.1.113883.6.3"/></observation></entryRelationship></act></entry>
`, d)
	}
	b.WriteString("</section></component></structuredBody></component></ClinicalDocument>\n")
	return b.String()
}

// mdm is an HL7 v2.5 MDM^T02 (chapter 9: original document notification
// and content) about the stay s whose OBX-5 carries doc whole, of type ED
// (section 2.A.24: source^type^subtype^encoding^data), base64, as the
// ANS volet "Transmission de documents CDA en HL7 v2" sends a CDA
// document; TXA-12 is the document's unique number.
func mdm(s letterStay, control, at, docID, typ, subtype, doc string) string {
	return strings.Join([]string{
		`MSH|^~\&|DPI|CHROUBAIX|RELAIS|RELAIS|` + at + `||MDM^T02^MDM_T02|` + control + `|P|2.5||||||UNICODE UTF-8`,
		`EVN|T02|` + at,
		`PID|1||` + s.ipp + `^^^CHROUBAIX&1.2.250.1.888.1.3&ISO^PI||` + s.family + `^Odette^^^^^L||19490915|F|||8 place de la Liberté^^Roubaix^^59100^FRA^H`,
		`PV1|1|I|CARDIO^^^CHROUBAIX||||||||||||||||` + s.visit + `^^^CHROUBAIX&1.2.250.1.888.1.4&ISO^VN`,
		`TXA|1|11490-0^Lettre de liaison^LN|AP|` + at + `||||||||` + docID + `^CHROUBAIX^1.2.250.1.888.1.1^ISO|||||AU||AV`,
		`OBX|1|ED|11490-0^Lettre de liaison^LN||^` + typ + `^` + subtype + `^Base64^` + base64.StdEncoding.EncodeToString([]byte(doc)) + `||||||F`,
	}, "\r") + "\r"
}

// a01 admits the patient of s to it (HL7 v2.5 ADT^A01).
func a01(s letterStay, control string) string {
	return strings.Join([]string{
		`MSH|^~\&|DPI|CHROUBAIX|RELAIS|RELAIS|20260412083500+0200||ADT^A01^ADT_A01|` + control + `|P|2.5||||||UNICODE UTF-8`,
		`EVN|A01|20260412083000+0200`,
		`PID|1||` + s.ipp + `^^^CHROUBAIX&1.2.250.1.888.1.3&ISO^PI||` + s.family + `^Odette^^^^^L||19490915|F|||8 place de la Liberté^^Roubaix^^59100^FRA^H`,
		`PV1|1|I|CARDIO^^^CHROUBAIX||||||||||||||||` + s.visit + `^^^CHROUBAIX&1.2.250.1.888.1.4&ISO^VN|||||||||||||||||||||||||20260412083000+0200`,
	}, "\r") + "\r"
}

// letterServer is a running server routing each stay on its discharge,
// and a caller with a system token.
func letterServer(t *testing.T) func(method, path, ct, body string) (int, []byte) {
	t.Helper()
	f, base := routingServer(t)
	tok, err := f.key.Mint(auth.MintOptions{Scope: "system/*.cruds"})
	if err != nil {
		t.Fatal(err)
	}
	return func(method, path, ct, body string) (int, []byte) {
		t.Helper()
		return call(t, method, base+path, ct, body, tok)
	}
}

// routingServer runs a server that routes each stay on its discharge
// (a short router interval) and returns its fixture and base URL.
func routingServer(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	cfg := f.cfg
	cfg.RouteInterval = 20 * time.Millisecond
	addr := make(chan string, 1)
	cfg.Ready = func(a string) { addr <- a }
	serve(t, cfg)
	return f, "http://" + <-addr
}

// routedPathways waits up to a few seconds for the routing CarePlans and
// returns their pathways (PlanDefinition ids) and statuses.
func routedPathways(t *testing.T, do func(method, path, ct, body string) (int, []byte), want int) map[string]string {
	t.Helper()
	var out map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, b := do("GET", "/fhir/CarePlan?_count=100", "", "")
		var bundle struct {
			Entry []struct {
				Resource struct {
					ID                    string
					Status                string
					InstantiatesCanonical []string
				}
			}
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		out = map[string]string{}
		for _, e := range bundle.Entry {
			if r := e.Resource; strings.HasPrefix(r.ID, "route-") && len(r.InstantiatesCanonical) > 0 {
				pw, _, _ := strings.Cut(r.InstantiatesCanonical[0], "|")
				out[pw[strings.LastIndexByte(pw, '/')+1:]] = r.Status
			}
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
	}
}

// TestLetterInMDMDischargesTheStay is the hospital whose document feed
// sends the discharge letter in an HL7 v2 MDM^T02 (the ANS volet
// "Transmission de documents CDA en HL7 v2"), its ADT feed having sent
// only the admission, or nothing at all. The letter's encompassingEncounter
// ends the stay, as the same letter posted as CDA does: the stay is
// discharged and routed along the pathway its diagnoses give (heart
// failure, I50.1), once, whatever carried the letter.
func TestLetterInMDMDischargesTheStay(t *testing.T) {
	t.Parallel()
	letter := ldl(roubaix, 1, "20260420140000+0200", "I50.1")
	for _, c := range []struct {
		name     string
		messages []string // HL7 v2
		cda      string   // posted
	}{
		{"CDA posted after the A01", []string{a01(roubaix, "A01-9100")}, letter},
		{"MDM after the A01", []string{a01(roubaix, "A01-9100"), mdm(roubaix, "MDM-9100", "20260420140500+0200", "LDL-9100-1", "text", "xml", letter)}, ""},
		{"MDM alone", []string{mdm(roubaix, "MDM-9100", "20260420140500+0200", "LDL-9100-1", "text", "xml", letter)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			do := letterServer(t)
			for _, m := range c.messages {
				if code, ack := do("POST", "/ingest/hl7v2", "x-application/hl7-v2+er7", m); code != 200 || !bytes.Contains(ack, []byte("MSA|AA")) {
					t.Fatalf("HL7 v2: %d %s", code, ack)
				}
			}
			if c.cda != "" {
				if code, b := do("POST", "/ingest/cda", "application/hl7-cda+xml", c.cda); code != 200 {
					t.Fatalf("CDA: %d %s", code, b)
				}
			}
			got := routedPathways(t, do, 1)
			if len(got) != 1 || got["heart-failure"] != "active" {
				t.Errorf("the stay's plans: %v, want the heart-failure one", got)
			}
			_, b := do("GET", "/fhir/Encounter?identifier="+roubaix.visit, "", "")
			var bundle struct {
				Entry []struct {
					Resource struct {
						Status string
						Period struct{ End string }
					}
				}
			}
			if err := json.Unmarshal(b, &bundle); err != nil || len(bundle.Entry) != 1 {
				t.Fatalf("the stay: %v %s", err, b)
			}
			if e := bundle.Entry[0].Resource; e.Status != "finished" || !strings.HasPrefix(e.Period.End, "2026-04-20T11:30:00") {
				t.Errorf("the stay is %s, ended %q; want finished on 2026-04-20T11:30:00+02:00", e.Status, e.Period.End)
			}
			validateServed(t, do, "Encounter", "CarePlan", "ServiceRequest", "Task")
		})
	}
}

// TestCorrectedDiagnosisLeavesThePlan is the hospital correcting a stay's
// diagnoses after its discharge was routed along the heart-failure
// pathway, while the stay still takes it: the letter stated heart failure
// (I50.1) and hypertensive heart disease with heart failure (I11.0); its
// correction (version 2, RPLC: CDA R2 section 4.2.3.1) states I11.0 alone,
// which withdraws the I50.1 Condition (entered-in-error); or the
// integration marks a Condition entered-in-error through FHIR (R4
// Condition.verificationStatus, a modifier). The plan stands, but its
// requests must name only the diagnoses that still stand
// (ServiceRequest.reasonReference: R4 "explanation/justification for
// procedure or service"): a recipient is not pointed at a withdrawn one.
func TestCorrectedDiagnosisLeavesThePlan(t *testing.T) {
	t.Parallel()
	type request struct {
		ID              string
		Status          string
		ReasonReference []struct{ Reference string }
		PerformerType   struct{ Coding []struct{ Code string } }
	}
	requests := func(do func(method, path, ct, body string) (int, []byte)) []request {
		t.Helper()
		_, b := do("GET", "/fhir/ServiceRequest?_count=100", "", "")
		var bundle struct{ Entry []struct{ Resource request } }
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var out []request
		for _, e := range bundle.Entry {
			if strings.HasPrefix(e.Resource.ID, "route-") {
				out = append(out, e.Resource)
			}
		}
		return out
	}
	condition := func(do func(method, path, ct, body string) (int, []byte), code string) (id, verification string) {
		t.Helper()
		_, b := do("GET", "/fhir/Condition?code="+code, "", "")
		var bundle struct {
			Entry []struct {
				Resource struct {
					ID                 string
					VerificationStatus struct{ Coding []struct{ Code string } }
				}
			}
		}
		if err := json.Unmarshal(b, &bundle); err != nil || len(bundle.Entry) != 1 {
			t.Fatalf("Condition %s: %v %s", code, err, b)
		}
		r := bundle.Entry[0].Resource
		if len(r.VerificationStatus.Coding) > 0 {
			verification = r.VerificationStatus.Coding[0].Code
		}
		return r.ID, verification
	}
	for _, c := range []struct {
		name    string
		correct func(t *testing.T, do func(method, path, ct, body string) (int, []byte), withdrawn string)
	}{
		{"corrected letter", func(t *testing.T, do func(method, path, ct, body string) (int, []byte), _ string) {
			if code, b := do("POST", "/ingest/cda", "application/hl7-cda+xml", ldl(roubaix, 2, "20260421090000+0200", "I11.0")); code != 200 {
				t.Fatalf("the corrected letter: %d %s", code, b)
			}
		}},
		{"FHIR patch", func(t *testing.T, do func(method, path, ct, body string) (int, []byte), withdrawn string) {
			patch := `[{"op":"remove","path":"/clinicalStatus"},{"op":"add","path":"/verificationStatus","value":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"entered-in-error"}]}}]`
			if code, b := do("PATCH", "/fhir/Condition/"+withdrawn, "application/json-patch+json", patch); code != 200 {
				t.Fatalf("withdrawing Condition/%s: %d %s", withdrawn, code, b)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			do := letterServer(t)
			if code, b := do("POST", "/ingest/cda", "application/hl7-cda+xml", ldl(roubaix, 1, "20260420140000+0200", "I50.1", "I11.0")); code != 200 {
				t.Fatalf("the letter: %d %s", code, b)
			}
			if got := routedPathways(t, do, 1); got["heart-failure"] != "active" {
				t.Fatalf("the stay's plans: %v", got)
			}
			withdrawn, _ := condition(do, "I50.1")
			kept, _ := condition(do, "I11.0")
			before := requests(do)
			health := 0
			for _, sr := range before {
				if len(sr.ReasonReference) == 2 {
					health++
				}
			}
			if health == 0 {
				t.Fatalf("no request names both diagnoses: %+v", before)
			}
			c.correct(t, do, withdrawn)
			if _, v := condition(do, "I50.1"); v != "entered-in-error" {
				t.Fatalf("the I50.1 Condition is %q, want entered-in-error", v)
			}
			if got := routedPathways(t, do, 1); len(got) != 1 || got["heart-failure"] != "active" {
				t.Errorf("the plans after the correction: %v, want the heart-failure one standing", got)
			}
			after := requests(do)
			named := 0
			for _, sr := range after {
				for _, r := range sr.ReasonReference {
					switch r.Reference {
					case "Condition/" + withdrawn:
						t.Errorf("ServiceRequest/%s (%v) still names the withdrawn Condition/%s", sr.ID, sr.PerformerType.Coding, withdrawn)
					case "Condition/" + kept:
						named++
					}
				}
			}
			if named != health {
				t.Errorf("%d requests name the diagnosis that stands, want %d", named, health)
			}
			validateServed(t, do, "CarePlan", "ServiceRequest", "Task", "Condition")
		})
	}
}

// validateServed runs the independent FHIR validator over every resource
// of types the server serves (RELAIS_VALIDATE, as make test sets it).
func validateServed(t *testing.T, do func(method, path, ct, body string) (int, []byte), types ...string) {
	t.Helper()
	if os.Getenv("RELAIS_VALIDATE") == "" {
		return
	}
	dir := t.TempDir()
	for _, typ := range types {
		_, b := do("GET", "/fhir/"+typ+"?_count=1000", "", "")
		var bundle struct {
			Entry []struct{ Resource json.RawMessage }
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		for i, e := range bundle.Entry {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.json", typ, i)), e.Resource, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	fhirtest.RunValidator(t, dir)
}
