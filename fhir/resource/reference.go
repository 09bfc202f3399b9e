package resource

import (
	"reflect"
	"strings"
	"unicode"

	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// refFields maps a resource type to its typed field in Reference's
// "reference" oneof (google/fhir stores "Patient/1" as patient_id {value:1}),
// and back.
var (
	refDesc        = (&dtpb.Reference{}).ProtoReflect().Descriptor()
	refFieldByType = map[string]protoreflect.FieldDescriptor{}
	refTypeByField = map[protoreflect.FieldNumber]string{}
	// refTypeByGo maps the Go type of each typed case of the oneof
	// (*dtpb.Reference_PatientId...) to its resource type: RefTarget
	// reads a reference without protobuf reflection, whose WhichOneof
	// costs more than the rest of it on every reference the search index
	// and the consent engine read.
	refTypeByGo = map[reflect.Type]string{}
)

func init() {
	for _, t := range typeNames {
		if f := refDesc.Fields().ByName(protoreflect.Name(snake(t) + "_id")); f != nil {
			refFieldByType[t] = f
			refTypeByField[f.Number()] = t
			r := &dtpb.Reference{}
			r.ProtoReflect().Set(f, protoreflect.ValueOfMessage((&dtpb.ReferenceId{}).ProtoReflect()))
			refTypeByGo[reflect.TypeOf(r.Reference)] = t
		}
	}
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Ref returns a reference to typ/id in google/fhir's typed form.
func Ref(typ, id string) *dtpb.Reference {
	if ref := refKnown(typ, id); ref != nil {
		return ref
	}
	return refReflect(typ, id)
}

func refReflect(typ, id string) *dtpb.Reference {
	ref := &dtpb.Reference{}
	f, ok := refFieldByType[typ]
	if !ok {
		ref.Reference = &dtpb.Reference_Uri{Uri: &dtpb.String{Value: typ + "/" + id}}
		return ref
	}
	r := ref.ProtoReflect()
	r.Set(f, protoreflect.ValueOfMessage((&dtpb.ReferenceId{Value: id}).ProtoReflect()))
	return ref
}

// RefTo returns a reference to the resource m, which must have an id.
func RefTo(m interface{ ProtoReflect() protoreflect.Message }) *dtpb.Reference {
	return Ref(string(m.ProtoReflect().Descriptor().Name()), ID(m))
}

// RefTarget returns the type and id a reference points to, in either the
// typed form or a relative "Type/id[/_history/n]" URI. Absolute, urn: and
// fragment references give ok == false with uri set to the literal.
func RefTarget(ref *dtpb.Reference) (typ, id, uri string, ok bool) {
	if ref == nil {
		return "", "", "", false
	}
	if ref.Reference == nil {
		return "", "", "", false
	}
	if t, found := refTypeByGo[reflect.TypeOf(ref.Reference)]; found {
		// every typed case is a struct of one *ReferenceId field
		id, _ := reflect.ValueOf(ref.Reference).Elem().Field(0).Interface().(*dtpb.ReferenceId)
		return t, id.GetValue(), "", true
	}
	switch v := ref.Reference.(type) {
	case *dtpb.Reference_Uri:
		uri = v.Uri.GetValue()
	case *dtpb.Reference_Fragment:
		return "", "", "#" + v.Fragment.GetValue(), false
	default:
		return "", "", "", false
	}
	t, rest, found := strings.Cut(uri, "/")
	if !found || !Known(t) {
		return "", "", uri, false
	}
	id, _, _ = strings.Cut(rest, "/")
	return t, id, uri, id != ""
}

// RefString renders a reference as the literal string it stands for
// ("Patient/1", "urn:uuid:...", "#frag"), or "".
func RefString(ref *dtpb.Reference) string {
	t, id, uri, ok := RefTarget(ref)
	if ok {
		return t + "/" + id
	}
	return uri
}

// SetRefString points ref at a literal string, normalising "Type/id" to the
// typed form.
func SetRefString(ref *dtpb.Reference, s string) {
	ref.Reference = &dtpb.Reference_Uri{Uri: &dtpb.String{Value: s}}
	_ = jsonformat.NormalizeReference(ref) // leaves non-relative URIs as they are
}

// WalkReferences calls fn for every Reference anywhere inside m, including
// inside contained resources.
func WalkReferences(m interface{ ProtoReflect() protoreflect.Message }, fn func(*dtpb.Reference)) {
	walkRefs(m.ProtoReflect(), fn)
}

var refFullName = refDesc.FullName()

func walkRefs(m protoreflect.Message, fn func(*dtpb.Reference)) {
	if m.Descriptor().FullName() == refFullName {
		fn(m.Interface().(*dtpb.Reference))
		return
	}
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if f.Kind() != protoreflect.MessageKind && f.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case f.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkRefs(l.Get(i).Message(), fn)
			}
		case f.IsMap():
		default:
			walkRefs(v.Message(), fn)
		}
		return true
	})
}
