package consent

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/mappings/terminology"
)

var testCodec = codec.MustNew()

// memSource is an in-memory Directory, CareTeams and Consents.
type memSource struct {
	mu       sync.Mutex
	actors   map[string]Actor
	circles  map[string]Circle
	consents map[string][]*cpb.Consent
	gen      map[string]int
}

func newMem() *memSource {
	return &memSource{actors: map[string]Actor{}, circles: map[string]Circle{},
		consents: map[string][]*cpb.Consent{}, gen: map[string]int{}}
}

func (m *memSource) Actor(_ context.Context, ref string) (Actor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.actors[ref]
	if !ok {
		return Actor{Ref: ref}, nil
	}
	return a, nil
}

func (m *memSource) Circle(_ context.Context, patient string) (Circle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.circles[patient], nil
}

func (m *memSource) Stamp(_ context.Context, patient string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strconv.Itoa(m.gen[patient]), nil
}

func (m *memSource) Consents(_ context.Context, patient string) ([]*cpb.Consent, []string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.consents[patient], []string{patient}, strconv.Itoa(m.gen[patient]), nil
}

// set replaces the patient's Consents.
func (m *memSource) set(patient string, cs ...*cpb.Consent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consents[patient] = cs
	m.gen[patient]++
}

func (m *memSource) role(ref string, belongs []string, roles ...string) {
	m.actors[ref] = Actor{Ref: ref, Known: true, Active: true, Belongs: belongs, Roles: roles}
}

// Codes used by the tests.
var (
	g15GP     = terminology.TREG15 + "|10"
	g15Nurse  = terminology.TREG15 + "|60"
	g15Physio = terminology.TREG15 + "|70"
	r94Social = terminology.TRER94 + "|SW"
	r85Help   = terminology.TRER85 + "|HELP"
	r85Case   = terminology.TRER85 + "|CM"
)

// testNow is the engine clock in the tests.
var testNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// world is the patient Patient/p1 and the people around them:
//
//	gp-role       GP (Practitioner/gp, Organization/cab), the generalPractitioner
//	nurse-role    nurse (Practitioner/nurse), member of CareTeam/ct1
//	sw-role       social worker, member of CareTeam/ct1
//	helper-role   home help of Organization/saad, which is member of ct1
//	be-role       Belgian physician (NIHDI identifier), member of ct1
//	inactive-role nurse, inactive, member of ct1
//	physio-role   physiotherapist outside the care team
//	cm-role       case manager outside the care team
//	anon-role     PractitionerRole without codes, member of ct1
//	CareTeam/old  inactive team (not returned): physio was in it
func world() *memSource {
	m := newMem()
	m.role("PractitionerRole/gp-role", []string{"Practitioner/gp", "Organization/cab"}, g15GP)
	m.role("PractitionerRole/nurse-role", []string{"Practitioner/nurse"}, g15Nurse)
	m.role("PractitionerRole/sw-role", []string{"Practitioner/sw"}, r94Social)
	m.role("PractitionerRole/helper-role", []string{"Practitioner/helper", "Organization/saad"}, r85Help)
	m.role("PractitionerRole/physio-role", []string{"Practitioner/physio"}, g15Physio)
	m.role("PractitionerRole/cm-role", []string{"Practitioner/cm"}, r85Case)
	m.role("PractitionerRole/anon-role", []string{"Practitioner/anon"})
	m.role("PractitionerRole/be-role", []string{"Practitioner/be"}, g15GP)
	be := m.actors["PractitionerRole/be-role"]
	be.Identifiers = []string{"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/nihdi|10000000"}
	m.actors["PractitionerRole/be-role"] = be
	m.role("PractitionerRole/inactive-role", []string{"Practitioner/nurse2"}, g15Nurse)
	in := m.actors["PractitionerRole/inactive-role"]
	in.Active = false
	m.actors["PractitionerRole/inactive-role"] = in
	m.actors["Organization/saad"] = Actor{Ref: "Organization/saad", Known: true, Active: true}
	m.circles["Patient/p1"] = Circle{
		GeneralPractitioners: []string{"Practitioner/gp"},
		Teams: []Team{{Ref: "CareTeam/ct1", Members: []string{"PractitionerRole/nurse-role", "PractitionerRole/sw-role",
			"Organization/saad", "PractitionerRole/be-role", "PractitionerRole/inactive-role", "PractitionerRole/anon-role"}}},
	}
	return m
}

func newEngine(tb testing.TB, m *memSource, now time.Time) *Engine {
	tb.Helper()
	e, err := New(Config{Directory: m, CareTeams: m, Consents: m, HashKey: []byte("test-key"),
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// parseConsent decodes a Consent from JSON.
func parseConsent(tb testing.TB, js string) *cpb.Consent {
	tb.Helper()
	msg, err := testCodec.Decode([]byte(js))
	if err != nil {
		tb.Fatalf("decode consent: %v\n%s", err, js)
	}
	return msg.(*cpb.Consent)
}

// consentJSON builds a Consent for Patient/p1: policy is OPTIN or OPTOUT
// (or a full coding object), provision the provision's JSON body.
func consentJSON(id, status, policy, provision string) string {
	rule := policy
	if policy == "OPTIN" || policy == "OPTOUT" {
		rule = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"` + policy + `"}`
	}
	return fmt.Sprintf(`{"resourceType":"Consent","id":%q,"status":%q,
		"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
		"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
		"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[%s]},"provision":{%s}}`, id, status, rule, provision)
}

// JSON fragments for provisions.
func actor(ref string) string {
	return `"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"` + ref + `"}}]`
}

func actorRole(ref, roleToken string) string {
	sys, code := splitToken(roleToken)
	return `"actor":[{"role":{"coding":[{"system":"` + sys + `","code":"` + code + `"}]},"reference":{"reference":"` + ref + `"}}]`
}

func class(system, code string) string {
	return `"class":[{"system":"` + system + `","code":"` + code + `"}]`
}

func catClass(code string) string { return class(categorySystem, code) }

func typeClass(t string) string { return class(systemResourceTypes, t) }

func label(system, code string) string {
	return `"securityLabel":[{"system":"` + system + `","code":"` + code + `"}]`
}

func splitToken(t string) (string, string) {
	for i := len(t) - 1; i >= 0; i-- {
		if t[i] == '|' {
			return t[:i], t[i+1:]
		}
	}
	return "", t
}
