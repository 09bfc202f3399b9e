package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
)

// The patient's GP, named by PD1-4 as IHE PAM France names a professional
// (XCN-1 her IDNPS, 8 + RPPS; XCN-9 the ASIP-SANTE-PS authority), and the
// directory entries her software signs in with.
const (
	deletionGP        = "810000009101^LEGRAND^Paul^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^RPPS"
	deletionDirectory = `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":{"resourceType":"Organization","id":"cabinet","active":true,"name":"Cabinet"},"request":{"method":"PUT","url":"Organization/cabinet"}},
	 {"resource":{"resourceType":"Practitioner","id":"gp-p","identifier":[{"system":"https://rpps.esante.gouv.fr","value":"10000009101"}],"name":[{"family":"Legrand"}]},"request":{"method":"PUT","url":"Practitioner/gp-p"}},
	 {"resource":{"resourceType":"PractitionerRole","id":"gp","active":true,"practitioner":{"reference":"Practitioner/gp-p"},"organization":{"reference":"Organization/cabinet"},
	   "code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"10"}]}],
	   "specialty":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale","code":"SM54"}]}]},
	  "request":{"method":"PUT","url":"PractitionerRole/gp"}}]}`
)

// withGP is an HL7 v2 message whose patient's GP is deletionGP (PD1-4).
func withGP(msg string) string {
	return strings.Replace(msg, "\rPV1|", "\rPD1||||"+deletionGP+"\rPV1|", 1)
}

// mdmDeletion is the deletion of the letter docID of the stay s as the ANS
// CI-SIS volet "Transmission de documents CDA en HL7 v2" sends it
// (évènements déclenchants): an MDM^T04^MDM_T02 whose ORC-1 is CA (cancel)
// and whose OBX-11 is D (deleted, HL7 table 0085), carrying the deleted
// document doc.
func mdmDeletion(s letterStay, control, at, docID, doc string) string {
	m := mdm(s, control, at, docID, "text", "XML", doc)
	m = strings.Replace(m, "MDM^T02^MDM_T02", "MDM^T04^MDM_T02", 1)
	m = strings.Replace(m, "EVN|T02|", "EVN|T04|", 1)
	m = strings.Replace(m, "\rTXA|", "\rORC|CA\rOBR|1|||11490-0^Lettre de liaison^LN\rTXA|", 1)
	return strings.Replace(m, "||||||F\r", "||||||D\r", 1)
}

// oruDocument is an ORU^R01 of the stay s as the same volet sends a
// document (ORC-1 NW, OBX-11 F) or its deletion (ORC-1 CA, OBX-11 D): the
// order CR-9100 whose report the document doc is.
func oruDocument(s letterStay, control, at, orderControl, status, doc string) string {
	return strings.Join([]string{
		`MSH|^~\&|SIL|CHROUBAIX|RELAIS|RELAIS|` + at + `||ORU^R01^ORU_R01|` + control + `|P|2.5||||||UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2`,
		`PID|1||` + s.ipp + `^^^CHROUBAIX&1.2.250.1.888.1.3&ISO^PI||` + s.family + `^Odette^^^^^L||19490915|F|||8 place de la Liberté^^Roubaix^^59100^FRA^H`,
		`PV1|1|I|CARDIO^^^CHROUBAIX||||||||||||||||` + s.visit + `^^^CHROUBAIX&1.2.250.1.888.1.4&ISO^VN`,
		`ORC|` + orderControl + `|CMD-9100^CHROUBAIX|CR-9100^CHROUBAIX`,
		`OBR|1|CMD-9100^CHROUBAIX|CR-9100^CHROUBAIX|11490-0^Lettre de liaison^LN|||` + at + `|||||||||||||||` + at + `||OTH|F`,
		`OBX|1|ED|11490-0^Lettre de liaison^LN||^TEXT^XML^Base64^` + base64.StdEncoding.EncodeToString([]byte(doc)) + `||||||` + status,
	}, "\r") + "\r"
}

// TestDeletedLetterWithdrawn is the hospital integrator whose EHR sends
// its discharge letter in HL7 v2 as the ANS CI-SIS volet "Transmission de
// documents CDA en HL7 v2" has it (an MDM T02, or an ORU R01), then
// deletes it (the letter was filed against the wrong stay: HL7 v2.5
// section 9.2.1.2, canceled) with the volet's deletion, an MDM T04 or an
// ORU R01 with ORC-1 CA and OBX-11 D. Relais stored the deletion as a
// current letter. Now what the letter stated is withdrawn, its history
// kept, as a replaced version's statements are: the diagnosis
// entered-in-error, the Composition and every DocumentReference of the
// letter entered-in-error, the report of the cancelled order
// entered-in-error; the patient's GP, reading with her own token, no
// longer finds any of it current; and the plan routed on the letter's
// diagnosis is withdrawn (diagnosis-withdrawn).
func TestDeletedLetterWithdrawn(t *testing.T) {
	t.Parallel()
	letter := ldl(roubaix, 1, "20260420140000+0200", "I50.1")
	for _, c := range []struct {
		name, send, delete string
		routed             bool // the letter in an MDM discharges the stay, which is routed
	}{
		{"MDM T02, MDM T04",
			withGP(mdm(roubaix, "MDM-9100", "20260420140500+0200", "LDL-9100-1", "text", "XML", letter)),
			withGP(mdmDeletion(roubaix, "DEL-9100", "20260421090000+0200", "LDL-9100-1", letter)), true},
		{"ORU NW, ORU CA",
			withGP(oruDocument(roubaix, "ORU-9100", "20260420140500+0200", "NW", "F", letter)),
			withGP(oruDocument(roubaix, "DEL-9100", "20260421090000+0200", "CA", "D", letter)), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, base := routingServer(t)
			mint := func(scope, fhirUser string) string {
				tok, err := f.key.Mint(auth.MintOptions{Scope: scope, FHIRUser: fhirUser})
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			system, gp := mint("system/*.cruds", ""), mint("user/*.cruds", "PractitionerRole/gp")
			do := func(method, path, ct, body string) (int, []byte) {
				t.Helper()
				return call(t, method, base+path, ct, body, system)
			}
			if code, b := do("POST", "/fhir", "application/fhir+json", deletionDirectory); code != 200 {
				t.Fatalf("the directory: %d %s", code, b)
			}
			ingest := func(msg string) {
				t.Helper()
				if code, ack := do("POST", "/ingest/hl7v2", "x-application/hl7-v2+er7", msg); code != 200 || !bytes.Contains(ack, []byte("MSA|AA")) {
					t.Fatalf("HL7 v2: %d %s", code, ack)
				}
			}
			ingest(c.send)
			var patient string
			{
				_, b := do("GET", "/fhir/Patient?identifier="+url.QueryEscape("urn:oid:1.2.250.1.888.1.3|"+roubaix.ipp), "", "")
				var bundle struct {
					Entry []struct{ Resource struct{ ID string } }
				}
				if err := json.Unmarshal(b, &bundle); err != nil || len(bundle.Entry) != 1 {
					t.Fatalf("the patient: %v %s", err, b)
				}
				patient = "Patient/" + bundle.Entry[0].Resource.ID
			}
			// what her GP reads of her, by type: each resource's status
			// (a Condition's verification status)
			asGP := func(typ string) []string {
				t.Helper()
				code, b := call(t, "GET", base+"/fhir/"+typ+"?patient="+patient, "", "", gp)
				if code != 200 {
					t.Fatalf("the GP reads %s: %d %s", typ, code, b)
				}
				var bundle struct {
					Entry []struct {
						Resource struct {
							Status             string
							ClinicalStatus     struct{ Coding []struct{ Code string } }
							VerificationStatus struct{ Coding []struct{ Code string } }
						}
					}
				}
				if err := json.Unmarshal(b, &bundle); err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, e := range bundle.Entry {
					r := e.Resource
					switch {
					case len(r.VerificationStatus.Coding) > 0:
						out = append(out, r.VerificationStatus.Coding[0].Code)
					case len(r.ClinicalStatus.Coding) > 0:
						out = append(out, r.ClinicalStatus.Coding[0].Code)
					default:
						out = append(out, r.Status)
					}
				}
				return out
			}
			if got := asGP("Condition"); len(got) != 1 || got[0] != "active" {
				t.Fatalf("before the deletion, the GP reads Conditions %v, want the letter's active one", got)
			}
			if c.routed {
				if got := routedPathways(t, do, 1); got["heart-failure"] != "active" {
					t.Fatalf("the stay's plans: %v", got)
				}
			}

			ingest(c.delete)
			for typ, want := range map[string]string{"Condition": "entered-in-error", "Composition": "entered-in-error", "DocumentReference": "entered-in-error"} {
				got := asGP(typ)
				if len(got) == 0 {
					t.Errorf("the GP reads no %s: its history is kept", typ)
				}
				for _, s := range got {
					if s != want {
						t.Errorf("after the deletion, the GP reads a %s %s (%v), want every one %s", typ, s, got, want)
					}
				}
			}
			if !c.routed {
				if got := asGP("DiagnosticReport"); len(got) != 1 || got[0] != "entered-in-error" {
					t.Errorf("the report of the cancelled order: %v, want entered-in-error", got)
				}
			}
			if c.routed {
				var got map[string]string
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if got = routedPathways(t, do, 1); got["heart-failure"] == "revoked" {
						break
					}
				}
				if got["heart-failure"] != "revoked" {
					t.Errorf("the plan made on the deleted letter's diagnosis: %v, want revoked", got)
				}
			}
			validateServed(t, do, "Condition", "Composition", "DocumentReference", "DiagnosticReport", "Provenance", "CarePlan", "Task")
		})
	}
}
