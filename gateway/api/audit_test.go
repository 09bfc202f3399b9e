package api_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/auth"
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
		!strings.Contains(string(dec.body), `"detail":[{"type":"decision","valueString":"`) {
		t.Fatalf("decision event: %s", dec.body)
	}
	if r := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", ""); r.status != 200 || !strings.Contains(string(r.body), `"permit":true`) ||
		!strings.Contains(string(r.body), `"resource":"Observation/o-clin"`) {
		t.Fatalf("decision log: %d %s", r.status, r.body)
	}
	all := e.do("GET", "/fhir/AuditEvent?_count=1000", "")
	validate(t, map[string][]byte{"AuditEvent-searchset": all.body, "Patient-p1-disclosures": e.do("GET", "/fhir/Patient/p1/$disclosures", "").body})
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
	if r := e.do("GET", "/admin/audit/checkpoint", ""); r.status != 404 {
		t.Errorf("a checkpoint before any was signed: %d", r.status)
	}
	if r := e.do("POST", "/admin/audit/checkpoint", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("a professional signed a checkpoint: %d", r.status)
	}
	var c struct {
		TreeSize  uint64 `json:"treeSize"`
		RootHash  []byte `json:"rootHash"`
		KeyID     string `json:"keyId"`
		Signature []byte `json:"signature"`
		Note      string `json:"note"`
	}
	cp := e.do("POST", "/admin/audit/checkpoint", "")
	if err := json.Unmarshal(cp.body, &c); err != nil || cp.status != 200 || c.TreeSize <= index || len(c.Signature) != 64 {
		t.Fatalf("checkpoint: %d %s", cp.status, cp.body)
	}
	if latest := e.do("GET", "/admin/audit/checkpoint", ""); latest.status != 200 || !strings.Contains(string(latest.body), c.KeyID) {
		t.Errorf("latest checkpoint: %d %s", latest.status, latest.body)
	}
	// the patient checks her entries against the signed root: she may
	// read the latest checkpoint, not sign one; a professional neither
	if latest := e.do("GET", "/admin/audit/checkpoint", "", "Authorization", patient); latest.status != 200 || !strings.Contains(string(latest.body), c.KeyID) {
		t.Errorf("the patient's latest checkpoint: %d %s", latest.status, latest.body)
	}
	if r := e.do("POST", "/admin/audit/checkpoint", "", "Authorization", patient); r.status != 403 {
		t.Errorf("the patient signed a checkpoint: %d", r.status)
	}
	if r := e.do("GET", "/admin/audit/checkpoint", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("a professional read the checkpoint: %d", r.status)
	}
	var key struct {
		KeyID     string `json:"keyId"`
		PublicKey []byte `json:"publicKey"`
	}
	if k := e.do("GET", "/admin/audit/key", ""); json.Unmarshal(k.body, &key) != nil || key.KeyID != c.KeyID {
		t.Errorf("key: %d %s", k.status, k.body)
	}
	body := fmt.Sprintf("relais/audit\n%d\n%s\ntime ", c.TreeSize, base64.StdEncoding.EncodeToString(c.RootHash))
	if !strings.HasPrefix(c.Note, body) || !ed25519.Verify(key.PublicKey, []byte(c.Note[:strings.Index(c.Note, "\n\n")+1]), c.Signature) {
		t.Errorf("the note's body does not verify with the served key: %q", c.Note)
	}
	size := c.TreeSize
	pr := e.do("GET", fmt.Sprintf("/admin/audit/proof?index=%d&treeSize=%d", index, size), "", "Authorization", patient)
	var p struct {
		LeafHash  []byte   `json:"leafHash"`
		Inclusion [][]byte `json:"inclusion"`
		RootHash  []byte   `json:"rootHash"`
	}
	if err := json.Unmarshal(pr.body, &p); err != nil || pr.status != 200 {
		t.Fatalf("proof: %d %s", pr.status, pr.body)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, p.LeafHash, p.Inclusion, c.RootHash); err != nil {
		t.Errorf("inclusion proof against the signed checkpoint: %v", err)
	}
	if r := e.do("GET", fmt.Sprintf("/admin/audit/proof?from=%d&treeSize=%d", index+1, size), "", "Authorization", patient); r.status != 403 {
		t.Errorf("a patient asked for a consistency proof: %d", r.status)
	}
	cons := e.do("GET", fmt.Sprintf("/admin/audit/proof?from=%d&treeSize=%d", index+1, size), "")
	var cp2 struct {
		FromRoot    []byte   `json:"fromRoot"`
		Consistency [][]byte `json:"consistency"`
	}
	if err := json.Unmarshal(cons.body, &cp2); err != nil || cons.status != 200 {
		t.Fatalf("consistency: %d %s", cons.status, cons.body)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, index+1, size, cp2.Consistency, cp2.FromRoot, c.RootHash); err != nil {
		t.Errorf("consistency proof: %v", err)
	}
}

// TestSystemReadsDisclosed: what a backend service reads about a patient
// (a read, a search) is in her disclosure log, naming the client, and in
// no other patient's.
func TestSystemReadsDisclosed(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	tok, err := e.key.Mint(auth.MintOptions{Scope: "system/*.rs", ClientID: "lab-feed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/fhir/Observation/o-clin", "/fhir/Observation?patient=p1"} {
		if r := e.do("GET", path, "", "Authorization", "Bearer "+tok); r.status != 200 {
			t.Fatalf("GET %s = %d", path, r.status)
		}
	}
	count := func(patient string) (reads, searches int) {
		r := e.do("GET", "/fhir/Patient/"+patient+"/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/"+patient))
		if r.status != 200 {
			t.Fatalf("%s's disclosures: %d %s", patient, r.status, r.body)
		}
		var b struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		_ = json.Unmarshal(r.body, &b)
		for _, en := range b.Entry {
			ev := string(en.Resource)
			if !strings.Contains(ev, "lab-feed") {
				continue
			}
			switch {
			case strings.Contains(ev, `"code":"read"`) && strings.Contains(ev, `"reference":"Observation/o-clin"`):
				reads++
			case strings.Contains(ev, `"code":"search-type"`):
				searches++
			}
		}
		return reads, searches
	}
	if reads, searches := count("p1"); reads != 1 || searches != 1 {
		t.Errorf("p1's disclosure log lists %d reads and %d searches by the client, want 1 and 1", reads, searches)
	}
	if reads, searches := count("p2"); reads+searches != 0 {
		t.Errorf("p2's disclosure log lists %d reads and %d searches of p1's data", reads, searches)
	}
	// A search across both: each finds it in her log, naming nobody else.
	if r := e.do("GET", "/fhir/Observation?_count=100", "", "Authorization", "Bearer "+tok); r.status != 200 {
		t.Fatalf("search across patients: %d", r.status)
	}
	for _, c := range []struct{ patient, other string }{{"p1", "p2"}, {"p2", "p1"}} {
		r := e.do("GET", "/fhir/Patient/"+c.patient+"/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/"+c.patient))
		if !strings.Contains(string(r.body), "lab-feed") || strings.Contains(string(r.body), `"Patient/`+c.other+`"`) {
			t.Errorf("%s's disclosure log after a search across patients: %s", c.patient, r.body)
		}
	}
}

// TestNothingWithheldIsNoDenial: a professional's search that matches
// nothing withheld nothing: its decision is a permit and the deny count
// does not move; a read of a resource that does not exist is not a
// successful disclosure.
func TestNothingWithheldIsNoDenial(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp := e.as("PractitionerRole/gp")
	denies := e.cfg.Consent.Stats().Denies
	r := e.do("GET", "/fhir/MedicationRequest?patient=p1", "", "Authorization", gp)
	id := r.header.Get("X-Consent-Decision")
	if r.status != 200 || id == "" {
		t.Fatalf("empty search: %d, decision %q", r.status, id)
	}
	if d := e.cfg.Consent.Stats().Denies - denies; d != 0 {
		t.Errorf("an empty search counted %d denials", d)
	}
	log := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", "")
	if !strings.Contains(string(log.body), `"id":"`+id+`"`) || strings.Contains(string(log.body), `"permit":false`) {
		t.Errorf("the empty search's decision %s: %s", id, log.body)
	}
	e.do("GET", "/fhir/Observation/nothing-here", "", "Authorization", gp)
	if ev := e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/gp&entity=Observation/nothing-here&outcome=0", ""); ev.status != 200 || ev.json(t)["entry"] != nil {
		t.Errorf("a read of nothing recorded as a successful disclosure: %s", ev.body)
	}
}

// TestDecisionNamesItsConsents: a read and a search the patient's
// objection withheld, and a search her care team's base policy passed,
// are recorded with what decided them: the Consent (IHE BALP AuthZ
// consent: the consents that decided), else the base-policy rule.
func TestDecisionNamesItsConsents(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/Consent/no-nurse", `{"resourceType":"Consent","id":"no-nurse","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/nurse"}}]}}`)
	nurse, gp := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/gp")
	for _, c := range []struct {
		path, token, actor, want string
	}{
		{"/fhir/Observation/o-clin", nurse, "PractitionerRole/nurse", `"basis":["Consent/no-nurse"]`},
		{"/fhir/Observation?subject=Patient/p1", nurse, "PractitionerRole/nurse", `"basis":["Consent/no-nurse"]`},
		{"/fhir/Observation?subject=Patient/p1", gp, "PractitionerRole/gp", `"policy":"care-team sensitive-label-not-named"`},
	} {
		r := e.do("GET", c.path, "", "Authorization", c.token)
		id := r.header.Get("X-Consent-Decision")
		log := string(e.do("GET", "/admin/decisions?actor="+c.actor, "").body)
		if id == "" || !strings.Contains(log, c.want) {
			t.Errorf("%s as %s (decision %s): %s lacks %s", c.path, c.actor, id, log, c.want)
		}
	}
	ev := e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/nurse", "")
	if !strings.Contains(string(ev.body), `"reference":"Consent/no-nurse"`) {
		t.Errorf("the nurse's denied read names no Consent: %s", ev.body)
	}
}

// TestEvaluationIsTheAskers: a consent officer's what-if about the physio
// is recorded as the officer's evaluation, naming the physio only as the
// actor evaluated: the physio's own log and AuditEvents show no refusal.
func TestEvaluationIsTheAskers(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/PractitionerRole/officer", `{"resourceType":"PractitionerRole","id":"officer","active":true,"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}]}`)
	ask := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},` +
		`{"name":"actor","valueReference":{"reference":"PractitionerRole/physio-elsewhere"}},{"name":"resourceType","valueCode":"Observation"}]}`
	r := e.do("POST", "/fhir/Consent/$evaluate", ask, "Authorization", e.as("PractitionerRole/officer"))
	id := r.header.Get("X-Consent-Decision")
	if r.status != 200 || id == "" {
		t.Fatalf("$evaluate: %d %s", r.status, r.body)
	}
	if log := string(e.do("GET", "/admin/decisions?actor=PractitionerRole/physio-elsewhere", "").body); strings.Contains(log, id) {
		t.Errorf("the what-if is in the physio's decisions: %s", log)
	}
	if ev := string(e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/physio-elsewhere", "").body); strings.Contains(ev, id) {
		t.Errorf("the what-if is among the physio's AuditEvents: %s", ev)
	}
	log := string(e.do("GET", "/admin/decisions?actor=PractitionerRole/officer", "").body)
	if !strings.Contains(log, `"id":"`+id+`"`) || !strings.Contains(log, `"evaluated":"PractitionerRole/physio-elsewhere"`) {
		t.Errorf("the officer's what-if: %s", log)
	}
}

// TestDocumentImportNamesItsSender: a discharge letter sent by a hospital's
// integration is recorded as imported from that caller, with its token's
// jti, not from an unknown sender.
func TestDocumentImportNamesItsSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	tok := "Bearer " + e.mint("system/*.cruds", "Organization/chu-integration")
	if r := e.do("POST", "/ingest/cda", fixture(t, "cisis-ldl-ses.xml"), "Content-Type", "application/hl7-cda+xml", "Authorization", tok); r.status != 200 {
		t.Fatalf("CDA: %d %s", r.status, r.body)
	}
	ev := string(e.do("GET", "/fhir/AuditEvent?agent=Organization/chu-integration", "").body)
	if !strings.Contains(ev, "110107") || strings.Contains(ev, "unknown sender") || !strings.Contains(ev, `"policy":[`) {
		t.Errorf("the letter's import event: %s", ev)
	}
}
