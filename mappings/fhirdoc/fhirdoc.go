// Package fhirdoc takes in FHIR R4 documents (a Bundle of type document,
// its Composition first: https://hl7.org/fhir/R4/documents.html), such as
// a discharge summary or an International Patient Summary that a hospital
// EHR exports, and turns them into one transaction Bundle of the kind every
// other mapping gives (mappings/bundle): each resource a PUT to an id of
// its own, its references rewritten to those ids, a DocumentReference for
// the document, the document kept as the source Binary
// (application/fhir+json), and a Provenance naming everything. It is a
// pure function from bytes to FHIR: no I/O, no logging.
//
// # Basics
//
// The Bundle is read by the codec (strict JSON, every resource validated),
// then the document rules that matter to a receiver are checked: R4 bdl-9
// (an identifier with system and value), bdl-10 (a timestamp), bdl-11 (the
// Composition first), bdl-3 and bdl-4 (no request or response), bdl-7 (a
// fullUrl unique in the Bundle) and every entry a fullUrl and a resource,
// a RESTful fullUrl naming its own resource, and a Composition.subject that
// is a Patient of the Bundle. Anything else is refused with every problem
// named; nothing is half-read.
//
// Ids are bundle.ID hashes, as the CDA mapping makes them: the document
// (Bundle.identifier) and the set (Composition.identifier, which R4 makes
// version-independent) key the Binary, Provenance, DocumentReference and
// Composition; an entry is keyed by its first business identifier, else by
// its set and fullUrl; and what belongs to the patient is keyed by her
// too, so a document that reuses another patient's identifiers never
// rewrites her records, and no id can be one another source makes. The
// same document sent again gives the same ids.
//
// References between entries (fullUrl, urn:uuid:, relative or absolute
// URLs, with or without _history) are resolved as R4 bundle.html
// #references says and rewritten to the new Type/id.
//
// # Caveats
//
// Resources that would govern access or workflow rather than state what
// the document says (Consent, CareTeam, Task, Subscription, PlanDefinition,
// AuditEvent, Provenance, OperationOutcome, Endpoint, Bundle) are not
// written: they are reported as warnings, and references to them keep
// their display only. A relative reference from an entry whose fullUrl is a
// RESTful URL names the sender's server when no entry holds it, and is
// kept as that absolute URL (it is not one of this server's resources); a
// relative reference from an entry identified by a urn: names this server.
// A urn: reference to no entry is refused: nothing can resolve it.
package fhirdoc

import (
	"fmt"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/mappings/bundle"
)

// Mapping identifies this mapping in the Provenance of every Bundle.
var Mapping = bundle.Mapping{Name: "fhirdoc", Version: "1.0.0"}

// ContentType is the media type the source Binary is stored with.
const ContentType = "application/fhir+json"

// DefaultMaxSize is the document size limit when Options.MaxSize is 0.
const DefaultMaxSize = 16 << 20

// Options configure a conversion. The zero value is usable.
type Options struct {
	// Now gives the time recorded in the Provenance; default time.Now.
	Now func() time.Time
	// MaxSize is the largest document accepted, in bytes; default
	// DefaultMaxSize.
	MaxSize int
	// Codec reads the document; default: a shared one.
	Codec *codec.Codec
}

func (o Options) withDefaults() (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Codec == nil {
		c, err := defaultCodec()
		if err != nil {
			return o, err
		}
		o.Codec = c
	}
	return o, nil
}

// Convert translates one FHIR R4 document into a transaction Bundle.
//
// It refuses, with an *outcome.Error of kind Invalid whose issues name
// every problem, input that is not a FHIR Bundle, a Bundle that is not a
// document, and a document that breaks the rules listed in the package
// documentation; input over the size limit is kind TooLarge. What it does
// not write is reported as warnings (Result.Issues and the Bundle's
// OperationOutcome).
func Convert(data []byte, opts Options) (res *bundle.Result, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	defer func() {
		// Defence in depth: a bug must not take the gateway down. The fuzz
		// test treats this error as a failure.
		if r := recover(); r != nil {
			res, err = nil, outcome.New(outcome.Internal, "FHIR document mapping failed")
		}
	}()
	if len(data) > opts.MaxSize {
		return nil, outcome.New(outcome.TooLarge, "FHIR document too large",
			issue("Bundle", fmt.Sprintf("document of %d bytes exceeds the limit of %d bytes", len(data), opts.MaxSize)))
	}
	m, err := opts.Codec.Decode(data)
	if err != nil {
		return nil, err
	}
	b, ok := m.(*bcrpb.Bundle)
	if !ok {
		return nil, invalid("not a FHIR document", issue("", "the resource is not a Bundle"))
	}
	if err := checkType(b); err != nil {
		return nil, err
	}
	d, err := read(b)
	if err != nil {
		return nil, err
	}
	return d.convert(data, opts)
}

// checkType refuses a Bundle that is not a document, saying where a
// transaction or batch goes instead (R4 http.html#transaction): those are
// interactions with the server, not documents to take in.
func checkType(b *bcrpb.Bundle) error {
	switch t := b.GetType().GetValue(); t {
	case cpb.BundleTypeCode_DOCUMENT:
		return nil
	case cpb.BundleTypeCode_TRANSACTION, cpb.BundleTypeCode_BATCH:
		return invalid("not a FHIR document",
			issue("Bundle.type", "Bundle.type is "+code(t.String())+": a transaction or batch is applied by POST to the FHIR base (/fhir), not taken in as a document"))
	default:
		return invalid("not a FHIR document",
			issue("Bundle.type", "Bundle.type is "+code(t.String())+": only a document (R4 documents.html) is taken in here"))
	}
}

func invalid(summary string, issues ...outcome.Issue) *outcome.Error {
	return outcome.New(outcome.Invalid, summary, issues...)
}

func issue(path, text string) outcome.Issue {
	return outcome.Issue{Severity: outcome.SevError, Path: path, Text: text}
}
