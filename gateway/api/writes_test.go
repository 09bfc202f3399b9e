package api_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// The write policy and the write paths' answers for hidden resources,
// over consentEnv: the GP and the nurse in p1's care team, a
// physiotherapist outside it, a social worker without a permit.

// snapshotOf returns the store's current JSON of typ/id ("" when absent
// or deleted), to check that a refused write changed nothing.
func (e *env) snapshotOf(typ, id string) string {
	e.t.Helper()
	rec, err := e.store.Read(typ, id)
	if err != nil {
		return ""
	}
	return string(rec.JSON)
}

func TestWritePolicyRefusals(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	// The patient's objection to the physiotherapist, and a Task from the
	// GP to the nurse.
	objection := `{"resourceType":"Consent","id":"obj","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/physio-elsewhere"}}]}}`
	if r := e.do("PUT", "/fhir/Consent/obj", objection); r.status != 201 {
		t.Fatalf("objection: %d %s", r.status, r.body)
	}
	task := `{"resourceType":"Task","id":"t1","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse"}}`
	if r := e.do("PUT", "/fhir/Task/t1", task); r.status != 201 {
		t.Fatalf("task: %d %s", r.status, r.body)
	}
	selfPermit := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/social"}}],"securityLabel":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}}`
	tests := []struct {
		name, who, method, path, body string
		status                        int
		unchanged                     [2]string // typ, id that must not change
	}{
		{"social worker grants herself a permit", "PractitionerRole/social", "POST", "/fhir/Consent", selfPermit, 403, [2]string{}},
		{"GP deletes the patient's objection", "PractitionerRole/gp", "DELETE", "/fhir/Consent/obj", "", 403, [2]string{"Consent", "obj"}},
		{"GP rewrites the patient's objection", "PractitionerRole/gp", "PUT", "/fhir/Consent/obj", strings.Replace(objection, "OPTOUT", "OPTIN", 1), 403, [2]string{"Consent", "obj"}},
		{"physiotherapist joins the care team", "PractitionerRole/physio-elsewhere", "PUT", "/fhir/CareTeam/ct1",
			`{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},"participant":[{"member":{"reference":"PractitionerRole/nurse"}},{"member":{"reference":"PractitionerRole/physio-elsewhere"}}]}`,
			403, [2]string{"CareTeam", "ct1"}},
		{"nurse names herself the GP", "PractitionerRole/nurse", "PUT", "/fhir/Patient/p1",
			`{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"PractitionerRole/nurse"}]}`, 403, [2]string{"Patient", "p1"}},
		{"social worker deletes the patient", "PractitionerRole/social", "DELETE", "/fhir/Patient/p1", "", 403, [2]string{"Patient", "p1"}},
		{"GP deletes an Observation", "PractitionerRole/gp", "DELETE", "/fhir/Observation/o-clin", "", 403, [2]string{"Observation", "o-clin"}},
		{"social worker writes a Condition", "PractitionerRole/social", "PUT", "/fhir/Condition/c1",
			`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"}}`, 403, [2]string{"Condition", "c1"}},
		{"physiotherapist writes about a patient she may not see", "PractitionerRole/physio-elsewhere", "POST", "/fhir/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`, 403, [2]string{}},
		{"physiotherapist takes the nurse's Task", "PractitionerRole/physio-elsewhere", "PUT", "/fhir/Task/t1",
			strings.Replace(task, "PractitionerRole/nurse", "PractitionerRole/physio-elsewhere", 1), 404, [2]string{"Task", "t1"}},
		{"nurse re-assigns the Task she owns", "PractitionerRole/nurse", "PUT", "/fhir/Task/t1",
			strings.Replace(task, "PractitionerRole/nurse", "PractitionerRole/gp", 1), 403, [2]string{"Task", "t1"}},
		{"nurse cancels the GP's request", "PractitionerRole/nurse", "PUT", "/fhir/Task/t1",
			strings.Replace(task, `"requested"`, `"cancelled"`, 1), 403, [2]string{"Task", "t1"}},
		{"nurse completes a Task she never accepted", "PractitionerRole/nurse", "PUT", "/fhir/Task/t1",
			strings.Replace(task, `"requested"`, `"completed"`, 1), 422, [2]string{"Task", "t1"}},
		{"GP accepts in the nurse's place", "PractitionerRole/gp", "PUT", "/fhir/Task/t1",
			strings.Replace(task, `"requested"`, `"accepted"`, 1), 403, [2]string{"Task", "t1"}},
		{"nurse changes what the Task is for", "PractitionerRole/nurse", "PUT", "/fhir/Task/t1",
			strings.Replace(strings.Replace(task, `"requested"`, `"accepted"`, 1), `"order"`, `"plan"`, 1), 403, [2]string{"Task", "t1"}},
		{"GP creates a Task in another's name", "PractitionerRole/gp", "POST", "/fhir/Task",
			strings.Replace(strings.Replace(task, `"id":"t1",`, "", 1), `"requester":{"reference":"PractitionerRole/gp"}`, `"requester":{"reference":"PractitionerRole/nurse"}`, 1), 403, [2]string{}},
		{"patient writes another patient's Consent", "Patient/p2", "POST", "/fhir/Consent", selfPermit, 403, [2]string{}},
		{"update as create by a professional", "PractitionerRole/gp", "PUT", "/fhir/Observation/new-id",
			`{"resourceType":"Observation","id":"new-id","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`, 404, [2]string{"Observation", "new-id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ""
			if tt.unchanged[0] != "" {
				before = e.snapshotOf(tt.unchanged[0], tt.unchanged[1])
			}
			consents := countOf(e, "Consent")
			r := e.do(tt.method, tt.path, tt.body, "Authorization", e.as(tt.who))
			if r.status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.status)
			}
			if r.header.Get("X-Consent-Decision") == "" {
				t.Error("no decision header")
			}
			if tt.unchanged[0] != "" && e.snapshotOf(tt.unchanged[0], tt.unchanged[1]) != before {
				t.Errorf("%s/%s changed", tt.unchanged[0], tt.unchanged[1])
			}
			if got := countOf(e, "Consent"); got != consents {
				t.Errorf("Consents: %d, then %d", consents, got)
			}
		})
	}
}

// countOf counts the current resources of typ (system search).
func countOf(e *env, typ string) int {
	e.t.Helper()
	r := e.do("GET", "/fhir/"+typ+"?_summary=count", "")
	n, _ := ids(e.t.(*testing.T), r.body)
	return n
}

// TestTaskClosedLoop: the owner accepts, starts and completes; the
// requester cancels another Task; each move is one the R4 state machine has.
func TestTaskClosedLoop(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp, nurse := e.as("PractitionerRole/gp"), e.as("PractitionerRole/nurse")
	task := `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse"}}`
	r := e.do("POST", "/fhir/Task", task, "Authorization", gp)
	if r.status != 201 {
		t.Fatalf("GP creates: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	body := func(status, extra string) string {
		return fmt.Sprintf(`{"resourceType":"Task","id":"%s","status":"%s","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse"}%s}`, id, status, extra)
	}
	for _, step := range []struct{ status, extra string }{
		{"accepted", ""},
		{"in-progress", `,"executionPeriod":{"start":"2026-12-07T10:00:00Z"}`},
		{"completed", `,"executionPeriod":{"start":"2026-12-07T10:00:00Z"},"output":[{"type":{"text":"visit"},"valueString":"done"}]`},
	} {
		r := e.do("PUT", "/fhir/Task/"+id, body(step.status, step.extra), "Authorization", nurse)
		if r.status != 200 {
			t.Fatalf("nurse moves to %s: %d %s", step.status, r.status, r.body)
		}
	}
	r = e.do("PUT", "/fhir/Task/"+id, body("cancelled", ""), "Authorization", gp)
	if r.status != 422 {
		t.Fatalf("GP cancels a completed Task: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/fhir/Task", task, "Authorization", gp)
	id = r.json(t)["id"].(string)
	if r := e.do("PUT", "/fhir/Task/"+id, body("cancelled", ""), "Authorization", gp); r.status != 200 {
		t.Fatalf("GP cancels her request: %d %s", r.status, r.body)
	}
	// Who changed what is in the decision log, refusals included.
	log := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", "")
	for _, want := range []string{
		`"action":"write:update","resource":"Task/` + id + `/_history/2"`,
		`"permit":false,"policy":"a Task cannot move from completed to cancelled (R4 Task state machine)"`,
	} {
		if !bytes.Contains(log.body, []byte(want)) {
			t.Errorf("decision log lacks %s:\n%s", want, log.body)
		}
	}
}

// TestConditionalCreateHidesMatches: If-None-Exist matches only what the
// caller may see. The nurse may not see the PSY Observation: her
// conditional create that would match it creates, as it would if nothing
// matched, and the answer holds none of the hidden resource.
func TestConditionalCreateHidesMatches(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	nurse := e.as("PractitionerRole/nurse")
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"y"},"subject":{"reference":"Patient/p1"}}`
	for _, cond := range []string{
		"_security=http://terminology.hl7.org/CodeSystem/v3-ActCode|PSY",
		"_id=o-psy",
		"_id=o-other", // another patient's
	} {
		r := e.do("POST", "/fhir/Observation", obs, "Authorization", nurse, "If-None-Exist", cond, "Prefer", "return=representation")
		if r.status != 201 {
			t.Fatalf("If-None-Exist %s: %d %s", cond, r.status, r.body)
		}
		if bytes.Contains(r.body, []byte("o-psy")) || bytes.Contains(r.body, []byte("PSY")) {
			t.Fatalf("the answer shows the hidden resource: %s", r.body)
		}
	}
	// A match she may see is the conditional create's usual answer.
	r := e.do("POST", "/fhir/Observation", obs, "Authorization", nurse, "If-None-Exist", "_id=o-clin")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"o-clin"`)) {
		t.Fatalf("visible match: %d %s", r.status, r.body)
	}
}

// TestHiddenEqualsAbsentOnWrites: for a resource the caller may not see,
// update, delete, vread, history, batch GET and a deleted resource answer
// exactly as for an id that does not exist.
func TestHiddenEqualsAbsentOnWrites(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	// A deleted PSY Observation: 410 to whoever could see it, 404 to the
	// nurse, who could not.
	e.do("PUT", "/fhir/Observation/o-psy-gone", `{"resourceType":"Observation","id":"o-psy-gone","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}}`)
	e.do("DELETE", "/fhir/Observation/o-psy-gone", "")
	nurse := e.as("PractitionerRole/nurse")
	obs := func(id string) string {
		return `{"resourceType":"Observation","id":"` + id + `","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`
	}
	batchGET := func(id string) string {
		return `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation/` + id + `"}}]}`
	}
	for _, q := range []struct{ method, path, body string }{
		{"GET", "/fhir/Observation/%s", ""},
		{"GET", "/fhir/Observation/%s/_history/1", ""},
		{"GET", "/fhir/Observation/%s/_history/2", ""},
		{"GET", "/fhir/Observation/%s/_history", ""},
		{"PUT", "/fhir/Observation/%s", "obs"},
		{"DELETE", "/fhir/Observation/%s", ""},
		{"POST", "/fhir", "batch"},
	} {
		answer := func(id string) resp {
			body := q.body
			switch body {
			case "obs":
				body = obs(id)
			case "batch":
				body = batchGET(id)
			}
			path := q.path
			if strings.Contains(path, "%s") {
				path = fmt.Sprintf(path, id)
			}
			return e.do(q.method, path, body, "Authorization", nurse, "If-Match", `W/"1"`)
		}
		for _, hidden := range []string{"o-psy", "o-other", "o-psy-gone"} {
			h, a := answer(hidden), answer("no-such-id")
			if h.status != a.status || !sameAnswer(h.body, a.body) || !sameHeaders(h.header, a.header) {
				t.Errorf("%s %s: hidden %s answers %d %s %v, absent %d %s %v", q.method, q.path, hidden,
					h.status, h.body, h.header, a.status, a.body, a.header)
			}
		}
	}
	if r := e.do("GET", "/fhir/Observation/o-psy-gone", ""); r.status != 410 {
		t.Errorf("system read of the deleted Observation: %d", r.status)
	}
}

// perRequest are the parts of an answer that differ per request: error
// ids, Bundle ids and timestamps.
var perRequest = regexp.MustCompile(`error id [0-9a-f]+|"id":"[0-9a-f]{16}"|"(timestamp|lastUpdated)":"[^"]*"`)

// sameAnswer compares two bodies without their per-request parts.
func sameAnswer(a, b []byte) bool {
	return bytes.Equal(perRequest.ReplaceAll(a, nil), perRequest.ReplaceAll(b, nil))
}

func sameHeaders(a, b map[string][]string) bool {
	for _, k := range []string{"Etag", "Location", "Content-Type", "Last-Modified"} {
		if strings.Join(a[k], ",") != strings.Join(b[k], ",") {
			return false
		}
	}
	return (len(a["X-Consent-Decision"]) > 0) == (len(b["X-Consent-Decision"]) > 0)
}

// TestPatientsAndConsentOffice: the patient reads her own record and
// nobody else's, and writes her own objections; her legal representative
// does the same; a consent administrator writes any patient's Consents and
// reads them; patient/ scopes need a Patient or RelatedPerson fhirUser.
func TestPatientsAndConsentOffice(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/RelatedPerson/rp-guardian", `{"resourceType":"RelatedPerson","id":"rp-guardian","active":true,"patient":{"reference":"Patient/p1"},"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"GUARD"}]}]}`)
	e.do("PUT", "/fhir/RelatedPerson/rp-neighbour", `{"resourceType":"RelatedPerson","id":"rp-neighbour","active":true,"patient":{"reference":"Patient/p1"},"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"NBOR"}]}]}`)
	e.do("PUT", "/fhir/PractitionerRole/officer", `{"resourceType":"PractitionerRole","id":"officer","active":true,"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}]}`)
	patientTok := "Bearer " + e.mint("patient/*.rs patient/Consent.cud", "Patient/p1")
	objection := func(patient string) string {
		return `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"` + patient + `"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/nurse"}}]}}`
	}
	for _, c := range []struct {
		name, auth, method, path, body string
		status                         int
	}{
		{"patient reads her PSY Observation", patientTok, "GET", "/fhir/Observation/o-psy", "", 200},
		{"patient reads another's Observation", patientTok, "GET", "/fhir/Observation/o-other", "", 404},
		{"patient reads another patient", patientTok, "GET", "/fhir/Patient/p2", "", 404},
		{"patient objects", patientTok, "POST", "/fhir/Consent", objection("Patient/p1"), 201},
		{"patient objects for another", patientTok, "POST", "/fhir/Consent", objection("Patient/p2"), 403},
		{"patient writes an Observation", patientTok, "POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`, 403},
		{"guardian objects", "Bearer " + e.mint("patient/*.rs patient/Consent.cud", "RelatedPerson/rp-guardian"), "POST", "/fhir/Consent", objection("Patient/p1"), 201},
		{"neighbour objects", "Bearer " + e.mint("patient/*.rs patient/Consent.cud", "RelatedPerson/rp-neighbour"), "POST", "/fhir/Consent", objection("Patient/p1"), 403},
		{"neighbour reads", "Bearer " + e.mint("patient/*.rs", "RelatedPerson/rp-neighbour"), "GET", "/fhir/Observation/o-clin", "", 200},
		{"professional with patient/ scopes", "Bearer " + e.mint("patient/*.rs", "PractitionerRole/gp"), "GET", "/fhir/Observation/o-clin", "", 403},
		{"consent officer records an objection", e.as("PractitionerRole/officer"), "POST", "/fhir/Consent", objection("Patient/p2"), 201},
		{"consent officer reads Consents", e.as("PractitionerRole/officer"), "GET", "/fhir/Consent?patient=p1", "", 200},
		{"consent officer reads clinical data", e.as("PractitionerRole/officer"), "GET", "/fhir/Observation/o-clin", "", 404},
		{"consent officer reads the decision log", e.as("PractitionerRole/officer"), "GET", "/admin/decisions?patient=Patient/p1", "", 200},
		{"GP evaluates", e.as("PractitionerRole/gp"), "POST", "/fhir/Consent/$evaluate", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/gp"}},{"name":"resourceType","valueCode":"Observation"}]}`, 403},
		{"consent officer evaluates", e.as("PractitionerRole/officer"), "POST", "/fhir/Consent/$evaluate", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"actor","valueReference":{"reference":"PractitionerRole/gp"}},{"name":"resourceType","valueCode":"Observation"}]}`, 200},
	} {
		r := e.do(c.method, c.path, c.body, "Authorization", c.auth)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
	}
	// Her search returns her resources only.
	r := e.do("GET", "/fhir/Observation", "", "Authorization", patientTok)
	_, got := ids(t, r.body)
	for _, id := range got {
		if id == "Observation/o-other" || id == "o-other" {
			t.Errorf("the patient's search shows another patient's Observation: %v", got)
		}
	}
	if len(got) < 3 {
		t.Errorf("the patient's search: %v", got)
	}
	// With a scope that searches AuditEvent, she reads who accessed her
	// data, and only that.
	auditTok := "Bearer " + e.mint("patient/*.rs patient/AuditEvent.rs", "Patient/p1")
	if r := e.do("GET", "/admin/decisions", "", "Authorization", auditTok); r.status != 200 || bytes.Contains(r.body, []byte("Patient/p2")) {
		t.Errorf("her decision log: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/admin/decisions?patient=Patient/p2", "", "Authorization", auditTok); r.status != 403 {
		t.Errorf("another patient's decision log: %d", r.status)
	}
}

// TestSubscriptionOwnership: a Subscription is its owner's: nobody else
// reads, searches, updates or deletes it, whatever owner tag a body claims.
func TestSubscriptionOwnership(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	sub := `{"resourceType":"Subscription","status":"requested","reason":"my tasks","criteria":"Task?owner=PractitionerRole/nurse","channel":{"type":"rest-hook","endpoint":"https://nurse.example/hook"},"meta":{"tag":[{"system":"https://relais-health.github.io/fhir/CodeSystem/owner","code":"PractitionerRole/gp"}]}}`
	nurse, gp := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/gp")
	r := e.do("POST", "/fhir/Subscription", sub, "Authorization", nurse)
	if r.status != 201 {
		t.Fatalf("nurse subscribes: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if r := e.do("GET", "/fhir/Subscription/"+id, "", "Authorization", nurse); r.status != 200 {
		t.Errorf("owner reads: %d", r.status)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/fhir/Subscription/" + id, ""},
		{"DELETE", "/fhir/Subscription/" + id, ""},
		{"PUT", "/fhir/Subscription/" + id, strings.Replace(sub, `"status":"requested"`, `"id":"`+id+`","status":"off"`, 1)},
	} {
		if r := e.do(c.method, c.path, c.body, "Authorization", gp); r.status != 404 {
			t.Errorf("GP %s: %d %s", c.method, r.status, r.body)
		}
	}
	r = e.do("GET", "/fhir/Subscription?url=https://nurse.example/hook", "", "Authorization", gp)
	if n, _ := ids(t, r.body); n != 0 || bytes.Contains(r.body, []byte(`"entry"`)) {
		t.Errorf("GP's search finds the nurse's Subscription: %s", r.body)
	}
}

// TestPatch: JSON Patch under the same policy as PUT.
func TestPatch(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	task := `{"resourceType":"Task","id":"t1","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse"}}`
	e.do("PUT", "/fhir/Task/t1", task)
	patch := func(who, path, ops string, headers ...string) resp {
		return e.do("PATCH", path, ops, append([]string{"Authorization", who, "Content-Type", "application/json-patch+json"}, headers...)...)
	}
	nurse, social := e.as("PractitionerRole/nurse"), e.as("PractitionerRole/social")
	accept := `[{"op":"test","path":"/status","value":"requested"},{"op":"replace","path":"/status","value":"accepted"}]`
	if r := patch(nurse, "/fhir/Task/t1", accept); r.status != 200 || !bytes.Contains(r.body, []byte(`"accepted"`)) {
		t.Fatalf("owner accepts by patch: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		name, who, path, ops string
		headers              []string
		status               int
	}{
		{"test fails", nurse, "/fhir/Task/t1", accept, nil, 422},
		{"state machine", nurse, "/fhir/Task/t1", `[{"op":"replace","path":"/status","value":"requested"}]`, nil, 422},
		{"owner re-assigns", nurse, "/fhir/Task/t1", `[{"op":"replace","path":"/owner/reference","value":"PractitionerRole/gp"}]`, nil, 403},
		{"id changed", nurse, "/fhir/Task/t1", `[{"op":"replace","path":"/id","value":"t2"}]`, nil, 422},
		{"type changed", nurse, "/fhir/Task/t1", `[{"op":"replace","path":"/resourceType","value":"Observation"}]`, nil, 422},
		{"type removed", nurse, "/fhir/Task/t1", `[{"op":"remove","path":"/resourceType"}]`, nil, 422},
		{"stale If-Match", nurse, "/fhir/Task/t1", `[{"op":"add","path":"/note","value":[{"text":"x"}]}]`, []string{"If-Match", `W/"1"`}, 412},
		{"hidden", nurse, "/fhir/Observation/o-psy", `[{"op":"add","path":"/valueString","value":"x"}]`, nil, 404},
		{"absent", nurse, "/fhir/Observation/nothing", `[{"op":"add","path":"/valueString","value":"x"}]`, nil, 404},
		{"social relabels CLIN", social, "/fhir/Observation/o-func", `[{"op":"remove","path":"/meta/security"}]`, nil, 404},
		{"malformed", nurse, "/fhir/Task/t1", `{"op":"replace"}`, nil, 400},
		{"duplicate key", nurse, "/fhir/Task/t1", `[{"op":"replace","op":"remove","path":"/note"}]`, nil, 400},
	} {
		before := e.snapshotOf("Task", "t1")
		r := patch(c.who, c.path, c.ops, c.headers...)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
		}
		if e.snapshotOf("Task", "t1") != before {
			t.Errorf("%s changed the Task", c.name)
		}
	}
	h, a := patch(nurse, "/fhir/Observation/o-psy", `[]`), patch(nurse, "/fhir/Observation/nothing", `[]`)
	if h.status != a.status || !sameAnswer(h.body, a.body) {
		t.Errorf("patching a hidden resource: %d %s; an absent one: %d %s", h.status, h.body, a.status, a.body)
	}
	if r := e.do("PATCH", "/fhir/Task/t1", `[]`, "Content-Type", "application/fhir+json"); r.status != 415 {
		t.Errorf("FHIRPath Patch media type: %d", r.status)
	}
}

// TestSystemPatientWritesResolveIdentity: a Patient posted or put by a
// system caller goes through identity matching as every source's does: a
// qualified INS that a stored Patient holds names that Patient, whatever
// id the write uses, and the references of the same transaction follow.
func TestSystemPatientWritesResolveIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	patient := func(id, ins, given string) string {
		idField := ""
		if id != "" {
			idField = `"id":"` + id + `",`
		}
		return `{"resourceType":"Patient",` + idField + `"extension":[{"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability","extension":[{"url":"identityStatus","valueCoding":{"system":"https://mos.esante.gouv.fr/NOS/TRE_R305-StatutIdentite/FHIR/TRE-R305-StatutIdentite","code":"VALI"}}]}],` +
			`"identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.10","value":"` + ins + `"}],"name":[{"family":"DUPONT","given":["` + given + `"]}],"gender":"female","birthDate":"1942-03-15"}`
	}
	if r := e.do("PUT", "/fhir/Patient/jeanne", patient("jeanne", "242034321012345", "JEANNE")); r.status != 201 {
		t.Fatalf("first Patient: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/fhir/Patient", patient("", "242034321012345", "JEANNE"))
	if r.status != 200 || r.json(t)["id"] != "jeanne" {
		t.Fatalf("posting her again: %d %s", r.status, r.body)
	}
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"fullUrl":"urn:uuid:5c5c2c8e-0001-4000-8000-000000000001","resource":` + patient("", "242034321012345", "JEANNE") + `,"request":{"method":"POST","url":"Patient"}},` +
		`{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:5c5c2c8e-0001-4000-8000-000000000001"}},"request":{"method":"POST","url":"Observation"}}]}`
	if r := e.do("POST", "/fhir", tx); r.status != 200 {
		t.Fatalf("transaction: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/fhir/Observation?subject=Patient/jeanne", "")
	if n, _ := ids(t, r.body); n != 1 {
		t.Errorf("the transaction's Observation is not hers: %s", r.body)
	}
	if n, _ := ids(t, e.do("GET", "/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.10|242034321012345", "").body); n != 1 {
		t.Errorf("%d Patients hold her INS, want 1", n)
	}
	// Another person with another INS is another Patient.
	if r := e.do("POST", "/fhir/Patient", patient("", "242034321099999", "MARIE")); r.status != 201 || r.json(t)["id"] == "jeanne" {
		t.Errorf("another person: %d %s", r.status, r.body)
	}
}

// TestConditionalUpdateDelete: conditional update and delete count only
// the matches the caller may see.
func TestConditionalUpdateDelete(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	nurse := e.as("PractitionerRole/nurse")
	obs := `{"resourceType":"Observation","status":"amended","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`
	// o-psy is hidden from the nurse: her conditional update that only it
	// matches creates, and leaves it alone.
	before := e.snapshotOf("Observation", "o-psy")
	r := e.do("PUT", "/fhir/Observation?_id=o-psy", obs, "Authorization", nurse)
	if r.status != 201 || bytes.Contains(r.body, []byte("o-psy")) || e.snapshotOf("Observation", "o-psy") != before {
		t.Fatalf("conditional update matching a hidden resource: %d %s", r.status, r.body)
	}
	// o-clin and o-psy: one visible match, updated; no 412 for the hidden one.
	r = e.do("PUT", "/fhir/Observation?_id=o-clin,o-psy", obs, "Authorization", nurse)
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"o-clin"`)) || e.snapshotOf("Observation", "o-psy") != before {
		t.Fatalf("conditional update, one visible match: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/fhir/Observation?_id=o-clin,o-func", obs, "Authorization", nurse); r.status != 412 {
		t.Errorf("two visible matches: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/fhir/Observation", obs, "Authorization", nurse); r.status != 400 {
		t.Errorf("no search: %d", r.status)
	}
	// Conditional delete: a professional may not delete Observations at
	// all; a system caller deletes the one match, 412 on several.
	if r := e.do("DELETE", "/fhir/Observation?_id=o-clin", "", "Authorization", nurse); r.status != 403 {
		t.Errorf("nurse's conditional delete: %d", r.status)
	}
	if r := e.do("DELETE", "/fhir/Observation?_id=o-func,o-psy", ""); r.status != 412 {
		t.Errorf("several matches: %d", r.status)
	}
	if r := e.do("DELETE", "/fhir/Observation?_id=o-func", ""); r.status != 204 || e.snapshotOf("Observation", "o-func") != "" {
		t.Errorf("system conditional delete: %d", r.status)
	}
	if r := e.do("DELETE", "/fhir/Observation?_id=nothing", ""); r.status != 204 {
		t.Errorf("no match: %d", r.status)
	}
}

// TestRoutingCandidateSees: the owner of one of the patient's open Tasks,
// outside her care team, sees the Task, its request and who the patient
// is, and nothing else: not the plan, the other recipients' Tasks and
// requests, the stay, nor anything clinical; her searches and includes
// alike. Once the Task is closed, nothing.
func TestRoutingCandidateSees(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	physio := e.as("PractitionerRole/physio-elsewhere")
	if r := e.do("GET", "/fhir/Patient/p1", "", "Authorization", physio); r.status != 404 {
		t.Fatalf("before any Task: %d", r.status)
	}
	e.do("PUT", "/fhir/Encounter/stay", `{"resourceType":"Encounter","id":"stay","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"}}`)
	e.do("PUT", "/fhir/CarePlan/plan", `{"resourceType":"CarePlan","id":"plan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/stay"},"activity":[{"reference":{"reference":"ServiceRequest/sr-physio"}},{"reference":{"reference":"ServiceRequest/sr-nurse"}}]}`)
	for _, who := range []string{"physio", "nurse"} {
		e.do("PUT", "/fhir/ServiceRequest/sr-"+who, `{"resourceType":"ServiceRequest","id":"sr-`+who+`","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/stay"},"basedOn":[{"reference":"CarePlan/plan"}]}`)
	}
	task := `{"resourceType":"Task","id":"t-physio","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"focus":{"reference":"ServiceRequest/sr-physio"},"encounter":{"reference":"Encounter/stay"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/physio-elsewhere"}}`
	e.do("PUT", "/fhir/Task/t-physio", task)
	e.do("PUT", "/fhir/Task/t-nurse", `{"resourceType":"Task","id":"t-nurse","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"focus":{"reference":"ServiceRequest/sr-nurse"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/nurse-elsewhere"}}`)
	for path, want := range map[string]int{
		"/fhir/Task/t-physio":            200,
		"/fhir/ServiceRequest/sr-physio": 200,
		"/fhir/Patient/p1":               200,
		"/fhir/Task/t-nurse":             404,
		"/fhir/ServiceRequest/sr-nurse":  404,
		"/fhir/CarePlan/plan":            404,
		"/fhir/Encounter/stay":           404,
		"/fhir/Observation/o-clin":       404,
		"/fhir/Observation/o-psy":        404,
	} {
		if r := e.do("GET", path, "", "Authorization", physio); r.status != want {
			t.Errorf("candidate reads %s: %d, want %d", path, r.status, want)
		}
	}
	for q, want := range map[string]string{
		"/fhir/Task?patient=Patient/p1":           "Task/t-physio",
		"/fhir/ServiceRequest?patient=Patient/p1": "ServiceRequest/sr-physio",
		"/fhir/CarePlan?patient=Patient/p1":       "",
		"/fhir/Task?owner=PractitionerRole/physio-elsewhere&_include=Task:encounter&_include=Task:focus": "Task/t-physio ServiceRequest/sr-physio",
	} {
		_, got := ids(t, e.do("GET", q, "", "Authorization", physio).body)
		if strings.Join(got, " ") != want {
			t.Errorf("candidate searches %s: %v, want [%s]", q, got, want)
		}
	}
	e.do("PUT", "/fhir/Task/t-physio", strings.Replace(task, `"requested"`, `"cancelled"`, 1))
	if r := e.do("GET", "/fhir/Patient/p1", "", "Authorization", physio); r.status != 404 {
		t.Errorf("after the Task is cancelled: %d", r.status)
	}
}

// TestAcceptanceJoinsTheTeam: a health professional outside the care team
// who accepts her Task joins the stay's care team, in the same write, and
// then reads the patient's clinical data as the base policy gives it.
func TestAcceptanceJoinsTheTeam(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/Encounter/stay", `{"resourceType":"Encounter","id":"stay","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"}}`)
	task := `{"resourceType":"Task","id":"t-physio","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/stay"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"PractitionerRole/physio-elsewhere"}}`
	e.do("PUT", "/fhir/Task/t-physio", task)
	physio := e.as("PractitionerRole/physio-elsewhere")
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", physio); r.status != 404 {
		t.Fatalf("before accepting: %d", r.status)
	}
	if r := e.do("PUT", "/fhir/Task/t-physio", strings.Replace(task, `"requested"`, `"accepted"`, 1), "Authorization", physio); r.status != 200 {
		t.Fatalf("accepting: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", physio); r.status != 200 {
		t.Errorf("after accepting: %d", r.status)
	}
	r := e.do("GET", "/fhir/CareTeam?encounter=Encounter/stay", "")
	if !bytes.Contains(r.body, []byte("PractitionerRole/physio-elsewhere")) {
		t.Errorf("the stay's care team: %s", r.body)
	}
}

// TestSelfRequestedTaskJoinsNothing: a professional with a permit for
// orders who asks a Task of herself and accepts it does not join the care
// team (the permit would otherwise grow into the team's clinical access).
func TestSelfRequestedTaskJoinsNothing(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	e.do("PUT", "/fhir/Encounter/stay", `{"resourceType":"Encounter","id":"stay","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"}}`)
	e.do("PUT", "/fhir/Consent/permit", `{"resourceType":"Consent","id":"permit","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/physio-elsewhere"}}]}}`)
	physio := e.as("PractitionerRole/physio-elsewhere")
	task := `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/stay"},"requester":{"reference":"PractitionerRole/physio-elsewhere"},"owner":{"reference":"PractitionerRole/physio-elsewhere"}}`
	r := e.do("POST", "/fhir/Task", task, "Authorization", physio)
	if r.status != 201 {
		t.Fatalf("her own Task: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	accepted := strings.Replace(strings.Replace(task, `"requested"`, `"accepted"`, 1), `"resourceType":"Task",`, `"resourceType":"Task","id":"`+id+`",`, 1)
	if r := e.do("PUT", "/fhir/Task/"+id, accepted, "Authorization", physio); r.status != 200 {
		t.Fatalf("accepting it: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", physio); r.status != 404 {
		t.Errorf("clinical data after accepting her own Task: %d", r.status)
	}
}

// TestServiceTaskReachesItsStaff: routing asks a home-help service (a
// HealthcareService, Task.owner) to act; the PractitionerRole that provides
// the service (PractitionerRole.healthcareService, R4) is its owner's
// staff: under the patient's permit to the service's organisation she
// reads the Task and who and where the patient is, what the permit
// passes, nothing clinical, and accepts it, as a candidate named directly
// does. The permit revoked, she sees none of it (a social recipient is
// asked only under a permit).
func TestServiceTaskReachesItsStaff(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	put := func(path, body string) {
		t.Helper()
		if r := e.do("PUT", path, body); r.status != 201 && r.status != 200 {
			t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
		}
	}
	put("/fhir/Organization/saad", `{"resourceType":"Organization","id":"saad","active":true,"name":"SAAD"}`)
	put("/fhir/HealthcareService/hh", `{"resourceType":"HealthcareService","id":"hh","active":true,"providedBy":{"reference":"Organization/saad"}}`)
	put("/fhir/PractitionerRole/hh-role", `{"resourceType":"PractitionerRole","id":"hh-role","active":true,"organization":{"reference":"Organization/saad"},"healthcareService":[{"reference":"HealthcareService/hh"}],"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge","code":"372"}]}]}`)
	put("/fhir/PractitionerRole/other-role", `{"resourceType":"PractitionerRole","id":"other-role","active":true,"organization":{"reference":"Organization/saad"},"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge","code":"372"}]}]}`)
	// the patient's permit to the service's organisation (SOC and FUNC),
	// without which a social recipient is not asked (DESIGN.md)
	permit := `{"resourceType":"Consent","id":"saad-permit","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/saad"}}],"class":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"SOC"},{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"FUNC"}]}}`
	put("/fhir/Consent/saad-permit", permit)
	task := `{"resourceType":"Task","id":"t-hh","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"requester":{"reference":"PractitionerRole/gp"},"owner":{"reference":"HealthcareService/hh"}}`
	put("/fhir/Task/t-hh", task)
	staff := e.as("PractitionerRole/hh-role")
	for path, want := range map[string]int{"/fhir/Task/t-hh": 200, "/fhir/Patient/p1": 200, "/fhir/Observation/o-clin": 404, "/fhir/Observation/o-func": 200} {
		if r := e.do("GET", path, "", "Authorization", staff); r.status != want {
			t.Errorf("the service's staff reads %s: %d, want %d", path, r.status, want)
		}
	}
	// Another role of the same organisation, not providing the service,
	// is not asked.
	if r := e.do("GET", "/fhir/Task/t-hh", "", "Authorization", e.as("PractitionerRole/other-role")); r.status != 404 {
		t.Errorf("a role that does not provide the service reads its Task: %d", r.status)
	}
	r := e.do("PATCH", "/fhir/Task/t-hh", `[{"op":"replace","path":"/status","value":"accepted"}]`, "Authorization", staff, "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Errorf("the service's staff accepts its Task: %d %s", r.status, r.body)
	}
	// The patient revokes her permit: the service no longer sees her, nor
	// the Task it accepted (a social recipient is asked only under a
	// permit); absent, it sees nothing either.
	put("/fhir/Consent/saad-permit", strings.Replace(permit, `"status":"active"`, `"status":"inactive"`, 1))
	for _, path := range []string{"/fhir/Task/t-hh", "/fhir/Patient/p1", "/fhir/Observation/o-func"} {
		if r := e.do("GET", path, "", "Authorization", staff); r.status != 404 {
			t.Errorf("after the permit's revocation the service's staff reads %s: %d", path, r.status)
		}
	}
}

// TestEncounterReasonLabelledClinical: an Encounter written through the
// API that states why the patient came is clinical data (CLIN) besides
// its ADM dates and places, as the HL7 v2 and CDA mappings label it
// (category.LabelContent): a recipient allowed only ADM does not read the
// reason there.
func TestEncounterReasonLabelledClinical(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`)
	for id, want := range map[string]bool{
		"with-reason": true,
		"plain":       false,
	} {
		body := `{"resourceType":"Encounter","id":"` + id + `","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"}`
		if want {
			body += `,"reasonCode":[{"text":"Episode dépressif majeur"}]`
		}
		if r := e.do("PUT", "/fhir/Encounter/"+id, body+`}`); r.status != 201 {
			t.Fatalf("PUT %s: %d %s", id, r.status, r.body)
		}
		got := e.do("GET", "/fhir/Encounter/"+id, "")
		if clin := strings.Contains(string(got.body), `"code":"CLIN"`); clin != want {
			t.Errorf("Encounter %s labelled CLIN %v, want %v: %s", id, clin, want, got.body)
		}
	}
}
