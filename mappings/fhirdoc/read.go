package fhirdoc

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

var defaultCodec = sync.OnceValues(codec.New)

// doc is a document that passed the checks of read.
type doc struct {
	bundle  *bcrpb.Bundle
	comp    *comppb.Composition
	entries []*entry
	subject int // the entry of Composition.subject

	byFull   map[string]int // fullUrl (without _history) -> entry
	byTypeID map[string]int // "Type/id" of the resources that have one, when unique; -1 when not
}

// entry is one entry of the document.
type entry struct {
	full     string // fullUrl as sent
	typ, was string // resource type and the id it was sent with
	res      proto.Message
	id       string // the id it is written with
	dropped  bool   // not written: a type in notWritten
}

// read checks the document rules (see the package documentation) and
// indexes the entries; every problem found is an issue of the error.
func read(b *bcrpb.Bundle) (*doc, error) {
	var issues []outcome.Issue
	bad := func(path, format string, args ...any) {
		issues = append(issues, issue(path, fmt.Sprintf(format, args...)))
	}
	if id := b.GetIdentifier(); id.GetSystem().GetValue() == "" || id.GetValue().GetValue() == "" {
		bad("Bundle.identifier", "a document has an identifier with a system and a value (R4 bdl-9): it names this version of the document")
	}
	if b.GetTimestamp() == nil {
		bad("Bundle.timestamp", "a document has a timestamp (R4 bdl-10): when it was assembled, which orders its versions")
	}
	d := &doc{bundle: b, byFull: map[string]int{}, byTypeID: map[string]int{}, subject: -1}
	for i, be := range b.GetEntry() {
		at := fmt.Sprintf("Bundle.entry[%d]", i)
		e := &entry{full: be.GetFullUrl().GetValue(), res: resource.Unwrap(be.GetResource())}
		if be.GetRequest() != nil || be.GetResponse() != nil {
			bad(at, "a document's entries have no request or response (R4 bdl-3, bdl-4)")
		}
		if e.res == nil {
			bad(at+".resource", "every entry of a document holds a resource")
			continue
		}
		e.typ, e.was = resource.Type(e.res), resource.ID(e.res)
		d.checkFullURL(e, at, bad)
		d.entries = append(d.entries, e)
	}
	if len(b.GetEntry()) > 0 {
		d.comp, _ = resource.Unwrap(b.GetEntry()[0].GetResource()).(*comppb.Composition)
	}
	if d.comp == nil {
		bad("Bundle.entry[0].resource", "the first entry of a document is its Composition (R4 bdl-11)")
	} else if d.subject = d.patientOf(d.comp.GetSubject()); d.subject < 0 {
		bad("Bundle.entry[0].resource.subject", "the Composition's subject is a Patient of the Bundle: a document about no patient cannot be handed over")
	}
	if len(issues) > 0 {
		return nil, invalid("invalid FHIR document", issues...)
	}
	return d, nil
}

// checkFullURL checks and indexes the fullUrl of e, the entry at. Every
// entry needs one: references between a document's resources resolve by
// it (R4 bundle.html#references), and it is unique but for versions of
// one resource (bdl-7), which a document does not hold.
func (d *doc) checkFullURL(e *entry, at string, bad func(string, string, ...any)) {
	switch {
	case e.full == "":
		bad(at+".fullUrl", "every entry of a document has a fullUrl (R4 bundle.html#references: references between its resources resolve by it)")
		return
	case strings.Contains(e.full, "/_history/"):
		bad(at+".fullUrl", "a fullUrl is not a version-specific reference (R4 bdl-8)")
		return
	}
	if typ, id, ok := restful(e.full); ok && (typ != e.typ || id != e.was) {
		bad(at+".fullUrl", "a RESTful fullUrl names the entry's own resource type and id (R4 bundle.html, Bundle.entry.fullUrl)")
	}
	if _, dup := d.byFull[e.full]; dup {
		bad(at+".fullUrl", "fullUrl %s is the fullUrl of an earlier entry (R4 bdl-7)", e.full)
		return
	}
	n := len(d.entries)
	d.byFull[e.full] = n
	if e.was != "" {
		key := e.typ + "/" + e.was
		if _, dup := d.byTypeID[key]; dup {
			d.byTypeID[key] = -1
		} else {
			d.byTypeID[key] = n
		}
	}
}

// patientOf is the entry of the Patient ref names from the Composition,
// or -1.
func (d *doc) patientOf(ref *dtpb.Reference) int {
	i, _, err := d.resolve(resource.RefString(ref), d.entries[0].full)
	if err != nil || i < 0 {
		return -1
	}
	if _, ok := d.entries[i].res.(*ppb.Patient); !ok {
		return -1
	}
	return i
}

// restURL matches a RESTful URL: [base]/Type/id (R4 http.html#general).
var restURL = regexp.MustCompile(`^(https?://[^?#]+)/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$`)

// restful returns the type and id a RESTful URL names.
func restful(u string) (typ, id string, ok bool) {
	m := restURL.FindStringSubmatch(u)
	if m == nil || !resource.Known(m[2]) {
		return "", "", false
	}
	return m[2], m[3], true
}

// baseOf is the server base of a RESTful URL.
func baseOf(u string) (string, bool) {
	m := restURL.FindStringSubmatch(u)
	if m == nil || !resource.Known(m[2]) {
		return "", false
	}
	return m[1], true
}

// code is a Bundle.type enum name as FHIR spells the code.
func code(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", "-"))
}
