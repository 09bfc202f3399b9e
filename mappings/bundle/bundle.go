// Package bundle assembles what a mapping produces into one FHIR transaction
// Bundle: every resource as a PUT to a deterministic id (so a resent or
// updated source updates the same resources instead of duplicating them),
// labelled with data categories, plus the source kept as a Binary, the
// mapping as a Device, the unmapped content as an OperationOutcome and a
// Provenance that ties them together.
//
// Mappings are pure: bytes in, *Result out. Storing is the gateway's job.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	devpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

// ID derives a resource id from the parts that identify the thing in its
// source (for example a namespace, the assigning authority and the value of
// an identifier). The same parts always give the same id; the id is a hash,
// so no identifier (such as an INS-NIR) appears in URLs or logs.
func ID(parts ...string) string {
	var buf [256]byte // ids are made for every resource: keep the input off the heap
	in := buf[:0]
	for i, p := range parts {
		if i > 0 {
			in = append(in, 0x1f)
		}
		in = append(in, p...)
	}
	h := sha256.Sum256(in)
	var out [32]byte
	hex.Encode(out[:], h[:16])
	return string(out[:])
}

// Mapping names a mapping and its version; the Provenance records it.
type Mapping struct{ Name, Version string }

// Source is the input a Bundle was mapped from.
type Source struct {
	Data        []byte
	ContentType string    // e.g. "x-application/hl7-v2+er7", "application/hl7-cda+xml"
	Key         []string  // parts identifying the source (e.g. sender + control id); default: a hash of Data
	Recorded    time.Time // when the mapping ran; default: now
	Patient     string    // "Patient/id" the source is about, for Binary.securityContext
}

// Result is a mapping's output: the transaction Bundle and the issues met on
// the way (warnings for what was not mapped). The Bundle already contains an
// OperationOutcome with those issues when there are any.
type Result struct {
	Bundle *bcrpb.Bundle
	Issues []outcome.Issue
}

// Builder collects resources for one transaction Bundle. It is not safe for
// concurrent use.
type Builder struct {
	mapping Mapping
	entries []*bcrpb.Bundle_Entry
	puts    []put          // what each entry holds, without unwrapping it
	index   map[string]int // "Type/id" -> entry
	issues  []outcome.Issue
}

// put is the resource of an entry, with its type.
type put struct {
	typ string
	res proto.Message
}

// New starts a Bundle for the given mapping.
func New(m Mapping) *Builder {
	const n = 16 // room for the resources of a typical message
	return &Builder{
		mapping: m,
		entries: make([]*bcrpb.Bundle_Entry, 0, n),
		puts:    make([]put, 0, n),
		index:   make(map[string]int, n),
	}
}

// Put adds res as a PUT to its id, labelled with cats (or its type's default
// category when none is given), and returns its "Type/id" reference. res must
// have an id. Putting the same Type/id again replaces the earlier entry.
func (b *Builder) Put(res proto.Message, cats ...category.Code) string {
	id, typ := resource.ID(res), resource.Type(res)
	if id == "" {
		panic(fmt.Sprintf("bundle: %s without id", typ))
	}
	category.Label(res, cats...)
	ref := typ + "/" + id
	e := newPut(resource.MustWrap(res), ref)
	if i, ok := b.index[ref]; ok {
		b.entries[i] = e
		b.puts[i] = put{typ, res}
		return ref
	}
	b.index[ref] = len(b.entries)
	b.entries = append(b.entries, e)
	b.puts = append(b.puts, put{typ, res})
	return ref
}

// newPut allocates an entry and its request together: every resource put
// needs one.
func newPut(res *bcrpb.ContainedResource, ref string) *bcrpb.Bundle_Entry {
	e := &struct {
		entry   bcrpb.Bundle_Entry
		request bcrpb.Bundle_Entry_Request
		method  bcrpb.Bundle_Entry_Request_MethodCode
		url     dtpb.Uri
	}{}
	e.method.Value = cpb.HTTPVerbCode_PUT
	e.url.Value = ref
	e.request.Method, e.request.Url = &e.method, &e.url
	e.entry.Resource, e.entry.Request = res, &e.request
	return &e.entry
}

// Get returns the resource already put at ref ("Type/id"), or nil.
func (b *Builder) Get(ref string) proto.Message {
	i, ok := b.index[ref]
	if !ok {
		return nil
	}
	return b.puts[i].res
}

// Warn records something in the source that was not mapped. path locates it
// (an XPath, an HL7 location such as "PID-11[2]"); text says what it was, free
// of patient data where possible.
func (b *Builder) Warn(path, text string) {
	if b.issues == nil {
		b.issues = make([]outcome.Issue, 0, 16)
	}
	b.issues = append(b.issues, outcome.Issue{
		Severity: outcome.SevWarning, Code: cpb.IssueTypeCode_NOT_SUPPORTED, Path: path, Text: text,
	})
}

// Issues returns the warnings recorded so far.
func (b *Builder) Issues() []outcome.Issue { return b.issues }

// Len is the number of resources put so far.
func (b *Builder) Len() int { return len(b.entries) }

// Finish adds the source Binary, the mapping Device, the OperationOutcome of
// warnings (if any) and a Provenance targeting every resource put, and
// returns the Bundle. It may be called once.
func (b *Builder) Finish(src Source) *Result {
	recorded := src.Recorded
	if recorded.IsZero() {
		recorded = time.Now()
	}
	key := src.Key
	if len(key) == 0 {
		sum := sha256.Sum256(src.Data)
		key = []string{hex.EncodeToString(sum[:])}
	}
	key = append([]string{"source", b.mapping.Name}, key...)
	targets := make([]*dtpb.Reference, 0, len(b.puts))
	var cats []category.Code
	var sens []category.Sensitivity
	for _, p := range b.puts {
		targets = append(targets, resource.Ref(p.typ, resource.ID(p.res)))
		cats, sens = appendLabels(cats, sens, p.res)
	}

	binID := ID(key...)
	bin := &binpb.Binary{
		Id:          &dtpb.Id{Value: binID},
		ContentType: &binpb.Binary_ContentTypeCode{Value: src.ContentType},
		Data:        &dtpb.Base64Binary{Value: src.Data},
	}
	bin.SecurityContext = securityContext(src.Patient)
	// The source holds everything its outputs hold: it carries their labels.
	if len(cats) == 0 {
		cats = []category.Code{category.CLIN}
	}
	category.LabelSensitive(bin, sens...)
	b.Put(bin, cats...)

	devID := ID("mapping", b.mapping.Name, b.mapping.Version)
	dev := &devpb.Device{
		Id: &dtpb.Id{Value: devID},
		DeviceName: []*devpb.Device_DeviceName{{
			Name: &dtpb.String{Value: "Relais " + b.mapping.Name + " mapping"},
			Type: &devpb.Device_DeviceName_TypeCode{Value: cpb.DeviceNameTypeCode_MANUFACTURER_NAME},
		}},
		Version: []*devpb.Device_Version{{Value: &dtpb.String{Value: b.mapping.Version}}},
	}
	b.Put(dev, category.ADM)

	prov := &provpb.Provenance{
		Id:       &dtpb.Id{Value: ID(append([]string{"provenance"}, key...)...)},
		Target:   targets,
		Recorded: resource.Instant(recorded),
		Activity: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
			System:  &dtpb.Uri{Value: "http://terminology.hl7.org/CodeSystem/v3-DataOperation"},
			Code:    &dtpb.Code{Value: "CREATE"},
			Display: &dtpb.String{Value: "create"},
		}}},
		Agent: []*provpb.Provenance_Agent{{
			Type: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
				System: &dtpb.Uri{Value: "http://terminology.hl7.org/CodeSystem/provenance-participant-type"},
				Code:   &dtpb.Code{Value: "assembler"},
			}}},
			Who: resource.Ref("Device", devID),
		}},
		Entity: []*provpb.Provenance_Entity{{
			Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_SOURCE},
			What: resource.Ref("Binary", binID),
		}},
	}
	if len(b.issues) > 0 {
		oo := warnings(b.issues)
		oo.Id = &dtpb.Id{Value: ID(append([]string{"outcome"}, key...)...)}
		b.Put(oo, category.CLIN)
		prov.Entity = append(prov.Entity, &provpb.Provenance_Entity{
			Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_DERIVATION},
			What: resource.Ref("OperationOutcome", oo.Id.Value),
		})
	}
	b.Put(prov, cats...)

	return &Result{
		Bundle: &bcrpb.Bundle{
			Type:  &bcrpb.Bundle_TypeCode{Value: cpb.BundleTypeCode_TRANSACTION},
			Entry: b.entries,
			Meta:  &dtpb.Meta{LastUpdated: resource.Instant(recorded)},
			Id:    &dtpb.Id{Value: ID(append([]string{"bundle"}, key...)...)},
		},
		Issues: b.issues,
	}
}

// appendLabels adds the category and sensitivity labels of res that cats and
// sens do not hold yet, in meta.security order (category.Of and
// category.SensitivityOf, without their slices).
func appendLabels(cats []category.Code, sens []category.Sensitivity, res proto.Message) ([]category.Code, []category.Sensitivity) {
	for _, c := range resource.PeekMeta(res).GetSecurity() {
		system, code := c.GetSystem().GetValue(), c.GetCode().GetValue()
		switch {
		case system == category.System:
			if !slices.Contains(cats, category.Code(code)) {
				cats = append(cats, category.Code(code))
			}
		case category.IsSensitive(system, code):
			if s := (category.Sensitivity{System: system, Code: code}); !slices.Contains(sens, s) {
				sens = append(sens, s)
			}
		}
	}
	return cats, sens
}

// securityContext reads Source.Patient. It is normally a "Type/id" as Put
// returns it, which needs no reference parsing.
func securityContext(s string) *dtpb.Reference {
	if typ, id, ok := strings.Cut(s, "/"); ok && id != "" && !strings.Contains(id, "/") && resource.Known(typ) {
		return resource.Ref(typ, id)
	}
	if typ, id, _, ok := resource.RefTarget(refOf(s)); ok {
		return resource.Ref(typ, id)
	}
	return nil
}

func refOf(s string) *dtpb.Reference {
	if s == "" {
		return nil
	}
	ref := &dtpb.Reference{}
	resource.SetRefString(ref, s)
	return ref
}
