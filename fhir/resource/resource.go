// Package resource gives uniform access to any FHIR R4 resource held as a
// google/fhir proto: its type name, id and meta, and the ContainedResource
// wrapper that jsonformat reads and that Bundle entries carry.
//
// Everything here works through protoreflect on the generated R4 messages,
// so it applies to all 146 R4 resource types without a per-type switch; the
// types Relais produces take faster paths through the generated code
// (known.go), with the same results.
package resource

import (
	"fmt"
	"sort"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// oneof describes ContainedResource.oneof_resource; every R4 resource type is
// one of its fields, so it doubles as the registry of resource types.
var (
	containedDesc = (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor()
	oneof         = containedDesc.Oneofs().ByName("oneof_resource")
	fieldByType   = func() map[string]protoreflect.FieldDescriptor {
		m := make(map[string]protoreflect.FieldDescriptor, oneof.Fields().Len())
		for i := 0; i < oneof.Fields().Len(); i++ {
			f := oneof.Fields().Get(i)
			m[string(f.Message().Name())] = f
		}
		return m
	}()
	typeNames = func() []string {
		names := make([]string, 0, len(fieldByType))
		for n := range fieldByType {
			names = append(names, n)
		}
		sort.Strings(names)
		return names
	}()
)

// Types returns the names of every R4 resource type, sorted. The caller must
// not modify the slice.
func Types() []string { return typeNames }

// Known reports whether name is an R4 resource type.
func Known(name string) bool { _, ok := fieldByType[name]; return ok }

// Type returns the FHIR resource type of m, e.g. "Patient".
func Type(m proto.Message) string { return string(m.ProtoReflect().Descriptor().Name()) }

// New returns an empty resource of the named type.
func New(typeName string) (proto.Message, error) {
	f, ok := fieldByType[typeName]
	if !ok {
		return nil, fmt.Errorf("unknown resource type %q", typeName)
	}
	cr := (&bcrpb.ContainedResource{}).ProtoReflect()
	return cr.NewField(f).Message().Interface(), nil
}

// Wrap puts a resource into a ContainedResource, as Bundle entries hold them.
func Wrap(m proto.Message) (*bcrpb.ContainedResource, error) {
	if cr, ok := m.(*bcrpb.ContainedResource); ok {
		return cr, nil
	}
	if cr := wrapKnown(m); cr != nil {
		return cr, nil
	}
	return wrapReflect(m)
}

func wrapReflect(m proto.Message) (*bcrpb.ContainedResource, error) {
	f, ok := fieldByType[Type(m)]
	if !ok || f.Message().FullName() != m.ProtoReflect().Descriptor().FullName() {
		return nil, fmt.Errorf("%s is not an R4 resource", m.ProtoReflect().Descriptor().FullName())
	}
	cr := &bcrpb.ContainedResource{}
	cr.ProtoReflect().Set(f, protoreflect.ValueOfMessage(m.ProtoReflect()))
	return cr, nil
}

// MustWrap is Wrap for resources built by our own code, where a failure is a
// programming error.
func MustWrap(m proto.Message) *bcrpb.ContainedResource {
	cr, err := Wrap(m)
	if err != nil {
		panic(err)
	}
	return cr
}

// Unwrap returns the resource inside a ContainedResource, or nil if it is empty.
func Unwrap(cr *bcrpb.ContainedResource) proto.Message {
	if cr == nil {
		return nil
	}
	if m, ok := unwrapKnown(cr); ok {
		return m
	}
	return unwrapReflect(cr)
}

func unwrapReflect(cr *bcrpb.ContainedResource) proto.Message {
	r := cr.ProtoReflect()
	f := r.WhichOneof(oneof)
	if f == nil {
		return nil
	}
	return r.Get(f).Message().Interface()
}

// The generated getters of every resource type, which plain method calls
// reach faster than protoreflect.
type (
	idGetter   interface{ GetId() *dtpb.Id }
	metaGetter interface{ GetMeta() *dtpb.Meta }
)

// ID returns the logical id of m, or "".
func ID(m proto.Message) string {
	if g, ok := m.(idGetter); ok {
		return g.GetId().GetValue()
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("id")
	if f == nil || !r.Has(f) {
		return ""
	}
	return r.Get(f).Message().Interface().(*dtpb.Id).GetValue()
}

// SetID sets the logical id of m; an empty id clears it.
func SetID(m proto.Message, id string) {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("id")
	if id == "" {
		r.Clear(f)
		return
	}
	r.Set(f, protoreflect.ValueOfMessage((&dtpb.Id{Value: id}).ProtoReflect()))
}

// Meta returns the meta of m, creating an empty one if it has none.
func Meta(m proto.Message) *dtpb.Meta {
	if g, ok := m.(metaGetter); ok {
		if meta := g.GetMeta(); meta != nil {
			return meta
		}
		if meta := newMetaKnown(m); meta != nil {
			return meta
		}
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("meta")
	return r.Mutable(f).Message().Interface().(*dtpb.Meta)
}

// PeekMeta returns the meta of m without creating one (possibly nil).
func PeekMeta(m proto.Message) *dtpb.Meta {
	if g, ok := m.(metaGetter); ok {
		return g.GetMeta()
	}
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("meta")
	if !r.Has(f) {
		return nil
	}
	return r.Get(f).Message().Interface().(*dtpb.Meta)
}

// SetVersion stamps meta.versionId and meta.lastUpdated.
func SetVersion(m proto.Message, version uint64, at time.Time) {
	meta := Meta(m)
	meta.VersionId = &dtpb.Id{Value: fmt.Sprint(version)}
	meta.LastUpdated = Instant(at)
}

// Instant converts t to a FHIR instant at microsecond precision in UTC.
func Instant(t time.Time) *dtpb.Instant {
	return &dtpb.Instant{
		ValueUs:   t.UnixMicro(),
		Timezone:  "Z",
		Precision: dtpb.Instant_MICROSECOND,
	}
}

// Identifiers returns a resource's business identifiers (its repeated
// element identifier), none for a type without them.
func Identifiers(m proto.Message) []*dtpb.Identifier {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("identifier")
	if f == nil || !f.IsList() {
		return nil
	}
	l := r.Get(f).List()
	out := make([]*dtpb.Identifier, 0, l.Len())
	for i := 0; i < l.Len(); i++ {
		if id, ok := l.Get(i).Message().Interface().(*dtpb.Identifier); ok {
			out = append(out, id)
		}
	}
	return out
}
