package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// Two records of one person at one hospital: A (654321) and B (123456).
const mergeSystem = "urn:oid:1.2.250.1.999.1.1"

func hl7(event, control, ipp string, segs ...string) string {
	s := "MSH|^~\\&|APP|HOP^1.2.250.1.999.1.1^ISO|RELAIS|RELAIS|20260305100000+0100||" + event + "|" + control + "|P|2.5\r" +
		"EVN||20260305100000+0100\r" +
		"PID|1||" + ipp + "^^^HOP&1.2.250.1.999.1.1&ISO^PI||DUPONT^JEANNE^^^^^L||19800515|F\r"
	for _, seg := range segs {
		s += seg + "\r"
	}
	return s
}

// versionOf reads meta.versionId of a resource (system token).
func (e *env) versionOf(path string) string {
	e.t.Helper()
	r := e.do("GET", path, "")
	var v struct{ Meta struct{ VersionID string } }
	if r.status != 200 || json.Unmarshal(r.body, &v) != nil {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return v.Meta.VersionID
}

// TestMergeAndConsents: A has a result and objects to the nurse; B has
// her in her care team and permits her. An A40 merges A into B: A's data is B's, A is retired, and the
// nurse is refused B's data too (A's objection applies: the stricter
// answer) until the merge, listed for review, is looked at. The A40 again
// changes nothing; one naming an unknown prior patient is AE and stores
// nothing.
func TestMergeAndConsents(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.ingest("/ingest/hl7v2", hl7ct, hl7("ADT^A01^ADT_A01", "A01-A", "654321", "PV1|1|I|||||||||||||||||VA^^^HOP&1.2.250.1.999.1.1&ISO^VN"))
	e.ingest("/ingest/hl7v2", hl7ct, hl7("ORU^R01^ORU_R01", "ORU-A", "654321",
		"OBR|1|ORU-A^APP||2345-7^Glucose^LN|||20260304080000+0100", "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L^^UCUM|||||F"))
	e.ingest("/ingest/hl7v2", hl7ct, hl7("ADT^A01^ADT_A01", "A01-B", "123456", "PV1|1|I|||||||||||||||||VB^^^HOP&1.2.250.1.999.1.1&ISO^VN"))
	as, bs := e.patientsWith(mergeSystem, "654321"), e.patientsWith(mergeSystem, "123456")
	if len(as) != 1 || len(bs) != 1 || as[0] == bs[0] {
		t.Fatalf("patients A %v, B %v", as, bs)
	}
	a, b := "Patient/"+as[0], "Patient/"+bs[0]
	put := func(path, body string) {
		t.Helper()
		if r := e.do("PUT", path, body, "Content-Type", "application/fhir+json"); r.status != 201 && r.status != 200 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	put("/fhir/Consent/obj-a", benchConsent("obj-a", a, "OPTOUT", "PractitionerRole/nurse", ""))
	// The nurse is in B's care team (sharing permitted by law) and B
	// permits her CLIN data explicitly too.
	put("/fhir/CareTeam/ct-b", `{"resourceType":"CareTeam","id":"ct-b","status":"active","subject":{"reference":"`+b+`"},"participant":[{"member":{"reference":"PractitionerRole/nurse"}}]}`)
	put("/fhir/Consent/permit-b", benchConsent("permit-b", b, "OPTIN", "PractitionerRole/nurse", "CLIN"))
	nurse := e.as("PractitionerRole/nurse")
	_, encB := ids(t, e.do("GET", "/fhir/Encounter?patient="+b, "").body)
	_, obsA := ids(t, e.do("GET", "/fhir/Observation?patient="+a, "").body)
	if len(encB) != 1 || len(obsA) != 1 {
		t.Fatalf("B's Encounters %v, A's Observations %v", encB, obsA)
	}
	if r := e.do("GET", "/fhir/"+encB[0], "", "Authorization", nurse); r.status != 200 {
		t.Fatalf("before the merge the nurse's permit does not let her read B's Encounter: %d %s", r.status, r.body)
	}
	obsVersion := e.versionOf("/fhir/" + obsA[0])

	e.ingest("/ingest/hl7v2", hl7ct, hl7("ADT^A40^ADT_A39", "A40-1", "123456", "MRG|654321^^^HOP&1.2.250.1.999.1.1&ISO^PI"))

	if total, got := ids(t, e.do("GET", "/fhir/Observation?patient="+b, "").body); total != 1 || got[0] != obsA[0] {
		t.Errorf("Observation?patient=B: %d %v, want %v", total, got, obsA)
	}
	if total, _ := ids(t, e.do("GET", "/fhir/Observation?patient="+a, "").body); total != 0 {
		t.Errorf("Observation?patient=A finds %d", total)
	}
	if r := e.do("GET", "/fhir/"+obsA[0]+"/_history", ""); r.status != 200 || !strings.Contains(string(r.body), `"reference":"`+a+`"`) {
		t.Errorf("the moved Observation's history lacks the version naming A: %d %s", r.status, r.body)
	}
	pa := e.do("GET", "/fhir/"+a, "")
	if !strings.Contains(string(pa.body), `"active":false`) || !strings.Contains(string(pa.body), `"replaced-by"`) {
		t.Errorf("A not retired: %s", pa.body)
	}
	// The nurse: B's care team and permit alone would let her read B's
	// Encounter; A's
	// objection, which now governs B too, refuses her.
	if r := e.do("GET", "/fhir/"+encB[0], "", "Authorization", nurse); r.status == 200 {
		t.Errorf("after the merge the nurse reads B's Encounter")
	}
	if total, got := ids(t, e.do("GET", "/fhir/Observation?patient="+b, "", "Authorization", nurse).body); total != 0 || len(got) != 0 {
		t.Errorf("after the merge the nurse finds B's Observations %v", got)
	}
	rv := e.do("GET", "/admin/identity/review", "")
	if !strings.Contains(string(rv.body), `"kind":"merge","resources":["`+a+`","`+b+`"]`) || !strings.Contains(string(rv.body), `"message":"A40-1"`) {
		t.Errorf("merge not in the review list: %s", rv.body)
	}

	// The merge again, as another message: the same versions.
	versions := []string{e.versionOf("/fhir/" + a), e.versionOf("/fhir/" + b), e.versionOf("/fhir/" + obsA[0]), e.versionOf("/fhir/Consent/obj-a")}
	if versions[2] == obsVersion {
		t.Errorf("the moved Observation kept version %s", obsVersion)
	}
	e.ingest("/ingest/hl7v2", hl7ct, hl7("ADT^A40^ADT_A39", "A40-2", "123456", "MRG|654321^^^HOP&1.2.250.1.999.1.1&ISO^PI"))
	again := []string{e.versionOf("/fhir/" + a), e.versionOf("/fhir/" + b), e.versionOf("/fhir/" + obsA[0]), e.versionOf("/fhir/Consent/obj-a")}
	if strings.Join(again, ",") != strings.Join(versions, ",") {
		t.Errorf("versions after the merge again %v, want %v", again, versions)
	}

	// An unknown prior patient: AE, nothing stored.
	n := e.stored()
	r := e.do("POST", "/ingest/hl7v2", hl7("ADT^A40^ADT_A39", "A40-3", "123456", "MRG|999999^^^HOP&1.2.250.1.999.1.1&ISO^PI"), "Content-Type", hl7ct)
	if got := msa(t, r); !strings.HasPrefix(got, "AE") || !strings.Contains(string(r.body), "204") {
		t.Errorf("unknown prior: %s", r.body)
	}
	if got := e.stored(); got != n {
		t.Errorf("unknown prior stored %d versions", got-n)
	}
}
