// Package bundle assembles what a mapping produces into one FHIR transaction
// Bundle: every resource as a PUT to a deterministic id (so a resent or
// updated source updates the same resources instead of duplicating them),
// labelled with data categories (those of its type, and those its content
// adds: category.LabelContent) and with the sensitivity its content states
// (mappings/sensitivity), plus the source kept as a Binary, the
// mapping as a Device, the unmapped content as an OperationOutcome and a
// Provenance that ties them together.
//
// Mappings are pure: bytes in, *Result out. Storing is the gateway's job.
//
// A Bundle is a graph, not a tree: the resources of one Bundle with the same
// data category share that label's meta.security coding, and the warnings
// with the same text share their details. Nothing modifies a coding in place
// (labels are added, not rewritten); code that would must proto.Clone the
// resource first. Bundles never share anything with each other.
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
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/sensitivity"
)

// RetiredIdentifierURL is the extension of a Patient a mapping writes to
// say that its source retires identifiers of the stored patient (HL7 v2
// A47, change patient identifier list: the identifiers in MRG-1): each
// one a valueIdentifier, one without a value retiring every identifier of
// its system's kind (PAM France section 4.4.3: PID-3 "" with the INS
// authority deletes every INS). The identity resolver applies it and
// removes it: it is never stored.
const RetiredIdentifierURL = "https://relais-health.github.io/fhir/StructureDefinition/retired-identifier"

// ID derives a resource id from the parts that identify the thing in its
// source (for example a namespace, the assigning authority and the value of
// an identifier). The same parts always give the same id; the id is a hash,
// so no identifier (such as an INS-NIR) appears in URLs or logs.
func ID(parts ...string) string {
	return idOf(nil, parts)
}

// idOf is ID(append(prefix, parts...)...) without building that slice.
func idOf(prefix, parts []string) string {
	var out [32]byte
	return string(hashID(&out, prefix, parts))
}

// ID is the package's ID, kept with the Builder's other texts.
func (b *Builder) ID(parts ...string) string {
	var out [32]byte
	return b.texts.of(hashID(&out, nil, parts))
}

// hashID writes the id of prefix and parts to out and returns it.
func hashID(out *[32]byte, prefix, parts []string) []byte {
	var buf [256]byte // ids are made for every resource: keep the input off the heap
	in := buf[:0]
	for i, p := range prefix {
		if i > 0 {
			in = append(in, 0x1f)
		}
		in = append(in, p...)
	}
	for i, p := range parts {
		if i > 0 || len(prefix) > 0 {
			in = append(in, 0x1f)
		}
		in = append(in, p...)
	}
	h := sha256.Sum256(in)
	hex.Encode(out[:], h[:16])
	return out[:]
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
	// Sensitivity labels what the source holds and no output carries (a
	// segment the mapping recognises but does not map): the source Binary
	// and the warnings that name it carry them.
	Sensitivity []category.Sensitivity
}

// Result is a mapping's output: the transaction Bundle and the issues met on
// the way (warnings for what was not mapped). The Bundle already contains an
// OperationOutcome with those issues when there are any.
type Result struct {
	Bundle *bcrpb.Bundle
	Issues []outcome.Issue
	// Asserted is when the source's content was stated (a CDA document's
	// effectiveTime, its creation time: CDA R2 section 4.2.1.6); zero when
	// the source does not say. The gateway orders a source's statements by
	// it, so that an earlier version of a document never overwrites a
	// later one.
	Asserted time.Time
	// Replaces are the ids of the Provenances of the sources this one
	// replaces (a CDA document's relatedDocument RPLC, CDA R2 section
	// 4.2.3.1): what they produced and this one does not state again is
	// no longer asserted.
	Replaces []string
	// OrderedByTime says that the versions of the source's document set
	// (its Composition) are ordered by Asserted: a version of the set
	// stored with an earlier Asserted is an earlier version, which this
	// one replaces as a higher CDA versionNumber replaces a lower. A FHIR
	// document's Composition.identifier names the set and its
	// Bundle.identifier the version (R4 composition-definitions.html
	// #Composition.identifier), and its Bundle.timestamp orders them.
	OrderedByTime bool
	// Deletes names what the source withdraws without replacing it (an
	// HL7 v2 document deletion: MDM T11, or the CI-SIS volet
	// "Transmission de documents CDA en HL7 v2"'s OBX-11 D and ORC-1 CA):
	// "DocumentReference/id" of a document it deletes, withdrawn with
	// what the documents it carried stated; "Provenance/id" of a deleted
	// document's own source, whose targets are withdrawn; and
	// "DiagnosticReport/id" of a report whose order it cancels. Each is
	// withdrawn as a replaced version's statements are, ordered by
	// Asserted (for a source that only deletes, when it deleted). A name
	// nothing stored holds withdraws nothing.
	Deletes []string
}

// ProvenanceID is the id of the Provenance Finish writes for the source
// of mapping m identified by key (Source.Key), so that a later source can
// name what an earlier one produced.
func ProvenanceID(m Mapping, key []string) string {
	return idOf([]string{"provenance", "source", m.Name}, key)
}

// Builder collects resources for one transaction Bundle. It is not safe for
// concurrent use.
type Builder struct {
	mapping Mapping
	entries []*bcrpb.Bundle_Entry
	puts    []put          // what each entry holds, without unwrapping it
	index   map[refKey]int // type and id -> entry, once there are many (see find)
	warned  warnList
	texts   texts // references, ids, warning paths
	codings labelCodings
}

// put is the resource of an entry, with its type and id.
type put struct {
	typ, id string
	res     proto.Message
}

// refKey identifies a resource put; a pair of strings rather than
// "Type/id", which would be concatenated for every look-up.
type refKey struct{ typ, id string }

// New starts a Bundle for the given mapping.
func New(m Mapping) *Builder {
	const n = 16 // room for the resources of a typical message
	return &Builder{
		mapping: m,
		entries: make([]*bcrpb.Bundle_Entry, 0, n),
		puts:    make([]put, 0, n),
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
	ref := b.texts.join(typ, "/", id)
	e, spare := newEntry(res, ref)
	label(res, typ, cats, spare, &b.codings)
	if i, ok := b.find(typ, id); ok {
		b.entries[i] = e
		b.puts[i] = put{typ, id, res}
		return ref
	}
	if b.index != nil {
		b.index[refKey{typ, id}] = len(b.entries)
	} else if len(b.puts) == indexFrom {
		b.index = make(map[refKey]int, 2*indexFrom)
		for i, p := range b.puts {
			b.index[refKey{p.typ, p.id}] = i
		}
		b.index[refKey{typ, id}] = len(b.entries)
	}
	b.entries = append(b.entries, e)
	b.puts = append(b.puts, put{typ, id, res})
	return ref
}

// indexFrom is the number of resources from which a Builder finds them
// through a map. A message gives a dozen, which a loop compares quicker
// than the map hashes, and the map was a tenth of a Builder's bytes.
const indexFrom = 32

// find returns the entry of the resource put with the given type and id.
func (b *Builder) find(typ, id string) (int, bool) {
	if b.index != nil {
		i, ok := b.index[refKey{typ, id}]
		return i, ok
	}
	for i, p := range b.puts {
		if p.id == id && p.typ == typ {
			return i, true
		}
	}
	return 0, false
}

// Get returns the resource already put at ref ("Type/id"), or nil.
func (b *Builder) Get(ref string) proto.Message {
	typ, id, _ := strings.Cut(ref, "/")
	return b.GetID(typ, id)
}

// GetID returns the resource of the given type and id already put, or nil.
func (b *Builder) GetID(typ, id string) proto.Message {
	i, ok := b.find(typ, id)
	if !ok {
		return nil
	}
	return b.puts[i].res
}

// GeneralPractitioner is the reference a mapping gives as a patient's
// general practitioner for ref, the provider its source names in that
// function: the person (her Practitioner) when ref is a PractitionerRole
// put in this Bundle, else ref itself. A role made from a source's own
// context (its code, the organisation the source gives) is one no
// directory entry or token names, whereas identity resolution links the
// Practitioner to the directory's by RPPS: naming the role would keep the
// GP out of her patient's care team, and off the Task routing addresses
// to her, whatever role she signs in with (R4 Patient.generalPractitioner
// allows Practitioner, PractitionerRole or Organization).
func (b *Builder) GeneralPractitioner(ref *dtpb.Reference) *dtpb.Reference {
	if pr, ok := b.resolve(ref).(*prpb.PractitionerRole); ok && pr.GetPractitioner() != nil {
		return pr.GetPractitioner()
	}
	return ref
}

// resolve finds the output a reference names (sensitivity.Resolver).
func (b *Builder) resolve(ref *dtpb.Reference) proto.Message {
	if typ, id, _, ok := resource.RefTarget(ref); ok {
		return b.GetID(typ, id)
	}
	return nil
}

// WarnBytes is Warn with the path given as bytes, which the Builder keeps
// with its other texts.
func (b *Builder) WarnBytes(path []byte, text string) {
	b.Warn(b.texts.of(path), text)
}

// Warn records something in the source that was not mapped. path locates it
// (an XPath, an HL7 location such as "PID-11[2]"); text says what it was, free
// of patient data where possible.
func (b *Builder) Warn(path, text string) {
	b.warned.add(path, text)
}

// Issues returns the warnings recorded so far.
func (b *Builder) Issues() []outcome.Issue { return b.warned.list() }

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
	source := []string{"source", b.mapping.Name} // prefixes the key in every id below
	targets := make([]*dtpb.Reference, 0, len(b.puts))
	var catBuf [8]category.Code
	var sensBuf [4]category.Sensitivity
	cats, sens := catBuf[:0], sensBuf[:0]
	for _, p := range b.puts {
		// what each output's content holds beyond its type's category
		// (an Encounter's reason is clinical data; the sensitivity its
		// codes and the outputs it lists as content state), once every
		// output is complete: every mapping's outputs are labelled alike
		sensitivity.Label(p.res, b.resolve)
	}
	for _, p := range b.puts {
		targets = append(targets, resource.Ref(p.typ, p.id))
		cats, sens = appendLabels(cats, sens, p.res)
	}
	// The resources Finish adds are the same for every source but for their
	// ids and values: they are allocated together.
	f := &finished{}

	binID := idOf(source, key)
	bin := &f.bin
	f.binID.Value, f.binType.Value, f.binData.Value = binID, src.ContentType, src.Data
	bin.Id, bin.ContentType, bin.Data = &f.binID, &f.binType, &f.binData
	bin.SecurityContext = securityContext(src.Patient)
	// The source holds everything its outputs hold: it carries their
	// labels; and what was not mapped, which the warnings name and whose
	// category is not known: it is labelled as they are (CLIN), with the
	// sensitivity the mapping recognised in it.
	provCats := cats
	issues := b.warned.list()
	if (len(cats) == 0 || len(issues) > 0) && !slices.Contains(cats, category.CLIN) {
		cats = append(cats[:len(cats):len(cats)], category.CLIN)
	}
	if len(provCats) == 0 {
		provCats = cats
	}
	category.LabelSensitive(bin, sens...)
	category.LabelSensitive(bin, src.Sensitivity...)
	b.Put(bin, cats...)

	devID := ID("mapping", b.mapping.Name, b.mapping.Version)
	b.Put(f.device(devID, b.mapping), category.ADM)

	prov := f.provenance(ProvenanceID(b.mapping, key), recorded)
	prov.Target = targets
	prov.Agent[0].Who = resource.Ref("Device", devID)
	prov.Entity[0].What = resource.Ref("Binary", binID)
	if len(issues) > 0 {
		oo := b.warned.outcome()
		oo.Id = &dtpb.Id{Value: idOf([]string{"outcome", "source", b.mapping.Name}, key)}
		category.LabelSensitive(oo, sens...)
		category.LabelSensitive(oo, src.Sensitivity...)
		b.Put(oo, category.CLIN)
		prov.Entity = append(prov.Entity, &f.derivation)
		f.derivationRole.Value = cpb.ProvenanceEntityRoleCode_DERIVATION
		f.derivation.Role, f.derivation.What = &f.derivationRole, resource.Ref("OperationOutcome", oo.Id.Value)
	}
	// The Provenance names every output and the warnings describe the
	// source: each carries the source's sensitivity, so that a reader who
	// may not see a restricted document's resources does not learn from
	// them that they exist (a sensitive label is released only by a
	// provision naming it).
	category.LabelSensitive(prov, sens...)
	b.Put(prov, provCats...)

	bdl := &f.bundle
	f.bundleType.Value = cpb.BundleTypeCode_TRANSACTION
	f.lastUpdated = dtpb.Instant{ValueUs: recorded.UnixMicro(), Timezone: "Z", Precision: dtpb.Instant_MICROSECOND}
	f.bundleMeta.LastUpdated = &f.lastUpdated
	f.bundleID.Value = idOf([]string{"bundle", "source", b.mapping.Name}, key)
	bdl.Type, bdl.Entry, bdl.Meta, bdl.Id = &f.bundleType, b.entries, &f.bundleMeta, &f.bundleID
	return &Result{Bundle: bdl, Issues: issues}
}

// finished holds what Finish adds, but for references and the warnings.
type finished struct {
	bin     binpb.Binary
	binID   dtpb.Id
	binType binpb.Binary_ContentTypeCode
	binData dtpb.Base64Binary

	dev                 devpb.Device
	devID               dtpb.Id
	devName             devpb.Device_DeviceName
	devNames            [1]*devpb.Device_DeviceName
	devNameValue        dtpb.String
	devNameType         devpb.Device_DeviceName_TypeCode
	devVersion          devpb.Device_Version
	devVersions         [1]*devpb.Device_Version
	devVersionValue     dtpb.String
	prov                provpb.Provenance
	provID              dtpb.Id
	recorded            dtpb.Instant
	activity, agentType dtpb.CodeableConcept
	activityCodings     [1]*dtpb.Coding
	activityCoding      dtpb.Coding
	activitySystem      dtpb.Uri
	activityCode        dtpb.Code
	activityDisplay     dtpb.String
	agent               provpb.Provenance_Agent
	agents              [1]*provpb.Provenance_Agent
	agentCodings        [1]*dtpb.Coding
	agentCoding         dtpb.Coding
	agentSystem         dtpb.Uri
	agentCode           dtpb.Code
	entities            [2]*provpb.Provenance_Entity // source, then derivation when there are warnings
	sourceEntity        provpb.Provenance_Entity
	sourceRole          provpb.Provenance_Entity_RoleCode
	derivation          provpb.Provenance_Entity
	derivationRole      provpb.Provenance_Entity_RoleCode
	bundle              bcrpb.Bundle
	bundleType          bcrpb.Bundle_TypeCode
	bundleMeta          dtpb.Meta
	lastUpdated         dtpb.Instant
	bundleID            dtpb.Id
}

// device is the Device standing for mapping m.
func (f *finished) device(id string, m Mapping) *devpb.Device {
	f.devID.Value = id
	f.devNameValue.Value = "Relais " + m.Name + " mapping"
	f.devNameType.Value = cpb.DeviceNameTypeCode_MANUFACTURER_NAME
	f.devName.Name, f.devName.Type = &f.devNameValue, &f.devNameType
	f.devNames[0] = &f.devName
	f.devVersionValue.Value = m.Version
	f.devVersion.Value = &f.devVersionValue
	f.devVersions[0] = &f.devVersion
	f.dev.Id, f.dev.DeviceName, f.dev.Version = &f.devID, f.devNames[:], f.devVersions[:]
	return &f.dev
}

// provenance is the Provenance but for its targets, agent and entity
// references.
func (f *finished) provenance(id string, recorded time.Time) *provpb.Provenance {
	p := &f.prov
	f.provID.Value = id
	f.recorded = dtpb.Instant{ValueUs: recorded.UnixMicro(), Timezone: "Z", Precision: dtpb.Instant_MICROSECOND}
	f.activitySystem.Value = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
	f.activityCode.Value, f.activityDisplay.Value = "CREATE", "create"
	f.activityCoding.System, f.activityCoding.Code, f.activityCoding.Display = &f.activitySystem, &f.activityCode, &f.activityDisplay
	f.activityCodings[0] = &f.activityCoding
	f.activity.Coding = f.activityCodings[:]
	f.agentSystem.Value = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	f.agentCode.Value = "assembler"
	f.agentCoding.System, f.agentCoding.Code = &f.agentSystem, &f.agentCode
	f.agentCodings[0] = &f.agentCoding
	f.agentType.Coding = f.agentCodings[:]
	f.agent.Type = &f.agentType
	f.agents[0] = &f.agent
	f.sourceRole.Value = cpb.ProvenanceEntityRoleCode_SOURCE
	f.sourceEntity.Role = &f.sourceRole
	f.entities[0] = &f.sourceEntity
	p.Id, p.Recorded, p.Activity, p.Agent, p.Entity = &f.provID, &f.recorded, &f.activity, f.agents[:], f.entities[:1]
	return p
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
