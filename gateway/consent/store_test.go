package consent

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// openStore opens a store in a temporary directory, checked for integrity
// when the test ends.
func openStore(tb testing.TB) *store.Store {
	tb.Helper()
	st, err := store.Open(filepath.Join(tb.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := st.Check(); err != nil {
			tb.Errorf("integrity: %v", err)
		}
		st.Close()
	})
	return st
}

func put(tb testing.TB, st *store.Store, js string) {
	tb.Helper()
	m, err := testCodec.Decode([]byte(js))
	if err != nil {
		tb.Fatalf("decode: %v\n%s", err, js)
	}
	if _, _, err := st.Update(context.Background(), m, 0); err != nil {
		tb.Fatalf("store: %v", err)
	}
}

// storeWorld stores the directory and care team of world() (a subset) and
// Observations of Patient/p1.
func storeWorld(tb testing.TB, st *store.Store, observations int) {
	tb.Helper()
	role := func(id, prac, org, system, code string, active bool) string {
		orgRef := ""
		if org != "" {
			orgRef = `,"organization":{"reference":"Organization/` + org + `"}`
		}
		return fmt.Sprintf(`{"resourceType":"PractitionerRole","id":%q,"active":%v,"practitioner":{"reference":"Practitioner/%s"}%s,
			"code":[{"coding":[{"system":%q,"code":%q}]}]}`, id, active, prac, orgRef, system, code)
	}
	for _, js := range []string{
		`{"resourceType":"Organization","id":"cab","active":true,"identifier":[{"system":"https://finess.esante.gouv.fr","value":"590000002"}]}`,
		`{"resourceType":"Organization","id":"be-clinic","active":true,"identifier":[{"system":"https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/nihdi","value":"71000000"}]}`,
		`{"resourceType":"Practitioner","id":"gp","identifier":[{"system":"https://rpps.esante.gouv.fr","value":"10000000001"}]}`,
		`{"resourceType":"Practitioner","id":"nurse"}`, `{"resourceType":"Practitioner","id":"sw"}`,
		`{"resourceType":"Practitioner","id":"physio"}`, `{"resourceType":"Practitioner","id":"be"}`,
		role("gp-role", "gp", "cab", "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "10", true),
		role("nurse-role", "nurse", "", "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "60", true),
		role("sw-role", "sw", "", "https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial", "SW", true),
		role("physio-role", "physio", "", "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "70", true),
		role("be-role", "be", "be-clinic", "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "10", true),
		`{"resourceType":"Patient","id":"p1","generalPractitioner":[{"reference":"Practitioner/gp"}]}`,
		`{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},
			"participant":[{"member":{"reference":"PractitionerRole/nurse-role"}},{"member":{"reference":"PractitionerRole/sw-role"}},
			{"member":{"reference":"PractitionerRole/be-role"}}]}`,
		`{"resourceType":"CareTeam","id":"ct0","status":"inactive","subject":{"reference":"Patient/p1"},
			"participant":[{"member":{"reference":"PractitionerRole/physio-role"}}]}`,
		`{"resourceType":"CareTeam","id":"ct-ended","status":"active","subject":{"reference":"Patient/p1"},"period":{"end":"2025-01-01"},
			"participant":[{"member":{"reference":"PractitionerRole/physio-role"}}]}`,
	} {
		put(tb, st, js)
	}
	for i := 0; i < observations; i++ {
		sec := ""
		if i%5 == 0 {
			sec = `,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}`
		}
		put(tb, st, fmt.Sprintf(`{"resourceType":"Observation","id":"o%d"%s,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},
			"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2025-06-01"}`, i, sec))
	}
}

func storeEngine(tb testing.TB, st *store.Store, rec Recorder) *Engine {
	tb.Helper()
	now := func() time.Time { return testNow }
	src := NewStoreSource(st, testCodec, now)
	e, err := New(Config{Directory: src, CareTeams: src, Consents: src, HashKey: []byte("k"), Now: now,
		Recorder: rec, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestStoreSource(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 0)
	src := NewStoreSource(st, testCodec, func() time.Time { return testNow })
	ctx := context.Background()
	a, err := src.Actor(ctx, "PractitionerRole/gp-role")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Known || !a.Active || !slices.Contains(a.Roles, g15GP) ||
		!slices.Contains(a.Belongs, "Practitioner/gp") || !slices.Contains(a.Belongs, "Organization/cab") ||
		!slices.Contains(a.Identifiers, "https://rpps.esante.gouv.fr|10000000001") {
		t.Errorf("gp-role = %+v", a)
	}
	p, err := src.Actor(ctx, "Practitioner/nurse")
	if err != nil || !p.Known || !p.Active || !slices.Contains(p.Roles, g15Nurse) {
		t.Errorf("Practitioner/nurse = %+v, %v", p, err)
	}
	if g, _ := src.Actor(ctx, "PractitionerRole/ghost"); g.Known {
		t.Errorf("ghost is known: %+v", g)
	}
	circle, err := src.Circle(ctx, "Patient/p1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(circle.GeneralPractitioners, []string{"Practitioner/gp"}) || len(circle.Teams) != 1 ||
		circle.Teams[0].Ref != "CareTeam/ct1" || len(circle.Teams[0].Members) != 3 {
		t.Errorf("circle = %+v (want only the active, current ct1)", circle)
	}
}

func TestStoreBaseDecisions(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 0)
	e := storeEngine(t, st, nil)
	for _, tc := range []struct {
		actor, policy string
		permit        bool
	}{
		{"PractitionerRole/gp-role", PolicyCareTeam, true},
		{"PractitionerRole/nurse-role", PolicyCareTeam, true},
		{"Practitioner/nurse", PolicyCareTeam, true},
		{"PractitionerRole/sw-role", PolicyNonHealth, false},
		{"PractitionerRole/physio-role", PolicyOutsideTeam, false},
		{"PractitionerRole/be-role", PolicyCrossBorder, false},
		{"Organization/cab", PolicyUnclassified, false},
	} {
		d, err := e.Decide(context.Background(), Request{Patient: "Patient/p1", Actor: tc.actor, Resource: obs})
		if err != nil {
			t.Fatal(err)
		}
		if d.Permit != tc.permit || d.Policy != tc.policy {
			t.Errorf("%s: permit %v policy %q, want %v %q", tc.actor, d.Permit, d.Policy, tc.permit, tc.policy)
		}
	}
}

// TestRevocationLoop grants and revokes a permit in a loop, deciding right
// after each write returns, while other goroutines keep deciding (and
// refilling the cache, and committing their decision records, which do not
// move the store's generation): not one decision may be stale.
func TestRevocationLoop(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 0)
	e := storeEngine(t, st, NewLog(st))
	ctx := context.Background()
	req := Request{Patient: "Patient/p1", Actor: "PractitionerRole/sw-role", Resource: task}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					e.Decide(ctx, req)
				}
			}
		}()
	}
	var stale atomic.Int64
	const rounds = 150
	for i := 0; i < rounds; i++ {
		put(t, st, consentJSON("optin-sw", "active", "OPTIN", actor("PractitionerRole/sw-role")))
		if d, err := e.Decide(ctx, req); err != nil || !d.Permit {
			t.Fatalf("round %d: granted permit not seen: %+v %v", i, d, err)
		}
		revoke(t, st, i)
		if d, err := e.Decide(ctx, req); err != nil || d.Permit {
			stale.Add(1)
		}
	}
	close(stop)
	wg.Wait()
	if n := stale.Load(); n != 0 {
		t.Errorf("%d stale permits in %d revocations", n, rounds)
	}
}

// revoke withdraws the permit three ways in turn: status inactive, deletion,
// and moving the Consent to another patient (entered-in-error then fixed).
func revoke(t *testing.T, st *store.Store, i int) {
	t.Helper()
	switch i % 3 {
	case 0:
		put(t, st, consentJSON("optin-sw", "inactive", "OPTIN", actor("PractitionerRole/sw-role")))
	case 1:
		if _, err := st.Delete(context.Background(), "Consent", "optin-sw", 0); err != nil {
			t.Fatal(err)
		}
	default:
		js := consentJSON("optin-sw", "active", "OPTIN", actor("PractitionerRole/sw-role"))
		put(t, st, replaceOnce(js, "Patient/p1", "Patient/p2"))
	}
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

func TestFilterSearch(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 50) // 10 of them PSY
	e := storeEngine(t, st, nil)
	q := &search.Query{Type: "Observation"}
	count := func(actor string) int {
		f := e.NewFilter(context.Background(), Request{Actor: actor})
		hits, err := st.Search(q, f.Allow)
		if err != nil || f.Err() != nil {
			t.Fatal(err, f.Err())
		}
		return len(hits)
	}
	if n := count("PractitionerRole/nurse-role"); n != 40 {
		t.Errorf("nurse sees %d Observations, want 40 (PSY withheld)", n)
	}
	if n := count("PractitionerRole/sw-role"); n != 0 {
		t.Errorf("social worker sees %d, want 0", n)
	}
	put(t, st, consentJSON("c1", "active", "OPTIN", actor("PractitionerRole/sw-role")+","+catClass("CLIN")))
	if n := count("PractitionerRole/sw-role"); n != 40 {
		t.Errorf("social worker with CLIN opt-in sees %d, want 40", n)
	}
	put(t, st, consentJSON("c2", "active", "OPTOUT", `"dataPeriod":{"start":"2025-06-01","end":"2025-06-01"}`))
	if n := count("PractitionerRole/sw-role"); n != 0 {
		t.Errorf("after objection to June 2025 data, social worker sees %d, want 0", n)
	}
	sys := e.NewFilter(context.Background(), Request{System: true})
	if hits, _ := st.Search(q, sys.Allow); len(hits) != 50 {
		t.Errorf("system sees %d, want 50", len(hits))
	}
	f := e.NewFilter(context.Background(), Request{Actor: "PractitionerRole/physio-role"})
	if hits, _ := st.Search(&search.Query{Type: "PractitionerRole"}, f.Allow); len(hits) != 5 {
		t.Errorf("directory search sees %d PractitionerRoles, want 5", len(hits))
	}
	found, visible, err := f.Visible(st, "Observation", "o1")
	if err != nil || !found || visible {
		t.Errorf("physio read Observation/o1: found %v visible %v err %v, want found and hidden", found, visible, err)
	}
}

// TestFilterSearchAgreesPerResource: a filter reused over a search of many
// stored resources (its verdict cache and leading-value memos warm) hides
// exactly what a fresh filter per resource hides, for two patients whose
// Observations come in runs of one patient and one of four label sets, for actors inside and outside
// the care team, with Consents that read only labels and one that reads
// dates (which disables the memos for its patient).
func TestFilterSearchAgreesPerResource(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 0)
	put(t, st, `{"resourceType":"Patient","id":"p2","generalPractitioner":[{"reference":"Practitioner/gp"}]}`)
	put(t, st, `{"resourceType":"CareTeam","id":"ct2","status":"active","subject":{"reference":"Patient/p2"},
		"participant":[{"member":{"reference":"PractitionerRole/sw-role"}}]}`)
	labels := []string{"",
		`,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"}]}`,
		`,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH"}]}`,
		`,"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"PSY"},{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"ETH"}]}`}
	for i := 0; i < 90; i++ {
		patient, label := 1+(i/15)%2, labels[(i/3)%4]
		if patient == 2 { // runs that cross the ends of c3's dataPeriod
			label = labels[(i/7)%2]
		}
		put(t, st, fmt.Sprintf(`{"resourceType":"Observation","id":"o%02d"%s,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1234-5"}]},
			"subject":{"reference":"Patient/p%d"},"effectiveDateTime":"2025-06-%02d"}`, i, label, patient, 1+i%28))
	}
	put(t, st, consentJSON("c1", "active", "OPTIN", actor("PractitionerRole/sw-role")+","+catClass("CLIN")))
	put(t, st, consentJSON("c2", "active", "OPTOUT", actor("PractitionerRole/nurse-role")+","+label("http://terminology.hl7.org/CodeSystem/v3-ActCode", "ETH")))
	put(t, st, strings.Replace(consentJSON("c3", "active", "OPTOUT", `"dataPeriod":{"start":"2025-06-10","end":"2025-06-20"}`), "Patient/p1", "Patient/p2", 1))
	e := storeEngine(t, st, nil)
	for _, q := range []*search.Query{{Type: "Observation"}, {Type: "Observation", IDs: []string{"o00", "o19", "o20", "o24", "o41", "o77"}}} {
		for _, actor := range []string{"PractitionerRole/nurse-role", "PractitionerRole/sw-role", "PractitionerRole/physio-role",
			"PractitionerRole/gp-role", "PractitionerRole/be-role", "Practitioner/gp"} {
			f := e.NewFilter(context.Background(), Request{Actor: actor})
			hits, err := st.Search(q, f.Allow)
			if err != nil || f.Err() != nil {
				t.Fatal(err, f.Err())
			}
			got := map[string]bool{}
			for _, h := range hits {
				got[h.ID] = true
			}
			all, _ := st.Search(q, nil)
			shown := 0
			for _, h := range all {
				_, want, err := e.NewFilter(context.Background(), Request{Actor: actor}).Visible(st, "Observation", h.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got[h.ID] != want {
					t.Errorf("%s, %s: reused filter shows %v, a fresh one %v", actor, h.ID, got[h.ID], want)
				}
				if want {
					shown++
				}
			}
			if q.IDs == nil && (shown == 0 || shown == len(all)) && actor != "PractitionerRole/physio-role" && actor != "PractitionerRole/be-role" {
				t.Errorf("%s sees %d of %d: the test decides nothing", actor, shown, len(all))
			}
		}
	}
}

// TestLinkedConsents: the Consents of a Patient linked to the one asked
// about (a merge's replaces/replaced-by) come with hers, from both sides,
// and the stamp changes when one of them does.
func TestLinkedConsents(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	src := NewStoreSource(st, testCodec, nil)
	ctx := context.Background()
	consentOf := func(id, patient, version string) string {
		return `{"resourceType":"Consent","id":"` + id + `","status":"active","scope":{"text":"` + version + `"},"category":[{"text":"x"}],
			"patient":{"reference":"` + patient + `"},"policyRule":{"text":"x"}}`
	}
	put(t, st, `{"resourceType":"Patient","id":"survivor","link":[{"other":{"reference":"Patient/prior"},"type":"replaces"}]}`)
	put(t, st, `{"resourceType":"Patient","id":"prior","active":false,"link":[{"other":{"reference":"Patient/survivor"},"type":"replaced-by"}]}`)
	put(t, st, `{"resourceType":"Patient","id":"other"}`)
	put(t, st, consentOf("c-survivor", "Patient/survivor", "1"))
	put(t, st, consentOf("c-prior", "Patient/prior", "1"))
	put(t, st, consentOf("c-other", "Patient/other", "1"))
	for patient, want := range map[string][]string{
		"Patient/survivor": {"c-prior", "c-survivor"},
		"Patient/prior":    {"c-prior", "c-survivor"},
		"Patient/other":    {"c-other"},
	} {
		list, patients, _, err := src.Consents(ctx, patient)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.GetId().GetValue())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || patients[0] != patient {
			t.Errorf("%s: Consents %v of %v, want %v", patient, got, patients, want)
		}
	}
	before, err := src.Stamp(ctx, "Patient/survivor")
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, consentOf("c-prior", "Patient/prior", "2"))
	after, err := src.Stamp(ctx, "Patient/survivor")
	if err != nil {
		t.Fatal(err)
	}
	if before == after {
		t.Errorf("the survivor's stamp %q did not change with the prior patient's Consent", after)
	}
	if _, _, stamp, _ := src.Consents(ctx, "Patient/survivor"); stamp != after {
		t.Errorf("Consents stamp %q, Stamp %q", stamp, after)
	}
}
