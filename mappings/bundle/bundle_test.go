package bundle

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	condpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

func sample() *Result {
	b := New(Mapping{Name: "test", Version: "1"})
	pid := ID("patient", "urn:oid:1.2.250.1.213.1.4.8", "123")
	pref := b.Put(&ppb.Patient{Id: &dtpb.Id{Value: pid}})
	b.Put(&condpb.Condition{
		Id:      &dtpb.Id{Value: ID("condition", "1")},
		Subject: resource.Ref("Patient", pid),
		Code:    &dtpb.CodeableConcept{Text: &dtpb.String{Value: "heart failure"}},
	})
	b.Put(&ppb.Patient{Id: &dtpb.Id{Value: pid}, Gender: &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_FEMALE}}) // replaces
	b.Warn("/ClinicalDocument/component[3]", "unknown section")
	return b.Finish(Source{Data: []byte("MSH|^~\\&|..."), ContentType: "text/plain", Key: []string{"A", "42"},
		Recorded: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Patient: pref})
}

func TestFinish(t *testing.T) {
	r := sample()
	types := map[string]int{}
	for _, e := range r.Bundle.Entry {
		types[resource.Type(resource.Unwrap(e.Resource))]++
	}
	want := map[string]int{"Patient": 1, "Condition": 1, "Binary": 1, "Device": 1, "OperationOutcome": 1, "Provenance": 1}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("%d %s entries, want %d (all: %v)", types[k], k, v, types)
		}
	}
	var prov *provpb.Provenance
	for _, e := range r.Bundle.Entry {
		res := resource.Unwrap(e.Resource)
		if len(category.Of(res)) == 0 {
			t.Errorf("%s has no category label", resource.Type(res))
		}
		if p, ok := res.(*provpb.Provenance); ok {
			prov = p
		}
	}
	if len(prov.Target) != 2 {
		t.Errorf("provenance targets %d resources, want 2 (the mapped resources)", len(prov.Target))
	}
	if len(r.Issues) != 1 {
		t.Errorf("issues = %v", r.Issues)
	}
	if a, b := sample().Bundle.Entry[0].Request.Url.Value, r.Bundle.Entry[0].Request.Url.Value; a != b {
		t.Errorf("ids are not deterministic: %s vs %s", a, b)
	}
}

// TestManyResources: past the number of resources from which the Builder
// indexes them, Put still replaces and Get still finds every one.
func TestManyResources(t *testing.T) {
	for _, n := range []int{indexFrom - 1, indexFrom, indexFrom + 1, 3 * indexFrom} {
		b := New(Mapping{Name: "test", Version: "1"})
		id := func(i int) string { return ID("patient", strconv.Itoa(i)) }
		for i := range n {
			b.Put(&ppb.Patient{Id: &dtpb.Id{Value: id(i)}})
		}
		for _, i := range []int{0, n / 2, n - 1} {
			b.Put(&ppb.Patient{Id: &dtpb.Id{Value: id(i)}, Gender: &ppb.Patient_GenderCode{Value: cpb.AdministrativeGenderCode_FEMALE}})
		}
		b.Put(&condpb.Condition{Id: &dtpb.Id{Value: id(1)}}) // same id, other type: another resource
		if b.Len() != n+1 {
			t.Errorf("%d patients: Len = %d, want %d", n, b.Len(), n+1)
		}
		for i := range n {
			p, ok := b.GetID("Patient", id(i)).(*ppb.Patient)
			if !ok {
				t.Fatalf("%d patients: Patient %d not found", n, i)
			}
			if female := p.GetGender() != nil; female != (i == 0 || i == n/2 || i == n-1) {
				t.Errorf("%d patients: Patient %d replaced: %v", n, i, female)
			}
		}
		if b.Get("Condition/"+id(1)) == nil || b.GetID("Condition", id(2)) != nil {
			t.Errorf("%d patients: Condition look-ups wrong", n)
		}
	}
}

// TestValidates runs the independent FHIR validator over the builder's output
// when RELAIS_VALIDATE is set (make validate; CI sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	dir := t.TempDir()
	out, err := codec.MustNew().EncodeIndent(sample().Bundle)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	fhirtest.RunValidator(t, dir)
}

// TestWarningsAsOutcome: the Builder's own OperationOutcome is the one
// outcome.Resource builds from the same warnings, and Issues gives back the
// warnings recorded.
func TestWarningsAsOutcome(t *testing.T) {
	b := New(Mapping{Name: "test", Version: "1"})
	var recorded []outcome.Issue
	warn := func(path, text string) {
		b.Warn(path, text)
		recorded = append(recorded, outcome.Issue{Severity: outcome.SevWarning, Code: cpb.IssueTypeCode_NOT_SUPPORTED, Path: path, Text: text})
	}
	warn("PID-9", "field not mapped")
	warn("", "no path")
	warn("ZBE-3", "")
	warn("PID-10", "field not mapped") // shares its details with PID-9's
	for _, text := range []string{"a", "b", "c", "d", "e", "a"} {
		warn("ZZZ-1", text)
	}
	for i := range 40 { // more than a block of issues
		warn("OBX-"+strconv.Itoa(i), "field not mapped")
	}
	if got := b.Issues(); !slices.Equal(got, recorded) {
		t.Errorf("Issues() = %v, want %v", got, recorded)
	}
	want := outcome.Resource(outcome.Invalid, recorded)
	if got := b.warned.outcome(); !proto.Equal(got, want) {
		t.Errorf("warnings' outcome = %v, want %v", got, want)
	}
}

func TestSecurityContext(t *testing.T) {
	for _, s := range []string{"", "Patient/p1", "Patient/", "Patient/p1/_history/2", "Spaceship/1", "urn:uuid:1", "#frag", "Group/g1"} {
		var want *dtpb.Reference
		if typ, id, _, ok := resource.RefTarget(refOf(s)); ok {
			want = resource.Ref(typ, id)
		}
		if got := securityContext(s); !proto.Equal(got, want) {
			t.Errorf("securityContext(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestLabelAsCategory: the Builder's own labelling gives the labels
// category.Label gives, in the same order.
func TestLabelAsCategory(t *testing.T) {
	sensitive := func() *ppb.Patient {
		p := &ppb.Patient{}
		category.LabelSensitive(p, category.R)
		return p
	}
	var shared labelCodings // across the cases, as a Builder's are across its resources
	for _, tc := range []struct {
		name string
		res  func() *ppb.Patient
		cats []category.Code
	}{
		{"default", func() *ppb.Patient { return &ppb.Patient{} }, nil},
		{"given", func() *ppb.Patient { return &ppb.Patient{} }, []category.Code{category.ADM, category.SOC}},
		{"repeated", func() *ppb.Patient { return &ppb.Patient{} }, []category.Code{category.ADM, category.ADM}},
		{"many", func() *ppb.Patient { return &ppb.Patient{} }, []category.Code{category.ADM, category.SOC, category.CLIN}},
		{"after sensitivity", sensitive, []category.Code{category.CLIN}},
		{"already labelled", func() *ppb.Patient {
			p := &ppb.Patient{}
			category.Label(p, category.SOC)
			return p
		}, nil},
		{"partly labelled", func() *ppb.Patient {
			p := &ppb.Patient{}
			category.Label(p, category.SOC)
			return p
		}, []category.Code{category.ADM, category.SOC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, got, spared := tc.res(), tc.res(), tc.res()
			category.Label(want, tc.cats...)
			label(got, "Patient", tc.cats, nil, nil)
			if !proto.Equal(want, got) {
				t.Errorf("label gives %v, category.Label %v", got, want)
			}
			// As Put labels: with room for the first label, and the
			// codings of the Builder's other resources.
			label(spared, "Patient", tc.cats, &labelSpare{}, &shared)
			if !proto.Equal(want, spared) {
				t.Errorf("label with spare and shared codings gives %v, category.Label %v", spared, want)
			}
		})
	}
}

// TestKnownEntries: the entries of the types Put knows wrap the resource as
// resource.Wrap does and label it as category.Label does.
func TestKnownEntries(t *testing.T) {
	for _, typ := range []string{"Patient", "RelatedPerson", "Practitioner", "Organization", "Location", "Encounter",
		"Condition", "Procedure", "AllergyIntolerance", "Observation", "DocumentReference", "Binary", "Device",
		"Provenance", "OperationOutcome", "CarePlan"} {
		res, err := resource.New(typ)
		if err != nil {
			t.Fatal(err)
		}
		resource.SetID(res, "x1")
		want := proto.Clone(res)
		category.Label(want, category.Default(typ))
		b := New(Mapping{Name: "test", Version: "1"})
		b.Put(res)
		e := b.entries[0]
		if got := resource.Unwrap(e.Resource); got != res {
			t.Errorf("%s: entry holds %v, not the resource put", typ, got)
		}
		if !proto.Equal(e.Resource, resource.MustWrap(want)) {
			t.Errorf("%s: entry resource %v, want %v", typ, e.Resource, want)
		}
		if got := e.GetRequest().GetUrl().GetValue(); got != typ+"/x1" {
			t.Errorf("%s: request url %q", typ, got)
		}
		if got := e.GetRequest().GetMethod().GetValue(); got != cpb.HTTPVerbCode_PUT {
			t.Errorf("%s: request method %v", typ, got)
		}
	}
}

// TestSensitiveSource: when an output carries a sensitive label, so do the
// resources Finish adds that describe the source: the Binary, the
// Provenance naming every output, and the warnings' OperationOutcome. A
// reader the label keeps from the outputs cannot list them through the
// Provenance.
func TestSensitiveSource(t *testing.T) {
	b := New(Mapping{Name: "test", Version: "1"})
	pid := ID("patient", "p")
	pref := b.Put(&ppb.Patient{Id: &dtpb.Id{Value: pid}})
	cond := &condpb.Condition{Id: &dtpb.Id{Value: ID("condition", "1")}, Subject: resource.Ref("Patient", pid)}
	category.LabelSensitive(cond, category.HIV)
	b.Put(cond)
	b.Warn("/ClinicalDocument/component[2]", "unknown section")
	r := b.Finish(Source{Data: []byte("<ClinicalDocument/>"), ContentType: "text/xml", Recorded: time.Unix(0, 0), Patient: pref})
	for _, e := range r.Bundle.Entry {
		res := resource.Unwrap(e.Resource)
		switch typ := resource.Type(res); typ {
		case "Binary", "Provenance", "OperationOutcome":
			if got := category.SensitivityOf(res); !slices.Equal(got, []category.Sensitivity{category.HIV}) {
				t.Errorf("%s sensitivity %v, want [HIV]", typ, got)
			}
		case "Patient", "Device":
			if got := category.SensitivityOf(res); len(got) != 0 {
				t.Errorf("%s sensitivity %v, want none", typ, got)
			}
		}
	}
}
