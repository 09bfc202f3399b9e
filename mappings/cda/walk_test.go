package cda

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walk calls fn on m and every message nested in it.
func walk(m proto.Message, fn func(proto.Message)) {
	fn(m)
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message().Interface(), fn)
			}
		case fd.IsMap():
		case fd.Message() != nil:
			walk(v.Message().Interface(), fn)
		}
		return true
	})
}
