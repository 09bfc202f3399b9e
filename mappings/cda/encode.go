package cda

import (
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/mappings/cda/internal/fhirjson"
)

// printer is immutable after construction and safe for concurrent use; it
// only caches descriptor lookups.
var printer = mustPrinter()

func mustPrinter() *fhirjson.Printer {
	p, err := fhirjson.New()
	if err != nil {
		panic(err)
	}
	return p
}

// EncodeJSON prints a resource or Bundle (typically Result.Bundle) as
// compact FHIR JSON, byte for byte what fhir/codec.Codec.Encode prints, at a
// fraction of the cost: it writes each element once into one buffer
// instead of going through jsonformat's maps and encoding/json. Anything it
// does not handle itself is printed by jsonformat.
func EncodeJSON(m proto.Message) ([]byte, error) { return printer.Marshal(m) }
