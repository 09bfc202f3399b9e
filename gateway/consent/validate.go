package consent

import (
	"fmt"
	"strconv"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

// maxDepth bounds provision nesting (deeper Consents are refused).
const maxDepth = 16

// Validation rules, named at the start of each issue's text.
const (
	RulePatient  = "consent-patient"
	RuleStatus   = "consent-status"
	RulePolicy   = "consent-policy"
	RulePeriod   = "consent-period"
	RuleData     = "consent-data"
	RuleTooDeep  = "consent-depth"
	validateFail = "consent fails validation"
)

// Validate checks a Consent for meaning before it is written: the patient
// is present, the status valid, the root's type known (its own or from
// policyRule), periods are ordered, data criteria complete. A nested
// provision of its parent's type is valid (R4 requires the type): it is
// read as a refinement (compile.go, rule.refines). It returns nil or an *outcome.Error of
// kind Unprocessable (422) with one issue per broken rule, each naming the
// rule and the element path.
func Validate(c *cpb.Consent) error {
	var issues []outcome.Issue
	add := func(rule, path, format string, args ...any) {
		issues = append(issues, outcome.Issue{Severity: outcome.SevError, Path: path,
			Text: rule + ": " + fmt.Sprintf(format, args...)})
	}
	if typ, id, _, ok := resource.RefTarget(c.GetPatient()); !ok || typ != "Patient" || id == "" {
		add(RulePatient, "Consent.patient", "the patient is required, as a reference to a Patient")
	}
	if c.GetStatus().GetValue() == cdpb.ConsentStateCode_INVALID_UNINITIALIZED {
		add(RuleStatus, "Consent.status", "status is required: draft | proposed | active | rejected | inactive | entered-in-error")
	}
	p := c.GetProvision()
	if p == nil {
		p = &cpb.Consent_Provision{}
	}
	eff, known := rootEffect(p, c.GetPolicyRule())
	if !known {
		add(RulePolicy, "Consent.policyRule", "the root provision has no type and policyRule is not v3-ActCode OPTIN, OPTINR, OPTOUT or OPTOUTE, so permit and deny cannot be told apart")
	}
	validateProvision(p, "Consent.provision", eff, 0, add)
	if len(issues) > 0 {
		return outcome.New(outcome.Unprocessable, validateFail, issues...)
	}
	return nil
}

type addFunc func(rule, path, format string, args ...any)

func validateProvision(p *cpb.Consent_Provision, path string, eff effect, depth int, add addFunc) {
	if depth >= maxDepth {
		add(RuleTooDeep, path, "provisions nest deeper than %d levels", maxDepth)
		return
	}
	checkPeriod(p.GetPeriod(), path+".period", add)
	checkPeriod(p.GetDataPeriod(), path+".dataPeriod", add)
	for i, d := range p.GetData() {
		if d.GetMeaning().GetValue() == cdpb.ConsentDataMeaningCode_INVALID_UNINITIALIZED || resource.RefString(d.GetReference()) == "" {
			add(RuleData, path+".data["+strconv.Itoa(i)+"]", "data needs a meaning and a reference")
		}
	}
	for i, child := range p.GetProvision() {
		cp := path + ".provision[" + strconv.Itoa(i) + "]"
		ce, ok := typeOf(child)
		if !ok {
			ce = eff.opposite()
		}
		validateProvision(child, cp, ce, depth+1, add)
	}
}

// checkPeriod requires start before end (at their precision).
func checkPeriod(p *dtpb.Period, path string, add addFunc) {
	if p.GetStart() == nil || p.GetEnd() == nil {
		return
	}
	if p.Start.ValueUs >= resource.DateTimeEnd(p.End) {
		add(RulePeriod, path, "period start is after its end")
	}
}
