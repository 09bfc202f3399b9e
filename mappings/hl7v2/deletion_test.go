package hl7v2

import (
	"slices"
	"strings"
	"testing"
	"time"

	diagpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// TestDeletionNamesTheDocument: a deletion (deletion.go) writes nothing
// of the document, no report for the order it cancels and no stay, and
// names what the original message wrote under the ids that message gave
// them: its DocumentReference, its report, and the Provenance of the CDA
// document it carries, whose own id comes from the document. It is
// ordered at its event.
func TestDeletionNamesTheDocument(t *testing.T) {
	t.Parallel()
	opts := testOptions()
	opts.EmbeddedCDA = stubCDA
	cdaProvenance := func(c *Converted) string {
		ps := resources[*provpb.Provenance](c)
		if len(ps) != 2 {
			t.Fatalf("%d Provenances, want the carried document's and the message's", len(ps))
		}
		return "Provenance/" + ps[0].GetId().GetValue() // the message's is put last (bundle.Finish)
	}
	for _, c := range []struct {
		original, deletion string
		want               func(orig *Converted) []string
		at                 time.Time
	}{
		{"testdata/oru-r01-cda.hl7", "testdata/oru-r01-cda-delete.hl7", func(o *Converted) []string {
			return []string{
				"DiagnosticReport/" + one[*diagpb.DiagnosticReport](t, o).GetId().GetValue(),
				cdaProvenance(o),
				"DocumentReference/" + one[*drpb.DocumentReference](t, o).GetId().GetValue(),
			}
		}, time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)},
		{"testdata/mdm-t10-pdf.hl7", "testdata/mdm-t11.hl7", func(o *Converted) []string {
			return []string{"DocumentReference/" + one[*drpb.DocumentReference](t, o).GetId().GetValue()}
		}, time.Date(2024, 1, 12, 9, 0, 0, 0, time.UTC)},
	} {
		t.Run(c.deletion, func(t *testing.T) {
			t.Parallel()
			orig, del := convert(t, c.original, opts), convert(t, c.deletion, opts)
			want := c.want(orig)
			if got := del.Deletes; !slices.Equal(got, want) {
				t.Errorf("Deletes = %v\nwant      %v", got, want)
			}
			if !del.Asserted.Equal(c.at) {
				t.Errorf("Asserted = %v, want the deletion's event %v", del.Asserted, c.at)
			}
			for _, e := range del.Bundle.Entry {
				switch r := resource.Unwrap(e.Resource); r.(type) {
				case *drpb.DocumentReference, *diagpb.DiagnosticReport, *encpb.Encounter:
					t.Errorf("a deletion writes %s", resource.Type(r))
				}
				if resource.Type(resource.Unwrap(e.Resource)) == "Composition" {
					t.Error("a deletion writes what its document states")
				}
			}
		})
	}
	// The volet's MDM T04 names the document by TXA-12 and by the CDA
	// document it carries.
	del := convert(t, "testdata/mdm-t04-delete.hl7", opts)
	if len(del.Deletes) != 2 || !strings.HasPrefix(del.Deletes[0], "Provenance/") || !strings.HasPrefix(del.Deletes[1], "DocumentReference/") {
		t.Errorf("MDM T04 deletion: Deletes = %v, want the carried document's Provenance and the DocumentReference of TXA-12", del.Deletes)
	}
}
