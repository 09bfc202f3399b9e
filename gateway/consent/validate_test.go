package consent

import (
	"errors"
	"strings"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	deep := `"type":"deny"`
	for i := 0; i < maxDepth+1; i++ {
		deep = `"provision":[{` + deep + `}]`
	}
	for _, tc := range []struct {
		name, js, rule, path string
		mutate               func(*cpb.Consent) // what the codec would refuse
	}{
		{name: "valid opt-out", js: c("c", "OPTOUT", actor(nurse))},
		{name: "valid three levels", js: nested3},
		{name: "no patient", js: strings.Replace(c("c", "OPTOUT", actor(nurse)), `"patient":{"reference":"Patient/p1"},`, "", 1),
			rule: RulePatient, path: "Consent.patient"},
		{name: "unknown policy without root type", js: c("c", `{"system":"http://terminology.hl7.org/CodeSystem/consentpolicycodes","code":"hipaa-auth"}`, actor(nurse)),
			rule: RulePolicy, path: "Consent.policyRule"},
		{name: "unknown policy with root type", js: c("c", `{"system":"http://terminology.hl7.org/CodeSystem/consentpolicycodes","code":"hipaa-auth"}`, denyT+","+actor(nurse))},
		// R4 requires a type on nested provisions: one that repeats its
		// parent's is a refinement, valid.
		{name: "nested deny under deny", js: c("c", "OPTOUT", `"provision":[{`+denyT+`}]`)},
		{name: "third level repeats its parent", js: c("c", "OPTOUT", `"provision":[{"provision":[{`+permitT+`}]}]`)},
		{name: "explicit alternation", js: c("c", "OPTOUT", `"provision":[{`+permitT+`,"provision":[{`+denyT+`}]}]`)},
		{name: "period reversed", js: c("c", "OPTOUT", `"period":{"start":"2026-02-01","end":"2026-01-01"}`),
			rule: RulePeriod, path: "Consent.provision.period"},
		{name: "same-day period is ordered", js: c("c", "OPTOUT", `"period":{"start":"2026-02-01","end":"2026-02-01"}`)},
		{name: "nested dataPeriod reversed", js: c("c", "OPTIN", `"provision":[{"dataPeriod":{"start":"2026","end":"2025"}}]`),
			rule: RulePeriod, path: "Consent.provision.provision[0].dataPeriod"},
		{name: "data without meaning", js: c("c", "OPTOUT", `"data":[{"meaning":"instance","reference":{"reference":"Task/t"}}]`),
			mutate: func(c *cpb.Consent) { c.Provision.Data[0].Meaning = nil }, rule: RuleData, path: "Consent.provision.data[0]"},
		{name: "too deep", js: c("c", "OPTOUT", deep), rule: RuleTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := parseConsent(t, tc.js)
			if tc.mutate != nil {
				tc.mutate(cs)
			}
			err := Validate(cs)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("Validate: %v %+v", err, issuesOf(err))
				}
				return
			}
			if !errors.Is(err, outcome.ErrUnprocessable) || outcome.KindOf(err).Status() != 422 {
				t.Fatalf("Validate = %v, want 422", err)
			}
			for _, is := range issuesOf(err) {
				if strings.HasPrefix(is.Text, tc.rule+":") && (tc.path == "" || is.Path == tc.path) {
					return
				}
			}
			t.Errorf("issues %+v, want %s at %s", issuesOf(err), tc.rule, tc.path)
		})
	}
}

func TestValidateStatusMissing(t *testing.T) {
	t.Parallel()
	cs := parseConsent(t, c("c", "OPTOUT", actor(nurse)))
	cs.Status = nil
	if !strings.Contains(Validate(cs).Error(), validateFail) || !strings.HasPrefix(issuesOf(Validate(cs))[0].Text, RuleStatus) {
		t.Errorf("Validate without status: %+v", issuesOf(Validate(cs)))
	}
}

func TestCodeSystem(t *testing.T) {
	t.Parallel()
	cs := CodeSystem()
	if cs.GetUrl().GetValue() != category.System || len(cs.Concept) != len(category.All) {
		t.Fatalf("CodeSystem url %q, %d concepts", cs.GetUrl().GetValue(), len(cs.Concept))
	}
	js, err := testCodec.Encode(cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testCodec.Decode(js); err != nil {
		t.Errorf("CodeSystem does not round-trip: %v\n%s", err, js)
	}
	for i, c := range category.All {
		if cs.Concept[i].GetCode().GetValue() != string(c) || cs.Concept[i].GetDisplay().GetValue() == "" {
			t.Errorf("concept %d = %v", i, cs.Concept[i])
		}
	}
}
