package directory

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/identity"
)

// ROR-shaped resources (written for this test from the ROR and Annuaire
// Santé FHIR guides): a PractitionerRole naming its Organization by FINESS
// and its Practitioner by RPPS, as logical references (R4 references.html
// section 2.3.0.3), with no id on the Organization (derived from FINESS).
const (
	rorRole = `{"resourceType":"PractitionerRole","id":"ide-ror-1","active":true,` +
		`"practitioner":{"identifier":{"system":"` + identity.RPPS + `","value":"10000000027"}},` +
		`"organization":{"identifier":{"system":"` + identity.FINESS + `","value":"690000025"}},` +
		`"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}]}`
	rorOrg = `{"resourceType":"Organization","active":true,"name":"SSIAD Rhône",` +
		`"identifier":[{"system":"` + identity.FINESS + `","value":"690000025"}],` +
		`"extension":[{"url":"` + ExtTerritorialDivision + `","extension":[` +
		`{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR","code":"2"}]}},` +
		`{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune","code":"69"}]}}]}]}`
	rorPractitioner = `{"resourceType":"Practitioner","identifier":[{"system":"` + identity.RPPS + `","value":"10000000027"}],"name":[{"family":"Martin"}]}`
)

// TestImportResolvesLogicalReferences: the role's logical references
// become literal when the Organization is imported after it in the same
// import, or in a later one; the role is then a candidate by its
// Organization's territory, and importing again changes nothing.
func TestImportResolvesLogicalReferences(t *testing.T) {
	t.Parallel()
	for name, imports := range map[string][]string{
		"same import, Organization after the role": {rorRole + "\n" + rorPractitioner + "\n" + rorOrg},
		"Organization in a later import":           {rorRole, rorPractitioner + "\n" + rorOrg},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			d := New(st, testCodec)
			for _, nd := range imports {
				if _, err := Import(context.Background(), st, testCodec, strings.NewReader(nd+"\n"), nil); err != nil {
					t.Fatal(err)
				}
			}
			rec, err := st.Read("PractitionerRole", "ide-ror-1")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"reference":"Organization/finess-690000025"`, `"reference":"Practitioner/rpps-10000000027"`, `"value":"690000025"`} {
				if !strings.Contains(string(rec.JSON), want) {
					t.Errorf("the stored role lacks %s: %s", want, rec.JSON)
				}
			}
			place := communes(t).PlaceOf(patient(t, `{"postalCode":"69100","city":"Villeurbanne"}`))
			got, ex, err := d.Candidates(context.Background(), Query{Role: Nurse, Place: place})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(got, func(c Candidate) bool { return c.Ref == "PractitionerRole/ide-ror-1" }) {
				t.Errorf("the role is not a candidate by its Organization's territory: %+v", ex)
			}
			s, err := Import(context.Background(), st, testCodec, strings.NewReader(strings.Join(imports, "\n")+"\n"), nil)
			if err != nil || s.Created+s.Updated != 0 || s.Unchanged != 3 {
				t.Errorf("importing again: %v, %v", s, err)
			}
		})
	}
}

// TestImportLocalizesAbsoluteReferences: a directory exported by a FHIR
// server names its resources by their URL on it (R4
// bundle.html#references); those of the exporting server become relative,
// so the role is a candidate by its Organization's territory; a reference
// to another server stays absolute.
func TestImportLocalizesAbsoluteReferences(t *testing.T) {
	t.Parallel()
	const base = "https://ror.example/fhir/"
	org := strings.Replace(rorOrg, `{"resourceType":"Organization",`, `{"resourceType":"Organization","id":"org-9",`, 1)
	role := `{"resourceType":"PractitionerRole","id":"pr-9","active":true,` +
		`"organization":{"reference":"` + base + `Organization/org-9"},` +
		`"endpoint":[{"reference":"https://other.example/fhir/Endpoint/e1"}],` +
		`"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}]}`
	bundle := `{"resourceType":"Bundle","type":"searchset","entry":[` +
		`{"fullUrl":"` + base + `PractitionerRole/pr-9","resource":` + role + `},` +
		`{"fullUrl":"` + base + `Organization/org-9","resource":` + org + `}]}`
	st := openStore(t)
	if _, err := Import(context.Background(), st, testCodec, strings.NewReader(bundle), nil); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Read("PractitionerRole", "pr-9")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec.JSON), `"reference":"Organization/org-9"`) || !strings.Contains(string(rec.JSON), `"reference":"https://other.example/fhir/Endpoint/e1"`) {
		t.Errorf("the stored role: %s", rec.JSON)
	}
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"69100","city":"Villeurbanne"}`))
	got, ex, err := New(st, testCodec).Candidates(context.Background(), Query{Role: Nurse, Place: place})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got, func(c Candidate) bool { return c.Ref == "PractitionerRole/pr-9" }) {
		t.Errorf("the role is not a candidate by its Organization's territory: %+v", ex)
	}
}
