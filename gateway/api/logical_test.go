package api_test

import (
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/identity"
)

// TestScenarioLogicalReferences: a ROR-shaped PractitionerRole names its
// Organization by FINESS and its Practitioner by RPPS, as logical
// references (R4 references.html section 2.3.0.3: Reference.identifier
// without Reference.reference). Written, it points at them literally, so
// routing finds its territory through its Organization, and the patient's
// objection to that Organization keeps it from her, as for a literal
// reference.
func TestScenarioLogicalReferences(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.add(`{"resourceType":"PractitionerRole","id":"nurse-ror","active":true,` +
		`"practitioner":{"identifier":{"system":"` + identity.RPPS + `","value":"10000000019"}},` +
		`"organization":{"identifier":{"system":"` + identity.FINESS + `","value":"590000017"},"display":"SSIAD Lille Sud"},` +
		`"code":[{"coding":[` + g15("60") + `]}]}`)
	s.add(`{"resourceType":"Practitioner","id":"ror-p","identifier":[{"system":"` + identity.RPPS + `","value":"10000000019"}],"name":[{"family":"Infirmier"}]}`)
	s.add(`{"resourceType":"Organization","id":"ssiad-lille-sud","active":true,"name":"SSIAD Lille Sud",` +
		`"identifier":[{"system":"` + identity.FINESS + `","value":"590000017"}]` + list("extension", []string{territory("3", "59350")}) + `}`)
	s.write()

	r := s.do("GET", "/fhir/PractitionerRole/nurse-ror", "")
	if r.status != 200 || !strings.Contains(string(r.body), `"reference":"Organization/ssiad-lille-sud"`) ||
		!strings.Contains(string(r.body), `"reference":"Practitioner/ror-p"`) || !strings.Contains(string(r.body), `"value":"590000017"`) {
		t.Errorf("the stored role does not point at its Organization and Practitioner, keeping their identifiers: %d %s", r.status, r.body)
	}

	s.discharge(surgery("p1", lilleAddress))
	nurse := s.route("e-p1").only(t, "nurse")
	if got := resource.RefString(nurse.GetOwner()); got != "PractitionerRole/nurse-ror" {
		t.Errorf("the nurse: %s, want PractitionerRole/nurse-ror (%s)", got, noteOf(nurse))
	}

	s.discharge(surgery("p2", lilleAddress))
	s.consent("p2", "OPTOUT", "Organization/ssiad-lille-sud")
	other := s.route("e-p2").only(t, "nurse")
	if got := resource.RefString(other.GetOwner()); got == "PractitionerRole/nurse-ror" {
		t.Errorf("the role of the Organization p2 objected to has her Task (%s)", noteOf(other))
	}
	if r := s.do("GET", "/fhir/Patient/p2", "", "Authorization", s.as("PractitionerRole/nurse-ror")); r.status == 200 {
		t.Errorf("the role of the Organization p2 objected to reads her: %d", r.status)
	}
}

// TestScenarioLogicalReferenceTargetWrittenLater: a role naming its
// Organization by FINESS (R4 references.html section 2.3.0.3) is stored
// before that Organization exists; the Organization written afterwards
// through the API, by PUT, POST or in a transaction, links the role
// waiting for it, so that it takes the Organization's territory and
// routing chooses it, as when the Organization came first.
func TestScenarioLogicalReferenceTargetWrittenLater(t *testing.T) {
	t.Parallel()
	const finess = "590000041"
	org := `{"resourceType":"Organization","active":true,"name":"SSIAD Lille Nord",` +
		`"identifier":[{"system":"` + identity.FINESS + `","value":"` + finess + `"}]` + list("extension", []string{territory("3", "59350")}) + `}`
	for name, writeOrg := range map[string]func(s *scenario) int{
		"PUT": func(s *scenario) int {
			return s.do("PUT", "/fhir/Organization/ssiad-lille-nord", strings.Replace(org, `"active"`, `"id":"ssiad-lille-nord","active"`, 1)).status
		},
		"POST": func(s *scenario) int { return s.do("POST", "/fhir/Organization", org).status },
		"transaction": func(s *scenario) int {
			return s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[`+
				`{"fullUrl":"urn:uuid:3c5d6a52-2f0e-4a57-9d0e-6f1c2a7b8e11","resource":`+org+`,"request":{"method":"POST","url":"Organization"}}]}`).status
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.add(`{"resourceType":"PractitionerRole","id":"nurse-waiting","active":true,` +
				`"organization":{"identifier":{"system":"` + identity.FINESS + `","value":"` + finess + `"}},` +
				`"code":[{"coding":[` + g15("60") + `]}]}`)
			s.write()
			if st := writeOrg(s); st != 200 && st != 201 {
				t.Fatalf("writing the Organization: %d", st)
			}
			r := s.do("GET", "/fhir/PractitionerRole/nurse-waiting", "")
			if r.status != 200 || !strings.Contains(string(r.body), `"reference":"Organization/`) || !strings.Contains(string(r.body), `"value":"`+finess+`"`) {
				t.Errorf("the waiting role does not point at the Organization written after it: %d %s", r.status, r.body)
			}
			s.discharge(surgery("p1", lilleAddress))
			nurse := s.route("e-p1").only(t, "nurse")
			if got := resource.RefString(nurse.GetOwner()); got != "PractitionerRole/nurse-waiting" {
				t.Errorf("the nurse: %s, want PractitionerRole/nurse-waiting (%s)", got, noteOf(nurse))
			}
		})
	}
}
