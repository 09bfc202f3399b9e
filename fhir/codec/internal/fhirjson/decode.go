package fhirjson

// The fast decoder: FHIR R4 JSON straight into protos, without jsonformat.
//
// jsonformat's Unmarshaller (with fhirvalidate) stays the reference. The
// Decoder returns a resource only when it is proto.Equal to what jsonformat
// returns for the same bytes and jsonformat would report no problem;
// anything else (invalid, unusual, or simply not implemented here) is
// declined with ErrDeclined, and fhir/codec decodes it with jsonformat,
// which then produces the error messages with their element paths. Errors
// never come from this file.
//
// It reads the input once, left to right (a resource whose resourceType is
// not its first key is scanned once more to find it), and fills the
// message through protoreflect with per-message-type tables built by
// NewDecoder; primitives and typed references are built as concrete
// datatypes messages, which is cheaper than reflection. The rules it
// mirrors are jsonformat v0.7.4's (unmarshaller.go, primitive.go,
// date_time.go, reference.go, jsonpbhelper, fhirvalidate): see the
// comments at each rule. Declined on purpose, among others: duplicate
// keys, keys in another case or with escapes, null, empty strings, objects
// and arrays, primitives given as objects, "_x" arrays without "x",
// base64 with spaces, numbers in strings, non-ASCII codes, fractions of
// more than nine digits, the year 0000, "_x" with a false or 0 value, "_x"
// without a value on code, id, oid and uuid (fhirvalidate rejects the empty
// value), references "Type/id" whose type is not an R4 resource,
// resourceType alone, and nesting deeper than maxDecodeDepth.
// Contained resources are checked like the others although fhirvalidate
// does not look inside them (they are Any): what jsonformat accepts
// there but we do not is declined, never wrong.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrDeclined means: the fast decoder does not vouch for this input; decode
// it with jsonformat.
var ErrDeclined = errors.New("fhirjson: input declined by the fast decoder")

// declined is ErrDeclined with the reason, for tests and debugging. The
// reason never contains input data.
type declined string

func (d declined) Error() string        { return "fhirjson: declined: " + string(d) }
func (d declined) Is(target error) bool { return target == ErrDeclined }

// maxDecodeDepth bounds object nesting well below jsonformat's
// MaxNestingDepth of 64 dots in an element path, so deep input is always
// left to jsonformat (which reports it) and recursion stays shallow.
const maxDecodeDepth = 48

// primKind says how a primitive type's JSON value is read and checked.
type primKind uint8

const (
	pNotPrimitive primKind = iota
	pUnsupported           // ReferenceId and anything unknown: declined
	pString                // String: fhirvalidate rejects control characters
	pText                  // Markdown, Xhtml: any string
	pURI                   // Uri, Url, Canonical: must pass url.Parse
	pCode                  // Code: value_regex
	pID                    // Id: value_regex
	pRegex                 // Oid, Uuid: value_regex, checked with regexp
	pBool
	pInt
	pPositiveInt
	pUnsignedInt
	pDecimal
	pBase64
	pDate
	pDateTime
	pInstant
	pTime
	pEnumCode   // specialised code with an enum value
	pStringCode // specialised code with a string value
)

// msgInfo is what the decoder knows about one message type.
type msgInfo struct {
	desc protoreflect.MessageDescriptor
	keys map[string]*fieldInfo // JSON key -> field, incl. "_x" and choice keys

	required      []protoreflect.FieldDescriptor // validation_requirement REQUIRED_BY_FHIR
	requiredSlots []uint                         // their key slots: present iff the slot or slot+1 was seen
	requiredOther []protoreflect.FieldDescriptor // required fields without a key, checked with Has

	isReference   bool                         // google.fhir.r4.core.Reference
	isContained   bool                         // ContainedResource
	isExtension   bool                         // Extension: its url must not be one of jsonformat's own
	url, urlValue protoreflect.FieldDescriptor // Extension.url and Uri.value
	nslots        uint                         // keyed fields so far, for fieldInfo.slot
	unsupported   bool                         // a message jsonformat treats specially that we do not

	// Primitives.
	prim                       primKind
	value, valueUs, tz, prec   protoreflect.FieldDescriptor
	extension                  protoreflect.FieldDescriptor
	precYear, precMonth        protoreflect.EnumNumber
	precDay, precSec, precMill protoreflect.EnumNumber
	precMicro                  protoreflect.EnumNumber
	regex                      *regexp.Regexp
	typ                        protoreflect.MessageType
	ctor                       func(primValue) protoreflect.Message // concrete constructor, or nil
	enumNames                  map[string]protoreflect.EnumNumber   // upper-case name -> number (not 0)
	enumCodes                  map[string]protoreflect.EnumNumber   // fhir_original_code -> number
}

// fieldInfo is one JSON key of a message.
type fieldInfo struct {
	fd     protoreflect.FieldDescriptor // the field of the parent message
	member protoreflect.FieldDescriptor // for choice keys, the member of fd's message
	choice *msgInfo                     // for choice keys, fd's message
	msg    *msgInfo                     // the type of the value (the member's for choices)
	ext    bool                         // "_x": the id and extensions of primitive x
	slot   uint                         // duplicate detection: 2*(keyed field number) + ext
	any    bool                         // contained: repeated Any holding ContainedResources

	// For references: valid_reference_type of the field holding them; nil
	// when any type is allowed.
	refTypes []string
}

// Decoder parses FHIR R4 JSON resources. It is safe for concurrent use.
type Decoder struct {
	infos     map[protoreflect.FullName]*msgInfo
	resources map[string]resourceInfo                 // resource type -> ContainedResource field and info
	refFields map[string]protoreflect.FieldDescriptor // resource type -> typed Reference field
}

type resourceInfo struct {
	field protoreflect.FieldDescriptor // ContainedResource oneof member
	info  *msgInfo
}

// NewDecoder builds the tables for every message type reachable from
// ContainedResource.
func NewDecoder() (*Decoder, error) {
	d := &Decoder{
		infos:     map[protoreflect.FullName]*msgInfo{},
		resources: map[string]resourceInfo{},
		refFields: map[string]protoreflect.FieldDescriptor{},
	}
	crDesc := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor()
	d.info(crDesc)
	oneof := crDesc.Oneofs().ByName("oneof_resource")
	if oneof == nil {
		return nil, fmt.Errorf("fhirjson: ContainedResource has no oneof_resource")
	}
	for i := 0; i < oneof.Fields().Len(); i++ {
		f := oneof.Fields().Get(i)
		d.resources[string(f.Message().Name())] = resourceInfo{field: f, info: d.info(f.Message())}
	}
	refDesc := (&dtpb.Reference{}).ProtoReflect().Descriptor()
	ro := refDesc.Oneofs().ByName("reference")
	for i := 0; i < ro.Fields().Len(); i++ {
		f := ro.Fields().Get(i)
		if t := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string); t != "" && f.Message() != nil && f.Message().Name() == "ReferenceId" {
			d.refFields[t] = f
		}
	}
	if len(d.refFields) == 0 {
		return nil, fmt.Errorf("fhirjson: Reference has no typed id fields")
	}
	return d, nil
}

// info returns the table of a message type, building it (and those of the
// types it refers to) on first use. Only NewDecoder calls it, so the map
// needs no lock.
func (d *Decoder) info(md protoreflect.MessageDescriptor) *msgInfo {
	if mi, ok := d.infos[md.FullName()]; ok {
		return mi
	}
	mi := &msgInfo{desc: md, keys: map[string]*fieldInfo{}}
	d.infos[md.FullName()] = mi
	opts := md.Options()
	kind := proto.GetExtension(opts, apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	switch {
	case md.FullName() == "google.protobuf.Any":
		mi.unsupported = true // only as contained, handled by the field
		return mi
	case md.Name() == "ContainedResource":
		mi.isContained = true
	case kind == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE:
		d.primitive(mi)
	case proto.HasExtension(opts, apb.E_FhirReferenceType):
		if md.FullName() != "google.fhir.r4.core.Reference" {
			mi.unsupported = true
		}
		mi.isReference = true
	case md.FullName() == "google.fhir.r4.core.Extension":
		mi.isExtension = true
		mi.url = md.Fields().ByName("url")
		if mi.url == nil || mi.url.Message() == nil || mi.url.Message().Fields().ByName("value") == nil {
			mi.unsupported = true
			return mi
		}
		mi.urlValue = mi.url.Message().Fields().ByName("value")
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) == apb.Requirement_REQUIRED_BY_FHIR {
			mi.required = append(mi.required, f)
		}
		if mi.prim != pNotPrimitive {
			continue // the value fields are never JSON keys; id and extension come through "_x"
		}
		d.addKeys(mi, f)
	}
	if mi.prim != pNotPrimitive {
		for _, name := range []string{"id", "extension"} {
			if f := fields.ByName(protoreflect.Name(name)); f != nil {
				d.addKeys(mi, f)
			}
		}
	}
	for _, f := range mi.required {
		slot, ok := uint(0), false
		for _, fi := range mi.keys {
			if fi.fd == f {
				slot, ok = fi.slot&^1, true
				break
			}
		}
		if ok {
			mi.requiredSlots = append(mi.requiredSlots, slot)
		} else {
			mi.requiredOther = append(mi.requiredOther, f)
		}
	}
	return mi
}

// addKeys adds the JSON keys of field f of mi: f's JSON name, "_" + it for
// primitives, and for choice fields one key per member
// (jsonpbhelper.FieldMap's rules).
func (d *Decoder) addKeys(mi *msgInfo, f protoreflect.FieldDescriptor) {
	if f.Message() == nil || f.IsMap() {
		return // scalar fields exist only inside primitives
	}
	if mi.isReference && f.ContainingOneof() != nil && f.Name() != "uri" {
		return // typed ids and fragments are set only by normalisation
	}
	slot := 2 * mi.nslots
	mi.nslots++
	fm := f.Message()
	if proto.HasExtension(fm.Options(), apb.E_IsChoiceType) {
		ci := d.info(fm)
		members := fm.Fields()
		for j := 0; j < members.Len(); j++ {
			m := members.Get(j)
			if m.Message() == nil || m.ContainingOneof() == nil {
				continue
			}
			name := m.JSONName()
			key := f.JSONName() + strings.ToUpper(name[:1]) + name[1:]
			mmi := d.info(m.Message())
			fi := &fieldInfo{fd: f, member: m, choice: ci, msg: mmi, slot: slot, refTypes: refTypes(m)}
			mi.keys[key] = fi
			if mmi.prim != pNotPrimitive {
				efi := *fi
				efi.ext, efi.slot = true, slot+1
				mi.keys["_"+key] = &efi
			}
		}
		return
	}
	fmi := d.info(fm)
	fi := &fieldInfo{fd: f, msg: fmi, slot: slot, refTypes: refTypes(f)}
	if fm.FullName() == "google.protobuf.Any" {
		if f.JSONName() != "contained" || !f.IsList() {
			return // unknown to us: declined as an unknown key
		}
		fi.any = true
	}
	mi.keys[f.JSONName()] = fi
	if fmi.prim != pNotPrimitive && !(mi.isReference && f.Name() == "uri") {
		efi := *fi
		efi.ext, efi.slot = true, slot+1
		mi.keys["_"+f.JSONName()] = &efi
	}
}

// refTypes returns the valid_reference_type list of f, or nil if it allows
// any resource (jsonpbhelper.ValidateReferenceType).
func refTypes(f protoreflect.FieldDescriptor) []string {
	ts := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string)
	for _, t := range ts {
		if t == "Resource" {
			return nil
		}
	}
	return ts
}

// primitive fills the primitive part of mi, following the order of
// jsonformat's parsePrimitiveType: type name first, then value set codes.
func (d *Decoder) primitive(mi *msgInfo) {
	md := mi.desc
	fs := md.Fields()
	mi.ctor = primitiveCtor(md.FullName())
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		mi.typ = mt
	} else {
		mi.prim = pUnsupported
		return
	}
	mi.value = fs.ByName("value")
	mi.extension = fs.ByName("extension")
	switch md.Name() {
	case "String":
		mi.prim = pString
	case "Markdown", "Xhtml":
		mi.prim = pText
	case "Uri", "Url", "Canonical":
		mi.prim = pURI
	case "Code":
		mi.prim = pCode
	case "Id":
		mi.prim = pID
	case "Oid", "Uuid":
		mi.prim = pRegex
		re := proto.GetExtension(md.Options(), apb.E_ValueRegex).(string)
		if re == "" {
			mi.prim = pUnsupported
			return
		}
		mi.regex = regexp.MustCompile("^" + re + "$")
	case "Boolean":
		mi.prim = pBool
	case "Integer":
		mi.prim = pInt
	case "PositiveInt":
		mi.prim = pPositiveInt
	case "UnsignedInt":
		mi.prim = pUnsignedInt
	case "Decimal":
		mi.prim = pDecimal
	case "Base64Binary":
		mi.prim = pBase64
	case "Date":
		mi.prim = pDate
	case "DateTime":
		mi.prim = pDateTime
	case "Instant":
		mi.prim = pInstant
	case "Time":
		mi.prim = pTime
	default:
		mi.prim = pUnsupported
		if !proto.HasExtension(md.Options(), apb.E_FhirValuesetUrl) || mi.value == nil {
			return
		}
		switch mi.value.Kind() {
		case protoreflect.StringKind:
			mi.prim = pStringCode
		case protoreflect.EnumKind:
			mi.prim = pEnumCode
			mi.enumNames = map[string]protoreflect.EnumNumber{}
			mi.enumCodes = map[string]protoreflect.EnumNumber{}
			vals := mi.value.Enum().Values()
			for i := 0; i < vals.Len(); i++ {
				v := vals.Get(i)
				if v.Number() != 0 {
					mi.enumNames[string(v.Name())] = v.Number()
				}
				if c := proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string); c != "" {
					if _, dup := mi.enumCodes[c]; !dup {
						mi.enumCodes[c] = v.Number()
					}
				}
			}
		}
		return
	}
	switch mi.prim {
	case pDate, pDateTime, pInstant, pTime:
		mi.valueUs = fs.ByName("value_us")
		mi.tz = fs.ByName("timezone")
		mi.prec = fs.ByName("precision")
		if mi.valueUs == nil || mi.prec == nil || mi.prec.Enum() == nil || (mi.tz == nil) != (mi.prim == pTime) {
			mi.prim = pUnsupported
			return
		}
		num := func(name string) protoreflect.EnumNumber {
			if v := mi.prec.Enum().Values().ByName(protoreflect.Name(name)); v != nil {
				return v.Number()
			}
			return -1
		}
		mi.precYear, mi.precMonth, mi.precDay = num("YEAR"), num("MONTH"), num("DAY")
		mi.precSec, mi.precMill, mi.precMicro = num("SECOND"), num("MILLISECOND"), num("MICROSECOND")
	default:
		if mi.value == nil {
			mi.prim = pUnsupported
		}
	}
}

// Decode parses one resource and returns it unwrapped (a *Patient, not a
// ContainedResource), or an error matching ErrDeclined.
func (d *Decoder) Decode(b []byte) (proto.Message, error) {
	p := &parser{d: d, b: b, s: string(b)}
	p.ws()
	if p.peek() != '{' {
		return nil, declined("not an object")
	}
	cr := &bcrpb.ContainedResource{}
	res, err := p.resource(cr.ProtoReflect(), 0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, declined("data after the resource")
	}
	return res.Interface(), nil
}

// resource reads a resource object into its member of the ContainedResource
// cr and returns the resource. resourceType may be anywhere in the object.
func (p *parser) resource(cr protoreflect.Message, depth int) (protoreflect.Message, error) {
	rt, err := p.resourceType()
	if err != nil {
		return nil, err
	}
	ri, ok := p.d.resources[rt]
	if !ok || ri.info == nil {
		return nil, declined("unknown resource type")
	}
	m := cr.Mutable(ri.field).Message()
	// jsonformat adds the resource type to the element path: one more level.
	if err := p.object(m, ri.info, depth+1, true); err != nil {
		return nil, err
	}
	return m, nil
}

// resourceType returns the value of the resourceType key of the object
// starting at p.i, without moving p.i.
func (p *parser) resourceType() (string, error) {
	q := parser{d: p.d, b: p.b, s: p.s, i: p.i + 1}
	for {
		q.ws()
		if q.peek() != '"' {
			return "", declined("resourceType missing")
		}
		key, err := q.key()
		if err != nil {
			return "", err
		}
		if err := q.colon(); err != nil {
			return "", err
		}
		if key == "resourceType" {
			if q.peek() != '"' {
				return "", declined("resourceType not a string")
			}
			return q.plainString()
		}
		if err := q.skip(0); err != nil {
			return "", err
		}
		q.ws()
		if q.peek() != ',' {
			return "", declined("resourceType missing")
		}
		q.i++
	}
}

// slots records the keys seen in one object.
type slots [4]uint64

func (s *slots) add(n uint) bool {
	if n >= 256 {
		return false
	}
	w, bit := n/64, uint64(1)<<(n%64)
	if s[w]&bit != 0 {
		return false
	}
	s[w] |= bit
	return true
}

func (s *slots) has(n uint) bool { return n < 256 && s[n/64]&(uint64(1)<<(n%64)) != 0 }

func (s *slots) empty() bool { return s[0]|s[1]|s[2]|s[3] == 0 }

// object reads a JSON object into m, then checks what fhirvalidate checks
// of m itself (required fields).
func (p *parser) object(m protoreflect.Message, mi *msgInfo, depth int, isResource bool) error {
	if depth > maxDecodeDepth {
		return declined("too deep")
	}
	if mi.unsupported {
		return declined("unsupported type")
	}
	p.i++ // '{'
	var seen slots
	var exts []*fieldInfo // "_x" keys seen, checked at the end
	sawType := false
	for {
		p.ws()
		if p.peek() != '"' {
			return declined("bad object")
		}
		key, err := p.key()
		if err != nil {
			return err
		}
		if err := p.colon(); err != nil {
			return err
		}
		if isResource && key == "resourceType" {
			if sawType {
				return declined("duplicate resourceType")
			}
			sawType = true
			if _, err := p.plainString(); err != nil {
				return err
			}
		} else {
			fi := mi.keys[key]
			if fi == nil {
				return declined("unknown key")
			}
			if !seen.add(fi.slot) {
				return declined("duplicate key")
			}
			if fi.ext {
				exts = append(exts, fi)
			}
			if err := p.field(m, fi, depth, fi.ext || seen.has(fi.slot+1)); err != nil {
				return err
			}
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case '}':
			p.i++
		default:
			return declined("bad object")
		}
		break
	}
	if seen.empty() {
		return declined("empty object") // {} or only resourceType
	}
	for _, fi := range exts {
		if err := p.checkExt(m, fi, seen.has(fi.slot-1)); err != nil {
			return err
		}
	}
	// A key seen means its field is set: values are never empty.
	for _, slot := range mi.requiredSlots {
		if !seen.has(slot) && !seen.has(slot+1) {
			return declined("required field missing")
		}
	}
	for _, f := range mi.requiredOther {
		if !m.Has(f) {
			return declined("required field missing")
		}
	}
	if mi.isReference {
		return p.normalizeReference(m)
	}
	if mi.isExtension {
		// jsonformat adds and removes extensions with these URLs itself
		// (primitiveHasNoValue, base64 separator/stride).
		e, ok := m.Interface().(*dtpb.Extension)
		if !ok || strings.HasPrefix(e.GetUrl().GetValue(), "https://g.co/fhir/") {
			return declined("internal extension URL")
		}
	}
	return nil
}

// target returns the message a key of m writes into: m itself, or for a
// choice key the choice message, after checking that no other member of the
// choice is set (jsonformat's "cannot accept multiple values").
func (p *parser) target(m protoreflect.Message, fi *fieldInfo) (protoreflect.Message, protoreflect.FieldDescriptor, error) {
	if fi.member == nil {
		return m, fi.fd, nil
	}
	cm := m.Mutable(fi.fd).Message()
	if w := cm.WhichOneof(fi.member.ContainingOneof()); w != nil && w != fi.member {
		return nil, nil, declined("several choice members")
	}
	return cm, fi.member, nil
}

// field reads the value of one key into m. merge says the field may be set
// already (by the "_x" of a primitive).
func (p *parser) field(m protoreflect.Message, fi *fieldInfo, depth int, merge bool) error {
	t, f, err := p.target(m, fi)
	if err != nil {
		return err
	}
	if fi.any {
		return p.containedList(t.Mutable(f).List(), depth)
	}
	if f.IsList() {
		return p.list(t.Mutable(f).List(), fi, depth)
	}
	if fi.msg.prim != pNotPrimitive && !merge {
		v, err := p.readPrimitive(fi.msg)
		if err != nil {
			return err
		}
		t.Set(f, protoreflect.ValueOfMessage(fi.msg.newPrimitive(v)))
		return nil
	}
	return p.single(t.Mutable(f).Message(), fi, depth)
}

// single reads one value into the (new or partly filled) message m.
func (p *parser) single(m protoreflect.Message, fi *fieldInfo, depth int) error {
	mi := fi.msg
	switch {
	case fi.ext:
		if p.peek() != '{' {
			return declined("_x not an object")
		}
		return p.object(m, mi, depth+1, false)
	case mi.prim != pNotPrimitive:
		v, err := p.readPrimitive(mi)
		if err != nil {
			return err
		}
		mi.setPrimitive(m, v)
		return nil
	case mi.isContained:
		if p.peek() != '{' {
			return declined("resource not an object")
		}
		_, err := p.resource(m, depth+1)
		return err
	}
	if p.peek() != '{' {
		return declined("not an object")
	}
	if err := p.object(m, mi, depth+1, false); err != nil {
		return err
	}
	if mi.isReference && fi.refTypes != nil {
		return checkRefType(p.refType, fi.refTypes)
	}
	return nil
}

// list reads a JSON array into l. If l already holds elements (from "x"
// when reading "_x", or the other way round), the array must have as many
// and fills them (jsonformat's mergeRepeatedField).
func (p *parser) list(l protoreflect.List, fi *fieldInfo, depth int) error {
	if p.peek() != '[' {
		return declined("not an array")
	}
	p.i++
	n := l.Len()
	i := 0
	for {
		p.ws()
		if p.peek() == ']' && i == 0 {
			return declined("empty array")
		}
		var m protoreflect.Message
		switch {
		case n == 0 && fi.msg.prim != pNotPrimitive && !fi.ext:
			v, err := p.readPrimitive(fi.msg)
			if err != nil {
				return err
			}
			l.Append(protoreflect.ValueOfMessage(fi.msg.newPrimitive(v)))
		case n == 0:
			m = l.AppendMutable().Message()
		case i < n:
			m = l.Get(i).Message()
		default:
			return declined("array lengths differ")
		}
		if m != nil {
			if err := p.single(m, fi, depth); err != nil {
				return err
			}
		}
		i++
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
		default:
			return declined("bad array")
		}
		break
	}
	if n != 0 && i != n {
		return declined("array lengths differ")
	}
	return nil
}

// containedList reads the contained array: each resource becomes a
// ContainedResource packed in an Any, as jsonformat does.
func (p *parser) containedList(l protoreflect.List, depth int) error {
	if p.peek() != '[' {
		return declined("not an array")
	}
	p.i++
	for i := 0; ; i++ {
		p.ws()
		if p.peek() != '{' {
			return declined("contained not an object")
		}
		cr := &bcrpb.ContainedResource{}
		if _, err := p.resource(cr.ProtoReflect(), depth+1); err != nil {
			return err
		}
		a, ok := l.AppendMutable().Message().Interface().(*anypb.Any)
		if !ok {
			return declined("contained is not Any")
		}
		if err := anypb.MarshalFrom(a, cr, proto.MarshalOptions{}); err != nil {
			return declined("contained does not marshal")
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ']':
			p.i++
			return nil
		}
		return declined("bad array")
	}
}

// primitiveHasNoValueURL is jsonformat's internal extension marking a
// primitive given only as "_x".
const primitiveHasNoValueURL = "https://g.co/fhir/StructureDefinition/primitiveHasNoValue"

// checkExt finishes a primitive that had "_x": jsonformat adds the
// primitiveHasNoValue extension when there is no value, and removes it when
// a value came too. Cases where the value is a zero (false, 0), in arrays
// without values, and types whose validation rejects an empty value are
// declined.
func (p *parser) checkExt(m protoreflect.Message, fi *fieldInfo, hasValueKey bool) error {
	t, f, err := p.target(m, fi)
	if err != nil {
		return err
	}
	mi := fi.msg
	if f.IsList() {
		if !hasValueKey {
			return declined("_x array without x")
		}
		l := t.Get(f).List()
		for i := 0; i < l.Len(); i++ {
			if !hasPrimitiveValue(l.Get(i).Message(), mi) {
				return declined("_x element without value")
			}
		}
		return nil
	}
	pm := t.Get(f).Message()
	if hasValueKey {
		if !hasPrimitiveValue(pm, mi) {
			return declined("_x with a zero value")
		}
		return nil
	}
	switch mi.prim {
	case pCode, pID, pRegex:
		return declined("_x without value of a regex type") // fhirvalidate rejects ""
	}
	if mi.extension == nil {
		return declined("no extension field")
	}
	ext := &dtpb.Extension{
		Url:   &dtpb.Uri{Value: primitiveHasNoValueURL},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}},
	}
	pm.Mutable(mi.extension).List().Append(protoreflect.ValueOfMessage(ext.ProtoReflect()))
	return nil
}

func hasPrimitiveValue(m protoreflect.Message, mi *msgInfo) bool {
	if mi.valueUs != nil {
		return m.Has(mi.prec)
	}
	return m.Has(mi.value)
}

// normalizeReference mirrors jsonformat's NormalizeReference: "#x" becomes
// the fragment, "Type/id" and "Type/id/_history/v" the typed id field. It
// leaves the type of a typed reference in p.refType, else "".
func (p *parser) normalizeReference(m protoreflect.Message) error {
	p.refType = ""
	ref, ok := m.Interface().(*dtpb.Reference)
	if !ok {
		return declined("unexpected reference type")
	}
	// "_reference" is not a key, so the URI has no id or extension that
	// normalisation would drop.
	u := ref.GetUri()
	if u == nil {
		return nil
	}
	uri := u.GetValue()
	if strings.HasPrefix(uri, "#") {
		if len(uri) == 1 {
			return declined("empty fragment")
		}
		ref.Reference = &dtpb.Reference_Fragment{Fragment: &dtpb.String{Value: uri[1:]}}
		return nil
	}
	slash := strings.IndexByte(uri, '/')
	if slash < 0 {
		return nil
	}
	typ, rest := uri[:slash], uri[slash+1:]
	var id, hist string
	switch n := strings.Count(rest, "/"); n {
	case 0:
		id = rest
	case 2:
		a := strings.IndexByte(rest, '/')
		b := a + 1 + strings.IndexByte(rest[a+1:], '/')
		if rest[a+1:b] != "_history" {
			return nil
		}
		id, hist = rest[:a], rest[b+1:]
		if hist == "" {
			return declined("empty history id")
		}
	default:
		return nil
	}
	f, ok := p.d.refFields[typ]
	if !ok {
		// jsonformat keeps the URI, unless the type is one of another FHIR
		// version, which it rejects: leave all such cases to it.
		return declined("reference to an unknown type")
	}
	if id == "" {
		return declined("empty reference id")
	}
	if hist != "" && !validID(hist) {
		return declined("invalid history id") // fhirvalidate checks the Id
	}
	rid := &dtpb.ReferenceId{Value: id}
	if hist != "" {
		rid.History = &dtpb.Id{Value: hist}
	}
	m.Set(f, protoreflect.ValueOfMessage(rid.ProtoReflect()))
	p.refType = typ
	return nil
}

// checkRefType mirrors jsonpbhelper.ValidateReferenceType: a typed
// reference must be to one of the types the field allows.
func checkRefType(typ string, allowed []string) error {
	if typ == "" {
		return nil
	}
	for _, v := range allowed {
		if v == typ {
			return nil
		}
	}
	return declined("reference to a type the field does not allow")
}
