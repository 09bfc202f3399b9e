package fhirdoc

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
)

// The R4 example document (documents.html: the father's discharge
// summary), from the shared corpus.
const fatherExample = "../../../shared/corpus/fhir/r4-Bundle-father.json"

var testCodec = codec.MustNew()

func opts() Options {
	return Options{Now: func() time.Time { return time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC) }, Codec: testCodec}
}

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns the JSON doc after fn changed its decoded form.
func edit(t testing.TB, doc []byte, fn func(b map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entryRes(b map[string]any, i int) map[string]any {
	return b["entry"].([]any)[i].(map[string]any)["resource"].(map[string]any)
}

// outputs maps "Type/id" to each resource of a result, and lists them in
// order.
func outputs(t testing.TB, res *bundle.Result) (map[string]proto.Message, []string) {
	t.Helper()
	m := map[string]proto.Message{}
	var order []string
	for _, e := range res.Bundle.GetEntry() {
		r := resource.Unwrap(e.GetResource())
		ref := resource.Type(r) + "/" + resource.ID(r)
		if e.GetRequest().GetUrl().GetValue() != ref {
			t.Errorf("entry %s is a PUT to %s", ref, e.GetRequest().GetUrl().GetValue())
		}
		m[ref] = r
		order = append(order, ref)
	}
	return m, order
}

func ofType(order []string, typ string) []string {
	var out []string
	for _, r := range order {
		if strings.HasPrefix(r, typ+"/") {
			out = append(out, r)
		}
	}
	return out
}

// TestConvertDischarge: a discharge summary written from R4
// documents.html becomes PUTs of its resources with references between
// them rewritten, a DocumentReference indexing it, the document as a
// Binary and a Provenance naming everything; the same document gives the
// same ids.
func TestConvertDischarge(t *testing.T) {
	t.Parallel()
	doc := load(t, "testdata/discharge-summary.json")
	res, err := Convert(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	got, order := outputs(t, res)
	if !strings.HasPrefix(order[0], "Patient/") {
		t.Errorf("first output %s, want the Patient the document is about", order[0])
	}
	for _, typ := range []string{"Patient", "Composition", "Encounter", "Condition", "Practitioner", "DocumentReference", "Binary", "Provenance", "Device"} {
		if n := len(ofType(order, typ)); n != 1 {
			t.Errorf("%d %s, want 1 (%v)", n, typ, order)
		}
	}
	js, err := testCodec.Encode(res.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), `"reference":"urn:`) {
		t.Errorf("a reference still names a urn: %s", js)
	}
	// a reference to this server from an entry with a urn: fullUrl stays
	if !strings.Contains(string(js), `"reference":"Organization/chu-lille"`) || !strings.Contains(string(js), `"reference":"PractitionerRole/gp-own"`) {
		t.Errorf("references to the server were not kept")
	}
	patient, enc := order[0], ofType(order, "Encounter")[0]
	cond := got[ofType(order, "Condition")[0]].(*cdpb.Condition)
	if s := resource.RefString(cond.GetSubject()); s != patient {
		t.Errorf("Condition.subject %s, want %s", s, patient)
	}
	if s := resource.RefString(cond.GetEncounter()); s != enc {
		t.Errorf("Condition.encounter %s, want %s", s, enc)
	}
	dr := got[ofType(order, "DocumentReference")[0]].(*drpb.DocumentReference)
	bin := ofType(order, "Binary")[0]
	if u := dr.GetContent()[0].GetAttachment().GetUrl().GetValue(); u != bin {
		t.Errorf("DocumentReference content %s, want the source %s", u, bin)
	}
	if ct := dr.GetContent()[0].GetAttachment().GetContentType().GetValue(); ct != ContentType {
		t.Errorf("DocumentReference contentType %s", ct)
	}
	if v := dr.GetMasterIdentifier().GetValue().GetValue(); v != "urn:uuid:6a0f3c52-1d2e-4b7a-9c1e-0d9d1f3a7b01" {
		t.Errorf("masterIdentifier %s, want the Bundle.identifier", v)
	}
	if e := resource.RefString(dr.GetContext().GetEncounter()[0]); e != enc {
		t.Errorf("DocumentReference.context.encounter %s, want %s", e, enc)
	}
	prov := got[ofType(order, "Provenance")[0]].(*provpb.Provenance)
	named := map[string]bool{}
	for _, r := range prov.GetTarget() {
		named[resource.RefString(r)] = true
	}
	for _, r := range order {
		if !named[r] && !strings.HasPrefix(r, "Provenance/") && !strings.HasPrefix(r, "Binary/") && !strings.HasPrefix(r, "Device/") {
			t.Errorf("the Provenance does not name %s", r)
		}
	}
	if want := time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC); !res.Asserted.Equal(want) || !res.OrderedByTime {
		t.Errorf("Asserted %v ordered %v, want the Bundle.timestamp %v", res.Asserted, res.OrderedByTime, want)
	}
	again, err := Convert(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	if _, order2 := outputs(t, again); strings.Join(order2, " ") != strings.Join(order, " ") {
		t.Errorf("the same document gave other ids:\n%v\n%v", order, order2)
	}
}

// TestConvertFatherExample: the R4 example document. Its references are
// absolute URLs and relative ones resolved against its entries' RESTful
// fullUrls (R4 bundle.html#references).
func TestConvertFatherExample(t *testing.T) {
	t.Parallel()
	res, err := Convert(load(t, fatherExample), opts())
	if err != nil {
		t.Fatal(err)
	}
	got, order := outputs(t, res)
	js, err := testCodec.Encode(res.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), `"reference":"http://fhir.healthintersections.com.au/open/Patient/d1"`) ||
		strings.Contains(string(js), `"reference":"Patient/d1"`) {
		t.Errorf("a reference to the document's Patient was not rewritten")
	}
	enc := ofType(order, "Encounter")
	if len(enc) != 1 || len(ofType(order, "Observation")) != 1 || len(ofType(order, "AllergyIntolerance")) != 1 {
		t.Fatalf("outputs %v", order)
	}
	dr := got[ofType(order, "DocumentReference")[0]].(*drpb.DocumentReference)
	if e := resource.RefString(dr.GetContext().GetEncounter()[0]); e != enc[0] {
		t.Errorf("context.encounter %s, want %s", e, enc[0])
	}
}

// TestIDsKeyedByPatient: a document about another patient that reuses
// the same document, set and entry identifiers writes none of the first
// patient's records; what belongs to no patient (the author) is shared.
func TestIDsKeyedByPatient(t *testing.T) {
	t.Parallel()
	doc := load(t, "testdata/discharge-summary.json")
	other := edit(t, doc, func(b map[string]any) {
		p := entryRes(b, 1)
		p["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.250.1.999.1.2", "value": "IPP-9999"}}
		p["name"] = []any{map[string]any{"family": "Autre"}}
	})
	a, err := Convert(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Convert(other, opts())
	if err != nil {
		t.Fatal(err)
	}
	_, first := outputs(t, a)
	_, second := outputs(t, b)
	ids := map[string]bool{}
	for _, r := range first {
		ids[r] = true
	}
	for _, r := range second {
		shared := strings.HasPrefix(r, "Practitioner/") || strings.HasPrefix(r, "Device/")
		if ids[r] != shared {
			t.Errorf("%s: in both documents %v, want %v", r, ids[r], shared)
		}
	}
}

// TestReplaces: a Composition that replaces an earlier version (relatesTo
// replaces, its Bundle.identifier as targetIdentifier) names that
// version's Provenance and DocumentReference.
func TestReplaces(t *testing.T) {
	t.Parallel()
	v1 := load(t, "testdata/discharge-summary.json")
	v2 := edit(t, v1, func(b map[string]any) {
		b["identifier"] = map[string]any{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6a0f3c52-1d2e-4b7a-9c1e-0d9d1f3a7b02"}
		b["timestamp"] = "2026-03-06T09:00:00+01:00"
		entryRes(b, 0)["relatesTo"] = []any{map[string]any{"code": "replaces",
			"targetIdentifier": map[string]any{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:6a0f3c52-1d2e-4b7a-9c1e-0d9d1f3a7b01"}}}
	})
	r1, err := Convert(v1, opts())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Convert(v2, opts())
	if err != nil {
		t.Fatal(err)
	}
	got1, o1 := outputs(t, r1)
	got2, o2 := outputs(t, r2)
	_ = got1
	if len(r2.Replaces) != 1 || "Provenance/"+r2.Replaces[0] != ofType(o1, "Provenance")[0] {
		t.Errorf("Replaces %v, want the first version's %v", r2.Replaces, ofType(o1, "Provenance"))
	}
	if ofType(o1, "Composition")[0] != ofType(o2, "Composition")[0] {
		t.Errorf("the versions of a set have one Composition")
	}
	dr := got2[ofType(o2, "DocumentReference")[0]].(*drpb.DocumentReference)
	if len(dr.GetRelatesTo()) != 1 || resource.RefString(dr.GetRelatesTo()[0].GetTarget()) != ofType(o1, "DocumentReference")[0] {
		t.Errorf("relatesTo %v, want the first version's DocumentReference", dr.GetRelatesTo())
	}
}

// TestNotWritten: a Consent in a document is not written (a document
// states no authority over who may see what); the reference to it keeps
// its display only, and a warning says so.
func TestNotWritten(t *testing.T) {
	t.Parallel()
	doc := edit(t, load(t, "testdata/discharge-summary.json"), func(b map[string]any) {
		b["entry"] = append(b["entry"].([]any), map[string]any{"fullUrl": "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0099",
			"resource": map[string]any{"resourceType": "Consent", "status": "active",
				"scope":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
				"category":   []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}},
				"patient":    map[string]any{"reference": "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0002"},
				"policyRule": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}}}}})
		sec := entryRes(b, 0)["section"].([]any)[0].(map[string]any)
		sec["entry"] = append(sec["entry"].([]any), map[string]any{"reference": "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0099"})
	})
	res, err := Convert(doc, opts())
	if err != nil {
		t.Fatal(err)
	}
	_, order := outputs(t, res)
	if n := len(ofType(order, "Consent")); n != 0 {
		t.Errorf("%d Consents written", n)
	}
	if len(res.Issues) != 1 || !strings.Contains(res.Issues[0].Text, "Consent") {
		t.Errorf("issues %v, want one naming the Consent", res.Issues)
	}
	js, _ := testCodec.Encode(res.Bundle)
	if !strings.Contains(string(js), `"display":"Consent of the document (not stored)"`) {
		t.Errorf("the reference to the Consent: %s", js)
	}
}

// TestRefuses: what is not a FHIR document, or breaks a rule a receiver
// relies on, is refused with the rule named; nothing is mapped.
func TestRefuses(t *testing.T) {
	t.Parallel()
	doc := load(t, "testdata/discharge-summary.json")
	tests := []struct {
		name string
		in   []byte
		kind outcome.Kind
		want string // in an issue's path and text
	}{
		{"not a Bundle", []byte(`{"resourceType":"Patient"}`), outcome.Invalid, "not a Bundle"},
		{"not JSON", []byte(`{`), outcome.Invalid, ""},
		{"transaction", edit(t, doc, func(b map[string]any) { b["type"] = "transaction" }), outcome.Invalid, "Bundle.type: Bundle.type is transaction: a transaction or batch is applied by POST to the FHIR base"},
		{"collection", edit(t, doc, func(b map[string]any) { b["type"] = "collection" }), outcome.Invalid, "Bundle.type: Bundle.type is collection"},
		{"no identifier", edit(t, doc, func(b map[string]any) { delete(b, "identifier") }), outcome.Invalid, "Bundle.identifier: a document has an identifier with a system and a value (R4 bdl-9)"},
		{"no timestamp", edit(t, doc, func(b map[string]any) { delete(b, "timestamp") }), outcome.Invalid, "Bundle.timestamp: a document has a timestamp (R4 bdl-10)"},
		{"Composition not first", edit(t, doc, func(b map[string]any) {
			es := b["entry"].([]any)
			es[0], es[1] = es[1], es[0]
		}), outcome.Invalid, "Bundle.entry[0].resource: the first entry of a document is its Composition (R4 bdl-11)"},
		{"no fullUrl", edit(t, doc, func(b map[string]any) { delete(b["entry"].([]any)[3].(map[string]any), "fullUrl") }), outcome.Invalid, "Bundle.entry[3].fullUrl: every entry of a document has a fullUrl"},
		{"duplicate fullUrl", edit(t, doc, func(b map[string]any) {
			b["entry"].([]any)[4].(map[string]any)["fullUrl"] = "urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0004"
		}), outcome.Invalid, "Bundle.entry[4].fullUrl: fullUrl urn:uuid:0b6a3a70-5a1b-4e51-8d1e-1c0f3a7b0004 is the fullUrl of an earlier entry (R4 bdl-7)"},
		{"RESTful fullUrl of another resource", edit(t, doc, func(b map[string]any) {
			b["entry"].([]any)[4].(map[string]any)["fullUrl"] = "https://ehr.example/fhir/Practitioner/other"
		}), outcome.Invalid, "Bundle.entry[4].fullUrl: a RESTful fullUrl names the entry's own resource type and id"},
		{"request", edit(t, doc, func(b map[string]any) {
			b["entry"].([]any)[3].(map[string]any)["request"] = map[string]any{"method": "PUT", "url": "Condition/x"}
		}), outcome.Invalid, "Bundle.entry[3]: a document's entries have no request or response (R4 bdl-3, bdl-4)"},
		{"unresolved urn", edit(t, doc, func(b map[string]any) {
			entryRes(b, 3)["encounter"] = map[string]any{"reference": "urn:uuid:ffffffff-5a1b-4e51-8d1e-1c0f3a7b0003"}
		}), outcome.Invalid, "Bundle.entry[3].resource: reference urn:uuid:ffffffff-5a1b-4e51-8d1e-1c0f3a7b0003 names no entry of the document"},
		{"subject outside the Bundle", edit(t, doc, func(b map[string]any) {
			entryRes(b, 0)["subject"] = map[string]any{"reference": "Patient/someone"}
		}), outcome.Invalid, "Bundle.entry[0].resource.subject: the Composition's subject is a Patient of the Bundle"},
		{"too large", append(doc, make([]byte, DefaultMaxSize)...), outcome.TooLarge, "exceeds the limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Convert(tc.in, opts())
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != tc.kind {
				t.Fatalf("Convert = %v, %v; want kind %v", res, err, tc.kind)
			}
			var all []string
			for _, is := range oe.Issues {
				all = append(all, is.Path+": "+is.Text)
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Errorf("issues:\n%s\nwant %q", strings.Join(all, "\n"), tc.want)
			}
		})
	}
}
