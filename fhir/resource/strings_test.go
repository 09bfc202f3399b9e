package resource_test

import (
	"strings"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// TestLongString: a string over 1 MB characters is found and named; one
// at the limit, or of 1 MB of bytes but fewer characters, is not.
func TestLongString(t *testing.T) {
	t.Parallel()
	p := func(family string) *ppb.Patient {
		return &ppb.Patient{Name: []*dtpb.HumanName{{Family: &dtpb.String{Value: "A"}}, {Family: &dtpb.String{Value: family}}}}
	}
	if name, ok := resource.LongString(p(strings.Repeat("x", resource.MaxString+1))); !ok || name != "name.family" {
		t.Errorf("a long family name: %q %v", name, ok)
	}
	for _, s := range []string{strings.Repeat("x", resource.MaxString), strings.Repeat("é", resource.MaxString/2+1)} {
		if name, ok := resource.LongString(p(s)); ok {
			t.Errorf("a string of %d bytes found too long at %s", len(s), name)
		}
	}
}
