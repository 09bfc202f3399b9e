package directory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
)

// The two national sources of the same SSIAD (testdata, written from the
// ANS Annuaire Santé and ROR IGs): the Annuaire Santé's Organization
// (FINESS 590780194, SIRET 26590018300017, id derived from its FINESS)
// holds the Annuaire Santé's nurse role; the ROR's (id 4947, the same
// FINESS and SIRET) holds the territories the SSIAD serves, its service
// and its own nurse role.
const (
	asFile    = "testdata/annuaire-sante-transaction.json"
	rorFile   = "testdata/ror-collection.json"
	asOrgRef  = "Organization/finess-590780194"
	rorOrgRef = "Organization/4947"
	territory = `"code":"59350"`
)

// nurses returns the nurse roles a Lille patient gets.
func nurses(t *testing.T, st *store.Store) []string {
	t.Helper()
	got, _, err := New(st, testCodec).Candidates(context.Background(), Query{Role: Nurse, Place: lillePatient(t)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range got {
		out = append(out, c.Ref)
	}
	slices.Sort(out)
	return out
}

// organizations returns the stored Organizations.
func organizations(t *testing.T, st *store.Store) map[string]string {
	out := map[string]string{}
	for k, v := range storedDirectory(t, st) {
		if strings.HasPrefix(k, "Organization/") {
			out[k] = v
		}
	}
	return out
}

// TestImportMergesOrganizationAcrossSources: whichever source comes first,
// the second's Organization with the same FINESS (and SIRET) is merged
// into the first's: one Organization, with the ROR's territories, so that
// both sources' nurses are candidates for a Lille patient; the second
// source's references follow it, and the summary says what was merged.
// Importing either source again keeps what the other brought; the same
// file again changes nothing. What is stored passes the validator.
func TestImportMergesOrganizationAcrossSources(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name            string
		first, second   string
		kept, mergedIn  string // the Organization that stays, and the one merged into it
		name1           string // the merged Organization's name: the latest import's
		asRoleFollowing bool
	}{
		{"Annuaire Santé then ROR", asFile, rorFile, asOrgRef, rorOrgRef, `"name":"SSIAD du CCAS de Lille"`, false},
		{"ROR then Annuaire Santé", rorFile, asFile, rorOrgRef, asOrgRef, `"name":"SSIAD CCAS DE LILLE"`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			importString(t, st, readFile(t, c.first))
			s := importString(t, st, readFile(t, c.second))
			if want := []string{c.mergedIn + " into " + c.kept}; !slices.Equal(s.Merged, want) || s.RefusedTotal() != 0 || s.Reviews != 0 {
				t.Errorf("second import: %v; want merged %v", s, want)
			}
			if !strings.Contains(s.String(), "\n  merged "+c.mergedIn+" into "+c.kept) {
				t.Errorf("the summary does not say what was merged: %s", s)
			}
			orgs := organizations(t, st)
			if len(orgs) != 1 {
				t.Fatalf("Organizations: %v", slices.Sorted(mapKeys(orgs)))
			}
			org := orgs[c.kept]
			for _, want := range []string{territory, `"value":"26590018300017"`, `"value":"1590780194"`, c.name1,
				"organization-period", `"code":"` + strings.TrimPrefix(c.mergedIn, "Organization/") + `","system":"` + identity.MergedSystem + `"`} {
				if !strings.Contains(org, want) {
					t.Errorf("the merged Organization lacks %s: %s", want, org)
				}
			}
			stored := storedDirectory(t, st)
			for key, js := range stored {
				if strings.Contains(js, `"reference":"`+c.mergedIn+`"`) {
					t.Errorf("%s still names %s: %s", key, c.mergedIn, js)
				}
			}
			asRole := ""
			for key := range stored {
				if strings.HasPrefix(key, "PractitionerRole/practitionerrole-") {
					asRole = key
				}
			}
			if got, want := nurses(t, st), []string{"PractitionerRole/2524", asRole}; !slices.Equal(got, want) {
				t.Errorf("nurses for a Lille patient: %v, want %v", got, want)
			}
			if s := importString(t, st, readFile(t, c.second)); s.Created+s.Updated != 0 {
				t.Errorf("the second source again: %v", s)
			}
			importString(t, st, readFile(t, c.first))
			if org := organizations(t, st)[c.kept]; !strings.Contains(org, territory) || !strings.Contains(org, "organization-period") {
				t.Errorf("the first source again dropped what the other brought: %s", org)
			}
			if s := importString(t, st, readFile(t, c.first)); s.Created+s.Updated != 0 {
				t.Errorf("the first source once more: %v", s)
			}
			if got := nurses(t, st); len(got) != 2 {
				t.Errorf("nurses after importing again: %v", got)
			}
			dir := t.TempDir()
			for key, js := range storedDirectory(t, st) {
				if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(key, "/", "-")+".json"), []byte(js), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fhirtest.RunValidator(t, dir)
		})
	}
}

// TestImportOrganizationConflict: identifiers that disagree are not
// merged: the imported Organization is stored apart and the pair listed
// for review, with what disagrees.
func TestImportOrganizationConflict(t *testing.T) {
	t.Parallel()
	ror := readFile(t, rorFile)
	for _, c := range []struct {
		name    string
		before  string // NDJSON imported before the ROR
		ror     string
		reviews map[string]string // the other Organization listed with Organization/4947 -> a part of the reason
	}{
		{"same FINESS, another SIRET", readFile(t, asFile), strings.Replace(ror, `"26590018300017"`, `"26590018300025"`, 1),
			map[string]string{asOrgRef: "same FINESS 590780194, but SIRET 26590018300025 against 26590018300017"}},
		{"FINESS and SIRET held by two Organizations",
			`{"resourceType":"Organization","id":"eg-finess","name":"SSIAD (FINESS)","identifier":[{"system":"https://finess.esante.gouv.fr","value":"590780194"}]}` + "\n" +
				`{"resourceType":"Organization","id":"eg-siret","name":"SSIAD (SIRET)","identifier":[{"system":"https://sirene.fr","value":"26590018300017"}]}` + "\n",
			ror, map[string]string{"Organization/eg-finess": "FINESS 590780194 is Organization/eg-finess's", "Organization/eg-siret": "SIRET 26590018300017 is Organization/eg-siret's"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			importString(t, st, c.before)
			before := organizations(t, st)
			s := importString(t, st, c.ror)
			if len(s.Merged) != 0 || s.Reviews != len(c.reviews) || !strings.Contains(s.String(), "listed for review") {
				t.Errorf("import: %v", s)
			}
			orgs := organizations(t, st)
			if _, ok := orgs[rorOrgRef]; !ok || len(orgs) != len(before)+1 {
				t.Errorf("the ROR's Organization is not stored apart: %v", slices.Sorted(mapKeys(orgs)))
			}
			for key, js := range before {
				if orgs[key] != js {
					t.Errorf("%s changed: %s", key, orgs[key])
				}
			}
			list, err := st.IdentityReviews()
			if err != nil {
				t.Fatal(err)
			}
			for other, why := range c.reviews {
				if !slices.ContainsFunc(list, func(v store.IdentityReview) bool {
					return v.Kind == identity.ReviewIdentifierConflict && slices.Contains(v.Resources, other) &&
						slices.Contains(v.Resources, rorOrgRef) && strings.Contains(v.Reason, why)
				}) {
					t.Errorf("no review of %s and %s saying %q: %+v", rorOrgRef, other, why, list)
				}
			}
		})
	}
}

// TestImportMergesBySIREN: legal entities (entités juridiques) are the same
// when their SIREN is, whether written https://sirene.fr (FR Core), as
// the ROR writes it (http://sirene.fr) or inside an IDNST (2 + SIREN).
func TestImportMergesBySIREN(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	importString(t, st, `{"resourceType":"Organization","id":"ej-as","name":"CCAS DE LILLE","identifier":[{"system":"https://sirene.fr","value":"265900183"}]}`)
	s := importString(t, st, `{"resourceType":"Organization","id":"ej-ror","name":"CCAS de Lille","identifier":[`+
		`{"system":"urn:oid:1.2.250.1.71.4.2.2","value":"2265900183"},{"system":"http://sirene.fr","value":"265900183"}]}`)
	if !slices.Equal(s.Merged, []string{"Organization/ej-ror into Organization/ej-as"}) {
		t.Errorf("import: %v", s)
	}
	// A SIRET is an establishment of the SIREN, not the legal entity.
	s = importString(t, st, `{"resourceType":"Organization","id":"eg","name":"SSIAD","identifier":[{"system":"https://sirene.fr","value":"26590018300017"}]}`)
	if len(s.Merged) != 0 || s.Created != 1 {
		t.Errorf("an establishment of the legal entity: %v", s)
	}
}

// TestImportMergeFollowsEarlierBatches: references to the merged id
// written before the merge, by an earlier batch of the same import, now
// name the Organization it was merged into; importing the file again
// changes nothing.
func TestImportMergeFollowsEarlierBatches(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	importString(t, st, readFile(t, asFile))
	var nd strings.Builder
	n := ImportBatch + 10
	for i := range n {
		fmt.Fprintf(&nd, `{"resourceType":"HealthcareService","id":"hs%d","active":true,"providedBy":{"reference":"%s"}}`+"\n", i, rorOrgRef)
	}
	ror := readFile(t, "testdata/ror-collection.ndjson")
	orgLine := ror[strings.Index(ror, `{"resourceType":"Organization"`):]
	nd.WriteString(strings.Replace(orgLine, `"id":"c3d2e1f0-7b6a-4958-8a7b-6c5d4e3f2a04"`, `"id":"4947"`, 1))
	if s := importString(t, st, nd.String()); !slices.Equal(s.Merged, []string{rorOrgRef + " into " + asOrgRef}) {
		t.Fatalf("import: %v", s)
	}
	for _, i := range []int{0, n - 1} {
		rec, err := st.Read("HealthcareService", fmt.Sprintf("hs%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(rec.JSON), `"providedBy":{"reference":"`+asOrgRef+`"}`) {
			t.Errorf("hs%d: %s", i, rec.JSON)
		}
	}
	if s := importString(t, st, nd.String()); s.Created+s.Updated != 0 {
		t.Errorf("importing again: %v", s)
	}
}

// TestImportMergeListsEarlierDuplicate: an Organization an earlier import
// stored apart (before imports merged), which an import now merges, is
// listed for review as a probable duplicate; the roles naming it now name
// the Organization it was merged into.
func TestImportMergeListsEarlierDuplicate(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	importString(t, st, readFile(t, asFile))
	// As an earlier relais stored the ROR's Organization and a role naming
	// it: apart, claiming nothing.
	var entries []store.TxEntry
	for _, js := range []string{
		`{"resourceType":"Organization","id":"4947","name":"SSIAD du CCAS de Lille","identifier":[{"system":"https://finess.esante.gouv.fr","value":"590780194"}]}`,
		`{"resourceType":"PractitionerRole","id":"old-role","active":true,"organization":{"reference":"Organization/4947"},"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}]}`,
	} {
		m, err := testCodec.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
	}
	if _, err := st.TransactionWith(context.Background(), entries, store.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := importString(t, st, readFile(t, rorFile)); !slices.Equal(s.Merged, []string{rorOrgRef + " into " + asOrgRef}) || s.Reviews != 1 {
		t.Errorf("import: %v", s)
	}
	list, err := st.IdentityReviews()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(list, func(v store.IdentityReview) bool {
		return v.Kind == identity.ReviewProbableDuplicate && slices.Equal(v.Resources, []string{rorOrgRef, asOrgRef})
	}) {
		t.Errorf("the earlier duplicate is not listed: %+v", list)
	}
	rec, err := st.Read("PractitionerRole", "old-role")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec.JSON), `"organization":{"reference":"`+asOrgRef+`"}`) {
		t.Errorf("the earlier role: %s", rec.JSON)
	}
}
