package api_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// The FHIR documents these tests send: a discharge summary written from
// R4 documents.html (LOINC 18842-5, a finished stay, a heart-failure
// diagnosis, a patient living in Lille whose GP is the scenario's), and
// the R4 example document.
const (
	dischargeDocument = "../../mappings/fhirdoc/testdata/discharge-summary.json"
	fatherDocument    = "../../../shared/corpus/fhir/r4-Bundle-father.json"
)

func readDoc(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// editDoc returns doc after fn changed its decoded form.
func editDoc(t testing.TB, doc string, fn func(b map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func docEntry(b map[string]any, i int) map[string]any {
	return b["entry"].([]any)[i].(map[string]any)["resource"].(map[string]any)
}

// storedRefs are the "Type/id" each entry of an ingestion's answer names
// (response.location), by type.
func storedRefs(t testing.TB, r resp) map[string][]string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.body)
	}
	out := map[string][]string{}
	for _, e := range r.json(t)["entry"].([]any) {
		loc := e.(map[string]any)["response"].(map[string]any)["location"].(string)
		typ, rest, _ := strings.Cut(loc, "/")
		id, _, _ := strings.Cut(rest, "/")
		out[typ] = append(out[typ], typ+"/"+id)
	}
	return out
}

func (s *scenario) postDocument(doc string, headers ...string) resp {
	s.t.Helper()
	return s.do("POST", "/ingest/fhir", doc, append([]string{"Content-Type", "application/fhir+json"}, headers...)...)
}

// TestIngestFHIRDocumentRouted: a discharge summary sent as a FHIR
// document by the hospital (a system token) is stored as its resources,
// its Composition and a DocumentReference of it, the document kept as a
// Binary; the finished stay is routed (the GP finds her Task); the GP,
// in the care team, reads the diagnosis, a home-help service without
// the patient's permit reads none of the document; the same document
// sent again writes the same ids and no new version of its statements.
func TestIngestFHIRDocumentRouted(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.write()
	doc := readDoc(t, dischargeDocument)
	first := s.postDocument(doc)
	refs := storedRefs(t, first)
	for _, typ := range []string{"Patient", "Composition", "Encounter", "Condition", "Practitioner", "DocumentReference", "Binary", "Provenance"} {
		if len(refs[typ]) != 1 {
			t.Fatalf("%s stored: %v, want one (%v)", typ, refs[typ], refs)
		}
	}
	enc, cond, comp, bin := refs["Encounter"][0], refs["Condition"][0], refs["Composition"][0], refs["Binary"][0]
	// the Binary is the document as sent
	r := s.do("GET", "/fhir/"+bin, "")
	if r.status != 200 || r.json(t)["contentType"] != "application/fhir+json" {
		t.Errorf("source Binary: %d %s", r.status, r.body)
	}
	dr := s.search("/fhir/DocumentReference?_id="+strings.TrimPrefix(refs["DocumentReference"][0], "DocumentReference/"), nil)[0].(*drpb.DocumentReference)
	if u := dr.GetContent()[0].GetAttachment().GetUrl().GetValue(); u != bin || resource.RefString(dr.GetSubject()) != refs["Patient"][0] {
		t.Errorf("DocumentReference content %s subject %s", u, resource.RefString(dr.GetSubject()))
	}
	// routed ($route, as relais serve does on write): the heart-failure
	// pathway, the GP's Task
	p := s.route(strings.TrimPrefix(enc, "Encounter/"))
	if got := p.only(t, "gp").GetOwner(); resource.RefString(got) != scenGP {
		t.Errorf("the GP's Task goes to %s, want %s", resource.RefString(got), scenGP)
	}
	if len(s.myWork(scenGP)) == 0 {
		t.Errorf("the GP finds no Task")
	}
	// consent: the GP reads the diagnosis and the letter; the home-help
	// service, a social recipient without a permit, reads none of them
	for _, ref := range []string{cond, comp, refs["DocumentReference"][0], bin} {
		// (a source Binary names its patient in no search parameter: the
		// engine finds no patient to decide for, and only system callers
		// read it, whatever the source)
		if r := s.do("GET", "/fhir/"+ref, "", "Authorization", s.as(scenGP)); r.status != 200 && ref != bin {
			t.Errorf("the GP reads %s: %d %s", ref, r.status, r.body)
		}
		if r := s.do("GET", "/fhir/"+ref, "", "Authorization", s.as("PractitionerRole/homehelp-nord")); r.status != 404 {
			t.Errorf("the home-help reads %s: %d, want 404", ref, r.status)
		}
	}
	// sent again: the same ids, the statements unchanged
	before := s.versionOf("/fhir/" + cond)
	if again := storedRefs(t, s.postDocument(doc)); strings.Join(again["Condition"], "") != cond || strings.Join(again["Composition"], "") != comp {
		t.Errorf("sent again: %v, want the same ids as %v", again, refs)
	}
	if after := s.versionOf("/fhir/" + cond); after != before {
		t.Errorf("the Condition went from version %s to %s when the same document came again", before, after)
	}
	validateStored(t, s, refs)
}

// validateStored runs the independent validator over what an ingestion
// stored (RELAIS_VALIDATE).
func validateStored(t *testing.T, s *scenario, refs map[string][]string) {
	t.Helper()
	raw := map[string][]byte{}
	for _, rs := range refs {
		for _, ref := range rs {
			r := s.do("GET", "/fhir/"+ref, "")
			if r.status != 200 {
				t.Fatalf("GET %s: %d", ref, r.status)
			}
			raw[ref] = r.body
		}
	}
	validate(t, raw)
}

// TestIngestFHIRDocumentNewVersion: a later version of the document (the
// same Composition.identifier, a later Bundle.timestamp, another
// Bundle.identifier) replaces the earlier one as a later CDA version
// does: the diagnosis it no longer states is withdrawn, the earlier
// DocumentReference superseded, the set's one Composition updated; the
// earlier version arriving again changes nothing.
func TestIngestFHIRDocumentNewVersion(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.write()
	v1 := readDoc(t, dischargeDocument)
	one := storedRefs(t, s.postDocument(v1))
	v2 := editDoc(t, v1, func(b map[string]any) {
		b["identifier"] = map[string]any{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6a0f3c52-1d2e-4b7a-9c1e-0d9d1f3a7b02"}
		b["timestamp"] = "2026-03-06T09:00:00+01:00"
		// the diagnosis corrected: another entry (another fullUrl)
		es := b["entry"].([]any)
		es[3].(map[string]any)["fullUrl"] = "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0014"
		docEntry(b, 3)["code"] = map[string]any{"coding": []any{map[string]any{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I11.0"}}}
		sec := docEntry(b, 0)["section"].([]any)[0].(map[string]any)
		sec["entry"] = []any{map[string]any{"reference": "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0014"}}
		docEntry(b, 2)["diagnosis"] = []any{map[string]any{"condition": map[string]any{"reference": "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0014"}}}
	})
	two := storedRefs(t, s.postDocument(v2))
	if one["Composition"][0] != two["Composition"][0] || one["Condition"][0] == two["Condition"][0] {
		t.Fatalf("versions: %v then %v", one, two)
	}
	check := func(when string) {
		t.Helper()
		old := s.search("/fhir/Condition?_id="+strings.TrimPrefix(one["Condition"][0], "Condition/"), nil)[0].(*cdpb.Condition)
		if v := old.GetVerificationStatus().GetCoding()[0].GetCode().GetValue(); v != "entered-in-error" || old.GetClinicalStatus() != nil {
			t.Errorf("%s: the diagnosis only the first version stated: verification %s", when, v)
		}
		cur := s.search("/fhir/Condition?_id="+strings.TrimPrefix(two["Condition"][0], "Condition/"), nil)[0].(*cdpb.Condition)
		if v := cur.GetVerificationStatus().GetCoding()[0].GetCode().GetValue(); v != "confirmed" {
			t.Errorf("%s: the second version's diagnosis: %s", when, v)
		}
		dr := s.search("/fhir/DocumentReference?_id="+strings.TrimPrefix(one["DocumentReference"][0], "DocumentReference/"), nil)[0].(*drpb.DocumentReference)
		if st := dr.GetStatus().GetValue().String(); st != "SUPERSEDED" {
			t.Errorf("%s: the first version's DocumentReference is %s", when, st)
		}
	}
	check("replaced")
	// the earlier version again: older than what is stored, it changes
	// nothing the later one wrote
	storedRefs(t, s.postDocument(v1))
	check("the first version sent again")
}

// TestIngestFHIRDocumentOtherPatient: a document about another patient
// that reuses the first one's document, set and entry identifiers (a
// sender copying an example) leaves the first patient's records as they
// are.
func TestIngestFHIRDocumentOtherPatient(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.write()
	doc := readDoc(t, dischargeDocument)
	one := storedRefs(t, s.postDocument(doc))
	before := map[string]string{}
	for _, typ := range []string{"Patient", "Composition", "Condition", "DocumentReference", "Binary", "Provenance"} {
		before[one[typ][0]] = s.versionOf("/fhir/" + one[typ][0])
	}
	other := editDoc(t, doc, func(b map[string]any) {
		p := docEntry(b, 1)
		p["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.250.1.999.1.2", "value": "IPP-9999"}}
		p["name"] = []any{map[string]any{"family": "Autre"}}
	})
	two := storedRefs(t, s.postDocument(other))
	for ref, v := range before {
		if got := s.versionOf("/fhir/" + ref); got != v {
			t.Errorf("%s: version %s, was %s before another patient's document", ref, got, v)
		}
	}
	if two["Patient"][0] == one["Patient"][0] {
		t.Errorf("another patient's document was linked to the first patient")
	}
}

// TestIngestFHIRDocumentRefused: what is not a document gets a 400 that
// says where it goes, a token that may not ingest a 403, and nothing is
// stored; POST /fhir says where a document goes.
func TestIngestFHIRDocumentRefused(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.write()
	doc := readDoc(t, dischargeDocument)
	stored := s.stored()
	tests := []struct {
		name, path, body string
		headers          []string
		status           int
		want             string
	}{
		{"transaction", "/ingest/fhir", editDoc(t, doc, func(b map[string]any) { b["type"] = "transaction" }), nil, 400, "POST to the FHIR base (/fhir)"},
		{"searchset", "/ingest/fhir", editDoc(t, doc, func(b map[string]any) { b["type"] = "searchset" }), nil, 400, "only a document"},
		{"no timestamp", "/ingest/fhir", editDoc(t, doc, func(b map[string]any) { delete(b, "timestamp") }), nil, 400, "bdl-10"},
		{"unresolved urn", "/ingest/fhir", editDoc(t, doc, func(b map[string]any) {
			docEntry(b, 3)["encounter"] = map[string]any{"reference": "urn:uuid:ffffffff-0000-4000-8000-000000000000"}
		}), nil, 400, "names no entry of the document"},
		{"media type", "/ingest/fhir", doc, []string{"Content-Type", "application/xml"}, 415, "not-supported"},
		{"user token", "/ingest/fhir", doc, []string{"Authorization", s.as(scenGP)}, 403, "forbidden"},
		{"document to /fhir", "/fhir", doc, nil, 400, "POST /ingest/fhir"},
	}
	for _, tc := range tests {
		r := s.do("POST", tc.path, tc.body, tc.headers...)
		if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, r.status, r.body, tc.status, tc.want)
		}
	}
	if n := s.stored(); n != stored {
		t.Errorf("%d versions stored by refused documents", n-stored)
	}
}

// TestIngestFHIRDocumentExample: the R4 example document is stored,
// every reference between its entries pointing at what was stored.
func TestIngestFHIRDocumentExample(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.write()
	refs := storedRefs(t, s.postDocument(readDoc(t, fatherDocument)))
	for _, typ := range []string{"Patient", "Composition", "Encounter", "Observation", "MedicationRequest", "MedicationStatement", "AllergyIntolerance", "DocumentReference"} {
		if len(refs[typ]) != 1 {
			t.Errorf("%s stored: %v", typ, refs[typ])
		}
	}
	r := s.do("GET", "/fhir/"+refs["Composition"][0], "")
	for _, want := range []string{`"reference":"` + refs["Patient"][0] + `"`, `"reference":"` + refs["Encounter"][0] + `"`, `"reference":"` + refs["Observation"][0] + `"`} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("the Composition lacks %s: %s", want, r.body)
		}
	}
	validateStored(t, s, refs)
}
