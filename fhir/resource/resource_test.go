package resource

import (
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestWrapUnwrapNew(t *testing.T) {
	if len(Types()) < 140 {
		t.Fatalf("only %d resource types", len(Types()))
	}
	for _, typ := range Types() {
		m, err := New(typ)
		if err != nil {
			t.Fatal(err)
		}
		if Type(m) != typ {
			t.Errorf("New(%s) made a %s", typ, Type(m))
		}
		SetID(m, "x1")
		cr, err := Wrap(m)
		if err != nil {
			t.Fatal(err)
		}
		if back := Unwrap(cr); !proto.Equal(back, m) || ID(back) != "x1" {
			t.Errorf("%s: wrap/unwrap lost data", typ)
		}
	}
	if _, err := New("Spaceship"); err == nil {
		t.Error("New(Spaceship) succeeded")
	}
}

func TestMetaAndVersion(t *testing.T) {
	p := &ppb.Patient{}
	if PeekMeta(p) != nil {
		t.Fatal("PeekMeta created meta")
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	SetVersion(p, 7, at)
	if got := p.GetMeta().GetVersionId().GetValue(); got != "7" {
		t.Errorf("versionId = %q", got)
	}
	if got := p.GetMeta().GetLastUpdated().GetValueUs(); got != at.UnixMicro() {
		t.Errorf("lastUpdated = %d", got)
	}
}

func TestReferences(t *testing.T) {
	tests := []struct {
		in       string
		typ, id  string
		ok       bool
		rendered string
	}{
		{"Patient/123", "Patient", "123", true, "Patient/123"},
		{"CarePlan/cp-1/_history/2", "CarePlan", "cp-1", true, "CarePlan/cp-1"},
		{"urn:uuid:8f3c", "", "", false, "urn:uuid:8f3c"},
		{"http://elsewhere.example/fhir/Patient/1", "", "", false, "http://elsewhere.example/fhir/Patient/1"},
	}
	for _, tt := range tests {
		ref := Ref("Patient", "0")
		SetRefString(ref, tt.in)
		typ, id, _, ok := RefTarget(ref)
		if typ != tt.typ || id != tt.id || ok != tt.ok {
			t.Errorf("RefTarget(%s) = %s %s %v", tt.in, typ, id, ok)
		}
		if got := RefString(ref); got != tt.rendered {
			t.Errorf("RefString(%s) = %s", tt.in, got)
		}
	}
	if got := RefString(Ref("DocumentReference", "d1")); got != "DocumentReference/d1" {
		t.Errorf("typed ref renders %q", got)
	}
}

// TestRefTargetEveryTypedCase: every typed case of Reference's oneof (one
// per resource type google/fhir has a field for) is read as its type and
// id, as protobuf reflection reads it, and none is left to the URI path.
func TestRefTargetEveryTypedCase(t *testing.T) {
	oneof := refDesc.Oneofs().ByName("reference")
	typed := 0
	for i := 0; i < oneof.Fields().Len(); i++ {
		f := oneof.Fields().Get(i)
		want, isTyped := refTypeByField[f.Number()]
		if !isTyped {
			continue // uri, fragment
		}
		typed++
		ref := &dtpb.Reference{}
		id := &dtpb.ReferenceId{Value: "x-" + want}
		ref.ProtoReflect().Set(f, protoreflect.ValueOfMessage(id.ProtoReflect()))
		if got := ref.ProtoReflect().WhichOneof(oneof); got != f {
			t.Fatalf("%s: set %s, reflection reads %v", want, f.Name(), got)
		}
		typ, gotID, uri, ok := RefTarget(ref)
		if typ != want || gotID != id.Value || uri != "" || !ok {
			t.Errorf("%s: RefTarget = %q %q %q %v", f.Name(), typ, gotID, uri, ok)
		}
	}
	if typed < 140 || typed != len(refTypeByGo) {
		t.Errorf("%d typed cases, %d Go types known", typed, len(refTypeByGo))
	}
	if typ, id, uri, ok := RefTarget(&dtpb.Reference{}); typ != "" || id != "" || uri != "" || ok {
		t.Errorf("empty reference: %q %q %q %v", typ, id, uri, ok)
	}
}

func TestIdentifiers(t *testing.T) {
	p := &ppb.Patient{Identifier: []*dtpb.Identifier{{Value: &dtpb.String{Value: "a"}}, {Value: &dtpb.String{Value: "b"}}}}
	if got := Identifiers(p); len(got) != 2 || got[1].GetValue().GetValue() != "b" {
		t.Errorf("Identifiers(Patient) = %v", got)
	}
	// Binary has no identifier element; Bundle's is not a list
	for _, typ := range []string{"Binary", "Bundle"} {
		m, _ := New(typ)
		if got := Identifiers(m); got != nil {
			t.Errorf("Identifiers(%s) = %v", typ, got)
		}
	}
}
