package consent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// Resources of Patient/p1 used by the decision table.
var (
	obs = ResourceFacts{Type: "Observation", Ref: "Observation/o1", Date: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
		Codes: []string{"http://loinc.org|1234-5"}}
	obs2    = ResourceFacts{Type: "Observation", Ref: "Observation/o2", Date: obs.Date, Codes: []string{"http://loinc.org|999-9"}}
	oldObs  = ResourceFacts{Type: "Observation", Ref: "Observation/o3", Date: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), Codes: obs2.Codes}
	undated = ResourceFacts{Type: "Observation", Ref: "Observation/o4", Codes: obs2.Codes}
	result  = ResourceFacts{Type: "Observation", Ref: "Observation/o5", Date: obs.Date, Codes: obs2.Codes,
		Related: []string{"Patient/p1", "ServiceRequest/sr1"}}
	order = ResourceFacts{Type: "ServiceRequest", Ref: "ServiceRequest/sr1", Date: obs.Date}
	// task is an order addressed to whichever actor the table asks
	// about (a Task names its owner and requester); theirs and
	// theirOrder are another recipient's Task and its request.
	task = ResourceFacts{Type: "Task", Ref: "Task/t1", Date: obs.Date,
		Related: []string{"Patient/p1", gp, nurse, sw, helper, physio, cm, be, "PractitionerRole/outsider", "PractitionerRole/ghh-nurse"}}
	theirs     = ResourceFacts{Type: "Task", Ref: "Task/t2", Date: obs.Date, Related: []string{"Patient/p1", "PractitionerRole/cardio-role", "ServiceRequest/sr2"}}
	theirOrder = ResourceFacts{Type: "ServiceRequest", Ref: "ServiceRequest/sr2", Date: obs.Date, Related: []string{"Patient/p1", "Organization/hospital"}}
	med        = ResourceFacts{Type: "MedicationRequest", Ref: "MedicationRequest/m1", Date: obs.Date, Codes: []string{"http://www.whocc.no/atc|B01AC06"}}
	para       = ResourceFacts{Type: "MedicationRequest", Ref: "MedicationRequest/m2", Date: obs.Date, Codes: []string{"http://www.whocc.no/atc|N02BE01"}}
	pat        = ResourceFacts{Type: "Patient", Ref: "Patient/p1"}
	gir        = ResourceFacts{Type: "Observation", Ref: "Observation/gir", Date: obs.Date, Categories: []category.Code{category.FUNC}, Codes: obs2.Codes}
	social     = ResourceFacts{Type: "Observation", Ref: "Observation/soc", Date: obs.Date, Categories: []category.Code{category.SOC}, Codes: obs2.Codes}
	qr         = ResourceFacts{Type: "QuestionnaireResponse", Ref: "QuestionnaireResponse/q1", Date: obs.Date}
	odd        = ResourceFacts{Type: "Observation", Ref: "Observation/odd", Date: obs.Date, Categories: []category.Code{"XYZ"}, Codes: obs2.Codes}
	psy        = ResourceFacts{Type: "Condition", Ref: "Condition/psy", Date: obs.Date, Labels: []category.Sensitivity{category.PSY}, Codes: obs2.Codes}
	hiv        = ResourceFacts{Type: "Condition", Ref: "Condition/hiv", Date: obs.Date, Labels: []category.Sensitivity{category.HIV}, Codes: obs2.Codes}
	restr      = ResourceFacts{Type: "Condition", Ref: "Condition/r", Date: obs.Date, Labels: []category.Sensitivity{category.R}, Codes: obs2.Codes}
	normal     = ResourceFacts{Type: "Condition", Ref: "Condition/n", Date: obs.Date, Codes: obs2.Codes,
		Labels: []category.Sensitivity{{System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "N"}}}
)

// Actors.
const (
	gp     = "PractitionerRole/gp-role"
	nurse  = "PractitionerRole/nurse-role"
	sw     = "PractitionerRole/sw-role"
	helper = "PractitionerRole/helper-role"
	physio = "PractitionerRole/physio-role"
	cm     = "PractitionerRole/cm-role"
	be     = "PractitionerRole/be-role"
	anon   = "PractitionerRole/anon-role"
	gone   = "PractitionerRole/inactive-role"
)

const (
	psyLabel = `"securityLabel":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]`
	nLabel   = `"securityLabel":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"N"}]`
	permitT  = `"type":"permit"`
	denyT    = `"type":"deny"`
)

// nested3 is a Consent nested three levels below its root: nobody but the
// care team CareTeam/ct1; of the team, no medication; except paracetamol.
var nested3 = consentJSON("n3", "active", "OPTOUT", `"provision":[{`+actor("CareTeam/ct1")+`,
	"provision":[{`+catClass("MED")+`,"provision":[{"code":[{"coding":[{"system":"http://www.whocc.no/atc","code":"N02BE01"}]}]}]}]}]`)

func c(id, policy, provision string) string { return consentJSON(id, "active", policy, provision) }

type decideCase struct {
	name      string
	consents  []string
	actor     string
	res       ResourceFacts
	purpose   string
	action    string
	reason    string
	system    bool
	patient   string
	want      bool
	policy    string          // want Decision.Policy ("-": any)
	provision string          // want Decision.Provision ("" : none)
	basis     []string        // want Decision.Basis (nil: not checked)
	obl       []category.Code // want Decision.Obligations (nil: not checked)
}

var (
	teamCats   = []category.Code{category.ADM, category.CLIN, category.MED, category.ORD, category.FUNC}
	permitCats = []category.Code{category.ADM, category.ORD, category.FUNC, category.SOC}
	allCats    = category.All
)

// engine is an engine over the test world with the case's consents on
// Patient/p1.
func (tc decideCase) engine(t *testing.T) *Engine {
	m := world()
	var cs []*cpb.Consent
	for _, js := range tc.consents {
		cs = append(cs, parseConsent(t, js))
	}
	m.set("Patient/p1", cs...)
	return newEngine(t, m, testNow)
}

// filterable: the case is a decision on one resource of the patient that a
// search filter also takes (no system caller, break-the-glass reason,
// explicit patient or deletion).
func (tc decideCase) filterable() bool {
	return !tc.system && tc.reason == "" && tc.patient == "" && tc.res.Type != "" && tc.action != "delete"
}

func decideCases() []decideCase {
	return []decideCase{
		// French defaults: the care team, without any Consent.
		{name: "default/gp clinical", actor: gp, res: obs, want: true, policy: PolicyCareTeam, obl: teamCats},
		{name: "default/nurse in care team medication", actor: nurse, res: med, want: true, policy: PolicyCareTeam},
		{name: "default/nurse order", actor: nurse, res: task, want: true, policy: PolicyCareTeam},
		{name: "default/nurse functional", actor: nurse, res: gir, want: true, policy: PolicyCareTeam},
		{name: "default/nurse administrative", actor: nurse, res: pat, want: true, policy: PolicyCareTeam},
		{name: "default/unlabelled questionnaire is FUNC", actor: nurse, res: qr, want: true, policy: PolicyCareTeam},
		{name: "default/unlabelled ServiceRequest is ORD", actor: gp, res: order, want: true, policy: PolicyCareTeam},
		{name: "default/care team gets no SOC", actor: nurse, res: social, want: false, policy: PolicyCategory},
		{name: "default/unknown category code", actor: gp, res: odd, want: false, policy: PolicyCategory},
		{name: "default/health professional outside team", actor: physio, res: task, want: false, policy: PolicyOutsideTeam},
		{name: "default/social worker in CareTeam", actor: sw, res: task, want: false, policy: PolicyNonHealth},
		{name: "default/home help through member organisation", actor: helper, res: task, want: false, policy: PolicyNonHealth},
		{name: "default/case manager", actor: cm, res: gir, want: false, policy: PolicyNonHealth},
		{name: "default/cross-border physician in team", actor: be, res: task, want: false, policy: PolicyCrossBorder},
		{name: "default/role without codes", actor: anon, res: task, want: false, policy: PolicyUnclassified},
		{name: "default/unknown actor", actor: "PractitionerRole/ghost", res: task, want: false, policy: PolicyUnclassified},
		{name: "default/inactive role", actor: gone, res: task, want: false, policy: PolicyUnclassified},
		{name: "default/organisation as actor", actor: "Organization/saad", res: task, want: false, policy: PolicyUnclassified},
		{name: "default/PSY never without naming", actor: gp, res: psy, want: false, policy: PolicySensitive},
		{name: "default/HIV never without naming", actor: gp, res: hiv, want: false, policy: PolicySensitive},
		{name: "default/restricted never without naming", actor: gp, res: restr, want: false, policy: PolicySensitive},
		{name: "default/research purpose needs permit", actor: nurse, res: obs, purpose: "HRESCH", want: false, policy: PolicyPurpose},
		{name: "default/continuity of care", actor: nurse, res: obs, purpose: "COC", want: true, policy: PolicyCareTeam},
		{name: "default/disclose", actor: nurse, res: obs, action: ActionDisclose, want: true, policy: PolicyCareTeam},
		{name: "request/unknown action", actor: nurse, res: obs, action: "delete", want: false, policy: PolicyBadRequest},
		{name: "request/no patient", actor: nurse, res: obs, patient: "-", want: false, policy: PolicyBadRequest},
		{name: "request/no resource type", actor: nurse, res: ResourceFacts{}, want: false, policy: PolicyBadRequest},
		{name: "system/sees everything", actor: physio, res: psy, system: true, want: true, policy: PolicySystem, obl: allCats},

		// actor
		{name: "actor/objection to the nurse's role", consents: []string{c("c1", "OPTOUT", actor(nurse))}, actor: nurse, res: obs,
			want: false, policy: "", provision: "Consent/c1#provision", basis: []string{"Consent/c1"}},
		{name: "actor/objection to the nurse says nothing of the GP", consents: []string{c("c1", "OPTOUT", actor(nurse))}, actor: gp, res: obs,
			want: true, policy: PolicyCareTeam},
		{name: "actor/objection to the Practitioner covers the role", consents: []string{c("c1", "OPTOUT", actor("Practitioner/nurse"))},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "actor/objection to the Organization covers its role", consents: []string{c("c1", "OPTOUT", actor("Organization/cab"))},
			actor: gp, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "actor/objection to the CareTeam covers members", consents: []string{c("c1", "OPTOUT", actor("CareTeam/ct1"))},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "actor/objection to the CareTeam spares the GP", consents: []string{c("c1", "OPTOUT", actor("CareTeam/ct1"))},
			actor: gp, res: obs, want: true, policy: PolicyCareTeam},
		{name: "actor/objection by role code", consents: []string{c("c1", "OPTOUT", actorRole("Group/nurses", g15Nurse))},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "actor/objection by role code spares other roles", consents: []string{c("c1", "OPTOUT", actorRole("Group/nurses", g15Nurse))},
			actor: gp, res: obs, want: true, policy: PolicyCareTeam},
		{name: "actor/reference and role must both hold", consents: []string{c("c1", "OPTOUT", actorRole("Practitioner/nurse", g15GP))},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "actor/unresolved Group denies safely", consents: []string{c("c1", "OPTOUT", actor("Group/someone"))},
			actor: gp, res: obs, want: false, provision: "Consent/c1#provision"},

		// action
		{name: "action/objection to disclosure, access asked", consents: []string{c("c1", "OPTOUT", `"action":[{"coding":[{"code":"disclose"}]}]`)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "action/objection to disclosure, disclose asked", consents: []string{c("c1", "OPTOUT", `"action":[{"coding":[{"code":"disclose"}]}]`)},
			actor: nurse, res: obs, action: ActionDisclose, want: false, provision: "Consent/c1#provision"},

		// purpose
		{name: "purpose/permit for treatment", consents: []string{c("c1", "OPTIN", actor(physio)+`,"purpose":[{"code":"TREAT"}]`)},
			actor: physio, res: task, want: true, provision: "Consent/c1#provision", obl: permitCats},
		{name: "purpose/permit for treatment, research asked", consents: []string{c("c1", "OPTIN", actor(physio)+`,"purpose":[{"code":"TREAT"}]`)},
			actor: physio, res: task, purpose: "HRESCH", want: false, policy: PolicyOutsideTeam},
		{name: "purpose/TREAT covers ETREAT", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"purpose":[{"code":"TREAT"}]`)},
			actor: nurse, res: obs, purpose: "ETREAT", want: false, provision: "Consent/c1#provision"},
		{name: "purpose/ETREAT does not cover TREAT", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"purpose":[{"code":"ETREAT"}]`)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "purpose/research permit", consents: []string{c("c1", "OPTIN", actor(nurse)+`,"purpose":[{"code":"HRESCH"}]`)},
			actor: nurse, res: obs, purpose: "HRESCH", want: false, policy: PolicyCategory, provision: "Consent/c1#provision"},

		// class
		{name: "class/no medication to anyone", consents: []string{c("c1", "OPTOUT", catClass("MED"))}, actor: nurse, res: med,
			want: false, provision: "Consent/c1#provision"},
		{name: "class/no medication, clinical passes", consents: []string{c("c1", "OPTOUT", catClass("MED"))}, actor: nurse, res: obs,
			want: true, policy: PolicyCareTeam},
		{name: "class/no Observation", consents: []string{c("c1", "OPTOUT", typeClass("Observation"))}, actor: nurse, res: obs,
			want: false, provision: "Consent/c1#provision"},
		{name: "class/no Observation, Task passes", consents: []string{c("c1", "OPTOUT", typeClass("Observation"))}, actor: nurse, res: task,
			want: true, policy: PolicyCareTeam},
		{name: "class/unknown class system denies safely", consents: []string{c("c1", "OPTOUT", class("urn:ietf:bcp:13", "application/pdf"))},
			actor: nurse, res: task, want: false, provision: "Consent/c1#provision"},
		{name: "class/unknown class system never permits", consents: []string{c("c1", "OPTIN", actor(physio)+","+class("urn:ietf:bcp:13", "application/pdf"))},
			actor: physio, res: task, want: false, policy: PolicyOutsideTeam},

		// code
		{name: "code/objection to one test", consents: []string{c("c1", "OPTOUT", `"code":[{"coding":[{"system":"http://loinc.org","code":"1234-5"}]}]`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "code/objection to one test, other test passes", consents: []string{c("c1", "OPTOUT", `"code":[{"coding":[{"system":"http://loinc.org","code":"1234-5"}]}]`)},
			actor: nurse, res: obs2, want: true, policy: PolicyCareTeam},
		{name: "code/resource without code denies safely", consents: []string{c("c1", "OPTOUT", `"code":[{"coding":[{"system":"http://loinc.org","code":"1234-5"}]}]`)},
			actor: nurse, res: task, want: false, provision: "Consent/c1#provision"},

		// securityLabel
		{name: "label/permit naming PSY releases it", consents: []string{c("c1", "OPTIN", actor(gp)+","+psyLabel)}, actor: gp, res: psy,
			want: true, provision: "Consent/c1#provision"},
		{name: "label/permit without PSY does not", consents: []string{c("c1", "OPTIN", actor(gp))}, actor: gp, res: psy,
			want: false, policy: PolicySensitive, provision: "Consent/c1#provision"},
		{name: "label/objection to normal-confidentiality data", consents: []string{c("c1", "OPTOUT", nLabel)}, actor: nurse, res: normal,
			want: false, provision: "Consent/c1#provision"},
		{name: "label/objection to N spares unlabelled", consents: []string{c("c1", "OPTOUT", nLabel)}, actor: nurse, res: obs,
			want: true, policy: PolicyCareTeam},
		{name: "label/category label as criterion", consents: []string{c("c1", "OPTOUT", label(categorySystem, "FUNC"))}, actor: nurse, res: gir,
			want: false, provision: "Consent/c1#provision"},

		// period (validity, against the clock)
		{name: "period/objection in force", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"period":{"start":"2026-01-01","end":"2026-12-31"}`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "period/objection not yet in force", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"period":{"start":"2027-01-01"}`)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "period/objection expired", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"period":{"end":"2025-12-31"}`)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "period/end day is inclusive", consents: []string{c("c1", "OPTOUT", actor(nurse)+`,"period":{"end":"2026-03-01"}`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "period/nested deny in force", consents: []string{c("c1", "OPTIN", actor(sw)+`,"provision":[{"period":{"start":"2026-02-01"}}]`)},
			actor: sw, res: task, want: false, provision: "Consent/c1#provision.provision[0]"},
		{name: "period/nested deny not yet", consents: []string{c("c1", "OPTIN", actor(sw)+`,"provision":[{"period":{"start":"2026-04-01"}}]`)},
			actor: sw, res: task, want: true, provision: "Consent/c1#provision"},

		// dataPeriod (against the resource's date)
		{name: "dataPeriod/data of 2025 withheld", consents: []string{c("c1", "OPTOUT", `"dataPeriod":{"start":"2025-01-01","end":"2025-12-31"}`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "dataPeriod/data of 2024 passes", consents: []string{c("c1", "OPTOUT", `"dataPeriod":{"start":"2025-01-01","end":"2025-12-31"}`)},
			actor: nurse, res: oldObs, want: true, policy: PolicyCareTeam},
		{name: "dataPeriod/undated data denies safely", consents: []string{c("c1", "OPTOUT", `"dataPeriod":{"start":"2025-01-01","end":"2025-12-31"}`)},
			actor: nurse, res: undated, want: false, provision: "Consent/c1#provision"},
		{name: "dataPeriod/permit for recent data only", consents: []string{c("c1", "OPTIN", actor(physio)+`,"dataPeriod":{"start":"2025-01-01"}`)},
			actor: physio, res: undated, want: false, policy: PolicyOutsideTeam},

		// data
		{name: "data/instance withheld", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"instance","reference":{"reference":"Observation/o1"}}]`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "data/other instance passes", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"instance","reference":{"reference":"Observation/o1"}}]`)},
			actor: nurse, res: obs2, want: true, policy: PolicyCareTeam},
		{name: "data/related: the order itself", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"related","reference":{"reference":"ServiceRequest/sr1"}}]`)},
			actor: nurse, res: order, want: false, provision: "Consent/c1#provision"},
		{name: "data/related: a result of the order", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"related","reference":{"reference":"ServiceRequest/sr1"}}]`)},
			actor: nurse, res: result, want: false, provision: "Consent/c1#provision"},
		{name: "data/related: unrelated passes", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"related","reference":{"reference":"ServiceRequest/sr1"}}]`)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "data/authoredby denies safely", consents: []string{c("c1", "OPTOUT", `"data":[{"meaning":"authoredby","reference":{"reference":"Practitioner/gp"}}]`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "data/permit on the instance is explicit", consents: []string{c("c1", "OPTIN", actor(physio)+`,"data":[{"meaning":"instance","reference":{"reference":"Observation/o1"}}]`)},
			actor: physio, res: obs, want: true, provision: "Consent/c1#provision"},

		// nesting, three levels below the root
		{name: "nesting/level 1: team member gets orders", consents: []string{nested3}, actor: nurse, res: task,
			want: true, provision: "Consent/n3#provision.provision[0]"},
		{name: "nesting/level 2: no medication for the team", consents: []string{nested3}, actor: nurse, res: med,
			want: false, provision: "Consent/n3#provision.provision[0].provision[0]"},
		{name: "nesting/level 3: except paracetamol", consents: []string{nested3}, actor: nurse, res: para,
			want: true, provision: "Consent/n3#provision.provision[0].provision[0].provision[0]"},
		{name: "nesting/root: the GP is not in the CareTeam", consents: []string{nested3}, actor: gp, res: task,
			want: false, provision: "Consent/n3#provision"},
		{name: "nesting/root: outsiders denied", consents: []string{nested3}, actor: physio, res: task,
			want: false, provision: "Consent/n3#provision"},
		{name: "nesting/deny wins between equal siblings", consents: []string{c("c1", "OPTIN", actor(physio)+`,"provision":[{`+typeClass("Task")+`},{`+permitT+`,`+typeClass("Task")+`}]`)},
			actor: physio, res: task, want: false, provision: "Consent/c1#provision.provision[0]"},

		// policyRule and root type
		{name: "policy/explicit root deny under OPTIN", consents: []string{c("c1", "OPTIN", denyT+","+actor(nurse))}, actor: nurse, res: obs,
			want: false, provision: "Consent/c1#provision"},
		{name: "policy/OPTINR permits", consents: []string{c("c1", `{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTINR"}`, actor(physio))},
			actor: physio, res: task, want: true, provision: "Consent/c1#provision"},
		{name: "policy/unknown policy denies where root matches", consents: []string{c("c1", `{"system":"http://terminology.hl7.org/CodeSystem/consentpolicycodes","code":"hipaa-auth"}`, actor(nurse))},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "policy/unknown policy ignores its exceptions", consents: []string{c("c1", `{"system":"http://terminology.hl7.org/CodeSystem/consentpolicycodes","code":"hipaa-auth"}`, actor(nurse)+`,"provision":[{`+typeClass("Observation")+`}]`)},
			actor: nurse, res: obs, want: false, provision: "Consent/c1#provision"},
		{name: "policy/consent without provision objects to all", consents: []string{`{"resourceType":"Consent","id":"c1","status":"active","scope":{"coding":[{"code":"patient-privacy"}]},"category":[{"coding":[{"code":"x"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]}}`},
			actor: gp, res: obs, want: false, provision: "Consent/c1#provision"},

		// status
		{name: "status/inactive never applies", consents: []string{consentJSON("c1", "inactive", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "status/rejected never applies", consents: []string{consentJSON("c1", "rejected", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "status/entered-in-error never applies", consents: []string{consentJSON("c1", "entered-in-error", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "status/draft never applies", consents: []string{consentJSON("c1", "draft", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "status/proposed never applies", consents: []string{consentJSON("c1", "proposed", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, want: true, policy: PolicyCareTeam},
		{name: "status/another patient's consent never applies", consents: []string{strings.Replace(c("c1", "OPTOUT", actor(nurse)), "Patient/p1", "Patient/p2", 1)},
			actor: nurse, res: obs, want: true, policy: PolicyCareTeam},

		// deny overrides permit across Consents
		{name: "overrides/objection beats opt-in", consents: []string{c("in", "OPTIN", actor(nurse)), c("out", "OPTOUT", actor(nurse))},
			actor: nurse, res: obs, want: false, provision: "Consent/out#provision", basis: []string{"Consent/out"}},
		{name: "overrides/order-independent", consents: []string{c("out", "OPTOUT", actor(nurse)), c("in", "OPTIN", actor(nurse))},
			actor: nurse, res: obs, want: false, provision: "Consent/out#provision", basis: []string{"Consent/out"}},
		{name: "overrides/permit where the deny does not reach", consents: []string{c("in", "OPTIN", actor(physio)), c("out", "OPTOUT", catClass("MED"))},
			actor: physio, res: task, want: true, provision: "Consent/in#provision", basis: []string{"Consent/in"}},
		{name: "overrides/deny where it reaches", consents: []string{c("in", "OPTIN", actor(physio)+","+catClass("MED")), c("out", "OPTOUT", catClass("MED"))},
			actor: physio, res: med, want: false, provision: "Consent/out#provision"},
		{name: "overrides/two permits pool what they name", consents: []string{c("a", "OPTIN", actor(physio)+","+catClass("CLIN")), c("b", "OPTIN", actor(physio)+","+psyLabel)},
			actor: physio, res: psy, want: true, provision: "Consent/a#provision", basis: []string{"Consent/a", "Consent/b"}},
		{name: "overrides/a permit naming PSY alone is limited to its categories", consents: []string{c("b", "OPTIN", actor(physio)+","+psyLabel)},
			actor: physio, res: psy, want: false, policy: PolicyCategory, provision: "Consent/b#provision"},
		{name: "overrides/two permits pool what they name (both match)", consents: []string{c("a", "OPTIN", actor(physio)+`,"securityLabel":[{"system":"`+categorySystem+`","code":"CLIN"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]`)},
			actor: physio, res: psy, want: true, provision: "Consent/a#provision"},

		// explicit permits and the categories they pass
		{name: "permit/social worker gets ADM ORD FUNC SOC", consents: []string{c("c1", "OPTIN", actor(sw))}, actor: sw, res: task,
			want: true, provision: "Consent/c1#provision", obl: permitCats},
		{name: "permit/social worker: no CLIN unless named", consents: []string{c("c1", "OPTIN", actor(sw))}, actor: sw, res: obs,
			want: false, policy: PolicyCategory, provision: "Consent/c1#provision"},
		{name: "permit/social worker with CLIN named", consents: []string{c("c1", "OPTIN", actor(sw)+","+catClass("CLIN"))}, actor: sw, res: obs,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/home help for Tasks only", consents: []string{c("c1", "OPTIN", actor(helper)+","+typeClass("Task"))}, actor: helper, res: task,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/home help: the rest stays closed", consents: []string{c("c1", "OPTIN", actor(helper)+","+typeClass("Task"))}, actor: helper, res: gir,
			want: false, policy: PolicyNonHealth},
		{name: "permit/resource type named is explicit", consents: []string{c("c1", "OPTIN", actor(physio)+","+typeClass("Observation"))}, actor: physio, res: obs,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/cross-border needs CLIN named", consents: []string{c("c1", "OPTIN", actor(be))}, actor: be, res: obs,
			want: false, policy: PolicyCategory, provision: "Consent/c1#provision"},
		{name: "permit/social worker: not another recipient's Task", consents: []string{c("c1", "OPTIN", actor(sw))}, actor: sw, res: theirs,
			want: false, policy: PolicyNotAddressed, provision: "Consent/c1#provision"},
		{name: "permit/social worker: nor its request, ORD named", consents: []string{c("c1", "OPTIN", actor(sw)+","+catClass("ORD"))}, actor: sw, res: theirOrder,
			want: false, policy: PolicyNotAddressed, provision: "Consent/c1#provision"},
		{name: "permit/home help: another's Task, Tasks named", consents: []string{c("c1", "OPTIN", actor(helper)+","+typeClass("Task"))}, actor: helper, res: theirs,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/outsider physio: not another recipient's Task", consents: []string{c("c1", "OPTIN", actor(physio))}, actor: physio, res: theirs,
			want: false, policy: PolicyNotAddressed, provision: "Consent/c1#provision"},
		{name: "permit/the care team: every order", consents: []string{c("c1", "OPTIN", actor(nurse))}, actor: nurse, res: theirs,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/cross-border orders", consents: []string{c("c1", "OPTIN", actor(be))}, actor: be, res: task,
			want: true, provision: "Consent/c1#provision"},
		{name: "permit/care team member gets SOC with opt-in", consents: []string{c("c1", "OPTIN", actor(nurse))}, actor: nurse, res: social,
			want: true, provision: "Consent/c1#provision", obl: allCats},
		{name: "permit/by role code for case managers", consents: []string{c("c1", "OPTIN", actorRole("Group/case-managers", r85Case))}, actor: cm, res: gir,
			want: true, provision: "Consent/c1#provision"},

		// break the glass
		{name: "glass/outsider with a reason", actor: physio, res: obs, purpose: "ETREAT", reason: "unconscious, no GP reachable",
			want: true, policy: PolicyBreakGlass, obl: allCats},
		{name: "glass/BTG overrides an objection", consents: []string{c("c1", "OPTOUT", actor(nurse))}, actor: nurse, res: obs, purpose: "BTG", reason: "emergency",
			want: true, policy: PolicyBreakGlass},
		{name: "glass/releases sensitive data", actor: gp, res: psy, purpose: "BTG", reason: "emergency", want: true, policy: PolicyBreakGlass},
		{name: "glass/not for non-health roles", actor: sw, res: obs, purpose: "ETREAT", reason: "worried", want: false, policy: PolicyBreakGlassDenied},
		{name: "glass/no reason, no grant: normal rules", actor: physio, res: obs, purpose: "ETREAT", want: false, policy: PolicyOutsideTeam},
		{name: "glass/reason without emergency purpose is ignored", actor: physio, res: obs, reason: "because", want: false, policy: PolicyOutsideTeam},
	}
}

func TestDecisionTable(t *testing.T) {
	t.Parallel()
	cases := decideCases()
	if len(cases) < 60 {
		t.Fatalf("decision table has %d cases, want at least 60", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.engine(t)
			req := Request{Patient: "Patient/p1", Actor: tc.actor, Purpose: tc.purpose, Action: tc.action,
				BreakGlassReason: tc.reason, System: tc.system, Resource: tc.res, Explain: true}
			if tc.patient == "-" {
				req.Patient = ""
			}
			d, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			checkDecision(t, tc, d)
		})
	}
}

func checkDecision(t *testing.T, tc decideCase, d Decision) {
	t.Helper()
	if d.Permit != tc.want {
		t.Errorf("permit = %v, want %v (policy %q, provision %q)\ntrace:\n  %s", d.Permit, tc.want, d.Policy, d.Provision, strings.Join(d.Trace, "\n  "))
	}
	if tc.policy != "-" && d.Policy != tc.policy {
		t.Errorf("policy = %q, want %q", d.Policy, tc.policy)
	}
	if d.Provision != tc.provision {
		t.Errorf("provision = %q, want %q", d.Provision, tc.provision)
	}
	if tc.basis != nil && !slices.Equal(d.Basis, tc.basis) {
		t.Errorf("basis = %v, want %v", d.Basis, tc.basis)
	}
	if tc.obl != nil && !slices.Equal(d.Obligations, tc.obl) {
		t.Errorf("obligations = %v, want %v", d.Obligations, tc.obl)
	}
	if !d.Permit && len(d.Obligations) > 0 {
		t.Errorf("deny with obligations %v", d.Obligations)
	}
	if d.ID == "" {
		t.Error("decision without ID")
	}
}
