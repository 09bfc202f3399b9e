// Package codectest checks fhir/codec's printing against jsonformat, the
// reference it must match byte for byte. Tests of packages that produce
// resources (the codec's own, the mappings' cross-check) run it on
// everything they have.
package codectest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/codec/internal/fhirjson"
	"github.com/relais-health/relais/fhir/resource"
)

// Checker compares a Codec with jsonformat's Marshallers. It is safe for
// concurrent use.
type Checker struct {
	codec  *codec.Codec
	direct *fhirjson.Printer
	ref    *jsonformat.Marshaller
	pretty *jsonformat.Marshaller
}

// New returns a Checker of c.
func New(c *codec.Codec) (*Checker, error) {
	p, err := fhirjson.New()
	if err != nil {
		return nil, err
	}
	ref, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		return nil, err
	}
	pretty, err := jsonformat.NewPrettyMarshaller(fhirversion.R4)
	if err != nil {
		return nil, err
	}
	return &Checker{codec: c, direct: p, ref: ref, pretty: pretty}, nil
}

// MustNew is New for tests.
func MustNew(c *codec.Codec) *Checker {
	k, err := New(c)
	if err != nil {
		panic(err)
	}
	return k
}

// Check prints m (a resource or a ContainedResource) with the codec's
// Encode and EncodeIndent and with jsonformat, and fails if the bytes
// differ, if the codec errs where jsonformat does not (or the reverse), or
// if printing modified m. direct reports whether the direct printer printed
// m entirely by itself; when it is false, some resource inside m went
// through the jsonformat fallback, and equality there proves nothing about
// the direct printer.
func (k *Checker) Check(m proto.Message) (direct bool, err error) {
	if cr, ok := m.(*bcrpb.ContainedResource); ok {
		if m = resource.Unwrap(cr); m == nil {
			return false, errors.New("empty ContainedResource")
		}
	}
	orig := proto.Clone(m)
	want, wantErr := k.ref.MarshalResource(proto.Clone(m))
	got, gotErr := k.codec.Encode(m)
	if (wantErr == nil) != (gotErr == nil) {
		return false, fmt.Errorf("Encode: error %v, jsonformat: error %v", gotErr, wantErr)
	}
	if !proto.Equal(m, orig) {
		return false, errors.New("Encode modified its argument")
	}
	if wantErr != nil {
		return false, nil
	}
	if err := Diff("Encode", got, want); err != nil {
		return false, err
	}
	d, err := k.direct.MarshalDirect(m)
	switch {
	case errors.Is(err, fhirjson.ErrNotHandled):
	case err != nil:
		return false, fmt.Errorf("direct printer: %w", err)
	default:
		if err := Diff("direct printer", d, want); err != nil {
			return false, err
		}
		direct = true
	}
	want, wantErr = k.pretty.MarshalResource(proto.Clone(m))
	got, gotErr = k.codec.EncodeIndent(m)
	if wantErr != nil || gotErr != nil {
		return false, fmt.Errorf("EncodeIndent: error %v, jsonformat: error %v", gotErr, wantErr)
	}
	if !proto.Equal(m, orig) {
		return false, errors.New("EncodeIndent modified its argument")
	}
	return direct, Diff("EncodeIndent", got, want)
}

// Diff describes the first difference between got and want, or returns nil.
func Diff(what string, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Errorf("%s differs from jsonformat at byte %d:\ngot:  %s\nwant: %s", what, i,
		got[lo:min(len(got), i+80)], want[lo:min(len(want), i+80)])
}

// Resources returns m and every resource inside it, at any depth: Bundle
// entries, Parameters resources, contained resources.
func Resources(m proto.Message) []proto.Message {
	out := []proto.Message{m}
	collect(m.ProtoReflect(), &out)
	return out
}

func collect(m protoreflect.Message, out *[]proto.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message(), out)
			}
			return true
		}
		visit(v.Message(), out)
		return true
	})
}

func visit(m protoreflect.Message, out *[]proto.Message) {
	switch x := m.Interface().(type) {
	case *bcrpb.ContainedResource:
		if r := resource.Unwrap(x); r != nil {
			*out = append(*out, r)
		}
	case *anypb.Any:
		cr := &bcrpb.ContainedResource{}
		if x.UnmarshalTo(cr) == nil {
			if r := resource.Unwrap(cr); r != nil {
				*out = append(*out, r)
				collect(r.ProtoReflect(), out)
			}
		}
		return
	}
	collect(m, out)
}
