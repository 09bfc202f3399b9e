package routing_test

import (
	"context"
	"strings"
	"testing"

	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

// TestGPNamedAsThePerson: a source names the patient's general
// practitioner as the person (Patient.generalPractitioner
// Practitioner/x, as HL7 v2 PD1-4 and a CDA participant PCP give her):
// her Task goes to the one GP role she holds in the directory, the one
// her software signs in as and searches its work by (Task?owner=); while
// she holds none in force, or two, to the person.
func TestGPNamedAsThePerson(t *testing.T) {
	gpTaskOwner := func(t *testing.T, extra ...string) string {
		t.Helper()
		pl, st := world(t)
		putJSON(t, st, `{"resourceType":"Practitioner","id":"martin","active":true,"identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.1","value":"810000000001"}]}`)
		putJSON(t, st, `{"resourceType":"Patient","id":"p1","birthDate":"1942-03-15","address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}],"generalPractitioner":[{"reference":"Practitioner/martin"}]}`)
		for _, js := range extra {
			putJSON(t, st, js)
		}
		plan, err := pl.Plan(context.Background(), "e1")
		if err != nil {
			t.Fatal(err)
		}
		for i, sr := range plan.Requests {
			if sr.GetPerformerType().GetCoding()[0].GetCode().GetValue() == "gp" {
				return resource.RefString(plan.Tasks[i].GetOwner())
			}
		}
		t.Fatal("no GP action in the plan")
		return ""
	}
	active := `"active":true,`
	gpRole := func(id, extra string) string {
		return `{"resourceType":"PractitionerRole","id":"` + id + `",` + active + `"practitioner":{"reference":"Practitioner/martin"},"organization":{"reference":"Organization/cabinet-lille"},"code":[{"coding":[{"system":"` + terminology.TREG15 + `","code":"10"}]}],"specialty":[{"coding":[{"system":"` + terminology.TRER38 + `","code":"SM54"}]}]` + extra + `}`
	}
	t.Run("one role", func(t *testing.T) {
		if got := gpTaskOwner(t, gpRole("martin-gp", "")); got != "PractitionerRole/martin-gp" {
			t.Errorf("GP Task owner %s, want her directory role", got)
		}
	})
	t.Run("beside the role a document made", func(t *testing.T) {
		// what a mapping makes of a letter's PCP participant: her
		// profession as the letter gives it, no active, no organization
		made := `{"resourceType":"PractitionerRole","id":"from-letter","practitioner":{"reference":"Practitioner/martin"},"specialty":[{"coding":[{"system":"` + terminology.TRER38 + `","code":"SM54"}]}]}`
		if got := gpTaskOwner(t, made, gpRole("martin-gp", "")); got != "PractitionerRole/martin-gp" {
			t.Errorf("GP Task owner %s, want her directory role", got)
		}
		if got := gpTaskOwner(t, made); got != "Practitioner/martin" {
			t.Errorf("GP Task owner %s, want the person (a role a document made is no one's to sign in as)", got)
		}
	})
	t.Run("none", func(t *testing.T) {
		if got := gpTaskOwner(t); got != "Practitioner/martin" {
			t.Errorf("GP Task owner %s, want the person", got)
		}
	})
	t.Run("two roles", func(t *testing.T) {
		if got := gpTaskOwner(t, gpRole("martin-gp", ""), gpRole("martin-gp2", "")); got != "Practitioner/martin" {
			t.Errorf("GP Task owner %s, want the person (which role acts is not the directory's to say)", got)
		}
	})
	t.Run("role ended", func(t *testing.T) {
		if got := gpTaskOwner(t, gpRole("martin-gp", `,"period":{"end":"2025-12-31"}`)); got != "Practitioner/martin" {
			t.Errorf("GP Task owner %s, want the person (her role ended before the discharge)", got)
		}
	})
	t.Run("role inactive", func(t *testing.T) {
		active = `"active":false,`
		defer func() { active = `"active":true,` }()
		if got := gpTaskOwner(t, gpRole("martin-gp", "")); got != "Practitioner/martin" {
			t.Errorf("GP Task owner %s, want the person", got)
		}
	})
}

// TestGPTaskGivenToHerRole: a GP Task routing gave the person (she held no
// role in the directory then), given by hand to the GP role she has since,
// explains that its new owner is the patient's general practitioner.
func TestGPTaskGivenToHerRole(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	putJSON(t, st, `{"resourceType":"Practitioner","id":"martin","active":true}`)
	putJSON(t, st, `{"resourceType":"Patient","id":"p1","birthDate":"1942-03-15","address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}],"generalPractitioner":[{"reference":"Practitioner/martin"}]}`)
	plan, err := pl.Plan(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Write(ctx, plan); err != nil {
		t.Fatal(err)
	}
	var was *tpb.Task
	for i, sr := range plan.Requests {
		if sr.GetPerformerType().GetCoding()[0].GetCode().GetValue() == "gp" {
			was = plan.Tasks[i]
		}
	}
	if resource.RefString(was.GetOwner()) != "Practitioner/martin" {
		t.Fatalf("GP Task owner %s, want the person", resource.RefString(was.GetOwner()))
	}
	putJSON(t, st, `{"resourceType":"PractitionerRole","id":"martin-gp","active":true,"practitioner":{"reference":"Practitioner/martin"},"specialty":[{"coding":[{"system":"`+terminology.TRER38+`","code":"SM54"}]}]}`)
	now := proto.Clone(was).(*tpb.Task)
	now.Owner = resource.Ref("PractitionerRole", "martin-gp")
	if err := pl.Reassigned(ctx, was, now, "PractitionerRole/coordinator"); err != nil {
		t.Fatal(err)
	}
	if note := now.GetNote()[0].GetText().GetValue(); !strings.Contains(note, "general practitioner") {
		t.Errorf("the GP Task given to her role explains: %s", note)
	}
}
