package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/mappings/terminology"
)

// consentEnv stores one patient with a GP and a nurse in her care team, a
// social worker outside it, and four Observations: plain (CLIN), FUNC, and
// one labelled PSY; plus another patient's Observation.
func consentEnv(t *testing.T) *env {
	t.Helper()
	return withConsentData(t, newEnv(t, 0))
}

// withConsentData stores consentEnv's data in e.
func withConsentData(t *testing.T, e *env) *env {
	t.Helper()
	put := func(path, body string) {
		t.Helper()
		if r := e.do("PUT", path, body); r.status != 201 && r.status != 200 {
			t.Fatalf("PUT %s = %d %s", path, r.status, r.body)
		}
	}
	role := func(id, system, code string) {
		put("/fhir/PractitionerRole/"+id, fmt.Sprintf(`{"resourceType":"PractitionerRole","id":"%s","active":true,"code":[{"coding":[{"system":"%s","code":"%s"}]}]}`, id, system, code))
	}
	role("gp", terminology.TREG15, "10")
	role("nurse", terminology.TREG15, "60")
	role("physio-elsewhere", terminology.TREG15, "70")
	role("social", terminology.TRER94, "SW")
	put("/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`)
	put("/fhir/Patient/p2", `{"resourceType":"Patient","id":"p2"}`)
	put("/fhir/CareTeam/ct1", `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/nurse"}}]}`)
	obs := func(id, patient, meta string) {
		put("/fhir/Observation/"+id, fmt.Sprintf(`{"resourceType":"Observation","id":"%s","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}%s}`, id, patient, meta))
	}
	obs("o-clin", "p1", "")
	obs("o-func", "p1", `,"meta":{"security":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"FUNC"}]}`)
	obs("o-psy", "p1", `,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}`)
	obs("o-other", "p2", "")
	return e
}

func (e *env) as(fhirUser string) string { return "Bearer " + e.mint("user/*.cruds", fhirUser) }

func ids(t *testing.T, body []byte) (total int, out []string) {
	t.Helper()
	var b struct {
		Total *int
		Entry []struct {
			Resource struct{ ResourceType, ID string }
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not a Bundle: %s", body)
	}
	for _, en := range b.Entry {
		if en.Search.Mode != "outcome" && en.Resource.ID != "" {
			out = append(out, en.Resource.ResourceType+"/"+en.Resource.ID)
		}
	}
	if b.Total != nil {
		total = *b.Total
	}
	return total, out
}

func TestConsentNoLeak(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp, social, stranger := e.as("PractitionerRole/gp"), e.as("PractitionerRole/social"), e.as("PractitionerRole/physio-elsewhere")

	// Search: the PSY Observation and the other patient's are filtered
	// before paging; total counts only what may be seen, pages are full.
	total, got := ids(t, e.do("GET", "/fhir/Observation?_count=1&_sort=_id", "", "Authorization", gp).body)
	if total != 2 || len(got) != 1 || got[0] != "Observation/o-clin" {
		t.Fatalf("GP first page: total %d %v", total, got)
	}
	r := e.do("GET", "/fhir/Observation?_count=1&_sort=_id", "", "Authorization", gp)
	var page struct {
		Link []struct{ Relation, URL string }
	}
	_ = json.Unmarshal(r.body, &page)
	next := ""
	for _, l := range page.Link {
		if l.Relation == "next" {
			next = l.URL
		}
	}
	if _, got := ids(t, e.do("GET", next, "", "Authorization", gp).body); len(got) != 1 || got[0] != "Observation/o-func" {
		t.Errorf("GP second page: %v", got)
	}
	// The link is the GP's: the same subject acting as another fhirUser,
	// or with other scopes, gets what an expired link gets.
	sameSubject, err := e.key.Mint(auth.MintOptions{Scope: "user/*.cruds", FHIRUser: "PractitionerRole/social", Subject: "PractitionerRole/gp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"Bearer " + sameSubject, "Bearer " + e.mint("user/Observation.rs", "PractitionerRole/gp")} {
		if r := e.do("GET", next, "", "Authorization", other); r.status != 410 {
			t.Errorf("another caller's next link = %d, want 410 as expired", r.status)
		}
	}
	if total, _ := ids(t, e.do("GET", "/fhir/Observation?_summary=count", "", "Authorization", gp).body); total != 2 {
		t.Errorf("_summary=count = %d, want 2", total)
	}
	// _revinclude and _include.
	_, got = ids(t, e.do("GET", "/fhir/Patient?_id=p1&_revinclude=Observation:subject", "", "Authorization", gp).body)
	if strings.Contains(strings.Join(got, " "), "o-psy") || len(got) != 3 {
		t.Errorf("revinclude leaks or misses: %v", got)
	}
	_, got = ids(t, e.do("GET", "/fhir/Observation?_id=o-clin,o-other&_include=Observation:subject", "", "Authorization", gp).body)
	if strings.Join(got, " ") != "Observation/o-clin Patient/p1" {
		t.Errorf("include: %v", got)
	}
	// History and reads.
	_, got = ids(t, e.do("GET", "/fhir/Observation/_history", "", "Authorization", gp).body)
	if strings.Contains(strings.Join(got, " "), "o-psy") || strings.Contains(strings.Join(got, " "), "o-other") || len(got) != 2 {
		t.Errorf("history leaks: %v", got)
	}
	for _, c := range []struct {
		who, path string
		status    int
	}{
		{gp, "/fhir/Observation/o-clin", 200},
		{gp, "/fhir/Observation/o-psy", 404},
		{gp, "/fhir/Observation/o-psy/_history/1", 404},
		{gp, "/fhir/Observation/o-other", 404},
		{e.as("PractitionerRole/nurse"), "/fhir/Observation/o-clin", 200},
		{social, "/fhir/Patient/p1", 404},
		{social, "/fhir/Observation/o-func", 404},
		{stranger, "/fhir/Observation/o-clin", 404},
		{"Bearer " + e.token, "/fhir/Observation/o-psy", 200}, // system scope
	} {
		if r := e.do("GET", c.path, "", "Authorization", c.who); r.status != c.status {
			t.Errorf("GET %s = %d, want %d", c.path, r.status, c.status)
		}
	}
	if total, _ := ids(t, e.do("GET", "/fhir/Observation", "", "Authorization", social).body); total != 0 {
		t.Errorf("social worker without a permit sees %d Observations", total)
	}
	// An explicit permit lets the social worker receive FUNC, not CLIN.
	e.do("PUT", "/fhir/Consent/sw", `{"resourceType":"Consent","id":"sw","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"x"}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"text":"social worker"},"reference":{"reference":"PractitionerRole/social"}}]}}`)
	_, got = ids(t, e.do("GET", "/fhir/Observation?patient=p1", "", "Authorization", social).body)
	if strings.Join(got, " ") != "Observation/o-func" {
		t.Errorf("social worker with a permit sees %v, want only the FUNC Observation", got)
	}
}

// TestConsentRevocationIsImmediate objects and withdraws the objection in a
// loop, reading after each write: no read may see a stale answer.
func TestConsentRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp := e.as("PractitionerRole/gp")
	objection := func(status string) string {
		return `{"resourceType":"Consent","id":"obj","status":"` + status + `","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"objection"}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"text":"GP"},"reference":{"reference":"PractitionerRole/gp"}}]}}`
	}
	stale := 0
	for i := 0; i < 40; i++ {
		e.do("PUT", "/fhir/Consent/obj", objection("active"))
		if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", gp); r.status != 404 {
			stale++
		}
		if total, _ := ids(t, e.do("GET", "/fhir/Observation?patient=p1", "", "Authorization", gp).body); total != 0 {
			stale++
		}
		e.do("PUT", "/fhir/Consent/obj", objection("inactive"))
		if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", gp); r.status != 200 {
			stale++
		}
	}
	if stale != 0 {
		t.Errorf("%d stale answers after consent writes", stale)
	}
}

func TestConsentEvaluateAndBreakGlass(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	eval := func(params string) map[string]any {
		t.Helper()
		r := e.do("POST", "/fhir/Consent/$evaluate", `{"resourceType":"Parameters","parameter":[`+params+`]}`)
		if r.status != 200 {
			t.Fatalf("$evaluate = %d %s", r.status, r.body)
		}
		out := map[string]any{}
		var p struct{ Parameter []map[string]any }
		_ = json.Unmarshal(r.body, &p)
		for _, x := range p.Parameter {
			out[x["name"].(string)] = x
		}
		return out
	}
	base := `{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/gp"}}`
	d := eval(base + `,{"name":"resource","valueReference":{"reference":"Observation/o-clin"}}`)
	if d["decision"].(map[string]any)["valueCode"] != "permit" || d["policy"] == nil || d["decisionId"] == nil {
		t.Errorf("GP on a clinical Observation: %v", d)
	}
	d = eval(base + `,{"name":"resourceType","valueCode":"Observation"},{"name":"securityLabel","valueCoding":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}},{"name":"explain","valueBoolean":true}`)
	if d["decision"].(map[string]any)["valueCode"] != "deny" || d["explanation"] == nil {
		t.Errorf("GP on PSY: %v", d)
	}
	draft := `{"name":"consent","resource":{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"text":"x"}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"text":"GP"},"reference":{"reference":"PractitionerRole/gp"}}]}}}`
	d = eval(base + `,{"name":"resource","valueReference":{"reference":"Observation/o-clin"}},` + draft)
	if d["decision"].(map[string]any)["valueCode"] != "deny" || d["basis"] == nil {
		t.Errorf("what-if objection: %v", d)
	}
	if r := e.do("POST", "/fhir/Consent/$evaluate", `{"resourceType":"Parameters","parameter":[{"name":"actor","valueReference":{"reference":"PractitionerRole/gp"}}]}`); r.status != 400 {
		t.Errorf("$evaluate without patient = %d", r.status)
	}
	// A professional may not ask what Consents say for others.
	ask := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/social"}},{"name":"resourceType","valueCode":"Observation"}]}`
	if r := e.do("POST", "/fhir/Consent/$evaluate", ask, "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("$evaluate by a professional = %d, want 403", r.status)
	}

	gp := e.as("PractitionerRole/gp")
	if r := e.do("GET", "/fhir/Observation/o-psy", "", "Authorization", gp, "X-Purpose-Of-Use", "ETREAT"); r.status != 400 {
		t.Errorf("ETREAT without a reason = %d", r.status)
	}
	if r := e.do("GET", "/fhir/Observation/o-psy", "", "Authorization", gp, "X-Purpose-Of-Use", "ETREAT", "X-Break-Glass-Reason", "unconscious in A&E"); r.status != 200 || r.header.Get("X-Consent-Decision") == "" {
		t.Errorf("break the glass = %d", r.status)
	}
	btg := e.do("GET", "/fhir/Patient/p1/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/p1"))
	if !strings.Contains(string(btg.body), `"code":"110127"`) || !strings.Contains(string(btg.body), `"code":"BTG"`) {
		t.Errorf("break-the-glass event in her disclosures: %d %s", btg.status, btg.body)
	}
	r := e.do("GET", "/admin/decisions?breakGlass=true", "")
	var log struct{ Decisions []map[string]any }
	_ = json.Unmarshal(r.body, &log)
	if r.status != 200 || len(log.Decisions) == 0 || log.Decisions[0]["breakGlass"] != true {
		t.Errorf("decision log for review = %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/admin/decisions", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 403 {
		t.Errorf("decision log for a professional's user/*.cruds = %d, want 403", r.status)
	}
	if r := e.do("GET", "/admin/decisions", "", "Authorization", "Bearer "+e.mint("system/AuditEvent.rs", "")); r.status != 200 {
		t.Errorf("decision log with system/AuditEvent.rs = %d", r.status)
	}
}

// TestSystemScopeOnOneType: a system scope on one type does not switch
// consent off for the others. A social worker's token that also holds
// system/Organization.r reads no PSY, CLIN or other patient's data, while
// the Organization read it was given passes as a system read.
func TestSystemScopeOnOneType(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	mixed := "Bearer " + e.mint("user/*.rs system/Organization.r", "PractitionerRole/social")
	for _, path := range []string{"/fhir/Observation/o-psy", "/fhir/Observation/o-clin", "/fhir/Observation/o-other"} {
		if r := e.do("GET", path, "", "Authorization", mixed); r.status != 404 {
			t.Errorf("GET %s with a system scope on Organization only = %d, want 404", path, r.status)
		}
	}
	if _, got := ids(t, e.do("GET", "/fhir/Observation?_count=100", "", "Authorization", mixed).body); len(got) != 0 {
		t.Errorf("search with a system scope on Organization only finds %v", got)
	}
	if r := e.do("PUT", "/fhir/Organization/o1", `{"resourceType":"Organization","id":"o1","name":"CH"}`); r.status != 201 {
		t.Fatalf("PUT Organization = %d", r.status)
	}
	if r := e.do("GET", "/fhir/Organization/o1", "", "Authorization", mixed); r.status != 200 {
		t.Errorf("GET Organization under its system scope = %d, want 200", r.status)
	}
	// A system scope on every type still reads everything.
	if r := e.do("GET", "/fhir/Observation/o-psy", "", "Authorization", "Bearer "+e.mint("system/*.rs", "")); r.status != 200 {
		t.Errorf("system/*.rs read of o-psy = %d", r.status)
	}
}

// TestDenialsRecorded: a read refused by consent and a read of nothing both
// answer 404 with a decision header, and the refusal is in the decision
// log; so is a search that met nothing.
func TestDenialsRecorded(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	social := e.as("PractitionerRole/social")
	hidden := e.do("GET", "/fhir/Observation/o-psy", "", "Authorization", social)
	absent := e.do("GET", "/fhir/Observation/no-such", "", "Authorization", social)
	empty := e.do("GET", "/fhir/Observation?code=nothing", "", "Authorization", social)
	for name, r := range map[string]resp{"hidden": hidden, "absent": absent, "empty search": empty} {
		if r.header.Get("X-Consent-Decision") == "" {
			t.Errorf("%s: %d without a decision header", name, r.status)
		}
	}
	if hidden.status != 404 || absent.status != 404 || string(hidden.body) == "" {
		t.Fatalf("hidden %d, absent %d", hidden.status, absent.status)
	}
	errorID := regexp.MustCompile(`error id [0-9a-f]+`)
	if h, a := errorID.ReplaceAll(hidden.body, nil), errorID.ReplaceAll(absent.body, nil); !bytes.Equal(h, a) {
		t.Errorf("a hidden resource's answer differs from an absent one's:\n%s\n%s", h, a)
	}
	r := e.do("GET", "/admin/decisions?actor=PractitionerRole/social", "")
	var log struct{ Decisions []map[string]any }
	_ = json.Unmarshal(r.body, &log)
	denied := false
	for _, d := range log.Decisions {
		denied = denied || d["patient"] == "Patient/p1" && d["denied"] == float64(1)
	}
	if r.status != 200 || !denied {
		t.Errorf("decision log has no record of the refused read: %d %s", r.status, r.body)
	}
}

// TestAbsoluteFHIRUser: an absolute fhirUser on this server names the local
// user; one on another server is refused, even with a local-looking path.
func TestAbsoluteFHIRUser(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	for user, want := range map[string]int{
		e.url + "/fhir/PractitionerRole/gp":                                                                 200,
		"https://evil.example/fhir/PractitionerRole/gp":                                                     401,
		e.url + "/other/fhir/PractitionerRole/gp":                                                           401,
		e.url + "/fhir/PractitionerRole/gp/_history/2":                                                      200,
		"http://evil.example" + strings.TrimPrefix(e.url, "http://127.0.0.1") + "/fhir/PractitionerRole/gp": 401,
	} {
		if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", "Bearer "+e.mint("user/*.rs", user)); r.status != want {
			t.Errorf("fhirUser %s: %d, want %d", user, r.status, want)
		}
	}
}

// TestDeletionInHistoryAsInRead: a resource the nurse could see is
// deleted; her read says 410, and every history she may ask (the
// instance's, the type's, the system's) shows the deletion, as R4
// http.html's history does. The home-help, who could not see it, finds
// neither the deletion nor the resource.
func TestDeletionInHistoryAsInRead(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	if r := e.do("DELETE", "/fhir/Observation/o-clin", ""); r.status != 204 && r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	nurse, social := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/social")
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", nurse); r.status != 410 {
		t.Fatalf("the nurse's read: %d", r.status)
	}
	deletion := func(tok, path string) bool {
		t.Helper()
		r := e.do("GET", path, "", "Authorization", tok)
		var b struct {
			Entry []struct {
				FullURL string `json:"fullUrl"`
				Request struct{ Method, URL string }
			}
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		for _, en := range b.Entry {
			if en.Request.Method == "DELETE" && strings.HasSuffix(en.Request.URL, "Observation/o-clin") {
				return true
			}
		}
		return false
	}
	for _, path := range []string{"/fhir/Observation/o-clin/_history", "/fhir/Observation/_history", "/fhir/_history"} {
		if !deletion(nurse, path) {
			t.Errorf("%s: the nurse does not see the deletion", path)
		}
		if deletion(social, path) {
			t.Errorf("%s: the home-help sees the deletion of what she could not see", path)
		}
	}
}

// TestBatchEntriesAsRequests: a batch's search, vread, history,
// capabilities, conditional read and PATCH entries are answered as the
// same requests sent on their own (R4 http.html, batch), consent
// included: the social worker's search finds none of the patient's
// Observations, the nurse's finds them.
func TestBatchEntriesAsRequests(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	batch := func(tok string, entries ...string) []map[string]any {
		t.Helper()
		r := e.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`,
			"Authorization", tok, "Content-Type", "application/fhir+json")
		if r.status != 200 {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		var b struct{ Entry []map[string]any }
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b.Entry
	}
	get := func(url string) string { return `{"request":{"method":"GET","url":"` + url + `"}}` }
	status := func(en map[string]any) string { return en["response"].(map[string]any)["status"].(string) }
	total := func(en map[string]any) float64 {
		res, _ := en["resource"].(map[string]any)
		n, _ := res["total"].(float64)
		return n
	}
	nurse, social := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/social")
	patch := `{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` +
		base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/note","value":[{"text":"seen"}]}]`)) + `"},` +
		`"request":{"method":"PATCH","url":"Observation/o-clin"}}`
	out := batch(nurse, get("Observation?subject=Patient/p1"), get("Observation/o-clin/_history/1"), get("Observation/o-clin/_history"),
		get("metadata"), `{"request":{"method":"GET","url":"Observation/o-clin","ifNoneMatch":"W/\"1\""}}`, patch)
	want := []string{"200 OK", "200 OK", "200 OK", "200 OK", "304 Not Modified", "200 OK"}
	for i, w := range want {
		if got := status(out[i]); got != w {
			t.Errorf("entry %d: %s, want %s: %v", i, got, w, out[i])
		}
	}
	if n := total(out[0]); n < 2 {
		t.Errorf("the nurse's search entry found %v", n)
	}
	out = batch(social, get("Observation?subject=Patient/p1"), get("Observation/o-clin/_history/1"))
	if n := total(out[0]); n != 0 || status(out[0]) != "200 OK" {
		t.Errorf("the social worker's search entry: %s, %v found", status(out[0]), n)
	}
	if got := status(out[1]); got != "404 Not Found" {
		t.Errorf("the social worker's vread entry: %s", got)
	}
}

// TestCapabilitiesListOperations: the CapabilityStatement states the
// patch format and the operations the route table serves (R4
// capabilitystatement.html: rest.resource.operation, patchFormat).
func TestCapabilitiesListOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	md := string(e.do("GET", "/fhir/metadata", "").body)
	for _, want := range []string{`"patchFormat":["application/json-patch+json"]`, `"name":"disclosures"`, `"name":"evaluate"`, `"name":"route"`, `"conditionalRead":"full-support"`} {
		if !strings.Contains(md, want) {
			t.Errorf("the CapabilityStatement lacks %s", want)
		}
	}
}

// TestEvaluateAgreesWithReads: a consent officer, who may not name a
// patient's Observations, asks $evaluate by code and date what a Consent
// with code and dataPeriod exceptions means for a social worker, and the
// answers are what the social worker then reads. A parameter sent as
// another type than its own is refused: read as absent, it would answer
// for the defaults (TREAT, no date) a question that was not asked.
func TestEvaluateAgreesWithReads(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/PractitionerRole/officer", `{"resourceType":"PractitionerRole","id":"officer","active":true,"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}]}`)
	officer, social := e.as("PractitionerRole/officer"), e.as("PractitionerRole/social")
	soc := `,"meta":{"security":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"SOC"}]}`
	for _, o := range []struct{ id, code, date string }{
		{"o-housing", "71802-3", "2026-11-20"}, {"o-benefits", "63512-8", "2026-11-20"}, {"o-old-housing", "71802-3", "2014-06-01"},
	} {
		body := `{"resourceType":"Observation","id":"` + o.id + `","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + o.code + `"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"` + o.date + `"` + soc + `}`
		if r := e.do("PUT", "/fhir/Observation/"+o.id, body); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", o.id, r.status, r.body)
		}
	}
	// The social worker may receive p1's social situation, except her
	// benefits (a LOINC code) and what dates from before 2015.
	permit := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"` + actCode + `","code":"OPTIN"}]},` +
		`"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/social"}}],` +
		`"class":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"SOC"}],` +
		`"provision":[{"type":"deny","code":[{"coding":[{"system":"http://loinc.org","code":"63512-8"}]}]},{"type":"deny","dataPeriod":{"end":"2015-01-01"}}]}}`
	if r := e.do("POST", "/fhir/Consent", permit, "Authorization", officer); r.status != 201 {
		t.Fatalf("the officer records the permit: %d %s", r.status, r.body)
	}
	ask := func(extra string) resp {
		return e.do("POST", "/fhir/Consent/$evaluate", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},`+
			`{"name":"actor","valueReference":{"reference":"PractitionerRole/social"}},{"name":"resourceType","valueCode":"Observation"},`+
			`{"name":"securityLabel","valueCoding":{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"SOC"}}`+extra+`]}`,
			"Authorization", officer)
	}
	code := func(c string) string {
		return `,{"name":"code","valueCoding":{"system":"http://loinc.org","code":"` + c + `"}}`
	}
	for _, c := range []struct {
		obs, extra string
	}{
		{"o-housing", code("71802-3") + `,{"name":"date","valueDate":"2026-11-20"}`},
		{"o-benefits", code("63512-8") + `,{"name":"date","valueDateTime":"2026-11-20"}`},
		{"o-old-housing", `,{"name":"code","valueCodeableConcept":{"coding":[{"system":"http://loinc.org","code":"71802-3"}]}},{"name":"date","valueDate":"2014-06-01"}`},
	} {
		reads := e.do("GET", "/fhir/Observation/"+c.obs, "", "Authorization", social).status == 200
		r := ask(c.extra)
		if r.status != 200 {
			t.Fatalf("$evaluate for %s: %d %s", c.obs, r.status, r.body)
		}
		if says := bytes.Contains(r.body, []byte(`"valueCode":"permit"`)); says != reads {
			t.Errorf("%s: $evaluate says permit %v, the social worker reads it %v: %s", c.obs, says, reads, r.body)
		}
	}
	if reads := e.do("GET", "/fhir/Observation/o-housing", "", "Authorization", social).status; reads != 200 {
		t.Errorf("the social worker reads her permitted Observation: %d", reads)
	}
	for _, bad := range []struct{ name, param string }{
		{"purpose", `,{"name":"purpose","valueCode":"HPAYMT"}`},
		{"action", `,{"name":"action","valueCoding":{"code":"disclose"}}`},
		{"date", `,{"name":"date","valueString":"2014-06-01"}`},
		{"code", `,{"name":"code","valueCode":"63512-8"}`},
	} {
		r := ask(bad.param)
		if r.status != 400 || !bytes.Contains(r.body, []byte("Parameters.parameter."+bad.name)) {
			t.Errorf("%s of the wrong type: %d %s", bad.name, r.status, r.body)
		}
	}
}
