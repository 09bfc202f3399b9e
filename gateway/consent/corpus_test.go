package consent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
)

const corpusDir = "../../../shared/corpus/fhir"

// corpusWorld: Organization/f001 is Good Health (hospital and clinic of the
// examples); Practitioner/f204 is the nurse ex-spouse of notThem.
func corpusWorld() *memSource {
	m := newMem()
	m.role("PractitionerRole/ghh-doc", []string{"Practitioner/f201", "Organization/f001"}, g15GP)
	m.role("PractitionerRole/ghh-nurse", []string{"Practitioner/f204", "Organization/f001"}, g15Nurse)
	m.role("PractitionerRole/other-doc", []string{"Practitioner/p9", "Organization/elsewhere"}, g15GP)
	m.role("PractitionerRole/prac13", []string{"Practitioner/13"}, g15GP)
	m.role("PractitionerRole/outsider", []string{"Practitioner/out"}, g15Physio)
	team := Circle{Teams: []Team{{Ref: "CareTeam/t", Members: []string{"PractitionerRole/ghh-doc",
		"PractitionerRole/ghh-nurse", "PractitionerRole/other-doc", "PractitionerRole/prac13"}}}}
	for _, p := range []string{"Patient/f001", "Patient/example", "Patient/72", "Patient/xcda"} {
		m.circles[p] = team
	}
	return m
}

type corpusCheck struct {
	at        time.Time
	actor     string
	purpose   string
	action    string
	res       ResourceFacts
	want      bool
	provision string // want Decision.Provision
	policy    string // want Decision.Policy
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

// TestCorpusConsents evaluates the 12 R4 Consent examples for the scenario
// each narrative describes. Where the example's encoding says something
// else than its narrative under the engine's reading of R4 (a root without type
// takes it from policyRule: OPTIN permits, OPTOUT denies), the test asserts
// what the encoding means and the comment says so.
func TestCorpusConsents(t *testing.T) {
	t.Parallel()
	ghh, nurseF204, other, outsider := "PractitionerRole/ghh-doc", "PractitionerRole/ghh-nurse", "PractitionerRole/other-doc", "PractitionerRole/outsider"
	labelled := func(ls ...category.Sensitivity) ResourceFacts {
		r := obs
		r.Type, r.Ref, r.Labels = "Condition", "Condition/c", ls
		return r
	}
	n := category.Sensitivity{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "N"}
	taskEx3 := ResourceFacts{Type: "Task", Ref: "Task/example3", Date: obs.Date}
	resultEx3 := ResourceFacts{Type: "Observation", Ref: "Observation/r", Date: obs.Date, Related: []string{"Task/example3"}, Codes: obs.Codes}
	medReq := ResourceFacts{Type: "MedicationRequest", Ref: "MedicationRequest/m", Date: obs.Date}
	smart := time.Date(2016, 6, 23, 7, 10, 0, 0, time.UTC) // 17:10 +10:00
	cases := []struct {
		file     string
		patient  string
		validate string // the rule Validate reports, "" when valid
		checks   []corpusCheck
	}{
		// "Patient "P. van de Heuvel" wishes to have all of the PHI collected at
		// the Good Health Psychiatric Hospital available for normal treatment
		// use." OPTIN, valid 1964-2016: a permit while in force, then the law.
		{file: "basic", patient: "Patient/f001", checks: []corpusCheck{
			{at: day(2015, 6, 1), actor: ghh, res: obs, want: true, provision: "Consent/consent-example-basic#provision"},
			{at: testNow, actor: ghh, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "wishes to have no data at the Good Health Psychiatric Hospital
		// available for normal treatment use." OPTOUT for Organization/f001:
		// its staff are denied, others keep the base policy.
		{file: "Out", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: ghh, res: obs, want: false, provision: "Consent/consent-example-Out#provision"},
			{at: testNow, actor: other, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "An overall Deny consent Directive, with an exception "Permit" of
		// purposeOfUse "ETREAT" at "Good Health" hospital, and exception
		// "Deny" all other purposeOfUse from good health hospital." The
		// encoding disagrees: the OPTOUT root (deny) is scoped to ETREAT and
		// its nested provision is again a deny, so ETREAT is denied and
		// TREAT falls to the base policy. The nested deny refines the root
		// (R4 requires its type), which the explanation says.
		{file: "Emergency", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: ghh, purpose: "ETREAT", res: obs, want: false, provision: "Consent/consent-example-Emergency#provision.provision[0]"},
			{at: testNow, actor: ghh, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "wishes to provide XXX with read-only access to the data at Good
		// Health Psychiatric Hospital". Encoded OPTOUT, so the root (actors
		// Organization/f001 and Patient/example, action access) denies access;
		// other actions keep the base policy. Patients as recipients are not
		// requesters here.
		{file: "grantor", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: ghh, res: obs, want: false, provision: "Consent/consent-example-grantor#provision"},
			{at: testNow, actor: ghh, action: ActionDisclose, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "wishes to have all of the PHI collected at the Good Health
		// Psychiatric Hospital restricted from disclosure to every provider."
		// Encoded OPTIN with a root naming Organization/f001 (role custodian,
		// not modelled): a permit for f001's staff; others unaffected.
		{file: "notAuthor", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: ghh, res: obs, want: true, provision: "Consent/consent-example-notAuthor#provision"},
			{at: testNow, actor: other, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "P. decides that he would like to withdraw/withhold consent to
		// disclose any instance of his health information to Good Health
		// Clinic." Root type deny for Organization/f001 (access, correct):
		// denied to every f001 role, as the narrative says.
		{file: "notOrg", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: ghh, res: obs, want: false, provision: "Consent/consent-example-notOrg#provision"},
			{at: testNow, actor: nurseF204, res: task, want: false, provision: "Consent/consent-example-notOrg#provision"},
			{at: testNow, actor: other, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "she does not want her ex-spouse to have any access to her IIHI."
		// Encoded OPTIN without a type, the provision for Practitioner/f204
		// is a permit: his role is permitted (the example lacks "type":
		// "deny"); everyone else keeps the base policy.
		{file: "notThem", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: nurseF204, res: obs, want: true, provision: "Consent/consent-example-notThem#provision"},
			{at: testNow, actor: ghh, res: obs, want: true, policy: PolicyCareTeam},
		}},
		// "withhold consent to disclose the order and all results associated
		// with that specific order from all other providers". Encoded OPTIN,
		// data related Task/example3: the order and its results are
		// permitted (explicitly named, so even to an outsider); the rest
		// keeps the base policy.
		{file: "notThis", patient: "Patient/f001", checks: []corpusCheck{
			{at: testNow, actor: outsider, res: taskEx3, want: true, provision: "Consent/consent-example-notThis#provision"},
			{at: testNow, actor: outsider, res: resultEx3, want: true, provision: "Consent/consent-example-notThis#provision"},
			{at: testNow, actor: outsider, res: task, want: false, policy: PolicyOutsideTeam},
		}},
		// "wishes to withhold disclosure of all data from a timeframe to any
		// provider." Encoded OPTIN with period (validity) January 2015, not
		// dataPeriod: a permit to anyone during January 2015, nothing after.
		{file: "notTime", patient: "Patient/f001", checks: []corpusCheck{
			{at: day(2015, 1, 15), actor: outsider, res: task, want: true, provision: "Consent/consent-example-notTime#provision"},
			{at: testNow, actor: outsider, res: task, want: false, policy: PolicyOutsideTeam},
		}},
		// Patients Know Best's sharing screen: Good Health (f001) may access
		// normal (N) data, and within it psychiatric (PSY), special (SPI) and
		// sexual (SEX) data. OPTOUT root on N, permits nested for each label.
		{file: "pkb", patient: "Patient/example", checks: []corpusCheck{
			{at: testNow, actor: ghh, res: labelled(n, category.PSY), want: true, provision: "Consent/consent-example-pkb#provision.provision[0]"},
			{at: testNow, actor: ghh, res: labelled(n), want: true, provision: "Consent/consent-example-pkb#provision.provision[2]"},
			{at: testNow, actor: ghh, res: labelled(category.PSY), want: false, policy: PolicySensitive},
		}},
		// Signed consent: opt-in for Practitioner/13 (primary recipient) from
		// 2015-10-10 to 2016-10-10; the nested permit for CDA documents by
		// their author repeats the parent's type: a refinement.
		{file: "signature", patient: "Patient/72", checks: []corpusCheck{
			{at: day(2016, 1, 1), actor: "PractitionerRole/prac13", res: obs, want: true, provision: "Consent/consent-example-signature#provision"},
			{at: day(2016, 1, 1), actor: ghh, res: obs, want: true, policy: PolicyCareTeam},
			{at: testNow, actor: "PractitionerRole/prac13", res: obs, want: true, policy: PolicyCareTeam},
		}},
		// SMART on FHIR authorisation: for 30 minutes on 2016-06-23, access to
		// MedicationRequests (nested permit under the OPTIN root, again the
		// same type). Named resource type: passes even to an outsider.
		{file: "smartonfhir", patient: "Patient/xcda", checks: []corpusCheck{
			{at: smart, actor: outsider, res: medReq, want: true, provision: "Consent/consent-example-smartonfhir#provision.provision[0]"},
			{at: smart, actor: outsider, res: obs, want: false, policy: PolicyCategory, provision: "Consent/consent-example-smartonfhir#provision"},
			{at: smart.Add(time.Hour), actor: outsider, res: medReq, want: false, policy: PolicyOutsideTeam},
		}},
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "r4-Consent-*.json"))
	if len(files) != len(cases) {
		t.Fatalf("%d Consent examples in the corpus, %d scenarios", len(files), len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			c := loadCorpus(t, tc.file)
			checkValidate(t, c, tc.validate)
			for i, ck := range tc.checks {
				m := corpusWorld()
				m.set(tc.patient, c)
				e := newEngine(t, m, ck.at)
				d, err := e.Decide(context.Background(), Request{Patient: tc.patient, Actor: ck.actor, Purpose: ck.purpose,
					Action: ck.action, Resource: ck.res, Explain: true})
				if err != nil {
					t.Fatal(err)
				}
				if d.Permit != ck.want || d.Provision != ck.provision || d.Policy != ck.policy {
					t.Errorf("check %d: permit %v provision %q policy %q, want %v %q %q\n  %s", i, d.Permit, d.Provision, d.Policy,
						ck.want, ck.provision, ck.policy, strings.Join(d.Trace, "\n  "))
				}
			}
		})
	}
}

// TestRefinementExplained: the official Emergency example nests a deny
// under its deny root; the decision's explanation says how that was read.
func TestRefinementExplained(t *testing.T) {
	t.Parallel()
	m := corpusWorld()
	m.set("Patient/f001", loadCorpus(t, "Emergency"))
	e := newEngine(t, m, testNow)
	obs := ResourceFacts{Type: "Observation", Ref: "Observation/o"}
	d, err := e.Decide(context.Background(), Request{Patient: "Patient/f001", Actor: "Organization/f001", Purpose: "ETREAT", Resource: obs, Explain: true})
	if err != nil {
		t.Fatal(err)
	}
	var said bool
	for _, line := range d.Trace {
		said = said || strings.Contains(line, "provision.provision[0] (deny)") && strings.Contains(line, "read as a refinement")
	}
	if d.Permit || !said {
		t.Errorf("permit %v; explanation does not say the nested deny refines its parent:\n  %s", d.Permit, strings.Join(d.Trace, "\n  "))
	}
}

func loadCorpus(t *testing.T, name string) *cpb.Consent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "r4-Consent-consent-example-"+name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return parseConsent(t, string(b))
}

// checkValidate requires Validate to report rule (or nothing when "").
func checkValidate(t *testing.T, c *cpb.Consent, rule string) {
	t.Helper()
	err := Validate(c)
	if rule == "" {
		if err != nil {
			t.Errorf("Validate: %v %+v", err, issuesOf(err))
		}
		return
	}
	if !errors.Is(err, outcome.ErrUnprocessable) {
		t.Fatalf("Validate = %v, want 422 for %s", err, rule)
	}
	for _, is := range issuesOf(err) {
		if strings.HasPrefix(is.Text, rule+":") {
			return
		}
	}
	t.Errorf("Validate issues %+v, want one for %s", issuesOf(err), rule)
}

func issuesOf(err error) []outcome.Issue {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe.Issues
	}
	return nil
}
