package routing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/pathways"
)

// TestStayModifiers: R4 Condition.verificationStatus and Procedure.status
// are modifier elements. A diagnosis refuted or entered in error, and a
// procedure not done or entered in error, are not facts of the stay: they
// choose no pathway and are no request's reason.
func TestStayModifiers(t *testing.T) {
	const ccam = "https://smt.esante.gouv.fr/terminologie-ccam/"
	proc := func(id, status string) string {
		return `{"resourceType":"Procedure","id":"` + id + `","status":"` + status + `","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"code":{"coding":[{"system":"` + ccam + `","code":"NEKA020"}]}}`
	}
	cond := func(ver string) string {
		return `{"resourceType":"Condition","id":"c1","verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"` + ver + `"}]},"subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I50.9"}]}}`
	}
	for _, c := range []struct {
		name    string
		writes  []string
		pathway string
	}{
		{"confirmed diagnosis", []string{cond("confirmed")}, "heart-failure"},
		{"refuted diagnosis", []string{cond("refuted")}, "older-person"}, // she is 83
		{"diagnosis entered in error", []string{cond("entered-in-error")}, "older-person"},
		{"hip replacement done", []string{cond("refuted"), proc("pr1", "completed")}, "orthopaedic-surgery"},
		{"hip replacement not done", []string{cond("refuted"), proc("pr1", "not-done")}, "older-person"},
		{"procedure entered in error", []string{cond("refuted"), proc("pr1", "entered-in-error")}, "older-person"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl, st := world(t)
			for _, js := range c.writes {
				putJSON(t, st, js)
			}
			plan, err := pl.Plan(context.Background(), "e1")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(plan.Pathway, pathways.Base+"/PlanDefinition/"+c.pathway+"|") {
				t.Fatalf("pathway %s, want %s (%v)", plan.Pathway, c.pathway, plan.Reasons)
			}
			for _, sr := range plan.Requests {
				for _, r := range sr.GetReasonReference() {
					if resource.RefString(r) == "Condition/c1" && c.writes[0] != cond("confirmed") {
						t.Errorf("%s gives the ruled-out Condition as its reason", resource.ID(sr))
					}
				}
			}
		})
	}
}

// TestDiagnosisByOID: a diagnosis whose system is ICD-10 named by its OID
// (urn:oid:2.16.840.1.113883.6.3, as CDA and HL7 v3 name it, and as FHIR
// allows: R4 terminologies-systems.html) chooses the pathway its code
// does, as a procedure named by OID already did.
func TestDiagnosisByOID(t *testing.T) {
	pl, st := world(t)
	putJSON(t, st, `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"code":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.3","code":"J44.1"}]}}`)
	plan, err := pl.Plan(context.Background(), "e1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plan.Pathway, pathways.Base+"/PlanDefinition/copd|") {
		t.Fatalf("pathway %s, want copd (%v)", plan.Pathway, plan.Reasons)
	}
}

// TestNurseAvailableInWindow: a discharge on Saturday evening goes to a
// nurse who works weekday mornings, since her visit is due within the
// action's window, not at the time of discharge.
func TestNurseAvailableInWindow(t *testing.T) {
	pl, st := world(t)
	const g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	for _, id := range []string{"nurse-b", "nurse-c"} {
		putJSON(t, st, `{"resourceType":"PractitionerRole","id":"`+id+`","active":true,"organization":{"reference":"Organization/cabinet-lille"},"code":[{"coding":[{"system":"`+g15+`","code":"60"}]}],`+
			`"availableTime":[{"daysOfWeek":["mon","tue","wed","thu","fri"],"availableStartTime":"08:00:00","availableEndTime":"12:00:00"}]}`)
	}
	// Saturday 7 March 2026, 19:00 in Lille.
	putJSON(t, st, `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-07T19:00:00+01:00"}}`)
	plan, err := pl.Plan(context.Background(), "e1")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range plan.Tasks {
		if strings.HasSuffix(resource.ID(task), "-nurse-1") {
			if got := resource.RefString(task.GetOwner()); got != "PractitionerRole/nurse-b" {
				t.Errorf("nurse's Task owned by %s, want PractitionerRole/nurse-b (%v)", got, plan.Reasons)
			}
			return
		}
	}
	t.Fatalf("no nurse Task: %v", plan.Reasons)
}
