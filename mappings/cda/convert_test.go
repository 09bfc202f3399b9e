package cda

import (
	"errors"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

func TestConvertRefuses(t *testing.T) {
	t.Parallel()
	const patient = `<recordTarget><patientRole><id root="1.2.3" extension="9"/></patientRole></recordTarget>`
	tests := []struct {
		name string
		in   string
		opts Options
		kind outcome.Kind
	}{
		{"not XML", "MSH|^~\\&|HIS|", Options{}, outcome.Invalid},
		{"HTML", `<html><body>hi</body></html>`, Options{}, outcome.Invalid},
		{"wrong namespace", `<ClinicalDocument xmlns="urn:other">` + patient + `</ClinicalDocument>`, Options{}, outcome.Invalid},
		{"no patient", `<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="1.2"/></ClinicalDocument>`, Options{}, outcome.Invalid},
		{"doctype", `<!DOCTYPE ClinicalDocument [<!ENTITY x "y">]><ClinicalDocument xmlns="urn:hl7-org:v3">` + patient + `</ClinicalDocument>`, Options{}, outcome.Invalid},
		{"too large", `<ClinicalDocument xmlns="urn:hl7-org:v3">` + patient + `</ClinicalDocument>`, Options{MaxSize: 50}, outcome.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := Convert([]byte(tt.in), tt.opts)
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != tt.kind {
				t.Fatalf("Convert = %v, %v; want an outcome error of kind %d", res, err, tt.kind)
			}
			if strings.Contains(oe.Summary, "9") || strings.Contains(oe.Error(), "patientRole><id") {
				t.Errorf("error summary leaks input: %q", oe.Error())
			}
		})
	}
}

// TestMinimalDocument: a bare header with a patient converts, fail-soft.
func TestMinimalDocument(t *testing.T) {
	t.Parallel()
	doc := `<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget><patientRole><id root="1.2.3" extension="9"/></patientRole></recordTarget>
	<component><structuredBody><component><section><code code="X"/><entry><act moodCode="EVN"><templateId root="9.9.9"/></act></entry></section></component></structuredBody></component></ClinicalDocument>`
	res, err := Convert([]byte(doc), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Issues) != 1 || !strings.Contains(res.Issues[0].Text, "9.9.9") ||
		res.Issues[0].Path != "/ClinicalDocument/component/structuredBody/component/section/entry/act" {
		t.Errorf("issues = %+v, want one warning with the XPath and templateId", res.Issues)
	}
}

// TestDeterministicIDs: converting twice gives the same resource ids, and a
// new version of a document (same setId) updates the same Composition.
func TestDeterministicIDs(t *testing.T) {
	t.Parallel()
	a := convertFile(t, "testdata/cisis-ldl-ses.xml")
	b := convertFile(t, "testdata/cisis-ldl-ses.xml")
	if len(a.Entry) != len(b.Entry) {
		t.Fatalf("%d vs %d entries", len(a.Entry), len(b.Entry))
	}
	for i := range a.Entry {
		if a.Entry[i].Request.Url.Value != b.Entry[i].Request.Url.Value {
			t.Errorf("entry %d: %s vs %s", i, a.Entry[i].Request.Url.Value, b.Entry[i].Request.Url.Value)
		}
	}
}
