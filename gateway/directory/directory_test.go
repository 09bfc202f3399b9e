package directory

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/identity"
)

func importFile(t *testing.T, d *Directory, path string) Summary {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Import(context.Background(), d.st, testCodec, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportIdempotent(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	s := importFile(t, d, "testdata/directory.json")
	if s.Created != 15 || s.Updated != 0 || s.Unchanged != 0 || s.RefusedTotal() != 2 {
		t.Fatalf("first import: %v", s)
	}
	if s.Refused["resource type not part of a directory: Patient"] != 1 || s.Refused["Location without id or identifier"] != 1 {
		t.Errorf("refusals: %v", s.Refused)
	}
	// The same directory as NDJSON: nothing changes.
	s = importFile(t, d, "testdata/directory.ndjson")
	if s.Created != 0 || s.Updated != 0 || s.Unchanged != 15 {
		t.Fatalf("second import: %v", s)
	}
	// An id derived from the FINESS identifier.
	if _, err := st.Read("Organization", "finess-690000002"); err != nil {
		t.Error(err)
	}
	// A changed resource is an update.
	nd := `{"resourceType":"HealthcareService","id":"aide-paris","active":false}` + "\n"
	s, err := Import(context.Background(), st, testCodec, strings.NewReader(nd), nil)
	if err != nil || s.Updated != 1 {
		t.Errorf("update: %v, %v", s, err)
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	importFile(t, d, "testdata/directory.json")
	c := communes(t)
	lyon1 := c.PlaceOf(patient(t, `{"postalCode":"69001","city":"Lyon"}`))
	tournai := c.PlaceOf(patient(t, `{"postalCode":"7500","city":"Tournai","country":"BE"}`))
	villeurbanne := c.PlaceOf(patient(t, `{"postalCode":"69100","city":"Villeurbanne"}`))
	grenoble := c.PlaceOf(patient(t, `{"postalCode":"38000","city":"Grenoble"}`))
	monday := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	sunday := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	holiday := time.Date(2026, 8, 10, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		q       Query
		want    []string
		skipped map[string]string // ref -> part of the reason
	}{
		{"home help by commune, then région; Paris out of territory; inactive skipped",
			Query{Role: HomeHelp, Place: lyon1}, []string{"HealthcareService/aide-lyon"},
			map[string]string{"HealthcareService/aide-paris": "out of territory", "HealthcareService/aide-tournai": "out of territory", "HealthcareService/aide-closed": "inactive"}},
		{"Villeurbanne: the Lyon service by the région of its providing organization",
			Query{Role: HomeHelp, Place: villeurbanne}, []string{"HealthcareService/aide-lyon"}, nil},
		{"belgian postal code", Query{Role: HomeHelp, Place: tournai}, []string{"HealthcareService/aide-tournai"}, nil},
		{"nurse by département through the organization", Query{Role: Nurse, Place: villeurbanne},
			[]string{"PractitionerRole/nurse-en-rhone", "PractitionerRole/nurse-fr-rhone"}, nil},
		{"nurse speaking French", Query{Role: Nurse, Place: villeurbanne, Languages: []string{"fr"}},
			[]string{"PractitionerRole/nurse-fr-rhone"}, map[string]string{"PractitionerRole/nurse-en-rhone": "speaks en"}},
		{"nurse out of département", Query{Role: Nurse, Place: grenoble}, nil,
			map[string]string{"PractitionerRole/nurse-fr-rhone": "out of territory: covers d:69"}},
		{"gp by arrondissement's commune code", Query{Role: GP, Place: c.PlaceOf(patient(t, `{"postalCode":"69004","city":"Lyon 4e Arrondissement"}`)), At: monday},
			[]string{"PractitionerRole/gp-croix-rousse"}, nil},
		{"gp closed on Sunday", Query{Role: GP, Place: c.PlaceOf(patient(t, `{"postalCode":"69004","city":"Lyon 4e Arrondissement"}`)), At: sunday},
			nil, map[string]string{"PractitionerRole/gp-croix-rousse": "outside its availableTime"}},
		{"gp on holiday", Query{Role: GP, Place: c.PlaceOf(patient(t, `{"postalCode":"69004","city":"Lyon 4e Arrondissement"}`)), At: holiday},
			nil, map[string]string{"PractitionerRole/gp-croix-rousse": "notAvailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ex, err := d.Candidates(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var refs []string
			for _, c := range got {
				refs = append(refs, c.Ref)
			}
			if !slices.Equal(refs, tt.want) {
				t.Errorf("candidates %v, want %v (explanation %+v)", refs, tt.want, ex)
			}
			if len(ex.Kept) != len(got) {
				t.Errorf("%d kept reasons for %d candidates", len(ex.Kept), len(got))
			}
			for ref, why := range tt.skipped {
				i := slices.IndexFunc(ex.Skipped, func(r Reason) bool { return r.Ref == ref })
				if i < 0 || !strings.Contains(ex.Skipped[i].Why, why) {
					t.Errorf("%s not skipped for %q: %+v", ref, why, ex.Skipped)
				}
			}
		})
	}
}

// The commune match ranks before the région match, and the index follows
// the store's changes.
func TestCandidatesRankAndRefresh(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	importFile(t, d, "testdata/directory.json")
	add := `{"resourceType":"HealthcareService","id":"aaa-region","active":true,"providedBy":{"reference":"Organization/aura-help"},"type":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge","code":"372"}]}]}` + "\n"
	x1, err := d.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), st, testCodec, bytes.NewReader([]byte(add)), nil); err != nil {
		t.Fatal(err)
	}
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"69001","city":"Lyon"}`))
	got, _, err := d.Candidates(context.Background(), Query{Role: HomeHelp, Place: place})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Ref != "HealthcareService/aide-lyon" || got[1].Ref != "HealthcareService/aaa-region" || got[1].Match.Level != LevelRegion {
		t.Errorf("candidates %+v", got)
	}
	x2, _ := d.Index(context.Background())
	if x1 == x2 || x2.Generation() == x1.Generation() {
		t.Error("index not rebuilt after a write")
	}
	if x3, _ := d.Index(context.Background()); x3 != x2 {
		t.Error("index rebuilt without a write")
	}
}

// TestIndexReadsWhatChangedUnreferenced: a Practitioner written while no
// role refers to it (every HL7 v2 message writes some) leaves the index as
// it is and is not decoded then; once a role refers to it, the index reads
// it as it stands: its last version's languages decide.
func TestIndexReadsWhatChangedUnreferenced(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	ctx := context.Background()
	importFile(t, d, "testdata/directory.json")
	put := func(ndjson string) { importLine(t, st, ndjson) }
	x1, err := d.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	practitioner := func(lang string) string {
		return `{"resourceType":"Practitioner","id":"nurse-de","name":[{"family":"Weber"}],"communication":[{"coding":[{"system":"urn:ietf:bcp:47","code":"` + lang + `"}]}]}`
	}
	put(practitioner("fr"))
	if x2, err := d.Index(ctx); err != nil || x2.Generation() == x1.Generation() {
		t.Fatalf("index after an unreferenced Practitioner: %v (generation unchanged)", err)
	}
	put(practitioner("de"))
	if _, err := d.Index(ctx); err != nil {
		t.Fatal(err)
	}
	put(`{"resourceType":"PractitionerRole","id":"nurse-de-rhone","active":true,"practitioner":{"reference":"Practitioner/nurse-de"},"organization":{"reference":"Organization/ssiad-rhone"},"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}]}`)
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"69001","city":"Lyon"}`))
	has := func(langs ...string) bool {
		got, _, err := d.Candidates(ctx, Query{Role: Nurse, Place: place, Languages: langs})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(got, func(c Candidate) bool { return c.Ref == "PractitionerRole/nurse-de-rhone" })
	}
	if !has("de") || has("fr") {
		t.Errorf("the new role's languages are not its Practitioner's last version's: German %v, French %v", has("de"), has("fr"))
	}
}

// TestImportClaims: an imported Practitioner holds its RPPS (and an
// Organization its FINESS) so that a feed naming her later links to her
// (gateway/identity); one already held by another resource stays its
// holder's, and the import goes on.
func TestImportClaims(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	nd := `{"resourceType":"Practitioner","id":"gp-martin","identifier":[{"system":"` + identity.IDNPS + `","value":"810001234567"}]}
{"resourceType":"Organization","id":"ssiad-nord","identifier":[{"system":"` + identity.FINESS + `","value":"590000001"}]}
{"resourceType":"Practitioner","id":"gp-martin-again","identifier":[{"system":"` + identity.RPPS + `","value":"10001234567"}]}
`
	s, err := Import(context.Background(), st, testCodec, strings.NewReader(nd), nil)
	if err != nil || s.Created != 3 {
		t.Fatalf("import: %v %v", s, err)
	}
	for _, c := range []struct{ typ, system, value, want string }{
		{"Practitioner", identity.IDNPS, "810001234567", "gp-martin"},
		{"Practitioner", identity.RPPS, "10001234567", "gp-martin"}, // the RPPS inside her IDNPS
		{"Organization", identity.FINESS, "590000001", "ssiad-nord"},
	} {
		if owner, err := st.ClaimOwner(c.typ, c.system, c.value); err != nil || owner != c.want {
			t.Errorf("%s %s|%s held by %q (%v), want %s", c.typ, c.system, c.value, owner, err, c.want)
		}
	}
}

// TestIndexFollowsQualification: a role that the Practitioner's
// qualifications give (RolesOf) follows every change of that Practitioner:
// written after the role, changed while referred to, or changed while no
// role referred to it yet.
func TestIndexFollowsQualification(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	ctx := context.Background()
	importFile(t, d, "testdata/directory.json")
	put := func(ndjson string) { importLine(t, st, ndjson) }
	practitioner := func(id, profession string) string {
		return `{"resourceType":"Practitioner","id":"` + id + `","qualification":[{"code":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"` + profession + `"}]}}]}`
	}
	role := func(id, practitioner string) string {
		return `{"resourceType":"PractitionerRole","id":"` + id + `","practitioner":{"reference":"Practitioner/` + practitioner + `"},"organization":{"reference":"Organization/ssiad-rhone"},` +
			`"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction","code":"FON-AU"}]}]}`
	}
	place := communes(t).PlaceOf(patient(t, `{"postalCode":"69001","city":"Lyon"}`))
	has := func(r Role, ref string) bool {
		t.Helper()
		got, _, err := d.Candidates(ctx, Query{Role: r, Place: place})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(got, func(c Candidate) bool { return c.Ref == ref })
	}
	// The role first, its Practitioner after.
	put(role("annu-1", "p-annu-1"))
	if has(Nurse, "PractitionerRole/annu-1") {
		t.Fatal("a nurse without a Practitioner saying so")
	}
	put(practitioner("p-annu-1", "60"))
	if !has(Nurse, "PractitionerRole/annu-1") {
		t.Error("the Practitioner written after its role: not a nurse")
	}
	put(practitioner("p-annu-1", "70"))
	if has(Nurse, "PractitionerRole/annu-1") || !has(Physiotherapist, "PractitionerRole/annu-1") {
		t.Error("the Practitioner's new profession is not read")
	}
	// The Practitioner first, changed while no role refers to it.
	put(practitioner("p-annu-2", "60"))
	if _, err := d.Index(ctx); err != nil {
		t.Fatal(err)
	}
	put(practitioner("p-annu-2", "70"))
	if _, err := d.Index(ctx); err != nil {
		t.Fatal(err)
	}
	put(role("annu-2", "p-annu-2"))
	if has(Nurse, "PractitionerRole/annu-2") || !has(Physiotherapist, "PractitionerRole/annu-2") {
		t.Error("the role does not read its Practitioner's last version")
	}
}
