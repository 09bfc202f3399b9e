package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

// securityOf returns the "system|code" of a stored resource's
// meta.security, read as the system caller.
func (e *env) securityOf(path string) []string {
	e.t.Helper()
	r := e.do("GET", path, "")
	if r.status != 200 {
		e.t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	var res struct {
		Meta struct {
			Security []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(r.body, &res); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, s := range res.Meta.Security {
		out = append(out, s.System+"|"+s.Code)
	}
	return out
}

const (
	hivLabel = actCode + "|HIV"
	psyLabel = actCode + "|PSY"
)

// TestSensitiveCodesLabelled: a discharge written through FHIR by the
// hospital (a system caller, no labels sent) whose diagnosis is an HIV
// disease (ICD-10 B20), with an HIV viral load (LOINC 20447-9) and an
// antiretroviral (ATC J05AR), is labelled HIV from its codes: the
// Condition, the Observation, the MedicationStatement and the stay whose
// diagnosis it is. Then no one reads them without a provision naming HIV:
// not the nurse of her care team, nor her GP under the base policy, nor a
// social worker whose permit names CLIN and MED; her heart failure stays
// readable to each. A permit naming HIV opens them to the GP.
func TestSensitiveCodesLabelled(t *testing.T) {
	t.Parallel()
	e := consentEnv(t)
	icd := terminology.ICD10
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000001","resource":{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"encounter":{"reference":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000003"},"code":{"coding":[{"system":"` + icd + `","code":"B20.7"}]}},"request":{"method":"POST","url":"Condition"}},
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000002","resource":{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"` + icd + `","code":"I50.0"}]}},"request":{"method":"POST","url":"Condition"}},
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000003","resource":{"resourceType":"Encounter","status":"finished","class":{"system":"` + actCode + `","code":"IMP"},"subject":{"reference":"Patient/p1"},"diagnosis":[{"condition":{"reference":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000002"}},{"condition":{"reference":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000001"}}]},"request":{"method":"POST","url":"Encounter"}},
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000004","resource":{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"20447-9"}]},"valueQuantity":{"value":40,"unit":"copies/mL"}},"request":{"method":"POST","url":"Observation"}},
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000005","resource":{"resourceType":"MedicationStatement","status":"active","subject":{"reference":"Patient/p1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"J05AR03"}]}},"request":{"method":"POST","url":"MedicationStatement"}},
	{"fullUrl":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000006","resource":{"resourceType":"Encounter","status":"finished","class":{"system":"` + actCode + `","code":"IMP"},"subject":{"reference":"Patient/p1"},"diagnosis":[{"condition":{"reference":"urn:uuid:0b7e4d8e-0000-4000-8000-000000000002"}}]},"request":{"method":"POST","url":"Encounter"}}
	]}`
	r := e.do("POST", "/fhir", tx)
	if r.status != 200 {
		t.Fatalf("transaction = %d %s", r.status, r.body)
	}
	var out struct {
		Entry []struct{ Response struct{ Location string } }
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	loc := func(i int) string {
		l := out.Entry[i].Response.Location
		if i := strings.Index(l, "/_history"); i >= 0 {
			l = l[:i]
		}
		return "/fhir/" + strings.TrimPrefix(l, "/fhir/")
	}
	hivCond, hfCond, stay, load, arv, hfStay := loc(0), loc(1), loc(2), loc(3), loc(4), loc(5)
	for _, p := range []string{hivCond, stay, load, arv} {
		if got := e.securityOf(p); !slices.Contains(got, hivLabel) {
			t.Errorf("%s labels %v, want HIV", p, got)
		}
	}
	for _, p := range []string{hfCond, hfStay} {
		if got := e.securityOf(p); slices.Contains(got, hivLabel) {
			t.Errorf("%s labels %v, want no HIV", p, got)
		}
	}

	// The writer cannot take the label off: it follows the code.
	body := e.do("GET", hivCond, "").body
	stripped := strings.Replace(string(body), `"system":"`+actCode+`","code":"HIV"`, `"system":"`+actCode+`","code":"N"`, 1)
	if r := e.do("PUT", hivCond, stripped); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if got := e.securityOf(hivCond); !slices.Contains(got, hivLabel) {
		t.Errorf("after a PUT without it, labels %v, want HIV", got)
	}

	// A social worker whose permit names CLIN and MED (not HIV).
	permit := consentJSON("permit-social", "Patient/p1", "OPTIN", "PractitionerRole/social",
		`,"class":[{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"CLIN"},{"system":"https://relais-health.github.io/fhir/CodeSystem/data-category","code":"MED"}]`)
	if r := e.do("PUT", "/fhir/Consent/permit-social", permit); r.status != 201 {
		t.Fatalf("permit = %d %s", r.status, r.body)
	}
	for _, who := range []string{"PractitionerRole/nurse", "PractitionerRole/gp", "PractitionerRole/social"} {
		tok := e.as(who)
		for _, p := range []string{hivCond, stay, load, arv} {
			if r := e.do("GET", p, "", "Authorization", tok); r.status != 404 {
				t.Errorf("%s GET %s = %d, want 404", who, p, r.status)
			}
		}
		if r := e.do("GET", hfCond, "", "Authorization", tok); r.status != 200 {
			t.Errorf("%s GET heart failure = %d, want 200", who, r.status)
		}
		r := e.do("GET", "/fhir/Condition?patient=p1", "", "Authorization", tok)
		if _, got := ids(t, r.body); len(got) != 1 || "/fhir/"+got[0] != hfCond {
			t.Errorf("%s Condition search = %v, want the heart failure only", who, got)
		}
	}

	// The patient's permit naming HIV opens it to her GP.
	hivPermit := consentJSON("permit-gp-hiv", "Patient/p1", "OPTIN", "PractitionerRole/gp",
		`,"securityLabel":[{"system":"`+actCode+`","code":"HIV"}]`)
	if r := e.do("PUT", "/fhir/Consent/permit-gp-hiv", hivPermit); r.status != 201 {
		t.Fatalf("permit = %d %s", r.status, r.body)
	}
	for _, p := range []string{hivCond, stay, load, arv} {
		if r := e.do("GET", p, "", "Authorization", e.as("PractitionerRole/gp")); r.status != 200 {
			t.Errorf("GP with a permit naming HIV: GET %s = %d, want 200", p, r.status)
		}
	}
	if r := e.do("GET", hivCond, "", "Authorization", e.as("PractitionerRole/nurse")); r.status != 404 {
		t.Errorf("nurse GET after the GP's permit = %d, want 404", r.status)
	}
}

// TestSensitiveCodesLabelledOnIngest: an HL7 v2 admission whose DG1 is a
// schizophrenia (ICD-10 F20) has its Condition, its stay and its source
// labelled PSY; the discharge (A03) that follows without DG1 keeps the
// stay's diagnosis, and its label, from the stored stay.
func TestSensitiveCodesLabelledOnIngest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	a01 := strings.Join([]string{
		"MSH|^~\\&|HIS|CHU|RELAIS|CHU|20260301080000||ADT^A01^ADT_A01|S1|P|2.5",
		"EVN||20260301080000",
		"PID|1||SENS1^^^CHU^PI||Durand^Anne||19700101|F",
		"PV1|1|I|PSY^101^1||||||||||||||||V1^^^CHU^VN|||||||||||||||||||||||||20260301080000",
		"DG1|1||F20.0^Paranoid schizophrenia^I10||20260301|A",
	}, "\r") + "\r"
	e.ingest("/ingest/hl7v2", hl7ct, a01)
	find := func(typ string) string {
		t.Helper()
		_, got := ids(t, e.do("GET", "/fhir/"+typ, "").body)
		if len(got) != 1 {
			t.Fatalf("%s: %v, want one", typ, got)
		}
		return "/fhir/" + got[0]
	}
	cond, stay := find("Condition"), find("Encounter")
	for _, p := range []string{cond, stay} {
		if got := e.securityOf(p); !slices.Contains(got, psyLabel) {
			t.Errorf("%s labels %v, want PSY", p, got)
		}
	}
	_, bins := ids(t, e.do("GET", "/fhir/Binary?_security="+actCode+"|PSY", "").body)
	if len(bins) != 1 {
		t.Errorf("PSY source Binaries %v, want the A01's", bins)
	}

	a03 := strings.Join([]string{
		"MSH|^~\\&|HIS|CHU|RELAIS|CHU|20260310100000||ADT^A03^ADT_A03|S2|P|2.5",
		"EVN||20260310100000",
		"PID|1||SENS1^^^CHU^PI||Durand^Anne||19700101|F",
		"PV1|1|I|PSY^101^1||||||||||||||||V1^^^CHU^VN|||||||||||||||||||||||||20260301080000|20260310100000",
	}, "\r") + "\r"
	e.ingest("/ingest/hl7v2", hl7ct, a03)
	if got := e.securityOf(stay); !slices.Contains(got, psyLabel) {
		t.Errorf("discharged stay labels %v, want PSY (its stored diagnosis)", got)
	}
	r := e.do("GET", stay, "")
	if !strings.Contains(string(r.body), `"finished"`) || !strings.Contains(string(r.body), strings.TrimPrefix(cond, "/fhir/")) {
		t.Errorf("the A03 did not finish the stay keeping its diagnosis: %s", r.body)
	}
}

// TestScenarioSensitiveDiagnosis: a heart failure stay whose other
// diagnosis is an HIV disease is routed along the heart-failure pathway
// (routing reads as the hospital and sees everything) and its Tasks carry
// no diagnosis; but the HIV Condition, labelled HIV from its code, is not
// released with it: neither the patient's GP (the pivot of the care team,
// under the base policy) nor the nurse who accepts her Task reads it,
// while both read the heart failure.
func TestScenarioSensitiveDiagnosis(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.discharge(stay{patient: "p-hiv", encounter: "e-hiv", birthDate: "1950-01-01", diagnoses: []string{"I50.9", "B20.0"}})
	p := s.route("e-hiv")
	if !strings.Contains(string(p.route), "pathway heart-failure: ") {
		t.Fatalf("not routed along heart-failure: %s", p.route)
	}
	nurse := p.only(t, "nurse")
	if r := s.do("PATCH", "/fhir/Task/"+nurse.GetId().GetValue(), `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", s.as(resource.RefString(nurse.GetOwner())), "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Fatalf("the nurse accepts: %d %s", r.status, r.body)
	}
	for _, who := range []string{scenGP, resource.RefString(nurse.GetOwner())} {
		tok := s.as(who)
		if r := s.do("GET", "/fhir/Condition/e-hiv-c0", "", "Authorization", tok); r.status != 200 {
			t.Errorf("%s GET the heart failure = %d, want 200", who, r.status)
		}
		if r := s.do("GET", "/fhir/Condition/e-hiv-c1", "", "Authorization", tok); r.status != 404 {
			t.Errorf("%s GET the HIV disease = %d, want 404: %s", who, r.status, r.body)
		}
		if r := s.do("GET", "/fhir/Task/"+nurse.GetId().GetValue(), "", "Authorization", tok); r.status != 200 || strings.Contains(string(r.body), "B20") {
			t.Errorf("%s GET the nurse's Task = %d %s", who, r.status, r.body)
		}
	}
}
