package assessment_test

import (
	"fmt"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/mappings/assessment"
)

func ExampleConvert() {
	in := []byte(`{"type": "aggir", "date": "2026-03-01",
	  "patient": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "255017500000001"}},
	  "variables": {"coherence": "A", "orientation": "A", "toilette": "A", "habillage": "A",
	                "alimentation": "A", "elimination": "A", "transferts": "B", "deplacement_interieur": "A"}}`)
	res, err := assessment.Convert(in, assessment.Options{Now: func() time.Time { return time.Unix(0, 0) }})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(res.Bundle.Entry), "entries")
	// Output: 6 entries
}

func ExampleConvert_invalid() {
	in := []byte(`{"type": "aggir", "date": "2026-03-01",
	  "patient": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "255017500000001"}},
	  "variables": {"coherence": "A", "orientation": "A", "toilette": "A", "habillage": "A",
	                "alimentation": "A", "elimination": "A", "deplacement_interieur": "A"}}`)
	_, err := assessment.Convert(in, assessment.Options{})
	oe := err.(*outcome.Error)
	fmt.Println(oe.Kind.Status(), oe.Issues[0].Path)
	// Output: 400 variables.transferts
}
