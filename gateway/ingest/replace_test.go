package ingest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// letter is a C-CDA discharge summary (templateId
// 2.16.840.1.113883.10.20.22.1.8) of version ver of the set 7700, with
// document id docID, written at effective, replacing parent (RPLC, CDA R2
// section 4.2.3.1) when not empty, stating the problems given as
// "entry id extension=ICD-10 code".
func letter(docID string, ver int, effective, parent string, problems ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
 <realmCode code="US"/><typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
 <templateId root="2.16.840.1.113883.10.20.22.1.8" extension="2015-08-01"/>
 <id root="1.2.250.1.999.77.1" extension="%s"/>
 <code code="18842-5" codeSystem="2.16.840.1.113883.6.1" displayName="Discharge summary"/>
 <title>Discharge summary</title>
 <effectiveTime value="%s"/>
 <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
 <languageCode code="en-US"/>
 <setId root="1.2.250.1.999.77.2" extension="7700"/>
 <versionNumber value="%d"/>
 <recordTarget><patientRole>
  <id root="1.2.250.1.999.77.3" extension="PAT-51"/>
  <patient><name><given>Mireille</given><family>Ducastel</family></name>
   <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="19410302"/></patient>
 </patientRole></recordTarget>
 <author><time value="%s"/><assignedAuthor><id root="1.2.250.1.999.77.4" extension="DR-9"/>
  <assignedPerson><name><given>Paul</given><family>Lenoir</family></name></assignedPerson></assignedAuthor></author>
 <custodian><assignedCustodian><representedCustodianOrganization><id root="1.2.250.1.999.77.5"/>
  <name>Hôpital de test</name></representedCustodianOrganization></assignedCustodian></custodian>
`, docID, effective, ver, effective)
	if parent != "" {
		fmt.Fprintf(&b, ` <relatedDocument typeCode="RPLC"><parentDocument>
  <id root="1.2.250.1.999.77.1" extension="%s"/>
  <setId root="1.2.250.1.999.77.2" extension="7700"/><versionNumber value="%d"/>
 </parentDocument></relatedDocument>
`, parent, ver-1)
	}
	b.WriteString(` <componentOf><encompassingEncounter><id root="1.2.250.1.999.77.6" extension="STAY-3"/>
  <effectiveTime><low value="20260301"/><high value="20260310"/></effectiveTime>
 </encompassingEncounter></componentOf>
 <component><structuredBody><component><section>
  <templateId root="2.16.840.1.113883.10.20.22.2.5.1"/>
  <code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/><title>Problems</title><text>Problems</text>
`)
	for _, p := range problems {
		id, icd, _ := strings.Cut(p, "=")
		fmt.Fprintf(&b, `  <entry><act classCode="ACT" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.22.4.3"/>
   <id root="1.2.250.1.999.77.7" extension="C-%[1]s"/><code code="CONC" codeSystem="2.16.840.1.113883.5.6"/>
   <statusCode code="active"/>
   <entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">
    <templateId root="2.16.840.1.113883.10.20.22.4.4"/>
    <id root="1.2.250.1.999.77.8" extension="%[1]s"/>
    <code code="55607006" codeSystem="2.16.840.1.113883.6.96"/><statusCode code="completed"/>
    <effectiveTime><low value="20260301"/></effectiveTime>
    <value xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CD" code="%[2]s" codeSystem="2.16.840.1.113883.6.90"/>
   </observation></entryRelationship></act></entry>
`, id, icd)
	}
	b.WriteString(`</section></component></structuredBody></component>
</ClinicalDocument>
`)
	return []byte(b.String())
}

// conditions lists the patient's Conditions as "code:clinical/verification".
func conditions(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	q, err := search.Parse("Condition", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hits {
		rec, err := st.Read("Condition", h.ID)
		if err != nil {
			t.Fatal(err)
		}
		js := string(rec.JSON)
		code := ""
		for _, c := range []string{"I50.9", "N18.3", "E11.9"} {
			if strings.Contains(js, `"`+c+`"`) {
				code = c
			}
		}
		state := between(js, `"clinicalStatus":{"coding":[{`, `}`)
		state = between(state+`"`, `"code":"`, `"`)
		ver := between(js, `"verificationStatus":{"coding":[{`, `}`)
		ver = between(ver+`"`, `"code":"`, `"`)
		out[code] = state + "/" + ver
	}
	return out
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}

// documentStatus is the status of each DocumentReference, by masterIdentifier.
func documentStatus(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	q, err := search.Parse("DocumentReference", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hits {
		rec, err := st.Read("DocumentReference", h.ID)
		if err != nil {
			t.Fatal(err)
		}
		js := string(rec.JSON)
		out[between(js, `"masterIdentifier":{`, `}`)] = between(js, `"status":"`, `"`)
	}
	return out
}

// TestReplacedLetter: a hospital corrects a discharge summary by sending a
// new version (same setId, versionNumber + 1, relatedDocument RPLC naming
// the first version's id). The diagnosis only the first version stated is
// withdrawn (verificationStatus entered-in-error, no clinicalStatus: R4
// con-5), the one both state stays active, the first version's
// DocumentReference is superseded; and whatever order the versions come
// in, or if the first is sent again, the first version's statements never
// come back.
func TestReplacedLetter(t *testing.T) {
	t.Parallel()
	v1 := letter("DOC-1", 1, "20260310120000+0100", "", "P1=I50.9", "P2=N18.3")
	v2 := letter("DOC-2", 2, "20260311090000+0100", "DOC-1", "P1=I50.9")
	want := map[string]string{"I50.9": "active/", "N18.3": "/entered-in-error"}
	for _, order := range [][]string{{"v1", "v2"}, {"v2", "v1"}, {"v1", "v2", "v1"}, {"v1", "v2", "v1", "v2"}} {
		t.Run(strings.Join(order, "-"), func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			for _, name := range order {
				doc := map[string][]byte{"v1": v1, "v2": v2}[name]
				if _, err := in.CDA(context.Background(), doc, nil); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			got := conditions(t, st)
			for code, w := range want {
				if got[code] != w {
					t.Errorf("Condition %s is %q, want %q (clinical/verification)", code, got[code], w)
				}
			}
			docs := documentStatus(t, st)
			var v1Status, v2Status string
			for ident, s := range docs {
				switch {
				case strings.Contains(ident, "DOC-1"):
					v1Status = s
				case strings.Contains(ident, "DOC-2"):
					v2Status = s
				}
			}
			if v2Status != "current" || v1Status != "superseded" {
				t.Errorf("DocumentReferences: version 2 %q, version 1 %q; want current and superseded (%v)", v2Status, v1Status, docs)
			}
			q, err := search.Parse("Composition", url.Values{}, true)
			if err != nil {
				t.Fatal(err)
			}
			comps, err := st.Search(q, nil)
			if err != nil || len(comps) != 1 {
				t.Fatalf("Compositions of the set: %d, %v", len(comps), err)
			}
			rec, err := st.Read("Composition", comps[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(rec.JSON), `composition-clinicaldocument-versionNumber","valueString":"2"`) {
				t.Errorf("the set's Composition is not version 2's: %s", rec.JSON)
			}
			if os.Getenv("RELAIS_VALIDATE") != "" {
				dir := t.TempDir()
				for _, typ := range []string{"Condition", "DocumentReference", "Composition", "Provenance"} {
					q, _ := search.Parse(typ, url.Values{}, true)
					hits, err := st.Search(q, nil)
					if err != nil {
						t.Fatal(err)
					}
					for _, h := range hits {
						rec, err := st.Read(typ, h.ID)
						if err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(filepath.Join(dir, typ+"-"+h.ID+".json"), rec.JSON, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				fhirtest.RunValidator(t, dir)
			}
		})
	}
}
