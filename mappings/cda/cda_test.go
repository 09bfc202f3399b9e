package cda

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json")

// corpusDir holds the shared public C-CDA corpus.
const corpusDir = "../../../shared/corpus/ccda"

// skip lists inputs that are not expected to convert, each with the reason.
// It is empty: every corpus document converts.
var skip = map[string]string{}

var fixedNow = time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)

func testOptions() Options { return Options{Now: func() time.Time { return fixedNow }} }

type input struct{ name, path string }

// inputs lists the corpus and our CI-SIS fixtures.
func inputs(t testing.TB) []input {
	t.Helper()
	var out []input
	for _, pattern := range []string{filepath.Join(corpusDir, "*.xml"), filepath.Join("testdata", "*.xml")} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			out = append(out, input{strings.TrimSuffix(filepath.Base(f), ".xml"), f})
		}
	}
	if len(out) < 33 {
		t.Fatalf("found %d inputs, want the 31 corpus documents and the CI-SIS fixtures", len(out))
	}
	return out
}

func convertFile(t testing.TB, path string) *bcrpb.Bundle {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(doc, testOptions())
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return res.Bundle
}

// goldenView replaces the source Binary's bytes by their size and digest, so
// golden files stay readable and small; TestSourceBinary checks the bytes.
func goldenView(b *bcrpb.Bundle) *bcrpb.Bundle {
	out := proto.Clone(b).(*bcrpb.Bundle)
	for _, e := range out.Entry {
		if bin, ok := resource.Unwrap(e.Resource).(*binpb.Binary); ok {
			sum := sha256.Sum256(bin.Data.Value)
			bin.Data.Value = []byte(fmt.Sprintf("%d bytes, sha256 %x", len(bin.Data.Value), sum))
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	t.Parallel()
	cd := codec.MustNew()
	for _, in := range inputs(t) {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			if why, ok := skip[in.name]; ok {
				t.Skip(why)
			}
			got, err := cd.EncodeIndent(goldenView(convertFile(t, in.path)))
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Golden(t, filepath.Join("testdata", "golden", in.name+".json"), got, *update)
		})
	}
}

// TestValidates runs the independent FHIR validator over every Bundle when
// RELAIS_VALIDATE is set (make test sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	t.Parallel()
	cd := codec.MustNew()
	dir := t.TempDir()
	for _, in := range inputs(t) {
		out, err := cd.EncodeIndent(convertFile(t, in.path))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, in.name+".json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fhirtest.RunValidator(t, dir)
}

// TestInvariants checks what every Bundle must hold: labels on every
// resource, references that resolve inside the Bundle, the source Binary
// with the exact input bytes, and a DocumentReference pointing at it.
func TestInvariants(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t) {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			doc, err := os.ReadFile(in.path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(doc, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			refs := map[string]proto.Message{}
			for _, e := range res.Bundle.Entry {
				r := resource.Unwrap(e.Resource)
				refs[resource.Type(r)+"/"+resource.ID(r)] = r
				if len(category.Of(r)) == 0 {
					t.Errorf("%s/%s has no data-category label", resource.Type(r), resource.ID(r))
				}
			}
			// the documents this one replaces are earlier sources'
			// outputs, never in this Bundle
			replaced := map[string]bool{}
			for _, r := range refs {
				if dr, ok := r.(*drpb.DocumentReference); ok {
					for _, rt := range dr.GetRelatesTo() {
						if rt.GetCode().GetValue() == cpb.DocumentRelationshipTypeCode_REPLACES {
							replaced[resource.RefString(rt.GetTarget())] = true
						}
					}
				}
			}
			var binary *binpb.Binary
			for ref, r := range refs {
				if b, ok := r.(*binpb.Binary); ok {
					binary = b
					if !bytes.Equal(b.Data.Value, doc) {
						t.Errorf("%s does not hold the source bytes", ref)
					}
				}
				forEachRef(r.ProtoReflect().Interface(), func(target string) {
					if _, ok := refs[target]; !ok && !replaced[target] && !strings.HasPrefix(target, "#") {
						t.Errorf("%s references %s, which is not in the Bundle", ref, target)
					}
				})
			}
			if binary == nil {
				t.Fatal("no source Binary")
			}
			found := false
			for _, r := range refs {
				for _, c := range contentURLs(r) {
					if c == "Binary/"+binary.Id.Value {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("no DocumentReference points at Binary/%s", binary.Id.Value)
			}
		})
	}
}

// forEachRef calls fn with the target of every Reference inside m.
func forEachRef(m proto.Message, fn func(string)) {
	walk(m, func(x proto.Message) {
		if r, ok := x.(*dtpb.Reference); ok {
			if s := resource.RefString(r); s != "" {
				fn(s)
			}
		}
	})
}

func contentURLs(m proto.Message) []string {
	var out []string
	walk(m, func(x proto.Message) {
		if a, ok := x.(*dtpb.Attachment); ok && a.Url != nil {
			out = append(out, a.Url.Value)
		}
	})
	return out
}

// TestIDsKeyedByPatient: two documents about two patients that reuse the
// same entry and encounter ids (the HL7 example root 2.16.840.1.113883.19
// recurs across samples) map to different resources, so that storing the
// second never rewrites the first patient's records; the same document
// maps to the same ids each time.
func TestIDsKeyedByPatient(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(corpusDir, "hl7-ccda21-discharge-summary.xml"))
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(doc, []byte(`extension="998991" root="2.16.840.1.113883.19.5.99999.2"`), []byte(`extension="998992" root="2.16.840.1.113883.19.5.99999.2"`), 1)
	if bytes.Equal(doc, other) {
		t.Fatal("the document's patient id changed: update the test")
	}
	ids := func(d []byte) map[string]bool {
		res, err := Convert(d, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, e := range res.Bundle.Entry {
			r := resource.Unwrap(e.Resource)
			switch resource.Type(r) {
			case "Encounter", "Condition", "Observation", "Procedure", "MedicationRequest", "AllergyIntolerance", "ServiceRequest":
				out[resource.Type(r)+"/"+resource.ID(r)] = true
			}
		}
		return out
	}
	first, again, second := ids(doc), ids(doc), ids(other)
	if len(first) == 0 || !maps.Equal(first, again) {
		t.Fatalf("the same document maps to other ids: %d then %d", len(first), len(again))
	}
	for id := range second {
		if first[id] {
			t.Errorf("%s is shared by two patients' documents", id)
		}
	}
}
