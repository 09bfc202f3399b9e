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
	h := sha256.Sum256([]byte(strings.Join(parts, "\x1f")))
	return hex.EncodeToString(h[:16])
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
	index   map[string]int // "Type/id" -> entry
	issues  []outcome.Issue
}

// New starts a Bundle for the given mapping.
func New(m Mapping) *Builder {
	return &Builder{mapping: m, index: map[string]int{}}
}

// Put adds res as a PUT to its id, labelled with cats (or its type's default
// category when none is given), and returns its "Type/id" reference. res must
// have an id. Putting the same Type/id again replaces the earlier entry.
func (b *Builder) Put(res proto.Message, cats ...category.Code) string {
	id := resource.ID(res)
	if id == "" {
		panic(fmt.Sprintf("bundle: %s without id", resource.Type(res)))
	}
	category.Label(res, cats...)
	ref := resource.Type(res) + "/" + id
	e := &bcrpb.Bundle_Entry{
		Resource: resource.MustWrap(res),
		Request: &bcrpb.Bundle_Entry_Request{
			Method: &bcrpb.Bundle_Entry_Request_MethodCode{Value: cpb.HTTPVerbCode_PUT},
			Url:    &dtpb.Uri{Value: ref},
		},
	}
	if i, ok := b.index[ref]; ok {
		b.entries[i] = e
		return ref
	}
	b.index[ref] = len(b.entries)
	b.entries = append(b.entries, e)
	return ref
}

// Get returns the resource already put at ref ("Type/id"), or nil.
func (b *Builder) Get(ref string) proto.Message {
	i, ok := b.index[ref]
	if !ok {
		return nil
	}
	return resource.Unwrap(b.entries[i].Resource)
}

// Warn records something in the source that was not mapped. path locates it
// (an XPath, an HL7 location such as "PID-11[2]"); text says what it was, free
// of patient data where possible.
func (b *Builder) Warn(path, text string) {
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
	targets := make([]*dtpb.Reference, 0, len(b.entries))
	var cats []category.Code
	var sens []category.Sensitivity
	for _, e := range b.entries {
		res := resource.Unwrap(e.Resource)
		targets = append(targets, resource.RefTo(res))
		cats = append(cats, category.Of(res)...)
		sens = append(sens, category.SensitivityOf(res)...)
	}

	bin := &binpb.Binary{
		Id:          &dtpb.Id{Value: ID(key...)},
		ContentType: &binpb.Binary_ContentTypeCode{Value: src.ContentType},
		Data:        &dtpb.Base64Binary{Value: src.Data},
	}
	if typ, id, _, ok := resource.RefTarget(refOf(src.Patient)); ok {
		bin.SecurityContext = resource.Ref(typ, id)
	}
	// The source holds everything its outputs hold: it carries their labels.
	if len(cats) == 0 {
		cats = []category.Code{category.CLIN}
	}
	category.LabelSensitive(bin, sens...)
	binRef := b.Put(bin, cats...)

	dev := &devpb.Device{
		Id: &dtpb.Id{Value: ID("mapping", b.mapping.Name, b.mapping.Version)},
		DeviceName: []*devpb.Device_DeviceName{{
			Name: &dtpb.String{Value: "Relais " + b.mapping.Name + " mapping"},
			Type: &devpb.Device_DeviceName_TypeCode{Value: cpb.DeviceNameTypeCode_MANUFACTURER_NAME},
		}},
		Version: []*devpb.Device_Version{{Value: &dtpb.String{Value: b.mapping.Version}}},
	}
	devRef := b.Put(dev, category.ADM)

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
			Who: refOf(devRef),
		}},
		Entity: []*provpb.Provenance_Entity{{
			Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_SOURCE},
			What: refOf(binRef),
		}},
	}
	if len(b.issues) > 0 {
		oo := outcome.Resource(outcome.Invalid, b.issues)
		oo.Id = &dtpb.Id{Value: ID(append([]string{"outcome"}, key...)...)}
		ooRef := b.Put(oo, category.CLIN)
		prov.Entity = append(prov.Entity, &provpb.Provenance_Entity{
			Role: &provpb.Provenance_Entity_RoleCode{Value: cpb.ProvenanceEntityRoleCode_DERIVATION},
			What: refOf(ooRef),
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

func refOf(s string) *dtpb.Reference {
	if s == "" {
		return nil
	}
	ref := &dtpb.Reference{}
	resource.SetRefString(ref, s)
	return ref
}
