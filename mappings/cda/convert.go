package cda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
)

// Mapping identifies this mapping in the Provenance of every Bundle.
var Mapping = bundle.Mapping{Name: "cda", Version: "1.0.0"}

// ContentType is the media type the source Binary is stored with.
const ContentType = "application/hl7-cda+xml"

// DefaultMaxSize is the document size limit when Options.MaxSize is 0.
const DefaultMaxSize = 16 << 20

// Options configure a conversion. The zero value is usable.
type Options struct {
	// Now gives the time recorded in the Provenance; default time.Now.
	Now func() time.Time
	// MaxSize is the largest document accepted, in bytes; default
	// DefaultMaxSize.
	MaxSize int
	// Location is the time zone of CDA times written without an offset;
	// default UTC.
	Location *time.Location
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	return o
}

// Convert translates one CDA R2 document into a FHIR R4 transaction Bundle.
//
// It refuses (with an *outcome.Error of kind Invalid) only input that is not
// a CDA document at all or names no patient, and input over the size limit
// (kind TooLarge). Everything else is mapped fail-soft: what is not mapped
// is reported as a warning with its XPath and templateId, in Result.Issues
// and in the Bundle's OperationOutcome.
func Convert(doc []byte, opts Options) (res *bundle.Result, err error) {
	opts = opts.withDefaults()
	if len(doc) > opts.MaxSize {
		return nil, outcome.New(outcome.TooLarge, "CDA document too large",
			outcome.Issue{Severity: outcome.SevError, Text: fmt.Sprintf("document of %d bytes exceeds the limit of %d bytes", len(doc), opts.MaxSize)})
	}
	t, err := parseXML(doc)
	if err != nil {
		return nil, &outcome.Error{Kind: outcome.Invalid, Summary: "not a CDA document: unreadable XML", Err: err,
			Issues: []outcome.Issue{{Severity: outcome.SevError, Text: err.Error()}}}
	}
	defer t.release() // after the conversion, which reads it: the output holds only strings
	root := el{t, 0}
	if root.name() != "ClinicalDocument" || !root.isCDA() {
		return nil, outcome.New(outcome.Invalid, "not a CDA document",
			outcome.Issue{Severity: outcome.SevError, Path: "/" + root.name(), Text: "the root element is not urn:hl7-org:v3 ClinicalDocument"})
	}
	if !root.path("recordTarget", "patientRole").ok() {
		return nil, outcome.New(outcome.Invalid, "CDA document without a patient",
			outcome.Issue{Severity: outcome.SevError, Path: "/ClinicalDocument/recordTarget/patientRole", Text: "the document names no patient (recordTarget/patientRole)"})
	}
	defer func() {
		// Defence in depth: a bug must not take the gateway down. The fuzz
		// test treats this error as a failure.
		if r := recover(); r != nil {
			res, err = nil, outcome.New(outcome.Internal, "CDA mapping failed")
		}
	}()
	c := newConv(t, opts, doc)
	c.run()
	res = c.b.Finish(bundle.Source{
		Data:        doc,
		ContentType: ContentType,
		Key:         c.docKey,
		Recorded:    opts.Now(),
		Patient:     "Patient/" + c.patientID,
	})
	if v, ok := c.ts(c.root.child("effectiveTime")); ok {
		res.Asserted = v.t
	}
	for _, k := range c.replaced {
		res.Replaces = append(res.Replaces, bundle.ProvenanceID(Mapping, k))
	}
	return res, nil
}

// conv holds the state of one conversion.
type conv struct {
	t    *tree
	root el
	opts Options
	b    *bundle.Builder

	docKey      []string   // identifies the document: its id, else a hash of its bytes
	setKey      []string   // identifies the document set (setId, else docKey)
	replaced    [][]string // docKeys of the documents this one replaces (RPLC)
	used        map[string]bool
	patientID   string
	encounterID string
	authors     []*dtpb.Reference
	docDate     *dtpb.DateTime
	sensitive   []category.Sensitivity

	goals []*dtpb.Reference // Goals put, for CarePlans
	plans []*cppb.CarePlan
}

func newConv(t *tree, opts Options, doc []byte) *conv {
	c := &conv{t: t, root: el{t, 0}, opts: opts, b: bundle.New(Mapping), used: map[string]bool{}}
	c.docKey = idKey(c.root.child("id"))
	if c.docKey == nil || c.root.child("id").attr("nullFlavor") != "" {
		sum := sha256.Sum256(doc)
		c.docKey = []string{"sha256", hex.EncodeToString(sum[:])}
	}
	c.setKey = c.docKey
	if k := idKey(c.root.child("setId")); k != nil {
		c.setKey = append([]string{"set"}, k...)
	}
	return c
}

func (c *conv) run() {
	c.docDate = c.dateTime(c.root.child("effectiveTime"))
	c.confidentiality()
	c.patient()
	c.documentParties()
	c.encounter()
	comp := c.composition()
	if body := c.root.path("component", "nonXMLBody"); body.ok() {
		c.nonXMLBody(comp, body)
	} else {
		c.structuredBody(comp, c.root.path("component", "structuredBody"))
	}
	for _, cp := range c.plans {
		cp.Goal = c.goals
	}
	c.put(comp, category.CLIN)
	c.documentReference()
}

// confidentiality labels every resource R when the document is restricted
// or very restricted.
func (c *conv) confidentiality() {
	switch c.root.child("confidentialityCode").attr("code") {
	case "R", "V":
		c.sensitive = append(c.sensitive, category.R)
	}
}

// put adds res (with its id set) to the Bundle, labelled, and returns a
// reference to it.
func (c *conv) put(res proto.Message, cats ...category.Code) *dtpb.Reference {
	if len(c.sensitive) > 0 {
		category.LabelSensitive(res, c.sensitive...)
	}
	c.b.Put(res, cats...)
	return resource.RefTo(res)
}

// putOnce adds res unless a resource with its id was already put (the first
// occurrence of a person or organisation in a document is the fullest).
func (c *conv) putOnce(res proto.Message, cats ...category.Code) *dtpb.Reference {
	ref := resource.Type(res) + "/" + resource.ID(res)
	if c.b.Get(ref) != nil {
		return resource.RefTo(res)
	}
	return c.put(res, cats...)
}

// already returns a reference to the resource typ/id when it was already
// put, as putOnce would, so that callers need not build it again (people
// and organisations recur in every entry); else nil.
func (c *conv) already(typ, id string) *dtpb.Reference {
	if c.b.Get(typ+"/"+id) == nil {
		return nil
	}
	return resource.Ref(typ, id)
}

// entryID gives a statement's resource id: from its first usable id (so a
// resent or updated document updates the same resource), else from the
// document and the statement's position. An id already used in this
// document (vendors reuse ids across sections) is made unique by position.
func (c *conv) entryID(typ string, stmt el) string {
	var buf [8]string // the parts stay on the stack
	var parts []string
	stmt.each("id", func(ii el) {
		if parts == nil && ii.attr("root") != "" && ii.attr("nullFlavor") == "" {
			parts = append(buf[:0], typ, strings.TrimSpace(ii.attr("root")), strings.TrimSpace(ii.attr("extension"))) // idKey
			// An II is unique by definition (CDA R2 data types, II), but
			// senders reuse example and misconfigured roots across
			// patients: what belongs to a patient is keyed by her too,
			// so that one patient's document never rewrites another's
			// records. Devices and Locations belong to no one.
			if typ != "Device" && typ != "Location" && c.patientID != "" {
				parts = append(parts, c.patientID)
			}
		}
	})
	if parts == nil {
		parts = append(append(append(buf[:0], typ, "doc"), c.setKey...), stmt.xpath())
	}
	id := bundle.ID(parts...)
	if c.used[id] {
		id = bundle.ID(append(parts, stmt.xpath())...)
	}
	c.used[id] = true
	return id
}

func (c *conv) patientRef() *dtpb.Reference { return resource.Ref("Patient", c.patientID) }

func (c *conv) encounterRef() *dtpb.Reference {
	if c.encounterID == "" {
		return nil
	}
	return resource.Ref("Encounter", c.encounterID)
}

// warn records something not mapped, with the templateIds that identify it.
func (c *conv) warn(e el, what string) {
	text := what
	if ts := e.templates(); len(ts) > 0 {
		text += ": templateId " + strings.Join(ts, ", ")
	}
	c.b.Warn(e.xpath(), text)
}
