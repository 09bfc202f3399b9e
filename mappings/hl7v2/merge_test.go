package hl7v2

import (
	"testing"

	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
)

// TestMergeNotApplied: an A34 updates the surviving patient with the prior
// identifier kept as "old", and says that the merge is not applied.
func TestMergeNotApplied(t *testing.T) {
	t.Parallel()
	c := convert(t, sharedCorpus+"/simhosp-ADT-A34-0270.hl7", testOptions())
	p := one[*ppb.Patient](t, c)
	old := 0
	for _, id := range p.Identifier {
		if id.GetUse().GetValue().String() == "OLD" {
			old++
			if id.GetValue().GetValue() != "618454581" {
				t.Errorf("old identifier %q, want MRG-1's 618454581", id.GetValue().GetValue())
			}
		}
	}
	if old != 1 {
		t.Errorf("%d old identifiers, want 1", old)
	}
	warned := false
	for _, is := range c.Issues {
		warned = warned || is.Path == "MRG-1"
	}
	if !warned {
		t.Error("no warning that the merge is not applied")
	}
}
