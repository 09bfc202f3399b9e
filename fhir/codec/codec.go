// Package codec reads and writes FHIR R4 JSON: it parses through one
// google/fhir jsonformat Unmarshaller built once at start-up, and prints
// exactly what jsonformat's Marshaller prints.
//
// Decode refuses JSON that parsers would silently alter (duplicate keys,
// lone surrogate escapes, invalid UTF-8; see package strictjson), then
// validates as it parses (required fields, primitive formats, reference
// types) and reports every problem with its element path. It first tries
// a direct decoder (internal/fhirjson's Decoder), about ten times cheaper,
// which returns only what jsonformat would return without any problem and
// declines everything else; jsonformat then decodes those inputs and
// produces the errors. Encode
// prints the compact JSON that the store keeps with each version, so that the
// read path never marshals again. It goes through a direct printer
// (internal/fhirjson), byte-identical to jsonformat's Marshaller and several
// times faster, which hands what it does not handle to jsonformat. Neither
// Encode nor EncodeIndent modifies its argument, although jsonformat's
// Marshaller would. Package codectest checks all this against jsonformat.
package codec

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec/internal/fhirjson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/strictjson"
)

// maxDepth bounds JSON nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// Codec converts between FHIR R4 JSON and google/fhir protos. It is safe for
// concurrent use.
type Codec struct {
	un   *jsonformat.Unmarshaller
	fast *fhirjson.Decoder
	mar  *fhirjson.Printer
}

// New builds a Codec. Times without a zone are read as UTC.
func New() (*Codec, error) {
	un, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("jsonformat unmarshaller: %w", err)
	}
	un.MaxNestingDepth = maxDepth
	fast, err := fhirjson.NewDecoder()
	if err != nil {
		return nil, err
	}
	mar, err := fhirjson.New()
	if err != nil {
		return nil, err
	}
	return &Codec{un: un, fast: fast, mar: mar}, nil
}

// MustNew is New for tests and start-up code where failure is fatal.
func MustNew() *Codec {
	c, err := New()
	if err != nil {
		panic(err)
	}
	return c
}

// Decode parses and validates one resource and returns it unwrapped (a
// *Patient, not a ContainedResource). Failures are *outcome.Error of kind
// Invalid with one issue per problem.
//
// Input that jsonformat would accept but alter is refused first, by
// strictjson: duplicate keys, which FHIR R4 JSON forbids (json.html) and
// jsonformat resolves silently (the last wins), lone surrogate escapes,
// which it stores as U+FFFD, and invalid UTF-8. Every resource that enters
// through Decode is checked, whichever decoder then parses it.
func (c *Codec) Decode(b []byte) (proto.Message, error) {
	b = WithoutBOM(b)
	if err := strictjson.Check(b); err != nil {
		return nil, err
	}
	return c.decode(b)
}

// ByteOrderMark is U+FEFF in UTF-8, which some editors write before the
// text they save.
const ByteOrderMark = "\xef\xbb\xbf"

// WithoutBOM is b without a leading byte order mark: RFC 8259 section 8.1
// lets a JSON parser ignore one, and the files an operator or a Windows
// application exports often start with it.
func WithoutBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte(ByteOrderMark)) }

// DecodeStored parses a resource this server stored: its JSON was checked
// by Decode when it came in and printed by the codec since, so the strict
// check is not run again (it costs 6–12% of a parse).
func (c *Codec) DecodeStored(b []byte) (proto.Message, error) { return c.decode(b) }

// decode is Decode without the strict check.
func (c *Codec) decode(b []byte) (proto.Message, error) {
	// The direct decoder accepts only valid JSON objects with a known
	// resourceType, so checkResourceType, which reads the whole body
	// again, is needed only when it declines.
	if m, err := c.fast.Decode(b); err == nil {
		return m, nil
	}
	return c.decodeJSONFormat(b)
}

// decodeJSONFormat is Decode without the direct decoder: the reference,
// and the path that reports errors.
func (c *Codec) decodeJSONFormat(b []byte) (proto.Message, error) {
	if err := checkResourceType(b); err != nil {
		return nil, err
	}
	rep := &reporter{}
	m, err := c.un.UnmarshalWithErrorReporter(b, rep)
	if err != nil {
		rep.issues = append(rep.issues, outcome.Issue{Severity: outcome.SevError, Text: err.Error()})
	}
	if len(rep.issues) > 0 {
		return nil, &outcome.Error{Kind: outcome.Invalid, Summary: "invalid resource", Issues: rep.issues}
	}
	res := resource.Unwrap(m.(*bcrpb.ContainedResource))
	if res == nil {
		return nil, outcome.New(outcome.Invalid, "empty resource")
	}
	return res, nil
}

// checkResourceType gives a clear error for JSON that is not an object or
// names no known resource type, before jsonformat's terser messages.
func checkResourceType(b []byte) error {
	var head struct {
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return &outcome.Error{Kind: outcome.Invalid, Summary: "invalid JSON",
			Issues: []outcome.Issue{{Severity: outcome.SevError, Text: "invalid JSON: " + err.Error()}}}
	}
	switch {
	case head.ResourceType == nil:
		return outcome.New(outcome.Invalid, "missing resourceType",
			outcome.Issue{Severity: outcome.SevError, Path: "resourceType", Text: "resourceType is required"})
	case !resource.Known(*head.ResourceType):
		return outcome.New(outcome.Invalid, "unknown resourceType",
			outcome.Issue{Severity: outcome.SevError, Path: "resourceType", Text: fmt.Sprintf("unknown resource type %q", *head.ResourceType)})
	}
	return nil
}

// Encode prints m (a resource or a ContainedResource) as compact JSON,
// byte for byte what jsonformat's compact Marshaller prints. It does not
// modify m.
func (c *Codec) Encode(m proto.Message) ([]byte, error) {
	m, err := unwrap(m)
	if err != nil {
		return nil, err
	}
	b, err := c.mar.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", resource.Type(m), err)
	}
	return b, nil
}

// EncodeIndent prints m as indented JSON, for people and golden files:
// Encode's output indented by two spaces, which is what jsonformat's pretty
// Marshaller prints (encoding/json indents its compact output the same
// way). It does not modify m.
func (c *Codec) EncodeIndent(m proto.Message) ([]byte, error) {
	b, err := c.Encode(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(2 * len(b))
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, fmt.Errorf("indent: %w", err)
	}
	return buf.Bytes(), nil
}

func unwrap(m proto.Message) (proto.Message, error) {
	cr, ok := m.(*bcrpb.ContainedResource)
	if !ok {
		return m, nil
	}
	if m = resource.Unwrap(cr); m == nil {
		return nil, fmt.Errorf("encode: empty ContainedResource")
	}
	return m, nil
}

// Compact removes insignificant white space from JSON, for comparing documents.
func Compact(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// reporter collects jsonformat validation problems as outcome issues.
type reporter struct{ issues []outcome.Issue }

func (r *reporter) ReportValidationError(path string, err error) error {
	r.issues = append(r.issues, outcome.Issue{Severity: outcome.SevError, Path: path, Text: err.Error()})
	return nil
}

func (r *reporter) ReportValidationWarning(string, error) error { return nil }
