package ingesttest

import (
	"testing"

	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// TestMessagesMap: every generated message parses and maps without
// warnings, with the fields the ingestion tests rely on.
func TestMessagesMap(t *testing.T) {
	t.Parallel()
	for _, a := range []ADT{{Event: "A01", N: 7}, {Event: "A03", N: 7}, {Event: "A08", N: 7}, {Event: "T02", N: 7}, {Event: "A01", N: 8, Accept: "AL", App: "NE"}} {
		t.Run(a.Event, func(t *testing.T) {
			t.Parallel()
			data := a.Bytes()
			msg, err := er7.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.First("PV1").Field(19).Text(); got != "V0000007" && got != "V0000008" {
				t.Errorf("PV1-19 = %q", got)
			}
			if a.Event == "A03" && msg.First("PV1").Field(45).Text() == "" {
				t.Error("A03 without PV1-45")
			}
			if a.Event != "A03" && (msg.First("PV1").Field(44).Text() == "" || msg.First("PV1").Field(45).Text() != "") {
				t.Error("PV1-44/45 misplaced")
			}
			cv, err := hl7v2.Convert(data, hl7v2.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(cv.Issues) > 0 {
				t.Errorf("warnings: %v", cv.Issues)
			}
			for _, e := range cv.Bundle.Entry {
				if enc, ok := resource.Unwrap(e.Resource).(*encpb.Encounter); ok && a.Event == "A03" && enc.GetStatus().GetValue().String() != "FINISHED" {
					t.Errorf("A03 encounter status %v", enc.GetStatus().GetValue())
				}
			}
		})
	}
}
