package resource

import (
	"testing"
	"time"

	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
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
