package cda

import (
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
)

var printer = codec.MustNew()

// EncodeJSON prints a resource or Bundle (typically Result.Bundle) as
// compact FHIR JSON with fhir/codec.
func EncodeJSON(m proto.Message) ([]byte, error) { return printer.Encode(m) }
