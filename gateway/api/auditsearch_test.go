package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
)

// auditQA records the audit log the search tests read: ids qa-e1..qa-e5,
// beside what the test's own requests record.
func auditQA(t *testing.T, e *env) {
	t.Helper()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ev := func(id, when, outcome, action string, sub audit.Code, agents []audit.Agent, patient string, what ...string) audit.Event {
		ents := []audit.Entity{audit.PatientEntity(patient)}
		for _, w := range what {
			ents = append(ents, audit.Entity{What: w, Type: audit.EntityObject, Role: audit.RoleResource})
		}
		return audit.Event{ID: id, Time: at(when), Kind: audit.KindDisclosure, Type: audit.TypeRest, Subtype: []audit.Code{sub},
			Action: action, Outcome: outcome, Agents: agents, Entities: ents}
	}
	a1, b2 := audit.Requester("PractitionerRole/a1", "j1"), audit.Requester("Practitioner/b2", "j2")
	lab := audit.Agent{Type: audit.AgentOAuth, Client: "lab", Requestor: true}
	events := []audit.Event{
		ev("qa-e5", "2025-06-01T00:00:00Z", "0", "R", audit.SubRead, []audit.Agent{a1}, "Patient/demo-patient"),
		ev("qa-e4", "2026-11-15T10:00:00Z", "8", "R", audit.SubRead, []audit.Agent{b2}, "Patient/other", "Consent/x/_history/1"),
		ev("qa-e1", "2026-12-07T14:32:47Z", "0", "R", audit.SubRead, []audit.Agent{a1}, "Patient/demo-patient", "Consent/x/_history/2"),
		ev("qa-e2", "2026-12-07T14:32:48Z", "4", "C", audit.SubCreate, []audit.Agent{a1, b2}, "Patient/demo-patient", "Observation/o9/_history/1"),
		ev("qa-e3", "2026-12-07T14:34:10Z", "8", "R", audit.SubRead, []audit.Agent{lab}, "Patient/other"),
	}
	if err := e.store.AppendAudit(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

// auditBundle is the part of a searchset the audit tests read.
type auditBundle struct {
	Total *int `json:"total"`
	Link  []struct {
		Relation, URL string
	} `json:"link"`
	Entry []struct {
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

func (b *auditBundle) link(rel string) string {
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

// qa are the ids of the qa- entries matched, in the order served.
func (b *auditBundle) qa() []string {
	out := []string{}
	for _, en := range b.Entry {
		var r struct{ ID string }
		_ = json.Unmarshal(en.Resource, &r)
		if en.Search.Mode == "match" && strings.HasPrefix(r.ID, "qa-") {
			out = append(out, strings.TrimPrefix(r.ID, "qa-"))
		}
	}
	return out
}

func (b *auditBundle) outcome() string {
	for _, en := range b.Entry {
		if en.Search.Mode == "outcome" {
			return string(en.Resource)
		}
	}
	return ""
}

func getBundle(t *testing.T, e *env, path string, headers ...string) (int, *auditBundle) {
	t.Helper()
	r := e.do("GET", path, "", headers...)
	b := &auditBundle{}
	if r.status == 200 {
		if err := json.Unmarshal(r.body, b); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return r.status, b
}

// TestAuditSearchParameters: the audit log's search parameters read as R4
// search reads them (search.html; auditevent.html#search): a reference as
// [id] or [type]/[id], without a version matching every version; a comma
// is OR, a repeated parameter AND; a date is the range its precision
// denotes, compared by its prefix; system clients by
// agent:identifier=urn:relais:client|<id>.
func TestAuditSearchParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	auditQA(t, e)
	for _, c := range []struct{ query, want string }{
		{"patient=demo-patient", "e2 e1 e5"},
		{"patient=Patient/demo-patient", "e2 e1 e5"},
		{"patient:Patient=demo-patient", "e2 e1 e5"},
		{"patient=demo-patient,other", "e3 e2 e1 e4 e5"},
		{"agent=a1", "e2 e1 e5"},
		{"agent=PractitionerRole/a1,Practitioner/b2", "e2 e1 e4 e5"},
		{"agent=PractitionerRole/a1&agent=Practitioner/b2", "e2"},
		{"agent:identifier=urn:relais:client|lab", "e3"},
		{"agent:identifier=urn:other|lab", ""},
		{"entity=Consent/x", "e1 e4"},
		{"entity=x", "e1 e4"},
		{"entity=Consent/x/_history/2", "e1"},
		{"entity=Consent/x/_history/3", ""},
		// R4 entity is AuditEvent.entity.what: the patient's entity too
		{"entity=Patient/demo-patient", "e2 e1 e5"},
		{"entity=Patient/other,Consent/x", "e3 e1 e4"},
		{"outcome=8&outcome=4", ""},
		{"outcome=8,4", "e3 e2 e4"},
		{"action=C", "e2"},
		{"subtype=http://hl7.org/fhir/restful-interaction|create", "e2"},
		{"subtype=http://example.org|create", ""},
		{"_id=qa-e3,qa-e4", "e3 e4"},
		{"date=2026-12-07T14:32:47Z", "e1"},
		{"date=2026-12-07T14:34", "e3"},
		{"date=2026-12&patient=demo-patient,other", "e3 e2 e1"},
		{"date=2026&patient=demo-patient,other", "e3 e2 e1 e4"},
		{"date=eq2026-11", "e4"},
		{"date=gt2026-12-07T14:32:47Z&patient=demo-patient,other", "e3 e2"},
		{"date=le2026-12-07T14:32:47Z", "e1 e4 e5"},
		{"date=eb2026-12-01", "e4 e5"},
		{"date=sa2026-12-07T14:33", "e3"},
		{"patient=demo-patient&date=ge2026-01-01", "e2 e1"},
	} {
		t.Run(c.query, func(t *testing.T) {
			status, b := getBundle(t, e, "/fhir/AuditEvent?"+c.query)
			if got := strings.Join(b.qa(), " "); status != 200 || got != c.want {
				t.Errorf("%d [%s], want [%s]", status, got, c.want)
			}
			if b.outcome() != "" {
				t.Errorf("a parameter reported ignored: %s", b.outcome())
			}
		})
	}
}

// TestAuditSearchIgnored: a parameter the audit log does not apply is not
// a search of the whole log without it: it is reported in an
// OperationOutcome entry and left out of the self link, or refused with
// Prefer: handling=strict (https://hl7.org/fhir/R4/search.html#errors);
// the CapabilityStatement lists only the parameters applied.
func TestAuditSearchIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	auditQA(t, e)
	for _, p := range []string{"_lastUpdated=gt2020", "_sort=_id", "policy=j1", "site=x", "source=Device/d", "address=h", "agent-name=x", "entity-name=x"} {
		t.Run(p, func(t *testing.T) {
			status, b := getBundle(t, e, "/fhir/AuditEvent?patient=other&"+p)
			if status != 200 || !strings.Contains(b.outcome(), "ignored") || strings.Join(b.qa(), " ") != "e3 e4" {
				t.Errorf("%d %v %s", status, b.qa(), b.outcome())
			}
			if self := b.link("self"); strings.Contains(self, strings.SplitN(p, "=", 2)[0]+"=") || !strings.Contains(self, "patient=other") {
				t.Errorf("self link %s", self)
			}
			if r := e.do("GET", "/fhir/AuditEvent?patient=other&"+p, "", "Prefer", "handling=strict"); r.status != 400 {
				t.Errorf("strict: %d", r.status)
			}
		})
	}
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				SearchParam []struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/metadata", "").body, &cs); err != nil {
		t.Fatal(err)
	}
	for _, r := range cs.Rest[0].Resource {
		if r.Type != "AuditEvent" {
			continue
		}
		var names []string
		for _, p := range r.SearchParam {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if fmt.Sprint(names) != "[action agent date entity outcome patient subtype type]" {
			t.Errorf("CapabilityStatement AuditEvent search parameters: %v", names)
		}
	}
}

// TestAuditSearchTotal: _summary=count and _count=0 answer the total
// alone, _total=accurate adds it to a page, as a search of any type does
// (https://hl7.org/fhir/R4/search.html#summary).
func TestAuditSearchTotal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	auditQA(t, e)
	for _, q := range []string{"_summary=count", "_count=0"} {
		status, b := getBundle(t, e, "/fhir/AuditEvent?patient=demo-patient&"+q)
		if status != 200 || b.Total == nil || *b.Total != 3 || len(b.Entry) != 0 {
			t.Errorf("%s: %d total %v, %d entries", q, status, b.Total, len(b.Entry))
		}
	}
	status, b := getBundle(t, e, "/fhir/AuditEvent?patient=demo-patient&_total=accurate&_count=1")
	if status != 200 || b.Total == nil || *b.Total != 3 || len(b.qa()) != 1 {
		t.Errorf("_total: %d total %v, %v", status, b.Total, b.qa())
	}
	if status, _ := getBundle(t, e, "/fhir/AuditEvent?date="+url.QueryEscape("2026-13")); status != 400 {
		t.Errorf("a date that does not parse: %d", status)
	}
	// the audit log follows no chain: leaving it out would answer every
	// patient's entries
	if status, _ := getBundle(t, e, "/fhir/AuditEvent?patient:Patient.identifier=x"); status != 400 {
		t.Errorf("a chained parameter: %d", status)
	}
}

// TestAuditSearchPaging: the audit log's searches and a patient's
// disclosures page newest first through next links whose cursor is
// sealed for the caller and the search: followed to the end they give
// every entry once; another caller, another search or an altered cursor
// gets 410, as an expired page of any search does.
func TestAuditSearchPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	auditQA(t, e)
	if r := e.do("PUT", "/fhir/Patient/demo-patient", `{"resourceType":"Patient","id":"demo-patient"}`); r.status != 201 {
		t.Fatalf("PUT patient: %d %s", r.status, r.body)
	}
	walk := func(path string, headers ...string) (ids []string, links []string) {
		t.Helper()
		for path != "" && len(links) < 10 {
			status, b := getBundle(t, e, path, headers...)
			if status != 200 {
				t.Fatalf("%s: %d", path, status)
			}
			ids = append(ids, b.qa()...)
			path = b.link("next")
			links = append(links, path)
		}
		return ids, links
	}
	ids, links := walk("/fhir/AuditEvent?patient=demo-patient&_count=1")
	if fmt.Sprint(ids) != "[e2 e1 e5]" || len(links) < 3 || links[len(links)-1] != "" {
		t.Fatalf("pages: %v, links %v", ids, links)
	}
	if !strings.Contains(links[0], "patient=demo-patient") || !strings.Contains(links[0], "_count=1") || !strings.Contains(links[0], "_before=") {
		t.Errorf("next link %s", links[0])
	}
	other := "Bearer " + e.mint("system/AuditEvent.rs", "")
	cursor := links[0][strings.Index(links[0], "_before=")+8:]
	for name, c := range map[string]struct{ path, auth string }{
		"another caller": {links[0], other},
		"another search": {"/fhir/AuditEvent?patient=other&_count=1&_before=" + cursor, ""},
		"altered":        {strings.Replace(links[0], "_before=", "_before=A", 1), ""},
	} {
		var h []string
		if c.auth != "" {
			h = []string{"Authorization", c.auth}
		}
		if status, _ := getBundle(t, e, c.path, h...); status != 410 {
			t.Errorf("%s: %d, want 410", name, status)
		}
	}
	if _, b := getBundle(t, e, "/fhir/AuditEvent?_count=5000"); !strings.Contains(b.link("self"), "_count=1000") {
		t.Errorf("_count not bounded: %s", b.link("self"))
	}
	// Her disclosures page for her; her links open nothing for another
	// patient, nor a system caller's for her.
	her := "Bearer " + e.mint("patient/*.rs", "Patient/demo-patient")
	ids, links = walk("/fhir/Patient/demo-patient/$disclosures?_count=1", "Authorization", her)
	if fmt.Sprint(ids) != "[e1 e5]" || links[len(links)-1] != "" {
		t.Fatalf("her disclosures: %v, links %v", ids, links)
	}
	if status, _ := getBundle(t, e, links[0], "Authorization", "Bearer "+e.mint("patient/*.rs", "Patient/other")); status != 404 {
		t.Errorf("another patient followed her link: %d", status)
	}
	_, sys := walk("/fhir/Patient/demo-patient/$disclosures?_count=1")
	if status, _ := getBundle(t, e, sys[0], "Authorization", her); status != 410 {
		t.Errorf("she followed a system caller's link: %d", status)
	}
}

// TestDecisionLogPaging: /admin/decisions pages newest first through a
// "next" URL whose cursor is sealed for the caller and the query: a
// patient's opens nothing for another patient, nor for a system caller.
func TestDecisionLogPaging(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	for range 3 {
		if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 200 {
			t.Fatalf("GP read = %d", r.status)
		}
	}
	type page struct {
		Decisions []struct {
			ID       string `json:"id"`
			Actor    string `json:"actor"`
			Resource string `json:"resource"`
		} `json:"decisions"`
		Next string `json:"next"`
	}
	get := func(path string, headers ...string) (int, page) {
		t.Helper()
		var p page
		r := e.do("GET", path, "", headers...)
		if r.status == 200 {
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
		}
		return r.status, p
	}
	seen := map[string]bool{}
	var first string
	for path := "/admin/decisions?actor=PractitionerRole/gp&_count=1"; path != ""; {
		status, p := get(path)
		if status != 200 || len(p.Decisions) > 1 || len(seen) > 3 {
			t.Fatalf("%s: %d, %d decisions", path, status, len(p.Decisions))
		}
		for _, d := range p.Decisions {
			if d.Actor != "PractitionerRole/gp" || seen[d.ID] {
				t.Errorf("decision %+v (seen: %v)", d, seen[d.ID])
			}
			seen[d.ID] = true
		}
		if first == "" {
			first = p.Next
		}
		path = p.Next
	}
	if len(seen) != 3 {
		t.Errorf("%d decisions paged, want 3", len(seen))
	}
	if status, _ := get(first, "Authorization", "Bearer "+e.mint("system/AuditEvent.rs", "")); status != 410 {
		t.Errorf("another caller followed the link: %d", status)
	}
	her := "Bearer " + e.mint("patient/*.rs", "Patient/p1")
	status, p := get("/admin/decisions?_count=1", "Authorization", her)
	if status != 200 || p.Next == "" {
		t.Fatalf("her decisions: %d, next %q", status, p.Next)
	}
	if status, _ := get(p.Next, "Authorization", her); status != 200 {
		t.Errorf("she followed her link: %d", status)
	}
	for _, who := range []string{"Bearer " + e.mint("patient/*.rs", "Patient/p2"), "Bearer " + e.token} {
		if status, _ := get(p.Next, "Authorization", who); status != 410 {
			t.Errorf("another caller followed her link: %d", status)
		}
	}
}
