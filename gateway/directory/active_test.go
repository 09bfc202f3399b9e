package directory

import (
	"context"
	"slices"
	"strings"
	"testing"
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
