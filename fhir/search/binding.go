package search

import (
	"strings"

	annpb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
)

// codeSystems returns, for a token parameter of typ whose every path ends
// at an element of FHIR type code with a required binding (Task.status,
// Patient.gender), the code system each code of the binding belongs to;
// nil for any other parameter. Such an element carries no system: the
// binding implies it (https://hl7.org/fhir/R4/search.html#token), and the
// index holds its codes with an empty system. google/fhir generates these
// elements as enums annotated with their code system (and, in a value set
// drawing on several, each value with its own).
func codeSystems(typ string, p Param) map[string]string {
	if p.Kind != Token || len(p.Paths) == 0 {
		return nil
	}
	m, err := resource.New(typ)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, path := range p.Paths {
		f := enumField(m.ProtoReflect().Descriptor(), strings.Split(path, "."))
		if f == nil {
			return nil
		}
		enumSystem := ""
		if opts := f.Enum().Options(); proto.HasExtension(opts, annpb.E_FhirCodeSystemUrl) {
			enumSystem = proto.GetExtension(opts, annpb.E_FhirCodeSystemUrl).(string)
		}
		values := f.Enum().Values()
		for i := 0; i < values.Len(); i++ {
			ev := values.Get(i)
			code := enumCode(f, ev.Number())
			if code == "" {
				continue
			}
			system := enumSystem
			if opts := ev.Options(); proto.HasExtension(opts, annpb.E_SourceCodeSystem) {
				system = proto.GetExtension(opts, annpb.E_SourceCodeSystem).(string)
			}
			if system == "" {
				return nil // no system to imply: a token like any other
			}
			out[code] = system
		}
	}
	return out
}

// enumField follows path from d to a google/fhir code element: a message
// whose "value" is an enum. It returns that enum field, or nil when the
// path ends elsewhere or crosses a choice type (whose content is known
// only at run time).
func enumField(d protoreflect.MessageDescriptor, path []string) protoreflect.FieldDescriptor {
	for _, step := range path {
		if d.Oneofs().ByName("choice") != nil {
			return nil
		}
		f := d.Fields().ByName(protoreflect.Name(step))
		if f == nil || f.Kind() != protoreflect.MessageKind {
			return nil
		}
		d = f.Message()
	}
	if v := d.Fields().ByName("value"); v != nil && v.Kind() == protoreflect.EnumKind {
		return v
	}
	return nil
}
