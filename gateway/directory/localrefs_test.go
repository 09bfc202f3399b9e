package directory

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// storedDirectory returns the current directory resources of st, by
// "Type/id", as stored.
func storedDirectory(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(r *store.Snapshot) error {
		for _, typ := range ImportTypes {
			q, err := search.Parse(typ, url.Values{}, false)
			if err != nil {
				return err
			}
			hits, err := r.Search(q, nil)
			if err != nil {
				return err
			}
			for _, h := range hits {
				rec, err := r.Read(typ, h.ID)
				if err != nil {
					return err
				}
				if !rec.Deleted {
					out[typ+"/"+h.ID] = string(rec.JSON)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// importString imports a file's content into st.
func importString(t *testing.T, st *store.Store, content string) Summary {
	t.Helper()
	s, err := Import(context.Background(), st, testCodec, strings.NewReader(content), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lillePatient is a patient living in Lille, where the ROR's SSIAD works.
func lillePatient(t *testing.T) Place {
	return communes(t).PlaceOf(patient(t, `{"use":"home","line":["3 rue Solférino"],"postalCode":"59000","city":"Lille"}`))
}

// TestImportResolvesURNReferences: directory exports whose entries name
// each other by urn:uuid fullUrls (R4 bundle.html#references): an Annuaire
// Santé transaction of POSTs (ids derived from RPPS and FINESS, the role
// before the resources it names), a ROR collection (ROR ids, fullUrls of
// their own) and the same resources as NDJSON (UUID ids, no fullUrl). Every
// reference is stored as the "Type/id" of the entry it names, none as a
// urn:uuid; the ROR nurse is a candidate by her HealthcareService's
// Organization's territory.
func TestImportResolvesURNReferences(t *testing.T) {
	t.Parallel()
	const ndjsonOrg = "c3d2e1f0-7b6a-4958-8a7b-6c5d4e3f2a04"
	for _, c := range []struct {
		file     string
		refs     map[string][]string // "Type/id" (a prefix for a PractitionerRole) -> references it must have
		nurse    string              // the role a Lille patient gets
		creating int
	}{
		{"testdata/annuaire-sante-transaction.json", map[string][]string{
			"PractitionerRole/practitionerrole-": {`"reference":"Organization/finess-590780194"`, `"reference":"Practitioner/rpps-10100000045"`},
		}, "", 3},
		{"testdata/ror-collection.json", map[string][]string{
			"HealthcareService/9597": {`"providedBy":{"reference":"Organization/4947"}`, `"reference":"Location/1215"`},
			"Location/1215":          {`"managingOrganization":{"reference":"Organization/4947"}`},
			"PractitionerRole/2524":  {`"reference":"HealthcareService/9597"`},
		}, "PractitionerRole/2524", 4},
		{"testdata/ror-collection.ndjson", map[string][]string{
			"HealthcareService/c3d2e1f0-7b6a-4958-8a7b-6c5d4e3f2a02": {`"providedBy":{"reference":"Organization/` + ndjsonOrg + `"}`},
		}, "PractitionerRole/c3d2e1f0-7b6a-4958-8a7b-6c5d4e3f2a01", 4},
	} {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			if s := importString(t, st, readFile(t, c.file)); s.Created != c.creating || s.RefusedTotal() != 0 {
				t.Fatalf("import: %v", s)
			}
			stored := storedDirectory(t, st)
			for key, js := range stored {
				if strings.Contains(js, "urn:uuid:") {
					t.Errorf("%s is stored with a urn:uuid reference: %s", key, js)
				}
			}
			for prefix, wants := range c.refs {
				found := false
				for key, js := range stored {
					if !strings.HasPrefix(key, prefix) {
						continue
					}
					found = true
					for _, want := range wants {
						if !strings.Contains(js, want) {
							t.Errorf("%s lacks %s: %s", key, want, js)
						}
					}
				}
				if !found {
					t.Errorf("nothing stored as %s: %v", prefix, slices.Sorted(mapKeys(stored)))
				}
			}
			if c.nurse == "" {
				return
			}
			got, ex, err := New(st, testCodec).Candidates(context.Background(), Query{Role: Nurse, Place: lillePatient(t)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(got, func(cd Candidate) bool { return cd.Ref == c.nurse }) {
				t.Errorf("%s is not a candidate by her service's Organization's territory: %+v", c.nurse, ex)
			}
		})
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestImportRefusesUnknownURN: a reference to a urn:uuid that no entry of
// the file has as its fullUrl, or to an entry refused, names nothing that
// is stored: the resource making it is refused (and counted by reason),
// the others are stored.
func TestImportRefusesUnknownURN(t *testing.T) {
	t.Parallel()
	ror := readFile(t, "testdata/ror-collection.json")
	const loc = "urn:uuid:c3d2e1f0-7b6a-4958-8a7b-6c5d4e3f2a03"
	for _, c := range []struct {
		name, content, reason string
	}{
		{"a fullUrl no entry has", strings.Replace(ror, `"fullUrl": "`+loc+`"`, `"fullUrl": "urn:uuid:00000000-0000-4000-8000-00000000dead"`, 1),
			"HealthcareService with a reference to a urn:uuid that no entry of the file has as its fullUrl"},
		{"an entry refused", strings.Replace(ror, `"resourceType": "Location",`, `"resourceType": "Location", "status": "closed-for-good",`, 1),
			"HealthcareService with a reference to an entry of the file that was refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.content == ror {
				t.Fatal("the fixture was not changed")
			}
			st := openStore(t)
			s := importString(t, st, c.content)
			if s.Refused[c.reason] != 1 {
				t.Errorf("refusals: %v", s.Refused)
			}
			stored := storedDirectory(t, st)
			if _, ok := stored["HealthcareService/9597"]; ok {
				t.Error("the HealthcareService was stored")
			}
			if _, ok := stored["Organization/4947"]; !ok {
				t.Errorf("the Organization was not stored: %v", s)
			}
		})
	}
}

// TestImportURNAcrossBatches: references by urn:uuid resolve whichever
// batch their target is written in: roles before their Organization, more
// than a batch of them, and one after it.
func TestImportURNAcrossBatches(t *testing.T) {
	t.Parallel()
	const org = "urn:uuid:0d9c8b7a-6f5e-4d3c-8b2a-190817161514"
	role := func(i int) string {
		return fmt.Sprintf(`{"fullUrl":"urn:uuid:0d9c8b7a-6f5e-4d3c-8b2a-%012d","resource":{"resourceType":"PractitionerRole","id":"r%d","active":true,"organization":{"reference":"%s"}}}`, i, i, org)
	}
	var entries []string
	n := ImportBatch + 20
	for i := range n {
		entries = append(entries, role(i))
	}
	entries = append(entries, `{"fullUrl":"`+org+`","resource":{"resourceType":"Organization","id":"ssiad","name":"SSIAD"}}`, role(n))
	s := importString(t, openStore(t), `{"resourceType":"Bundle","type":"transaction","entry":[`+strings.Join(entries, ",")+`]}`)
	if s.Created != n+2 || s.RefusedTotal() != 0 {
		t.Fatalf("import: %v", s)
	}
	st := openStore(t)
	importString(t, st, `{"resourceType":"Bundle","type":"collection","entry":[`+strings.Join(entries, ",")+`]}`)
	for _, i := range []int{0, ImportBatch + 1, n} {
		rec, err := st.Read("PractitionerRole", fmt.Sprintf("r%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(rec.JSON), `"organization":{"reference":"Organization/ssiad"}`) {
			t.Errorf("role %d: %s", i, rec.JSON)
		}
	}
}
