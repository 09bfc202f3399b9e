package cda_test

import (
	"fmt"
	"time"

	"github.com/relais-health/relais/mappings/cda"
)

func ExampleConvert() {
	doc := []byte(`<ClinicalDocument xmlns="urn:hl7-org:v3">
  <id root="1.2.250.1.999" extension="doc-1"/>
  <code code="11490-0" codeSystem="2.16.840.1.113883.6.1"/>
  <effectiveTime value="20260305"/>
  <recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="248067512345678"/></patientRole></recordTarget>
</ClinicalDocument>`)
	res, err := cda.Convert(doc, cda.Options{Now: func() time.Time { return time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range res.Bundle.Entry {
		fmt.Println(e.Request.Url.Value[:len(e.Request.Url.Value)-33])
	}
	// Output:
	// Patient
	// Composition
	// DocumentReference
	// Binary
	// Device
	// Provenance
}
