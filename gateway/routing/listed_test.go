package routing_test

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
)

// earlierStays is an Encounters section (LOINC 46240-8) recounting two
// earlier hospitalisations as IHE PCC Encounter entries (templateId
// 1.3.6.1.4.1.19376.1.5.3.1.4.14), as CI-SIS documents and C-CDA CCDs
// list a patient's history.
const earlierStays = `  <component><section>
   <code code="46240-8" codeSystem="2.16.840.1.113883.6.1" displayName="Historique des rencontres"/>
   <title>Hospitalisations antérieures</title><text>Deux hospitalisations</text>
   <entry><encounter classCode="ENC" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.14"/>
    <id root="1.2.250.1.999.42.7" extension="SEJ-2019"/>
    <effectiveTime><low value="20190304"/><high value="20190311"/></effectiveTime></encounter></entry>
   <entry><encounter classCode="ENC" moodCode="EVN"><templateId root="1.3.6.1.4.1.19376.1.5.3.1.4.14"/>
    <id root="1.2.250.1.999.42.7" extension="SEJ-2023"/>
    <effectiveTime><low value="20231102"/><high value="20231109"/></effectiveTime></encounter></entry>
  </section></component>
`

// TestListedEncountersNotRouted: a discharge letter that recounts the
// patient's earlier stays is about one stay, its encompassingEncounter
// (R4 Composition.encounter); the stays it lists in a section are her
// history, finished years ago, not discharges to hand over. Only the
// letter's stay is routed, though she is 80 and each earlier stay, taken
// for a discharge, would fit the older-person pathway.
func TestListedEncountersNotRouted(t *testing.T) {
	doc := ingesttest.Liaison("LDL-H1", 1, "20260305140000+0100", "", false, "I50.0")
	doc = bytes.Replace(doc, []byte(`<birthTime value="19520611"/>`), []byte(`<birthTime value="19450611"/>`), 1)
	doc = bytes.Replace(doc, []byte(" </structuredBody>"), []byte(earlierStays+" </structuredBody>"), 1)
	st, pl, in := routedIngest(t)
	if _, err := in.CDA(context.Background(), doc, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.RouteFinished(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, stay := range []struct {
		identifier string
		routed     bool
	}{
		{"urn:oid:1.2.250.1.999.42.4|SEJ-4242", true}, // the letter's
		{"urn:oid:1.2.250.1.999.42.7|SEJ-2019", false},
		{"urn:oid:1.2.250.1.999.42.7|SEJ-2023", false},
	} {
		encs := searchIDs(t, st, "Encounter", url.Values{"identifier": {stay.identifier}})
		if len(encs) != 1 {
			t.Fatalf("stay %s: Encounters %v", stay.identifier, encs)
		}
		if cps := searchIDs(t, st, "CarePlan", url.Values{"encounter": {"Encounter/" + encs[0]}}); (len(cps) > 0) != stay.routed {
			t.Errorf("stay %s: plans %v, want routed %v", stay.identifier, cps, stay.routed)
		}
	}
}

// searchIDs returns the ids of the resources of typ the search v finds.
func searchIDs(t *testing.T, st *store.Store, typ string, v url.Values) []string {
	t.Helper()
	q, err := search.Parse(typ, v, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return ids
}
