package resource

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxString is the largest FHIR string: R4 datatypes.html, string:
// "Strings SHALL NOT exceed 1MB (1024*1024 characters) in size".
const MaxString = 1 << 20

// LongString returns the name of the first element of m whose string
// value exceeds MaxString characters, and whether there is one (binary
// content, a base64Binary, is not a string). Its cost is a walk of m:
// callers skip it when what m came from is shorter than MaxString.
func LongString(m proto.Message) (string, bool) {
	name, found := longString(m.ProtoReflect())
	return strings.TrimSuffix(name, ".value"), found
}

func longString(m protoreflect.Message) (name string, found bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && !fd.IsList() && !fd.IsMap():
			if s := v.String(); len(s) > MaxString && len([]rune(s)) > MaxString {
				name, found = string(fd.Name()), true
			}
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				if n, ok := longString(l.Get(i).Message()); ok {
					name, found = string(fd.Name())+"."+n, true
				}
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			if n, ok := longString(v.Message()); ok {
				name, found = string(fd.Name())+"."+n, true
			}
		}
		return !found
	})
	return name, found
}
