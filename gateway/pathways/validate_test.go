package pathways_test

import (
	"errors"
	"strings"
	"testing"

	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/pathways"
)

// TestValidateDefaults: every default pathway means what routing reads.
func TestValidateDefaults(t *testing.T) {
	ms, err := pathways.Defaults(testCodec)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := pathways.Validate(m.(*pdpb.PlanDefinition)); err != nil {
			t.Errorf("%s: %v", m.(*pdpb.PlanDefinition).GetId().GetValue(), err)
		}
	}
}

// TestValidateRefuses: a pathway routing would read otherwise than it is
// written, or could not apply, is refused with the path of each fault.
func TestValidateRefuses(t *testing.T) {
	const base = "https://relais-health.github.io/fhir/StructureDefinition/"
	const elig = `{"url":"` + base + `pathway-eligibility","extension":[{"url":"diagnosis","valueCoding":{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44"}}]}`
	const window = `"timingRange":{"high":{"value":7,"system":"http://unitsofmeasure.org","code":"d"}}`
	role := func(code string) string {
		return `"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/pathway-role","code":"` + code + `"}]}]`
	}
	pd := func(exts, actions string) string {
		return `{"resourceType":"PlanDefinition","id":"copd","status":"active","extension":[` + exts + `],"action":[` + actions + `]}`
	}
	for _, c := range []struct {
		name, json, path string
	}{
		{"unknown role", pd(elig, `{"id":"a",`+role("astronaut")+`,`+window+`}`), "PlanDefinition.action[0].code[0].coding[0]"},
		{"action without a role", pd(elig, `{"id":"a","title":"x",`+window+`}`), "PlanDefinition.action[0].code"},
		{"no eligibility", pd(`{"url":"`+base+`pathway-priority","valueInteger":4}`, `{"id":"a",`+role("gp")+`,`+window+`}`), "PlanDefinition.extension"},
		{"criterion misspelt", pd(`{"url":"`+base+`pathway-eligibility","extension":[{"url":"diagnoses","valueCoding":{"code":"J44"}}]}`, `{"id":"a",`+role("gp")+`,`+window+`}`), "PlanDefinition.extension[0].extension[0]"},
		{"diagnosis as a string", pd(`{"url":"`+base+`pathway-eligibility","extension":[{"url":"diagnosis","valueString":"J44"}]}`, `{"id":"a",`+role("gp")+`,`+window+`}`), "PlanDefinition.extension[0].extension[0]"},
		{"GIR out of range", pd(`{"url":"`+base+`pathway-eligibility","extension":[{"url":"maxGIR","valueInteger":7}]}`, `{"id":"a",`+role("gp")+`,`+window+`}`), "PlanDefinition.extension[0].extension[0]"},
		{"window in an unknown unit", pd(elig, `{"id":"a",`+role("gp")+`,"timingRange":{"high":{"value":7,"system":"http://unitsofmeasure.org","code":"a"}}}`), "PlanDefinition.action[0].timingRange.high"},
		{"no window", pd(elig, `{"id":"a",`+role("gp")+`}`), "PlanDefinition.action[0].timingRange.high"},
		{"unknown kind", pd(elig, `{"id":"a","extension":[{"url":"`+base+`pathway-recipient-kind","valueCode":"martian"}],`+role("gp")+`,`+window+`}`), "PlanDefinition.action[0].extension[0]"},
		{"unknown data category", pd(elig, `{"id":"a","extension":[{"url":"`+base+`pathway-data-category","valueCoding":{"code":"PSY"}}],`+role("gp")+`,`+window+`}`), "PlanDefinition.action[0].extension[0]"},
		{"answer-within in seconds", pd(elig, `{"id":"a","extension":[{"url":"`+base+`pathway-answer-within","valueDuration":{"value":30,"system":"http://unitsofmeasure.org","code":"s"}}],`+role("gp")+`,`+window+`}`), "PlanDefinition.action[0].extension[0]"},
		{"two actions alike", pd(elig, `{`+role("gp")+`,`+window+`},{`+role("gp")+`,`+window+`}`), "PlanDefinition.action[1].id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := testCodec.Decode([]byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			err = pathways.Validate(m.(*pdpb.PlanDefinition))
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Unprocessable {
				t.Fatalf("Validate = %v, want an Unprocessable outcome", err)
			}
			var paths []string
			for _, is := range oe.Issues {
				paths = append(paths, is.Path)
				if is.Text == "" {
					t.Errorf("an issue without text at %s", is.Path)
				}
			}
			if !strings.Contains(strings.Join(paths, " "), c.path) {
				t.Errorf("issues at %v, want one at %s: %+v", paths, c.path, oe.Issues)
			}
		})
	}
	// A PlanDefinition that states nothing of a pathway is not one.
	m, err := testCodec.Decode([]byte(`{"resourceType":"PlanDefinition","id":"order-set","status":"draft","action":[{"title":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := pathways.Validate(m.(*pdpb.PlanDefinition)); err != nil {
		t.Errorf("a PlanDefinition that is no pathway: %v", err)
	}
}
