package pathways

import (
	"fmt"
	"slices"
	"strconv"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
)

// Roles are the codes of RoleSystem: the recipients a pathway action may
// name (the directory says which codes fill each; some have none yet).
var Roles = []string{
	"gp", "nurse", "physiotherapist", "midwife", "pharmacist", "cardiologist",
	"pulmonologist", "neurologist", "rehab-physician", "speech-therapist",
	"geriatrician", "paediatrician", "home-help", "meals", "social-worker",
	"case-manager", "apa-team", "home-nursing-service", "family-social-technician",
	"mother-child-protection",
}

// Window units are the UCUM units of an action's timingRange.high that
// routing counts (mo as calendar months), and answer units those of
// ExtAnswerWithin.
var (
	windowUnits = []string{"h", "d", "wk", "mo"}
	answerUnits = []string{"min", "h", "d"}
)

const validateFail = "pathway fails validation"

// Validate checks that a PlanDefinition a caller writes means what routing
// will read from it, so that a replaced pathway takes effect as written
// for the next discharge instead of being read silently otherwise (an
// unknown role, a criterion routing ignores, a window in a unit it does
// not count) or failing every stay it applies to (an action naming no
// role). A PlanDefinition that states nothing of a pathway (no pathway
// extension, no action coded in RoleSystem) is not one: routing never
// chooses it, and it is not checked. The error is an Unprocessable
// outcome with one issue per fault, each with its FHIRPath.
func Validate(pd *pdpb.PlanDefinition) error {
	if !isPathway(pd) {
		return nil
	}
	var issues []outcome.Issue
	add := func(path, format string, args ...any) {
		issues = append(issues, outcome.Issue{Severity: outcome.SevError, Path: path, Text: fmt.Sprintf(format, args...)})
	}
	eligibilities := 0
	for i, e := range pd.GetExtension() {
		path := fmt.Sprintf("PlanDefinition.extension[%d]", i)
		switch e.GetUrl().GetValue() {
		case ExtPriority:
			if e.GetValue().GetInteger() == nil {
				add(path, "pathway-priority needs a valueInteger")
			}
		case ExtEligibility:
			eligibilities++
			validateEligibility(e.GetExtension(), path, add)
		}
	}
	if eligibilities == 0 {
		add("PlanDefinition.extension", "a pathway needs at least one pathway-eligibility extension: without one, no stay is ever eligible")
	}
	if len(pd.GetAction()) == 0 {
		add("PlanDefinition.action", "a pathway needs at least one action")
	}
	ids := map[string]bool{}
	for i, a := range pd.GetAction() {
		path := fmt.Sprintf("PlanDefinition.action[%d]", i)
		validateAction(a, path, add)
		// routing derives its ServiceRequest and Task ids from the action's
		// id, else its first role: two alike would be one request
		id := a.GetId().GetValue()
		if id == "" && len(a.GetCode()) > 0 && len(a.GetCode()[0].GetCoding()) > 0 {
			id = a.GetCode()[0].GetCoding()[0].GetCode().GetValue()
		}
		if id != "" && ids[id] {
			add(path+".id", "two actions have the id %q (or, without one, the first role %q): each needs its own", id, id)
		}
		ids[id] = true
	}
	if len(issues) > 0 {
		return outcome.New(outcome.Unprocessable, validateFail, issues...)
	}
	return nil
}

func isPathway(pd *pdpb.PlanDefinition) bool {
	for _, e := range pd.GetExtension() {
		if u := e.GetUrl().GetValue(); u == ExtPriority || u == ExtEligibility {
			return true
		}
	}
	for _, a := range pd.GetAction() {
		for _, cc := range a.GetCode() {
			for _, c := range cc.GetCoding() {
				if c.GetSystem().GetValue() == RoleSystem {
					return true
				}
			}
		}
	}
	return false
}

func validateEligibility(subs []*dtpb.Extension, path string, add func(path, format string, args ...any)) {
	if len(subs) == 0 {
		add(path, "a pathway-eligibility needs at least one criterion (diagnosis, procedure, minAge, maxGIR, delivery, surgery)")
	}
	for j, s := range subs {
		p := fmt.Sprintf("%s.extension[%d]", path, j)
		v := s.GetValue()
		switch u := s.GetUrl().GetValue(); u {
		case "diagnosis":
			if v.GetCoding().GetCode().GetValue() == "" {
				add(p, "diagnosis needs a valueCoding with an ICD-10 code or code prefix")
			}
		case "procedure":
			if v.GetCoding().GetSystem().GetValue() == "" || v.GetCoding().GetCode().GetValue() == "" {
				add(p, "procedure needs a valueCoding with a system (SNOMED CT, CCAM, ICD-10-PCS) and a code")
			}
		case "minAge":
			if v.GetInteger() == nil || v.GetInteger().GetValue() < 0 {
				add(p, "minAge needs a valueInteger of years, 0 or more")
			}
		case "maxGIR":
			if n := v.GetInteger(); n == nil || n.GetValue() < 1 || n.GetValue() > 6 {
				add(p, "maxGIR needs a valueInteger from 1 to 6 (AGGIR)")
			}
		case "delivery", "surgery":
			if !v.GetBoolean().GetValue() {
				add(p, "%s needs valueBoolean true (a criterion that holds when the stay includes one)", u)
			}
		default:
			add(p, "unknown criterion %q: diagnosis, procedure, minAge, maxGIR, delivery or surgery", u)
		}
	}
}

func validateAction(a *pdpb.PlanDefinition_Action, path string, add func(path, format string, args ...any)) {
	if len(a.GetCode()) == 0 || len(a.GetCode()[0].GetCoding()) == 0 {
		add(path+".code", "an action needs a code naming its recipient's role (%s)", RoleSystem)
	}
	if len(a.GetCode()) > 0 {
		for k, c := range a.GetCode()[0].GetCoding() {
			if c.GetSystem().GetValue() != RoleSystem || !slices.Contains(Roles, c.GetCode().GetValue()) {
				add(fmt.Sprintf("%s.code[0].coding[%d]", path, k), "unknown role %s|%s: the roles are the codes of %s (%v)",
					c.GetSystem().GetValue(), c.GetCode().GetValue(), RoleSystem, Roles)
			}
		}
	}
	high := a.GetTiming().GetRange().GetHigh()
	if _, err := strconv.ParseFloat(high.GetValue().GetValue(), 64); err != nil || !slices.Contains(windowUnits, high.GetCode().GetValue()) {
		add(path+".timingRange.high", "an action needs its window from discharge in timingRange.high, a value with a UCUM code among %v", windowUnits)
	}
	for k, e := range a.GetExtension() {
		p := fmt.Sprintf("%s.extension[%d]", path, k)
		v := e.GetValue()
		switch e.GetUrl().GetValue() {
		case ExtKind:
			if c := v.GetCode().GetValue(); c != "health" && c != "social" {
				add(p, "pathway-recipient-kind is health or social, not %q", c)
			}
		case ExtDataCategory:
			if c := category.Code(v.GetCoding().GetCode().GetValue()); !slices.Contains(category.All, c) {
				add(p, "pathway-data-category is one of %v, not %q", category.All, c)
			}
		case ExtAnswerWithin:
			d := v.GetDuration()
			if n, err := strconv.ParseFloat(d.GetValue().GetValue(), 64); err != nil || n <= 0 || !slices.Contains(answerUnits, d.GetCode().GetValue()) {
				add(p, "pathway-answer-within needs a positive valueDuration with a UCUM code among %v", answerUnits)
			}
		}
	}
}
