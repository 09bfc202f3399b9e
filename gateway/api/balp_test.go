package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/mappings/terminology"
)

// auditEntries are the AuditEvents a search of the audit log answers.
func auditEntries(t *testing.T, e *env, query string) []map[string]any {
	t.Helper()
	r := e.do("GET", "/fhir/AuditEvent?"+query, "")
	if r.status != 200 {
		t.Fatalf("AuditEvent?%s = %d %s", query, r.status, r.body)
	}
	var b struct {
		Entry []struct{ Resource map[string]any } `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, en := range b.Entry {
		if en.Resource["resourceType"] == "AuditEvent" {
			out = append(out, en.Resource)
		}
	}
	return out
}

// agentOf is the first agent of ev whose type has code, nil if none.
func agentOf(ev map[string]any, code string) map[string]any {
	for _, a := range ev["agent"].([]any) {
		a := a.(map[string]any)
		typ, _ := a["type"].(map[string]any)
		for _, c := range asList(typ["coding"]) {
			if c.(map[string]any)["code"] == code {
				return a
			}
		}
	}
	return nil
}

// entityOf is the first entity of ev in role, nil if none.
func entityOf(ev map[string]any, role string) map[string]any {
	for _, en := range asList(ev["entity"]) {
		en := en.(map[string]any)
		if r, _ := en["role"].(map[string]any); r["code"] == role {
			return en
		}
	}
	return nil
}

// network is an agent's network address and type, "" when it has none.
func network(a map[string]any) (addr, typ string) {
	n, _ := a["network"].(map[string]any)
	addr, _ = n["address"].(string)
	typ, _ = n["type"].(string)
	return addr, typ
}

// TestAuditBALPOverHTTP: the AuditEvents of requests made over the API
// carry what IHE BALP's patterns require of a server: the client and
// the server agents with their network addresses (the client as its TCP
// connection knows it, the server by its base URL) in the roles of the
// interaction, the token's client_id as the client application, the
// token's jti prefixed as the user's policy and as AuthZ consent's
// token entity, a query entity holding the request base64; a query
// recorded per patient holds no value another patient was searched by;
// a backend client's decisions name it.
func TestAuditBALPOverHTTP(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp := e.as("PractitionerRole/gp")
	server := e.url + "/fhir"
	for _, req := range [][2]string{
		{"GET", "/fhir/Observation/o-clin"},
		{"GET", "/fhir/Observation?patient=p1&code=x"},
	} {
		if r := e.do(req[0], req[1], "", "Authorization", gp); r.status != 200 {
			t.Fatalf("%s %s = %d", req[0], req[1], r.status)
		}
	}
	check := func(name string, ev map[string]any, client, srv string) {
		t.Helper()
		c, s, app := agentOf(ev, client), agentOf(ev, srv), agentOf(ev, "110150")
		if c == nil || s == nil || app == nil {
			t.Fatalf("%s: agents %v", name, ev["agent"])
		}
		if addr, typ := network(c); addr != "127.0.0.1" || typ != audit.NetworkIP {
			t.Errorf("%s: client network %q type %q", name, addr, typ)
		}
		if addr, typ := network(s); addr != server || typ != audit.NetworkURI {
			t.Errorf("%s: server network %q type %q, want %q", name, addr, typ, server)
		}
		if id, _ := app["who"].(map[string]any)["identifier"].(map[string]any); id["value"] != auth.DevClientID {
			t.Errorf("%s: client application %v", name, app)
		}
	}
	read := auditEntries(t, e, "agent=PractitionerRole/gp&subtype=read")
	if len(read) != 1 {
		t.Fatalf("read events: %d", len(read))
	}
	check("read", read[0], "110152", "110153")
	user := agentOf(read[0], "IRCP")
	if p := asList(user["policy"]); len(p) != 1 || !strings.HasPrefix(p[0].(string), audit.JTIPrefix) || user["requestor"] != true {
		t.Errorf("read: user %v", user)
	}
	if pe := entityOf(read[0], audit.RolePatient); pe == nil || pe["type"].(map[string]any)["code"] != "1" {
		t.Errorf("read: patient entity %v", pe)
	}
	query := auditEntries(t, e, "agent=PractitionerRole/gp&subtype=search-type")
	if len(query) != 1 {
		t.Fatalf("query events: %d", len(query))
	}
	check("query", query[0], "110153", "110152")
	qe := entityOf(query[0], audit.RoleQuery)
	raw, err := base64.StdEncoding.DecodeString(qe["query"].(string))
	if err != nil || string(raw) != "GET /fhir/Observation?patient=p1&code=x" || qe["what"] != nil || qe["description"] != "Observation?code&patient" {
		t.Errorf("query entity %v (query %q)", qe, raw)
	}
	decisions := auditEntries(t, e, "agent=PractitionerRole/gp&subtype=AuthZ-Consent&type=110113")
	if len(decisions) == 0 {
		t.Fatal("no AuthZ consent event")
	}
	if tok := slices.IndexFunc(asList(decisions[0]["entity"]), func(en any) bool {
		typ, _ := en.(map[string]any)["type"].(map[string]any)
		return typ["code"] == "UserOauthAgent"
	}); tok < 0 || agentOf(decisions[0], "authserver") == nil || agentOf(decisions[0], "110150") == nil {
		t.Errorf("AuthZ consent event: %v", decisions[0])
	}

	// a backend client's query about two patients, and its writes
	q := "/fhir/Observation?subject=" + url.QueryEscape("Patient/p1,Patient/p2")
	if r := e.do("GET", q, ""); r.status != 200 {
		t.Fatalf("system search: %d", r.status)
	}
	for _, p := range []string{"Patient/p1", "Patient/p2"} {
		evs := slices.DeleteFunc(auditEntries(t, e, "patient="+p+"&subtype=search-type"), func(ev map[string]any) bool {
			return entityOf(ev, audit.RoleQuery)["description"] != "Observation?subject" // the GP's of p1
		})
		if len(evs) != 1 {
			t.Fatalf("%s: %d query events", p, len(evs))
		}
		raw, _ := base64.StdEncoding.DecodeString(entityOf(evs[0], audit.RoleQuery)["query"].(string))
		if string(raw) != "Observation?subject" {
			t.Errorf("%s's query event holds %q: the other patient's search value would be in her log", p, raw)
		}
	}
	r := e.do("POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`)
	var created struct{ ID string }
	if err := json.Unmarshal(r.body, &created); r.status != 201 || err != nil {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/fhir/Observation/"+created.ID, ""); r.status/100 != 2 {
		t.Fatalf("delete: %d", r.status)
	}
	create := auditEntries(t, e, "subtype=create&entity=Observation/"+created.ID)
	if len(create) != 1 {
		t.Fatalf("create events: %d", len(create))
	}
	check("create", create[0], "110153", "110152")
	if agentOf(create[0], "AUT") == nil {
		t.Errorf("create: no author %v", create[0]["agent"])
	}
	del := auditEntries(t, e, "subtype=delete")
	if len(del) != 1 || agentOf(del[0], "custodian") == nil || agentOf(del[0], "110150") == nil {
		t.Fatalf("delete events: %v", del)
	}
	sys := auditEntries(t, e, "subtype=AuthZ-Consent&agent:identifier="+url.QueryEscape(audit.SystemClient+"|"+auth.DevClientID))
	if len(sys) == 0 {
		t.Error("a backend client's decisions are not listed under it")
	}
	all := e.do("GET", "/fhir/AuditEvent?_count=1000", "")
	if strings.Contains(string(all.body), "unidentified requester") {
		t.Error("a decision names no requester")
	}
	validate(t, map[string][]byte{"AuditEvent-balp": all.body})
}

// auditEvent reads the AuditEvent id.
func auditEvent(t *testing.T, e *env, id string) map[string]any {
	t.Helper()
	r := e.do("GET", "/fhir/AuditEvent/"+id, "")
	if r.status != 200 {
		t.Fatalf("AuditEvent/%s = %d %s", id, r.status, r.body)
	}
	return r.json(t)
}

// patientsOf are the references of ev's patient entities.
func patientsOf(ev map[string]any) []string {
	var out []string
	for _, en := range asList(ev["entity"]) {
		en := en.(map[string]any)
		if r, _ := en["role"].(map[string]any); r["code"] == audit.RolePatient {
			what, _ := en["what"].(map[string]any)
			ref, _ := what["reference"].(string)
			out = append(out, ref)
		}
	}
	return out
}

// TestAuditSearchNamesPatient: a search that names a patient is about
// her whatever it finds (IHE BALP PatientQuery): the request's decision
// record (its AuthZ consent event, named by X-Consent-Decision) names
// her, its query event names her, and a search of her record that found
// nothing is in her disclosure log; a patient whose data it withheld is
// named by her decision (a deny), and her disclosure log does not claim
// she was disclosed.
func TestAuditSearchNamesPatient(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	gp, social := e.as("PractitionerRole/gp"), e.as("PractitionerRole/social")
	disclosures := func(p string) []map[string]any {
		t.Helper()
		r := e.do("GET", "/fhir/"+p+"/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", p))
		if r.status != 200 {
			t.Fatalf("%s's disclosures: %d %s", p, r.status, r.body)
		}
		var b struct {
			Entry []struct{ Resource map[string]any } `json:"entry"`
		}
		_ = json.Unmarshal(r.body, &b)
		var out []map[string]any
		for _, en := range b.Entry {
			out = append(out, en.Resource)
		}
		return out
	}
	for _, c := range []struct{ name, path, auth string }{
		{"empty by patient", "/fhir/Observation?patient=p1&code=none", gp},
		{"empty by subject", "/fhir/Observation?subject=Patient/p1&code=none", gp},
		{"empty, POST _search", "/fhir/Condition/_search", gp},
		{"a system caller's", "/fhir/Observation?patient=p2&code=none", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := "Patient/p1"
			var r resp
			switch {
			case strings.HasSuffix(c.path, "_search"):
				r = e.do("POST", c.path, "patient=p1&code=none", "Authorization", c.auth, "Content-Type", "application/x-www-form-urlencoded")
			case c.auth == "":
				p = "Patient/p2"
				r = e.do("GET", c.path, "")
			default:
				r = e.do("GET", c.path, "", "Authorization", c.auth)
			}
			if r.status != 200 {
				t.Fatalf("search = %d %s", r.status, r.body)
			}
			dec := auditEvent(t, e, r.header.Get("X-Consent-Decision"))
			if got := patientsOf(dec); !slices.Equal(got, []string{p}) {
				t.Errorf("the request's decision names %q, want %s", got, p)
			}
			mine := disclosures(p)
			if !slices.ContainsFunc(mine, func(ev map[string]any) bool {
				en := entityOf(ev, audit.RolePatient)
				return en != nil && strings.Contains(string(mustJSON(en["detail"])), r.header.Get("X-Consent-Decision")) &&
					entityOf(ev, audit.RoleQuery) != nil
			}) {
				t.Errorf("%s's disclosures do not list the search: %v", p, mine)
			}
		})
	}
	// The social worker may see nothing of p1's: her search's decision
	// about p1 is a deny, which names her, and p1's disclosure log gains
	// nothing from it.
	before := len(disclosures("Patient/p1"))
	r := e.do("GET", "/fhir/Observation?patient=p1", "", "Authorization", social)
	if _, got := ids(t, r.body); r.status != 200 || len(got) != 0 {
		t.Fatalf("social search: %d %v", r.status, got)
	}
	denied := auditEntries(t, e, "patient=Patient/p1&agent=PractitionerRole/social&subtype=AuthZ-Consent&outcome=8")
	if len(denied) == 0 {
		t.Errorf("no deny naming p1 for the social worker's search")
	}
	if after := disclosures("Patient/p1"); len(after) != before {
		t.Errorf("a search that disclosed nothing of hers is in p1's disclosures: %d then %d", before, len(after))
	}
	validate(t, map[string][]byte{"p1-disclosures": e.do("GET", "/fhir/Patient/p1/$disclosures", "").body,
		"AuditEvent-searchset": e.do("GET", "/fhir/AuditEvent?_count=1000", "").body})
}

// TestAuditUserOrganization: a professional's AuthZ consent event (here
// the read that records it) names the Organization her PractitionerRole
// acts for as BALP AuthZconsent's agent[userorg] (v3-RoleClass PROV, not
// the requestor, no network), the decision log reads it back, and the
// log's agent index lists her, not everyone of her organization.
func TestAuditUserOrganization(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	for _, put := range [][2]string{
		{"/fhir/Organization/cab1", `{"resourceType":"Organization","id":"cab1","name":"Cabinet"}`},
		{"/fhir/PractitionerRole/gp", `{"resourceType":"PractitionerRole","id":"gp","active":true,"organization":{"reference":"Organization/cab1"},` +
			`"code":[{"coding":[{"system":"` + terminology.TREG15 + `","code":"10"}]}]}`},
	} {
		if r := e.do("PUT", put[0], put[1]); r.status/100 != 2 {
			t.Fatalf("PUT %s = %d %s", put[0], r.status, r.body)
		}
	}
	r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", e.as("PractitionerRole/gp"))
	if r.status != 200 {
		t.Fatalf("GP read = %d", r.status)
	}
	ev := auditEvent(t, e, r.header.Get("X-Consent-Decision"))
	org := agentOf(ev, "PROV")
	if org == nil || org["who"].(map[string]any)["reference"] != "Organization/cab1" || org["requestor"] != false || org["network"] != nil {
		t.Fatalf("no user organization: %v", ev["agent"])
	}
	if d := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", ""); !strings.Contains(string(d.body), `"organization":"Organization/cab1"`) {
		t.Errorf("decision log: %s", d.body)
	}
	if got := auditEntries(t, e, "agent=Organization/cab1"); len(got) != 0 {
		t.Errorf("the organization is indexed as an agent: %d entries", len(got))
	}
}

// TestAuditPatch: a PATCH is recorded as one (R4 restful-interaction
// patch, action U: IHE BALP Update subtype[anyPatch]), not as an update;
// a PUT stays an update.
func TestAuditPatch(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	r := e.do("PATCH", "/fhir/Observation/o-clin", `[{"op":"replace","path":"/status","value":"amended"}]`,
		"Authorization", e.as("PractitionerRole/gp"), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	evs := auditEntries(t, e, "entity=Observation/o-clin&type=rest&agent=PractitionerRole/gp")
	if len(evs) != 1 {
		t.Fatalf("%d change events", len(evs))
	}
	sub := asList(evs[0]["subtype"])
	if len(sub) != 1 || sub[0].(map[string]any)["code"] != "patch" || sub[0].(map[string]any)["system"] != audit.SystemRestful ||
		evs[0]["action"] != "U" {
		t.Errorf("PATCH recorded as %v, action %v", sub, evs[0]["action"])
	}
	if d := e.do("GET", "/admin/decisions?actor=PractitionerRole/gp", ""); !strings.Contains(string(d.body), `"action":"write:patch"`) {
		t.Errorf("decision log: %s", d.body)
	}
	if r := e.do("PUT", "/fhir/Observation/o-clin", `{"resourceType":"Observation","id":"o-clin","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`,
		"Authorization", e.as("PractitionerRole/gp")); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if evs := auditEntries(t, e, "entity=Observation/o-clin&subtype=update&agent=PractitionerRole/gp"); len(evs) != 1 {
		t.Errorf("PUT: %d update events", len(evs))
	}
}

// TestAuditUpdateAsCreate: a PUT to an id that has no current version
// creates the resource (R4 http.html#upsert, update as create; a deleted
// one's re-creation included) and is recorded as a creation: IHE BALP
// Create (subtype create, action C), its decision as write:create; a PUT
// over a current version stays an update.
func TestAuditUpdateAsCreate(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	const obs = `{"resourceType":"Observation","id":"up1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`
	const changed = `{"resourceType":"Observation","id":"up1","status":"amended","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`
	// the second PUT changes nothing: no version, recorded as the update
	// it asked for, naming the version that stands (created by the first)
	for _, step := range []struct {
		method, body string
		status       int
	}{{"PUT", obs, 201}, {"PUT", obs, 200}, {"PUT", changed, 200}, {"DELETE", "", 204}, {"PUT", obs, 201}} {
		if r := e.do(step.method, "/fhir/Observation/up1", step.body); r.status != step.status {
			t.Fatalf("%s = %d, want %d: %s", step.method, r.status, step.status, r.body)
		}
	}
	var got []string
	for _, ev := range auditEntries(t, e, "entity=Observation/up1&type=rest") {
		sub := asList(ev["subtype"])[0].(map[string]any)["code"].(string)
		got = append(got, sub+" "+ev["action"].(string)+" "+entityOf(ev, audit.RoleResource)["what"].(map[string]any)["reference"].(string))
	}
	want := []string{ // newest first
		"create C Observation/up1/_history/4",
		"delete D Observation/up1/_history/3",
		"update U Observation/up1/_history/2",
		"update U Observation/up1/_history/1",
		"create C Observation/up1/_history/1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes recorded as\n%q\nwant\n%q", got, want)
	}
	if d := e.do("GET", "/admin/decisions?patient=Patient/p1&_count=1000", ""); strings.Count(string(d.body), `"action":"write:create"`) < 2 {
		t.Errorf("the decisions of the creations by PUT are not write:create: %s", d.body)
	}
}

// TestAuditChainedSearchNamesPatient: a search that names its patient
// through a chain (R4 search.html#chaining: patient.identifier=…,
// subject:Patient.identifier=…) finds that patient's data only, not
// every patient's, and is about her as patient= is (IHE BALP
// PatientQuery): its decision and query event name her, and a search of
// her record that found nothing is in her disclosure log.
func TestAuditChainedSearchNamesPatient(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	const ins = "urn:oid:1.2.250.1.213.1.4.10|248039912345678"
	if r := e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.10","value":"248039912345678"}],`+
		`"generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`); r.status != 200 {
		t.Fatalf("PUT p1 = %d %s", r.status, r.body)
	}
	gp := e.as("PractitionerRole/gp")
	disclosed := func(decision string) bool {
		t.Helper()
		r := e.do("GET", "/fhir/Patient/p1/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/p1"))
		return r.status == 200 && strings.Contains(string(r.body), decision)
	}
	for _, c := range []struct{ name, query, auth string }{
		{"patient.identifier", "patient.identifier=" + url.QueryEscape(ins), gp},
		{"subject:Patient.identifier", "subject:Patient.identifier=" + url.QueryEscape(ins), gp},
		{"patient._id, system caller", "patient._id=p1", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := []string{}
			if c.auth != "" {
				h = []string{"Authorization", c.auth}
			}
			r := e.do("GET", "/fhir/Observation?"+c.query, "", h...)
			_, got := ids(t, r.body)
			if r.status != 200 || len(got) == 0 || slices.Contains(got, "Observation/o-other") {
				t.Fatalf("search = %d %v: not p1's data alone", r.status, got)
			}
			empty := e.do("GET", "/fhir/Observation?code=none&"+c.query, "", h...)
			if _, got := ids(t, empty.body); empty.status != 200 || len(got) != 0 {
				t.Fatalf("empty search = %d %v", empty.status, got)
			}
			for _, d := range []string{r.header.Get("X-Consent-Decision"), empty.header.Get("X-Consent-Decision")} {
				if got := patientsOf(auditEvent(t, e, d)); !slices.Equal(got, []string{"Patient/p1"}) {
					t.Errorf("the decision %s names %q", d, got)
				}
				if !disclosed(d) {
					t.Errorf("p1's disclosures do not list the search decided by %s", d)
				}
			}
		})
	}
	for _, q := range []string{"subject.identifier=x", "patient.organization.name=x", "code.text=x"} {
		if r := e.do("GET", "/fhir/Observation?"+q, "", "Authorization", gp); r.status != 400 {
			t.Errorf("%s = %d, want 400: a chain not followed would widen the search", q, r.status)
		}
	}
}

// TestAuditQueryOtherPatientValues: a search's values that name another
// patient (her INS) stay out of this patient's disclosure log, though the
// search found nothing the caller may see of the other one: only the
// cleaned query (type and parameter names) is recorded when a value
// could name someone else.
func TestAuditQueryOtherPatientValues(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	for _, p := range [][2]string{{"p1", "248039912345678"}, {"p2", "190017512345679"}} {
		body := `{"resourceType":"Patient","id":"` + p[0] + `","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.10","value":"` + p[1] + `"}]`
		if p[0] == "p1" {
			body += `,"generalPractitioner":[{"reference":"PractitionerRole/gp"}]`
		}
		if r := e.do("PUT", "/fhir/Patient/"+p[0], body+`}`); r.status != 200 {
			t.Fatalf("PUT %s = %d %s", p[0], r.status, r.body)
		}
	}
	gp := e.as("PractitionerRole/gp")
	for _, q := range []string{
		"/fhir/Patient?identifier=" + url.QueryEscape("urn:oid:1.2.250.1.213.1.4.10|248039912345678,urn:oid:1.2.250.1.213.1.4.10|190017512345679"),
		"/fhir/Observation?patient.identifier=" + url.QueryEscape("urn:oid:1.2.250.1.213.1.4.10|248039912345678,urn:oid:1.2.250.1.213.1.4.10|190017512345679"),
		"/fhir/Patient?family=" + url.QueryEscape("x") + "&identifier=" + url.QueryEscape("190017512345679,248039912345678"),
	} {
		r := e.do("GET", q, "", "Authorization", gp)
		if _, got := ids(t, r.body); r.status != 200 || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "p2") }) {
			t.Fatalf("%s = %d %v", q, r.status, got)
		}
	}
	d := e.do("GET", "/fhir/Patient/p1/$disclosures", "", "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/p1"))
	var b struct {
		Entry []struct{ Resource map[string]any } `json:"entry"`
	}
	if err := json.Unmarshal(d.body, &b); err != nil || d.status != 200 {
		t.Fatalf("disclosures: %d %s", d.status, d.body)
	}
	for _, en := range b.Entry {
		qe := entityOf(en.Resource, audit.RoleQuery)
		if qe == nil {
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(qe["query"].(string))
		if strings.Contains(string(raw), "190017512345679") {
			t.Errorf("p1's disclosure log holds p2's INS: %q", raw)
		}
	}
	// the auditor still has each request as received (IHE BALP Query),
	// in an event that names no patient
	asked := 0
	for _, ev := range auditEntries(t, e, "agent=PractitionerRole/gp&subtype=search-type") {
		raw, _ := base64.StdEncoding.DecodeString(entityOf(ev, audit.RoleQuery)["query"].(string))
		if strings.Contains(string(raw), "190017512345679") {
			asked++
			if p := patientsOf(ev); len(p) != 0 {
				t.Errorf("the request as received is in an event naming %v", p)
			}
		}
	}
	if asked != 3 { // the third found nothing: its one event names no one
		t.Errorf("%d events hold the requests as received, want 3", asked)
	}
}
