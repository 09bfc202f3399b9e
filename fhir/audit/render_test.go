package audit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
)

var testCodec = codec.MustNew()

// patterns are an event of every pattern the gateway records.
func patterns() map[string]audit.Event {
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	peers := audit.Peers{ClientAddr: "2001:db8::7", ClientID: "gp-app", ServerURL: "https://relais.example/fhir"}
	permit := audit.Decision{ID: "d-1", Time: at, Actor: "PractitionerRole/gp", Patient: "Patient/p1", Permit: true,
		Basis: []string{"Consent/c1"}, Policy: "care-team", Purpose: "TREAT", Action: "access", Resource: "Observation/o1", Token: "jti-1",
		Org: "Organization/gp-practice", Peers: peers}
	system := audit.Decision{ID: "d-7", Time: at, Actor: "client:lab", Permit: true, Policy: "system-access", Purpose: "TREAT",
		Action: "access", Resource: "Observation/o2", System: true, Token: "jti-7", Peers: peers}
	deny := audit.Decision{ID: "d-2", Time: at, Actor: "client:lab", Patient: "Patient/p1", Policy: "objection",
		Purpose: "TREAT", Action: "access", Resource: "Observation", Denied: 3, Parts: []string{"d-3", "d-4"}}
	btg := audit.Decision{ID: "d-5", Time: at, Actor: "PractitionerRole/er", Patient: "Patient/p1", Permit: true, Purpose: "ETREAT",
		BreakGlass: true, Reason: "unconscious \"A&E\"\n", Expires: at.Add(4 * time.Hour), Token: "jti-5"}
	search := audit.Event{ID: "s-1", Time: at, Kind: audit.KindDisclosure, Type: audit.TypeRest, Subtype: []audit.Code{audit.SubSearch},
		Action: audit.ActionExecute, Outcome: audit.OutcomeSuccess, Purpose: []string{"TREAT"},
		Agents: []audit.Agent{audit.Requester("PractitionerRole/gp", "jti-1")},
		Entities: []audit.Entity{audit.PatientEntity("Patient/p1"), {Type: audit.EntityObject, Role: audit.RoleQuery,
			Description: "Observation?code&patient", Query: []byte("GET /fhir/Observation?patient=p1&code=http://loinc.org|2160-0")}}}
	search.AddPeers(peers)
	return map[string]audit.Event{
		"decision-permit": audit.DecisionEvent(&permit),
		"decision-deny":   audit.DecisionEvent(&deny),
		"read":            audit.ReadEvent(&permit, audit.SubRead, "Observation/o1"),
		"vread":           audit.ReadEvent(&permit, audit.SubVRead, "Observation/o1/_history/2"),
		"decision-system": audit.DecisionEvent(&system),
		"read-system":     audit.ReadEvent(&system, audit.SubRead, "Observation/o2"),
		"search":          search,
		"push": audit.PushEvent(&audit.Push{ID: "d-6-push", Time: at, Decision: "d-6", Patient: "Patient/p1",
			What: "Task/t1/_history/1", Recipient: "PractitionerRole/nurse", Endpoint: "nurse.example", Subscription: "Subscription/s1",
			Server: "https://relais.example/fhir"}),
		"break-glass": audit.BreakGlassEvent("b-1", &btg),
		"token": audit.TokenEvent(&audit.Token{ID: "t-1", Time: at, Client: "lab", JTI: "jti-7", Scope: "system/Patient.rs",
			Request: []byte("POST /auth/token\n\ngrant_type=client_credentials&scope=system%2FPatient.rs"),
			Peers:   audit.Peers{ClientAddr: "192.0.2.7", ServerURL: "https://relais.example/auth/token"}}),
		"token-refused": audit.TokenEvent(&audit.Token{ID: "t-2", Time: at, Refusal: "invalid_client"}),
		"import-hl7v2": audit.ImportEvent(&audit.Import{ID: "hl7v2-1", Time: at, Format: "HL7v2 ADT^A01", Sender: "HIS@CHU",
			Patient: "Patient/p1", Source: []string{"Binary/m1", "Provenance/m1"}}),
		"import-cda-failed": audit.ImportEvent(&audit.Import{ID: "cda-1", Time: at, Format: "CDA", Sender: "client:dmp",
			Source: []string{"Binary/c1"}, Failed: true, Peers: peers}),
		"relabel": audit.RelabelEvent(&audit.Relabel{ID: "relabel-1", Time: at, Patient: "Patient/p1",
			What: "Condition/c1/_history/2", Rules: 2}),
		"relabel-no-patient": audit.RelabelEvent(&audit.Relabel{ID: "relabel-2", Time: at, What: "Binary/m1/_history/2", Rules: 2}),
	}
}

// TestRender: every pattern renders to JSON that parses, that the
// project's codec reads as an R4 AuditEvent (strict: no duplicate keys,
// valid UTF-8), and, with RELAIS_VALIDATE=1, that the independent
// validator accepts.
func TestRender(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, e := range patterns() {
		js := audit.Render(nil, &e)
		t.Run(name, func(t *testing.T) {
			if !json.Valid(js) {
				t.Fatalf("invalid JSON: %s", js)
			}
			m, err := testCodec.Decode(js)
			if err != nil {
				t.Fatalf("codec: %v\n%s", err, js)
			}
			if got := string(m.ProtoReflect().Descriptor().Name()); got != "AuditEvent" {
				t.Errorf("decoded a %s", got)
			}
		})
		if err := os.WriteFile(filepath.Join(dir, name+".json"), js, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getenv("RELAIS_VALIDATE") == "1" {
		fhirtest.RunValidator(t, dir)
	}
}

// TestDecisionRoundTrip: the decision log reads back what DecisionEvent
// and ReadEvent record.
func TestDecisionRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)
	d := audit.Decision{ID: "d-1", Time: at, Actor: "PractitionerRole/gp", Patient: "Patient/p1", Permit: true,
		Basis: []string{"Consent/c1"}, Policy: "care-team", Purpose: "TREAT", Action: "access", Resource: "Observation/o1",
		BreakGlass: true, Reason: "r", Expires: at.Add(time.Hour), Permitted: 1, Token: "jti-1",
		Provision: "Consent/c1#provision", Parts: []string{"d-2"}, Org: "Organization/o1"}
	sys := audit.Decision{ID: "d-3", Time: at, Actor: "client:lab", Permit: true, Policy: "system-access", Purpose: "TREAT",
		Action: "access", Resource: "search", System: true, Permitted: 4}
	for name, c := range map[string]struct {
		e    audit.Event
		want audit.Decision
	}{
		"decision":        {audit.DecisionEvent(&d), d},
		"read":            {audit.ReadEvent(&d, audit.SubRead, "Observation/o1"), d},
		"decision-system": {audit.DecisionEvent(&sys), sys},
	} {
		back, err := audit.DecisionOf(audit.Render(nil, &c.e))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.want.Time = c.want.Time.UTC()
		if !reflect.DeepEqual(back, c.want) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", name, back, c.want)
		}
	}
	// entries stored before the patient's entity held the decision's
	// details read back as they did
	for _, name := range []string{"decision-permit", "read", "decision-permit-2", "read-2", "decision-deny"} {
		e := frozenEvent(t, name)
		back, err := audit.DecisionOf(audit.Render(nil, &e))
		if err != nil || back.Patient != "Patient/p1" || back.Action != "access" || back.Policy == "" || !strings.HasPrefix(back.Resource, "Observation") {
			t.Errorf("stored %s read back as %+v (%v)", name, back, err)
		}
	}
	push := audit.PushEvent(&audit.Push{ID: "x", Time: at, What: "Task/t1/_history/1"})
	if _, err := audit.DecisionOf(audit.Render(nil, &push)); err != audit.ErrNotDecision {
		t.Errorf("a push event read as a decision: %v", err)
	}
}
