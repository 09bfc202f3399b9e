package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/relais-health/relais/gateway/demo"
)

// The demo patient's test INS (ANS test range, urn:oid:1.2.250.1.213.1.4.10),
// as the CI-SIS discharge letter fixture carries it.
const (
	insSystem = "urn:oid:1.2.250.1.213.1.4.10"
	insValue  = "248067512345678"
)

// a01 is an admission of Louise MARTIN by sender app, with her INS and
// PID-32 status (VALI: qualified; PROV: provisional), and the sender's own
// patient number ipp.
func a01(app, ctl, ipp, status string) string {
	pid := "PID|1||" + insValue + "^^^INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS~" + ipp + "^^^" + app + "&1.2.250.1.999." + app + "&ISO^PI||MARTIN^LOUISE^^^^^L||19480612|F" +
		strings.Repeat("|", 24) + status
	return "MSH|^~\\&|" + app + "|CHU|RELAIS|RELAIS|20260305100000||ADT^A01^ADT_A01|" + ctl + "|P|2.5\r" +
		"EVN|A01|20260305100000\r" + pid + "\rPV1|1|I|||||||||||||||||V-" + ctl + "\r"
}

func aggir(system, value, family string) string {
	return `{"type": "aggir", "date": "2026-03-01",
 "patient": {"identifier": {"system": "` + system + `", "value": "` + value + `"}, "family": "` + family + `", "given": "Louise", "birthDate": "1948-06-12", "gender": "female"},
 "assessor": {"identifier": {"system": "https://rpps.esante.gouv.fr", "value": "10101010101"}, "family": "DURAND", "given": "Claire"},
 "variables": {"coherence": "B", "orientation": "A", "toilette": "C", "habillage": "B", "alimentation": "A",
               "elimination": "B", "transferts": "B", "deplacement_interieur": "A", "deplacement_exterieur": "C", "alerter": "A",
               "gestion": "B", "cuisine": "C", "menage": "C", "transports": "C", "achats": "C", "suivi_traitement": "B", "activites_temps_libre": "B"}}`
}

// patientsWith lists the ids of the Patients holding identifier sys|val.
func (e *env) patientsWith(sys, val string) []string {
	e.t.Helper()
	r := e.do("GET", "/fhir/Patient?identifier="+sys+"|"+val, "")
	if r.status != 200 {
		e.t.Fatalf("search: %d %s", r.status, r.body)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, en := range b.Entry {
		ids = append(ids, en.Resource.ID)
	}
	return ids
}

func (e *env) ingest(path, ct, body string) resp {
	e.t.Helper()
	r := e.do("POST", path, body, "Content-Type", ct)
	if r.status != 200 || (ct == hl7ct && !strings.HasPrefix(msa(e.t, r), "AA")) {
		e.t.Fatalf("%s: %d %s", path, r.status, r.body)
	}
	return r
}

const hl7ct = "x-application/hl7-v2+er7"

// TestOnePatientAcrossSources: an admission with a qualified INS, a CI-SIS
// discharge letter, an AGGIR grid and an Observation naming her by
// identifier end as one Patient; an INS stated provisional does not link,
// and neither does a namesake with no identifier in common: both are
// listed for review.
func TestOnePatientAcrossSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.ingest("/ingest/hl7v2", hl7ct, a01("HIS", "A01-1", "IPP-1", "VALI"))
	found := e.patientsWith(insSystem, insValue)
	if len(found) != 1 {
		t.Fatalf("after the admission: %v", found)
	}
	her := found[0]
	e.ingest("/ingest/cda", "application/hl7-cda+xml", fixture(t, "cisis-ldl-ses.xml"))
	e.ingest("/ingest/assessment", "application/json", aggir(insSystem, insValue, "MARTIN"))
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"poids"},
		"subject":{"type":"Patient","identifier":{"system":"` + insSystem + `","value":"` + insValue + `"}},
		"valueQuantity":{"value":61,"unit":"kg"}}`
	r := e.do("POST", "/fhir/Observation", obs, "Content-Type", "application/fhir+json", "Prefer", "return=representation")
	if r.status != 201 || !strings.Contains(string(r.body), `"Patient/`+her+`"`) {
		t.Fatalf("Observation by identifier: %d %s", r.status, r.body)
	}
	if got := e.patientsWith(insSystem, insValue); len(got) != 1 || got[0] != her {
		t.Fatalf("Patients with her INS: %v, want only %s", got, her)
	}
	// Every source's data is hers.
	for _, q := range []string{"/fhir/Observation?subject=Patient/" + her, "/fhir/Composition?subject=Patient/" + her} {
		r := e.do("GET", q+"&_summary=count", "")
		if r.status != 200 || strings.Contains(string(r.body), `"total":0`) {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	// Her care team and her Consents govern all of it: the GP of her care
	// team reads every source's data, a nurse she objected to reads none.
	role := func(id, code string) {
		e.do("PUT", "/fhir/PractitionerRole/"+id, `{"resourceType":"PractitionerRole","id":"`+id+`","active":true,"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"`+code+`"}]}]}`)
	}
	role("her-gp", "10")
	role("her-nurse", "60")
	e.do("PUT", "/fhir/CareTeam/her-team", `{"resourceType":"CareTeam","id":"her-team","status":"active","subject":{"reference":"Patient/`+her+`"},"participant":[{"member":{"reference":"PractitionerRole/her-gp"}},{"member":{"reference":"PractitionerRole/her-nurse"}}]}`)
	e.do("PUT", "/fhir/Consent/her-objection", `{"resourceType":"Consent","id":"her-objection","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/`+her+`"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/her-nurse"}}]}}`)
	all := e.do("GET", "/fhir/Observation?subject=Patient/"+her+"&_count=1000", "")
	total, _ := ids(t, all.body)
	gp := e.do("GET", "/fhir/Observation?subject=Patient/"+her+"&_count=1000", "", "Authorization", "Bearer "+e.mint("user/*.rs", "PractitionerRole/her-gp"))
	if n, _ := ids(t, gp.body); n == 0 || n != total {
		t.Errorf("her GP reads %d of her %d Observations (A01, CDA, AGGIR, API)", n, total)
	}
	nurse := e.do("GET", "/fhir/Observation?subject=Patient/"+her, "", "Authorization", "Bearer "+e.mint("user/*.rs", "PractitionerRole/her-nurse"))
	if n, _ := ids(t, nurse.body); n != 0 {
		t.Errorf("the nurse she objected to reads %d of her Observations", n)
	}
	// Her merged Patient keeps every identifier: the hospital's, the CDA's.
	p := e.do("GET", "/fhir/Patient/"+her, "")
	for _, want := range []string{"IPP-1", "IPP-778812", `"qualified"`} {
		if !strings.Contains(string(p.body), want) {
			t.Errorf("merged Patient lacks %s: %s", want, p.body)
		}
	}

	// A provisional INS from another sender does not link.
	e.ingest("/ingest/hl7v2", hl7ct, a01("OTHER", "A01-2", "X-9", "PROV"))
	if got := e.patientsWith(insSystem, insValue); len(got) != 2 {
		t.Fatalf("a provisional INS linked: %v", got)
	}
	// A namesake assessment with another identifier is stored apart.
	e.ingest("/ingest/assessment", "application/json", aggir("urn:oid:1.2.250.1.999.77", "DOSSIER-5", "Martin"))
	if got := e.patientsWith("urn:oid:1.2.250.1.999.77", "DOSSIER-5"); len(got) != 1 || got[0] == her {
		t.Fatalf("the namesake: %v", got)
	}
	rv := e.do("GET", "/admin/identity/review", "")
	if rv.status != 200 {
		t.Fatalf("review: %d %s", rv.status, rv.body)
	}
	for _, want := range []string{"same INS, not qualified on both sides", "same family name, given name, birth date and sex"} {
		if !strings.Contains(string(rv.body), want) {
			t.Errorf("review list lacks %q: %s", want, rv.body)
		}
	}
	// A namesake created through the API is listed under the id it got.
	var twin map[string]any
	_ = json.Unmarshal(p.body, &twin)
	delete(twin, "id")
	delete(twin, "meta")
	twin["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.250.1.999.78", "value": "DOSSIER-6"}}
	body, _ := json.Marshal(twin)
	created := e.do("POST", "/fhir/Patient", string(body), "Content-Type", "application/fhir+json")
	if created.status != 201 {
		t.Fatalf("namesake POST: %d %s", created.status, created.body)
	}
	newID := created.json(t)["id"].(string)
	if rv := e.do("GET", "/admin/identity/review", ""); !strings.Contains(string(rv.body), `"Patient/`+newID+`"`) || strings.Contains(string(rv.body), `"Patient/"`) {
		t.Errorf("review of the namesake created as Patient/%s: %s", newID, rv.body)
	}
	// A professional's token may not read the list.
	if r := e.do("GET", "/admin/identity/review", "", "Authorization", "Bearer "+e.mint("user/*.rs", "PractitionerRole/x")); r.status != 403 {
		t.Errorf("review list to a user token: %d", r.status)
	}
	// An identifier that names nobody.
	bad := strings.ReplaceAll(obs, insValue, "299999999999999")
	if r := e.do("POST", "/fhir/Observation", bad, "Content-Type", "application/fhir+json"); r.status != 422 ||
		!strings.Contains(string(r.body), "the patient named by identifier was not found") {
		t.Errorf("unknown identifier: %d %s", r.status, r.body)
	}
}

// TestConcurrentNewPatient: an admission and a discharge letter about a
// patient nobody stored yet, sent at once many times over, make one
// Patient.
func TestConcurrentNewPatient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	cda := fixture(t, "cisis-ldl-ses.xml")
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if r := e.do("POST", "/ingest/hl7v2", a01("HIS", "C-"+string(rune('a'+i)), "IPP-1", "VALI"), "Content-Type", hl7ct); r.status != 200 {
				t.Errorf("admission: %d %s", r.status, r.body)
			}
		}()
		go func() {
			defer wg.Done()
			if r := e.do("POST", "/ingest/cda", cda, "Content-Type", "application/hl7-cda+xml"); r.status != 200 {
				t.Errorf("letter: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if got := e.patientsWith(insSystem, insValue); len(got) != 1 {
		t.Fatalf("Patients with her INS: %v, want one", got)
	}
}

// TestDemoPatientAssessments: the demo patient's qualified INS is claimed
// when the demo loads, so assessments carrying it (with no identity
// status of their own) are hers, not a second Patient's.
func TestDemoPatientAssessments(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if err := demo.Load(context.Background(), e.store); err != nil {
		t.Fatal(err)
	}
	const ins = "242035912312345"
	needs := `{"type": "needs-assessment", "date": "2026-03-02", "patient": {"identifier": {"system": "` + insSystem + `", "value": "` + ins + `"}}, "needs": [{"category": "meals", "priority": "routine", "desiredStart": "2026-03-10"}]}`
	for _, body := range []string{needs, strings.Replace(aggir(insSystem, ins, "DUPONT"), `"Louise", "birthDate": "1948-06-12"`, `"Jeanne", "birthDate": "1942-03-15"`, 1)} {
		if r := e.ingest("/ingest/assessment", "application/json", body); r.status != 200 {
			t.Fatalf("assessment: %d %s", r.status, r.body)
		}
	}
	if got := e.patientsWith(insSystem, ins); len(got) != 1 || got[0] != demo.PatientID {
		t.Fatalf("Patients with her INS: %v, want only %s", got, demo.PatientID)
	}
}

// TestOneStayAcrossSources: the ADT feed admits a stay (PV1-19, the visit
// number and its assigning authority), the discharge letter of the same
// stay (encompassingEncounter/id, the same identifier) comes by CDA, then
// the A03: one Encounter, completed by each. Another patient's stay with
// the same identifier (a sender reusing a root) stays apart.
func TestOneStayAcrossSources(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	adt := func(event, ctl, ins, extra string) string {
		return "MSH|^~\\&|HIS|CHU|RELAIS|RELAIS|20260226091500||ADT^" + event + "^ADT_A01|" + ctl + "|P|2.5\r" +
			"EVN|" + event + "|20260226091500\r" +
			"PID|1||" + ins + "^^^INS-NIR-TEST&1.2.250.1.213.1.4.10&ISO^INS||MARTIN^LOUISE^^^^^L||19480612|F" + strings.Repeat("|", 24) + "VALI\r" +
			"PV1|1|I|CARD^210^1||||||||||||||||SEJ-2026-5531^^^CHU&1.2.250.1.999.1.3&ISO^VN" + extra + "\r"
	}
	stays := func(ins string) []string {
		t.Helper()
		r := e.do("GET", "/fhir/Encounter?identifier=urn:oid:1.2.250.1.999.1.3|SEJ-2026-5531", "")
		var b struct {
			Entry []struct {
				Resource struct {
					ID      string `json:"id"`
					Status  string `json:"status"`
					Subject struct {
						Reference string `json:"reference"`
					} `json:"subject"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		patient := e.patientsWith(insSystem, ins)
		var out []string
		for _, en := range b.Entry {
			if len(patient) == 1 && en.Resource.Subject.Reference == "Patient/"+patient[0] {
				out = append(out, en.Resource.ID+" "+en.Resource.Status)
			}
		}
		return out
	}
	e.ingest("/ingest/hl7v2", hl7ct, adt("A01", "S-1", insValue, ""))
	first := stays(insValue)
	if len(first) != 1 {
		t.Fatalf("after the admission: %v", first)
	}
	id, _, _ := strings.Cut(first[0], " ")
	e.ingest("/ingest/cda", "application/hl7-cda+xml", fixture(t, "cisis-ldl-ses.xml"))
	if got := stays(insValue); len(got) != 1 || got[0] != id+" finished" {
		t.Fatalf("after the discharge letter: %v, want [%s finished]", got, id)
	}
	// The letter's clinical content names the one stay.
	r := e.do("GET", "/fhir/Composition?encounter=Encounter/"+id+"&_summary=count", "")
	if !strings.Contains(string(r.body), `"total":1`) {
		t.Errorf("the letter's Composition names another stay: %s", r.body)
	}
	e.ingest("/ingest/hl7v2", hl7ct, adt("A03", "S-2", insValue, strings.Repeat("|", 26)+"20260305120000"))
	if got := stays(insValue); len(got) != 1 || got[0] != id+" finished" {
		t.Errorf("after the A03: %v, want [%s finished]", got, id)
	}
	// Another patient, same visit number: her own stay.
	const other = "160067512345678"
	e.ingest("/ingest/hl7v2", hl7ct, strings.Replace(adt("A01", "S-3", other, ""), "MARTIN^LOUISE", "DURAND^ANNE", 1))
	if got := stays(other); len(got) != 1 || strings.HasPrefix(got[0], id) {
		t.Errorf("another patient's stay: %v (hers: %s)", got, id)
	}
	if got := stays(insValue); len(got) != 1 {
		t.Errorf("her stays after another patient's: %v", got)
	}
}

// TestDocumentDoesNotRewriteDirectory: a discharge letter names its
// author's organisation by IDNST (the FINESS 590000001 inside it); the
// directory's Organization holding that FINESS keeps its name and
// address, and gains the letter's identifier. A write through the API is a directory write and
// renames it.
func TestDocumentDoesNotRewriteDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Organization/chf", `{"resourceType":"Organization","id":"chf","name":"CH des Flandres (annuaire)","identifier":[{"system":"https://finess.esante.gouv.fr","value":"590000001"}],"address":[{"city":"Hazebrouck","postalCode":"59190"}]}`)
	e.ingest("/ingest/cda", "application/hl7-cda+xml", fixture(t, "cisis-ldl-ses.xml"))
	org := string(e.do("GET", "/fhir/Organization/chf", "").body)
	for _, want := range []string{`"name":"CH des Flandres (annuaire)"`, "Hazebrouck", "1590000001"} {
		if !strings.Contains(org, want) {
			t.Errorf("the directory's Organization lacks %s after the letter: %s", want, org)
		}
	}
	if strings.Contains(org, "Centre hospitalier des Flandres") {
		t.Errorf("the letter renamed the directory's Organization: %s", org)
	}
	e.do("PUT", "/fhir/Organization/chf", `{"resourceType":"Organization","id":"chf","name":"Renamed by the directory","identifier":[{"system":"https://finess.esante.gouv.fr","value":"590000001"}]}`)
	if org := string(e.do("GET", "/fhir/Organization/chf", "").body); !strings.Contains(org, "Renamed by the directory") {
		t.Errorf("a directory write through the API: %s", org)
	}
}
