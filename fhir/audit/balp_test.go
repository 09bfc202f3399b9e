package audit_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/audit"
)

// balpEvent is the part of a rendered AuditEvent the BALP checks read.
type balpEvent struct {
	Source struct {
		Observer struct{ Display string } `json:"observer"`
	} `json:"source"`
	Agent  []balpAgent  `json:"agent"`
	Entity []balpEntity `json:"entity"`
}

type balpAgent struct {
	Type struct {
		Coding []struct{ System, Code string } `json:"coding"`
	} `json:"type"`
	Who struct {
		Reference  string
		Display    string
		Identifier struct{ System, Value string }
	} `json:"who"`
	Requestor bool     `json:"requestor"`
	Policy    []string `json:"policy"`
	Network   *struct {
		Address string `json:"address"`
		Type    string `json:"type"`
	} `json:"network"`
}

type balpEntity struct {
	What        *json.RawMessage              `json:"what"`
	Type        struct{ System, Code string } `json:"type"`
	Role        struct{ Code string }         `json:"role"`
	Description string                        `json:"description"`
	Query       string                        `json:"query"`
	Detail      []json.RawMessage             `json:"detail"`
}

func parseBALP(t *testing.T, e audit.Event) balpEvent {
	t.Helper()
	var ev balpEvent
	if err := json.Unmarshal(audit.Render(nil, &e), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// agent is the index of the agent whose type has code, -1 if none.
func (ev *balpEvent) agent(code string) int {
	return slices.IndexFunc(ev.Agent, func(a balpAgent) bool {
		return len(a.Type.Coding) == 1 && a.Type.Coding[0].Code == code
	})
}

// TestBALPAgents: the RESTful patterns name the client and the server
// with their network addresses in the roles BALP gives each interaction
// (Read: server 110153, client 110152; Query: client 110153, server
// 110152), the token's client application (110150) by its client_id, and
// the user as the information recipient whose policy is the prefixed
// jti; AuthZ consent names the client and Relais as the authorization
// server, the observer.
func TestBALPAgents(t *testing.T) {
	t.Parallel()
	p := patterns()
	for _, c := range []struct {
		name, client, server string
	}{
		{"read", "110152", "110153"},
		{"vread", "110152", "110153"},
		{"search", "110153", "110152"},
	} {
		ev := parseBALP(t, p[c.name])
		ci, si, app, user := ev.agent(c.client), ev.agent(c.server), ev.agent("110150"), ev.agent("IRCP")
		if ci < 0 || si < 0 || app < 0 || user < 0 {
			t.Fatalf("%s: agents %+v", c.name, ev.Agent)
		}
		if n := ev.Agent[ci].Network; n == nil || n.Address != "2001:db8::7" || n.Type != audit.NetworkIP {
			t.Errorf("%s: client network %+v", c.name, n)
		}
		if n := ev.Agent[si].Network; n == nil || n.Address != "https://relais.example/fhir" || n.Type != audit.NetworkURI {
			t.Errorf("%s: server network %+v", c.name, n)
		}
		if a := ev.Agent[app]; a.Who.Identifier.Value != "gp-app" || a.Requestor || a.Network == nil {
			t.Errorf("%s: client application %+v", c.name, a)
		}
		if u := ev.Agent[user]; !u.Requestor || u.Who.Reference != "PractitionerRole/gp" ||
			!slices.Equal(u.Policy, []string{audit.JTIPrefix + "jti-1"}) || u.Network != nil {
			t.Errorf("%s: user %+v", c.name, u)
		}
	}
	dec := parseBALP(t, p["decision-permit"])
	if i := dec.agent("authserver"); i < 0 || dec.Agent[i].Who.Display != dec.Source.Observer.Display {
		t.Errorf("decision: no authorization server that is the observer: %+v", dec.Agent)
	}
	if i := dec.agent("110150"); i < 0 || dec.Agent[i].Network == nil {
		t.Errorf("decision: no client application at its address: %+v", dec.Agent)
	}
	tok := parseBALP(t, p["token"])
	if i := tok.agent("110150"); i < 0 || tok.Agent[i].Network == nil || tok.Agent[i].Network.Address != "192.0.2.7" {
		t.Errorf("token: client %+v", tok.Agent)
	}
	if i := tok.agent("AuthzOauthService"); i < 0 || tok.Agent[i].Network == nil {
		t.Errorf("token: authorization server %+v", tok.Agent)
	}
}

// TestBALPEntities: a query entity has no what, its query is the request
// base64 and its description the cleaned query (BALP Query
// entity[query]); AuthZ consent's Consents are typed Consent and its
// token is entity[token] with the prefixed jti; the patient is type 1
// role 1.
func TestBALPEntities(t *testing.T) {
	t.Parallel()
	p := patterns()
	s := parseBALP(t, p["search"])
	q := slices.IndexFunc(s.Entity, func(e balpEntity) bool {
		return e.Role.Code == audit.RoleQuery
	})
	if q < 0 {
		t.Fatalf("no query entity: %+v", s.Entity)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Entity[q].Query)
	if en := s.Entity[q]; err != nil || string(raw) != "GET /fhir/Observation?patient=p1&code=http://loinc.org|2160-0" ||
		en.What != nil || en.Description != "Observation?code&patient" || en.Detail != nil || en.Type.Code != "2" {
		t.Errorf("query entity %+v (query %q)", en, raw)
	}
	dec := parseBALP(t, p["decision-permit"])
	var consent, token, patient bool
	for _, en := range dec.Entity {
		switch {
		case en.Type.Code == "Consent" && en.Type.System == "http://hl7.org/fhir/resource-types":
			consent = true
		case en.Type.Code == "UserOauthAgent" && strings.Contains(string(*en.What), `"value":"`+audit.JTIPrefix+`jti-1"`):
			token = true
		case en.Type.Code == "1" && en.Role.Code == "1":
			patient = true
		}
	}
	if !consent || !token || !patient {
		t.Errorf("decision entities: consent %v token %v patient %v: %+v", consent, token, patient, dec.Entity)
	}
	back, err := audit.DecisionOf(audit.Render(nil, ptr(p["decision-permit"])))
	if err != nil || back.Token != "jti-1" || !slices.Equal(back.Basis, []string{"Consent/c1"}) {
		t.Errorf("decision read back: %+v %v", back, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestBALPAuthZConsentSlices: an AuthZ consent event holds only the
// entities BALP's AuthZconsent admits (its entity slicing is closed:
// the patient, once, the Consents, the token), the decision's details
// on the patient's entity, and names the user's organization
// (agent[userorg]: v3-RoleClass PROV, not the requestor, no network)
// when known; the RESTful events' open slices keep one System Object
// each (BALP Read entity[data] 1..1, Query entity[query] 1..1), whatever
// decision they name.
func TestBALPAuthZConsentSlices(t *testing.T) {
	t.Parallel()
	p := patterns()
	for _, name := range []string{"decision-permit", "decision-deny"} {
		ev := parseBALP(t, p[name])
		patients := 0
		for _, en := range ev.Entity {
			switch {
			case en.Type.System == audit.SystemEntityType && en.Type.Code == "1" && en.Role.Code == audit.RolePatient:
				patients++
				if len(en.Detail) < 2 {
					t.Errorf("%s: the patient's entity holds no decision details: %+v", name, en)
				}
			case en.Type == struct{ System, Code string }{audit.EntityConsent.System, audit.EntityConsent.Code}:
			case en.Type == struct{ System, Code string }{audit.EntityToken.System, audit.EntityToken.Code}:
			default:
				t.Errorf("%s: an entity AuthZconsent does not admit: %+v", name, en)
			}
		}
		if patients != 1 {
			t.Errorf("%s: %d patient entities, want 1", name, patients)
		}
	}
	dec := parseBALP(t, p["decision-permit"])
	if i := dec.agent("PROV"); i < 0 || dec.Agent[i].Who.Reference != "Organization/gp-practice" || dec.Agent[i].Requestor ||
		dec.Agent[i].Network != nil || dec.Agent[i].Type.Coding[0].System != audit.AgentUserOrg.System {
		t.Errorf("decision: no user organization: %+v", dec.Agent)
	}
	if deny := parseBALP(t, p["decision-deny"]); deny.agent("PROV") >= 0 {
		t.Errorf("a client without an organization named one")
	}
	for _, name := range []string{"read", "read-system", "search"} {
		ev := parseBALP(t, p[name])
		objects := 0
		for _, en := range ev.Entity {
			if en.Type.System == audit.SystemEntityType && en.Type.Code == "2" {
				objects++
			}
		}
		if objects != 1 {
			t.Errorf("%s: %d System Object entities, want the one BALP slices: %+v", name, objects, ev.Entity)
		}
	}
}
