package directory_test

import (
	"encoding/json"
	"fmt"
	"os"

	patpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/gateway/directory"
)

// Choosing the home-help services for a patient of Lyon 1er from the
// fixture directory: the Lyon service is kept, the Paris one is out of
// territory.
func ExampleIndex_Candidates() {
	c := codec.MustNew()
	raw, _ := os.ReadFile("testdata/directory.json")
	var b struct {
		Entry []struct{ Resource json.RawMessage } `json:"entry"`
	}
	_ = json.Unmarshal(raw, &b)
	var res []proto.Message
	for _, e := range b.Entry {
		if m, err := c.Decode(e.Resource); err == nil {
			res = append(res, m)
		}
	}
	idx := directory.BuildIndex(1, res)
	communes, _ := directory.LoadCommunes()
	pat, _ := c.Decode([]byte(`{"resourceType":"Patient","address":[{"postalCode":"69001","city":"Lyon"}]}`))
	place := communes.PlaceOf(pat.(*patpb.Patient))
	got, ex, _ := idx.Candidates(directory.Query{Role: directory.HomeHelp, Place: place}, nil) // nil: no open Task counted
	for _, k := range ex.Kept {
		fmt.Println("kept", k.Ref, "-", k.Why)
	}
	for _, s := range ex.Skipped {
		fmt.Println("skipped", s.Ref, "-", s.Why)
	}
	fmt.Println(len(got), "candidate")
	// Output:
	// kept HealthcareService/aide-lyon - covers the patient's commune 69123
	// skipped HealthcareService/aide-closed - inactive
	// skipped HealthcareService/aide-paris - out of territory: covers c:75056
	// skipped HealthcareService/aide-tournai - out of territory: covers be:7500
	// 1 candidate
}
