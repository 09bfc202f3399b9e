package directory

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// TestCandidatesInactiveHolder: a role is in active use only while the
// Practitioner who holds it and the Organization it is for are (R4
// Practitioner.active, Organization.active), and a service only while its
// providing Organization is: a directory export keeps the roles of a
// practitioner who retired and the services of an organisation that
// closed.
func TestCandidatesInactiveHolder(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	const g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	const r85 = "https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"
	dep59 := `"extension":[{"url":"` + ExtTerritorialDivision + `","extension":[{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"code":"2"}]}},{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"code":"59"}]}}]}]`
	nd := strings.Join([]string{
		`{"resourceType":"Organization","id":"open","active":true,` + dep59 + `}`,
		`{"resourceType":"Organization","id":"closed","active":false,` + dep59 + `}`,
		`{"resourceType":"Practitioner","id":"working","active":true}`,
		`{"resourceType":"Practitioner","id":"retired","active":false}`,
		`{"resourceType":"PractitionerRole","id":"nurse-ok","practitioner":{"reference":"Practitioner/working"},"organization":{"reference":"Organization/open"},"code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]}`,
		`{"resourceType":"PractitionerRole","id":"nurse-retired","active":true,"practitioner":{"reference":"Practitioner/retired"},"organization":{"reference":"Organization/open"},"code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]}`,
		`{"resourceType":"PractitionerRole","id":"nurse-closed","active":true,"practitioner":{"reference":"Practitioner/working"},"organization":{"reference":"Organization/closed"},"code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]}`,
		`{"resourceType":"HealthcareService","id":"help-ok","providedBy":{"reference":"Organization/open"},"type":[{"coding":[{"system":"` + r85 + `","code":"372"}]}]}`,
		`{"resourceType":"HealthcareService","id":"help-closed","active":true,"providedBy":{"reference":"Organization/closed"},"type":[{"coding":[{"system":"` + r85 + `","code":"372"}]}]}`,
	}, "\n")
	if _, err := Import(context.Background(), st, testCodec, strings.NewReader(nd), nil); err != nil {
		t.Fatal(err)
	}
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"59000","city":"Lille"}`))
	for _, c := range []struct {
		role    Role
		want    string
		skipped map[string]string
	}{
		{Nurse, "PractitionerRole/nurse-ok", map[string]string{
			"PractitionerRole/nurse-retired": "inactive (its Practitioner)",
			"PractitionerRole/nurse-closed":  "inactive (its Organization)"}},
		{HomeHelp, "HealthcareService/help-ok", map[string]string{
			"HealthcareService/help-closed": "inactive (its Organization)"}},
	} {
		got, ex, err := d.Candidates(context.Background(), Query{Role: c.role, Place: place})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Ref != c.want {
			t.Errorf("%s: candidates %+v, want only %s (%+v)", c.role, got, c.want, ex)
		}
		for ref, why := range c.skipped {
			i := slices.IndexFunc(ex.Skipped, func(r Reason) bool { return r.Ref == ref })
			if i < 0 || ex.Skipped[i].Why != why {
				t.Errorf("%s not skipped as %q: %+v", ref, why, ex.Skipped)
			}
		}
	}
}

// TestIndexLeft: a role or service has left the directory when it, the
// Practitioner who holds it or the Organization it is for is no longer
// in active use, or when its period is over (R4 PractitionerRole.period);
// Ended lists the roles whose period ended between two times, for those
// no write reports; a reference the index does not hold is not the
// directory's to judge.
func TestIndexLeft(t *testing.T) {
	t.Parallel()
	const g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	nurse := func(id, extra string) string {
		return `{"resourceType":"PractitionerRole","id":"` + id + `","practitioner":{"reference":"Practitioner/working"},"organization":{"reference":"Organization/open"},"code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]` + extra + `}`
	}
	var res []proto.Message
	for _, js := range []string{
		`{"resourceType":"Organization","id":"open","active":true}`,
		`{"resourceType":"Organization","id":"closed","active":false}`,
		`{"resourceType":"Practitioner","id":"working","active":true}`,
		nurse("in", `,"active":true`),
		nurse("stopped", `,"active":false`),
		nurse("ends", `,"period":{"end":"2026-03-10T00:00:00Z"}`),
		strings.Replace(nurse("closed", ""), "Organization/open", "Organization/closed", 1),
	} {
		m, err := testCodec.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, m)
	}
	x := BuildIndex(1, res)
	before, after := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	for ref, want := range map[string][4]string{
		"PractitionerRole/in":      {"", "", "", ""},
		"PractitionerRole/stopped": {"inactive", "inactive", ReasonInactive, ReasonInactive},
		"PractitionerRole/ends":    {"", "its period ended (PractitionerRole.period)", "", ReasonPeriodEnded},
		"PractitionerRole/closed":  {"inactive (its Organization)", "inactive (its Organization)", ReasonInactiveOrganization, ReasonInactiveOrganization},
		"PractitionerRole/absent":  {"", "", "", ""},
		"Organization/closed":      {"", "", "", ""},
	} {
		b, a := x.Left(ref, before), x.Left(ref, after)
		if got := [4]string{b.Why, a.Why, b.Code, a.Code}; got != want {
			t.Errorf("Left(%s) before and after 10 March (why, then code): %q, want %q", ref, got, want)
		}
	}
	if got := x.Ended(before, after); !slices.Equal(got, []string{"PractitionerRole/ends"}) {
		t.Errorf("Ended(9 March, 11 March) = %v", got)
	}
	if got := x.Ended(after, after.Add(time.Hour)); len(got) != 0 {
		t.Errorf("Ended after the end: %v", got)
	}
}
