package cda

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
)

// FuzzConvert feeds mutated CDA documents to Convert: it must never panic
// (Convert turns a panic into an Internal error, which fails here), refuse
// only with Invalid or TooLarge, and produce Bundles that print.
func FuzzConvert(f *testing.F) {
	for _, pattern := range []string{filepath.Join(corpusDir, "*.xml"), "testdata/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			// Large seeds make each execution slow; their first part keeps
			// the header and some sections.
			if len(b) > 24<<10 {
				b = b[:24<<10]
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget><patientRole/></recordTarget></ClinicalDocument>`))
	cd := codec.MustNew()
	f.Fuzz(func(t *testing.T, doc []byte) {
		res, err := Convert(doc, Options{MaxSize: 1 << 20})
		if err != nil {
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid && oe.Kind != outcome.TooLarge {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if _, err := cd.Encode(res.Bundle); err != nil {
			t.Fatalf("bundle does not print: %v", err)
		}
	})
}

// FuzzParseXML exercises the XML reader alone, which is much faster to fuzz.
func FuzzParseXML(f *testing.F) {
	for _, s := range []string{
		`<r xmlns="urn:hl7-org:v3"><b a="1">t&amp;<![CDATA[x]]></b></r>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><c:r xmlns:c="urn:hl7-org:v3"><c:text>a<c:br/>b</c:text></c:r>`,
		`<!DOCTYPE r><r/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		tr, err := parseXML(doc)
		if err != nil {
			return
		}
		root := el{tr, 0}
		_ = root.text()
		_ = narrative(root)
		root.each("", func(e el) { _ = e.xpath() })
	})
}
