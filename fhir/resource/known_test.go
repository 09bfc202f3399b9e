package resource

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestKnownAgreesWithGeneric: the generated-code paths of known.go give
// exactly what the protoreflect paths give, for every type they cover.
func TestKnownAgreesWithGeneric(t *testing.T) {
	covered := 0
	for _, typ := range Types() {
		m, err := New(typ)
		if err != nil {
			t.Fatal(err)
		}
		SetID(m, "x1")
		fast := wrapKnown(m)
		if fast == nil {
			continue
		}
		covered++
		slow, err := wrapReflect(m)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(fast, slow) {
			t.Errorf("%s: wrapKnown differs from wrapReflect", typ)
		}
		if back, ok := unwrapKnown(slow); !ok || back != m || unwrapReflect(fast) != m {
			t.Errorf("%s: unwrapKnown does not return the wrapped resource", typ)
		}
		if !proto.Equal(refKnown(typ, "r1"), refReflect(typ, "r1")) {
			t.Errorf("%s: refKnown differs from refReflect", typ)
		}
		if ID(m) != "x1" {
			t.Errorf("%s: ID = %q", typ, ID(m))
		}
		if PeekMeta(m) != nil {
			t.Errorf("%s: PeekMeta of a new resource is not nil", typ)
		}
		meta := newMetaKnown(m)
		if meta == nil || PeekMeta(m) != meta || Meta(m) != meta {
			t.Errorf("%s: newMetaKnown did not set the meta", typ)
		}
	}
	if covered < 30 {
		t.Errorf("known.go covers %d types", covered)
	}
	if refKnown("Spaceship", "1") != nil || wrapKnown(mustNew(t, "Questionnaire")) != nil {
		t.Error("known.go claims an unknown type")
	}
}

func mustNew(t *testing.T, typ string) proto.Message {
	t.Helper()
	m, err := New(typ)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
