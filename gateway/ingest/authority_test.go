package ingest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
)

func mustQuery(t *testing.T, typ, raw string) *search.Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(typ, v, true)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestEstablishmentAuthority: in France an assigning authority named by
// its FINESS-EJ number (HD universal ID type M; IHE ITI Appendix N France,
// as in the PAM France examples 1900068^^^&350000121&M^PI) gives its
// patient numbers a system, so that two applications of the
// establishment (another MSH-3 and MSH-4) sending the same number are
// about one Patient, and a visit number so named links the stay.
func TestEstablishmentAuthority(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	msg := func(app, control string) []byte {
		return []byte("MSH|^~\\&|" + app + "|" + app + "-FAC|RELAIS|RELAIS|20260305090000+0100||ADT^A01^ADT_A01|" + control + "|P|2.5\r" +
			"EVN||20260305090000+0100\r" +
			"PID|1||1900068^^^&350000121&M^PI||DARK^JEANNE^^^^^L||19600530|F\r" +
			"PV1|1|I|CARD^210^1||||||||||||||||000897406^^^AUT-AFFECTATION&350000121&M^VN\r")
	}
	send(t, in, msg("GAM", "M1"))
	send(t, in, msg("URGENCES", "M2"))
	system := "https://relais-health.github.io/fhir/sid/finess-ej/350000121"
	p, err := st.ClaimOwner("Patient", system, "1900068")
	if err != nil || p == "" {
		t.Fatalf("the patient number is not claimed under %s: %q %v", system, p, err)
	}
	n := 0
	for _, typ := range []string{"Patient", "Encounter"} {
		hits, err := st.Search(mustQuery(t, typ, "identifier="+system+"|"+map[string]string{"Patient": "1900068", "Encounter": "000897406"}[typ]), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 {
			t.Errorf("%d %s for one number sent by two applications", len(hits), typ)
		}
		n += len(hits)
	}
	if n == 0 {
		t.Fatal("nothing found")
	}
	rec, err := st.Read("Patient", p)
	if err != nil || !strings.Contains(string(rec.JSON), system) {
		t.Errorf("Patient/%s: %v %s", p, err, rec.JSON)
	}
}
