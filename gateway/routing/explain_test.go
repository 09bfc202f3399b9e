package routing_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/gateway/routing"
)

// TestCodeSystem: routing's status and explanation codes are published as
// an R4 CodeSystem (served at GET /fhir/CodeSystem/routing-status): each
// code once, with a display and its sentence, the codes routing.Codes
// lists; it round-trips and passes the validator.
func TestCodeSystem(t *testing.T) {
	t.Parallel()
	cs := routing.CodeSystem()
	if cs.GetUrl().GetValue() != routing.RoutingStatus || int(cs.GetCount().GetValue()) != len(cs.GetConcept()) {
		t.Fatalf("CodeSystem url %q, count %d, %d concepts", cs.GetUrl().GetValue(), cs.GetCount().GetValue(), len(cs.GetConcept()))
	}
	var got []string
	for _, c := range cs.GetConcept() {
		if c.GetDisplay().GetValue() == "" || c.GetDefinition().GetValue() == "" {
			t.Errorf("concept %s lacks a display or a definition", c.GetCode().GetValue())
		}
		got = append(got, c.GetCode().GetValue())
	}
	if !slices.Equal(got, routing.Codes()) || len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
		t.Errorf("codes %v; want routing.Codes, each once", got)
	}
	js, err := testCodec.Encode(cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testCodec.Decode(js); err != nil {
		t.Errorf("CodeSystem does not round-trip: %v", err)
	}
	if os.Getenv("RELAIS_VALIDATE") != "" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "CodeSystem-routing-status.json"), js, 0o644); err != nil {
			t.Fatal(err)
		}
		fhirtest.RunValidator(t, dir)
	}
}
