package sensitivity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

// pinned is the digest of the table (tableDigest) at each Version: a
// change of the table must come with a new Version, so that data stored
// under the old table is labelled again at the next start.
var pinned = map[int]string{
	1: "e41d8517",
}

func tableDigest() string {
	h := sha256.New()
	fmt.Fprint(h, icd10, atc, Types)
	for _, m := range []map[string]set{loinc, snomed} {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprint(h, k, m[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

func TestVersionPinned(t *testing.T) {
	t.Parallel()
	if got := tableDigest(); pinned[Version] != got {
		t.Errorf("the labelling table's digest is %s, Version %d pins %q: a changed table needs a new Version (and its digest here)", got, Version, pinned[Version])
	}
}

// TestProvenanceCarriesItsTargets: a Provenance names its targets, so it
// carries their sensitivity; its source and derivation entities carry the
// Provenance's (EachSource, LabelSource).
func TestProvenanceCarriesItsTargets(t *testing.T) {
	t.Parallel()
	hiv := condition("c1", terminology.ICD10, "B20")
	prov := &provpb.Provenance{
		Target: []*dtpb.Reference{resource.Ref("Condition", "c1"), resource.Ref("Patient", "p1")},
		Entity: []*provpb.Provenance_Entity{
			{Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_SOURCE}, What: resource.Ref("Binary", "b1")},
			{Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_DERIVATION}, What: resource.Ref("OperationOutcome", "o1")},
			{Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_QUOTATION}, What: resource.Ref("DocumentReference", "d1")},
		},
	}
	Label(prov, func(ref *dtpb.Reference) proto.Message {
		if resource.RefString(ref) == "Condition/c1" {
			return hiv
		}
		return nil
	})
	if got := category.SensitivityOf(prov); !slices.Equal(got, []category.Sensitivity{category.HIV}) {
		t.Fatalf("Provenance labels %v, want HIV", got)
	}
	var sources []string
	EachSource(prov, func(ref *dtpb.Reference) { sources = append(sources, resource.RefString(ref)) })
	if !slices.Equal(sources, []string{"Binary/b1", "OperationOutcome/o1"}) {
		t.Errorf("sources %v, want the Binary and the OperationOutcome", sources)
	}
	src := &cdpb.Condition{} // any resource
	LabelSource(src, prov)
	if got := category.SensitivityOf(src); !slices.Equal(got, []category.Sensitivity{category.HIV}) {
		t.Errorf("source labels %v, want HIV", got)
	}
}
