// Package fhirjson prints google/fhir R4 protos as compact FHIR JSON, byte
// for byte as jsonformat's compact Marshaller does. It is fhir/codec's
// Encode; jsonformat stays the reference and the fallback.
//
// A second printer exists for speed: jsonformat builds a map per element
// and hands the tree to encoding/json, which costs about 0.25–0.3 ms per
// 5 KB resource and dominated the write path and the mappings. This package
// writes each element once into one buffer, several times faster: the most
// frequent data types by hand (fast.go), other messages by a plan per type
// that reads the generated structs with package reflect (plan), and what
// neither handles through protoreflect (object).
//
// Byte equality rests on two things. First, it follows jsonformat's rules
// exactly: keys sorted in byte order (encoding/json's order for map keys),
// strings escaped as encoding/json escapes them with HTML escaping off,
// numbers, codes, dates and times formatted as jsonformat formats them,
// typed references printed as their "Type/id" literal, and keys whose
// value jsonformat drops (an unset code) left out. Second, it prints only
// what it knows to print that way: anything else inside a resource
// (extensions or ids on primitive values, which include base64 layout and
// missing-value extensions; named time zones; invalid decimals; unknown
// enum values...) makes it print that resource with jsonformat instead.
// fhir/codec's tests compare both on every resource of the FHIR corpus, on
// fuzzed input and on every typed reference, and mappings/internal/codeccheck
// on everything the mappings produce from their golden inputs.
//
// jsonformat's Marshaller rewrites the message it prints (typed references
// become URIs, some extensions are removed), so the fallback prints a copy:
// Marshal never modifies its argument.
package fhirjson

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrNotHandled means: the direct printer does not print this resource the
// way jsonformat does; print it with jsonformat.
var ErrNotHandled = errors.New("fhirjson: not handled by the direct printer")

type kind uint8

const (
	kindMessage kind = iota
	kindPrimitive
	kindChoice
	kindReference
	kindContained
	kindAny
)

// Printer prints resources. It is safe for concurrent use.
type Printer struct {
	fallback    *jsonformat.Marshaller
	refOneof    protoreflect.OneofDescriptor
	refPrefixes map[protoreflect.FieldNumber]string // typed reference field -> "Type/"
	fastRefs    [numFastRefs]string                 // refPrefixes of the typed fields fastReference reads directly
	kinds       sync.Map                            // protoreflect.MessageDescriptor -> kind
	names       sync.Map                            // protoreflect.FieldDescriptor (choice member) -> capitalised JSON name
	plans       sync.Map                            // reflect.Type -> *plan
	entryPlan   *plan                               // ContainedResource, as Bundle entries hold resources
	b64         *[4096]uint16                       // the two base64 characters of every 12 bits, first in the low byte
	bufs        sync.Pool                           // *[]byte: buffers to print into, copied out at the end
}

// maxPooled bounds the buffers kept for the next Marshal.
const maxPooled = 8 << 20

// New returns a Printer.
func New() (*Printer, error) {
	m, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		return nil, fmt.Errorf("jsonformat marshaller: %w", err)
	}
	p := &Printer{fallback: m, refPrefixes: map[protoreflect.FieldNumber]string{}, b64: new([4096]uint16)}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for v := range p.b64 {
		p.b64[v] = uint16(alphabet[v>>6]) | uint16(alphabet[v&63])<<8
	}
	p.refOneof = (&dtpb.Reference{}).ProtoReflect().Descriptor().Oneofs().ByName("reference")
	// The typed fields jsonformat prints as "Type/id": those ending in _id
	// whose referenced_fhir_type option names the type
	// (jsonpbhelper.ResourceIDField and ResourceTypeForReference).
	fs := p.refOneof.Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		t := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string)
		if t != "" && strings.HasSuffix(string(f.Name()), "_id") && f.Message() != nil && f.Message().Name() == "ReferenceId" {
			p.refPrefixes[f.Number()] = t + "/"
		}
	}
	for i, name := range fastRefNames {
		if f := fs.ByName(protoreflect.Name(name)); f != nil {
			p.fastRefs[i] = p.refPrefixes[f.Number()] // "" (not handled) if not a typed id
		}
	}
	p.entryPlan = p.planOf(reflect.TypeOf(&bcrpb.ContainedResource{}))
	return p, nil
}

// sizeHint guesses the printed size of a Bundle, so the buffer rarely grows:
// base64 of each Binary plus about 2 kB per other entry.
func sizeHint(m proto.Message) int {
	b, ok := m.(*bcrpb.Bundle)
	if !ok {
		return 16 << 10
	}
	n := 1024
	for _, e := range b.Entry {
		if bin := e.GetResource().GetBinary(); bin != nil {
			n += len(bin.GetData().GetValue())*4/3 + 512
			continue
		}
		n += 2048
	}
	return n
}

// Marshal prints a resource (or a ContainedResource) as compact JSON. It
// never modifies m.
func (p *Printer) Marshal(m proto.Message) ([]byte, error) { return p.marshal(m, true) }

// MarshalDirect is Marshal without jsonformat: it fails with ErrNotHandled
// when m, or a resource inside it, would need the fallback. Tests use it to
// show what the direct printer handles by itself.
func (p *Printer) MarshalDirect(m proto.Message) ([]byte, error) { return p.marshal(m, false) }

func (p *Printer) marshal(m proto.Message, fallback bool) ([]byte, error) {
	// Print into a buffer kept from an earlier call and return an exact
	// copy: cheaper than a fresh buffer sized by guess, which must be zeroed,
	// is larger than needed, and copies everything when it grows.
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	buf := (*bp)[:0]
	if n := sizeHint(m); cap(buf) < n {
		buf = make([]byte, 0, n)
	}
	w := &writer{p: p, fallback: fallback, buf: buf}
	defer func() {
		if cap(w.buf) <= maxPooled {
			*bp = w.buf[:0]
			p.bufs.Put(bp)
		}
	}()
	v := reflect.ValueOf(m)
	pl := p.planOf(v.Type())
	var err error
	if pl.kind == kindContained && !v.IsNil() {
		err = w.containedV(pl, v)
	} else {
		err = w.resource(v, pl)
	}
	if err != nil {
		return nil, err
	}
	return bytes.Clone(w.buf), nil
}

// info is what the printer needs to know about a message type, computed
// once per type.
type info struct {
	kind  kind
	prim  primClass
	value protoreflect.FieldDescriptor // primitives: the value field
	id    protoreflect.FieldDescriptor // primitives: the id field, if any
	ext   protoreflect.FieldDescriptor // primitives: the extension field, if any
}

type primClass uint8

const (
	primOther primClass = iota
	primString
	primBase64
	primBool
	primInt
	primUint
	primDecimal
	primTime      // Date, DateTime, Instant
	primTimeOfDay // Time
	primEnumCode
	primStringCode
)

func (p *Printer) infoOf(d protoreflect.MessageDescriptor) *info {
	if in, ok := p.kinds.Load(d); ok {
		return in.(*info)
	}
	in := &info{kind: kindMessage}
	opts := d.Options()
	switch {
	case d.FullName() == "google.protobuf.Any":
		in.kind = kindAny
	case d.Name() == "ContainedResource":
		in.kind = kindContained
	case proto.GetExtension(opts, apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue) == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE:
		in.kind = kindPrimitive
		in.value = d.Fields().ByName("value")
		in.id = d.Fields().ByName("id")
		in.ext = d.Fields().ByName("extension")
		in.prim = primClassOf(d, in.value)
	case proto.HasExtension(opts, apb.E_IsChoiceType):
		in.kind = kindChoice
	case proto.HasExtension(opts, apb.E_FhirReferenceType):
		in.kind = kindReference
	}
	p.kinds.Store(d, in)
	return in
}

func primClassOf(d protoreflect.MessageDescriptor, value protoreflect.FieldDescriptor) primClass {
	switch d.Name() {
	case "Base64Binary":
		return primBase64
	case "Canonical", "Code", "Markdown", "Oid", "String", "Uri", "Url", "Uuid", "Xhtml", "ReferenceId", "Id":
		return primString
	case "Boolean":
		return primBool
	case "Integer":
		return primInt
	case "PositiveInt", "UnsignedInt":
		return primUint
	case "Decimal":
		return primDecimal
	case "Date", "DateTime", "Instant":
		return primTime
	case "Time":
		return primTimeOfDay
	}
	switch {
	case value == nil:
		return primOther
	case value.Kind() == protoreflect.StringKind:
		return primStringCode
	case value.Kind() == protoreflect.EnumKind:
		return primEnumCode
	}
	return primOther
}

// choiceName is field + capitalised member name: value + quantity -> valueQuantity.
func (p *Printer) choiceName(field, member protoreflect.FieldDescriptor) string {
	if n, ok := p.names.Load(member); ok {
		return n.(string)
	}
	m := member.JSONName()
	n := field.JSONName() + strings.ToUpper(m[:1]) + m[1:]
	p.names.Store(member, n)
	return n
}

type writer struct {
	p        *Printer
	fallback bool // print with jsonformat what the direct printer does not handle
	buf      []byte
	members  []member // a stack shared by nested objects, to avoid allocating per object
}

// contained prints the resource inside a ContainedResource, falling back to
// jsonformat for the whole resource when needed.
func (w *writer) contained(cr protoreflect.Message) error {
	od := cr.Descriptor().Oneofs().ByName("oneof_resource")
	f := cr.WhichOneof(od)
	if f == nil {
		return fmt.Errorf("fhirjson: empty ContainedResource")
	}
	v := reflect.ValueOf(cr.Get(f).Message().Interface())
	return w.resource(v, w.p.planOf(v.Type()))
}

// resource prints the resource v (a pointer to a generated struct) of
// plan pl, with jsonformat if the direct printer does not handle it.
func (w *writer) resource(v reflect.Value, pl *plan) error {
	start := len(w.buf)
	var err error
	if pl.kind == kindMessage && !pl.generic && !v.IsNil() {
		err = w.fields(pl, v.Elem(), pl.name)
	} else {
		err = w.object(v.Interface().(proto.Message).ProtoReflect(), pl.name)
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrNotHandled) || !w.fallback {
		return err
	}
	w.buf = w.buf[:start]
	// jsonformat rewrites what it prints: give it a copy.
	b, err := w.p.fallback.MarshalResource(proto.Clone(v.Interface().(proto.Message)))
	if err != nil {
		return err
	}
	w.buf = append(w.buf, b...)
	return nil
}

// member is one JSON key of an object.
type member struct {
	key string
	fd  protoreflect.FieldDescriptor
	v   protoreflect.Value
}

// object prints a message as a JSON object with sorted keys; resourceType
// is added when non-empty.
func (w *writer) object(m protoreflect.Message, resourceType string) error {
	base := len(w.members)
	defer func() { w.members = w.members[:base] }()
	if resourceType != "" {
		w.members = append(w.members, member{key: "resourceType"})
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			err = ErrNotHandled
			return false
		}
		key := fd.JSONName()
		if !fd.IsList() && isChoice(fd.Message()) {
			cm := v.Message()
			od := cm.Descriptor().Oneofs().Get(0)
			inner := cm.WhichOneof(od)
			if inner == nil {
				err = ErrNotHandled
				return false
			}
			key = w.p.choiceName(fd, inner)
			fd, v = inner, cm.Get(inner)
		}
		w.members = append(w.members, member{key: key, fd: fd, v: v})
		return true
	})
	if err != nil {
		return err
	}
	end := len(w.members)
	sortMembers(w.members[base:end])
	w.buf = append(w.buf, '{')
	first := true
	for i := base; i < end; i++ {
		mb := w.members[i]
		mark := len(w.buf)
		if !first {
			w.buf = append(w.buf, ',')
		}
		w.str(mb.key)
		w.buf = append(w.buf, ':')
		if mb.fd == nil {
			w.str(resourceType)
			first = false
			continue
		}
		wrote, err := w.field(mb.fd, mb.v)
		if err != nil {
			return err
		}
		if !wrote {
			w.buf = w.buf[:mark] // jsonformat omits a key whose value is empty (an unset code)
			continue
		}
		first = false
	}
	w.buf = append(w.buf, '}')
	return nil
}

// sortMembers sorts keys as encoding/json sorts map keys (byte order).
// Objects have few keys: insertion sort does not allocate.
func sortMembers(ms []member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].key < ms[j-1].key; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// field prints a field's value; wrote is false when nothing was printed.
func (w *writer) field(fd protoreflect.FieldDescriptor, v protoreflect.Value) (wrote bool, err error) {
	if !fd.IsList() {
		return w.value(fd.Message(), v.Message())
	}
	l := v.List()
	if fd.Message().FullName() == anyName {
		if fd.JSONName() != "contained" {
			return false, ErrNotHandled
		}
		as := make([]*anypb.Any, l.Len())
		for i := range as {
			a, ok := l.Get(i).Message().Interface().(*anypb.Any)
			if !ok {
				return false, ErrNotHandled
			}
			as[i] = a
		}
		return true, w.containedAny(as)
	}
	w.buf = append(w.buf, '[')
	for i := 0; i < l.Len(); i++ {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		ok, err := w.value(fd.Message(), l.Get(i).Message())
		if err != nil {
			return false, err
		}
		if !ok {
			return false, ErrNotHandled // jsonformat would print null here
		}
	}
	w.buf = append(w.buf, ']')
	return true, nil
}

func (w *writer) value(_ protoreflect.MessageDescriptor, m protoreflect.Message) (bool, error) {
	return w.msg(m.Interface())
}

// msg prints a message value: a fast type directly, else by its plan.
func (w *writer) msg(x proto.Message) (bool, error) {
	if ok, err := w.fastValue(x); ok || err != nil {
		return ok, err
	}
	v := reflect.ValueOf(x)
	return w.planned(w.p.planOf(v.Type()), v)
}

const anyName = "google.protobuf.Any"

// containedAny prints resources held in google.protobuf.Any, as jsonformat
// does for the field "contained" only: each unpacked into a
// ContainedResource. Anything else is jsonformat's to print (or refuse).
func (w *writer) containedAny(as []*anypb.Any) error {
	w.buf = append(w.buf, '[')
	for i, a := range as {
		cr := &bcrpb.ContainedResource{}
		if a == nil || a.UnmarshalTo(cr) != nil {
			return ErrNotHandled
		}
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if err := w.containedV(w.p.entryPlan, reflect.ValueOf(cr)); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, ']')
	return nil
}

// reference prints a Reference with its typed id or fragment as the
// literal "reference" string, as jsonformat.DenormalizeReference does.
func (w *writer) reference(m protoreflect.Message) error {
	od := m.Descriptor().Oneofs().ByName("reference")
	f := m.WhichOneof(od)
	lit, prefix, history := "", "", ""
	if f != nil {
		rm := m.Get(f).Message()
		if hasMeta(rm) {
			return ErrNotHandled
		}
		val := rm.Get(rm.Descriptor().Fields().ByName("value")).String()
		switch {
		case f.Name() == "uri":
			lit = val
		case f.Name() == "fragment":
			lit, prefix = val, "#"
		default:
			p, ok := w.p.refPrefixes[f.Number()]
			id, isID := rm.Interface().(*dtpb.ReferenceId)
			if !ok || !isID {
				return ErrNotHandled
			}
			lit, prefix, history = val, p, id.GetHistory().GetValue()
		}
	}
	base := len(w.members)
	defer func() { w.members = w.members[:base] }()
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.ContainingOneof() == od {
			return true
		}
		if fd.Message() == nil {
			err = ErrNotHandled
			return false
		}
		w.members = append(w.members, member{key: fd.JSONName(), fd: fd, v: v})
		return true
	})
	if err != nil {
		return err
	}
	if f != nil {
		w.members = append(w.members, member{key: "reference"})
	}
	end := len(w.members)
	sortMembers(w.members[base:end])
	w.buf = append(w.buf, '{')
	for i := base; i < end; i++ {
		mb := w.members[i]
		if i > base {
			w.buf = append(w.buf, ',')
		}
		w.str(mb.key)
		w.buf = append(w.buf, ':')
		if mb.fd == nil {
			w.refLiteral(prefix, lit, history)
			continue
		}
		ok, err := w.field(mb.fd, mb.v)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotHandled
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

// refLiteral prints the literal of a reference: prefix and value, and
// "/_history/" and the version when there is one, as
// jsonformat.DenormalizeReference joins them.
func (w *writer) refLiteral(prefix, value, history string) {
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, prefix...)
	w.strBody(value)
	if history != "" {
		w.buf = append(w.buf, "/_history/"...)
		w.strBody(history)
	}
	w.buf = append(w.buf, '"')
}

// hasMeta reports whether a primitive carries an element id or extensions,
// which jsonformat prints under "_field".
func hasMeta(m protoreflect.Message) bool {
	fs := m.Descriptor().Fields()
	if f := fs.ByName("id"); f != nil && m.Has(f) {
		return true
	}
	if f := fs.ByName("extension"); f != nil && m.Has(f) {
		return true
	}
	return false
}

// primitive prints a primitive value; in is the info of its type.
func (w *writer) primitive(m protoreflect.Message, in *info) (bool, error) {
	if in.id != nil && m.Has(in.id) || in.ext != nil && m.Has(in.ext) {
		return false, ErrNotHandled
	}
	f := in.value
	switch in.prim {
	case primBase64:
		w.base64(m.Get(f).Bytes())
		return true, nil
	case primString, primStringCode:
		w.str(m.Get(f).String())
		return true, nil
	case primBool:
		w.buf = strconv.AppendBool(w.buf, m.Get(f).Bool())
		return true, nil
	case primInt:
		w.buf = strconv.AppendInt(w.buf, m.Get(f).Int(), 10)
		return true, nil
	case primUint:
		w.buf = strconv.AppendUint(w.buf, m.Get(f).Uint(), 10)
		return true, nil
	case primDecimal:
		s := m.Get(f).String()
		if !validNumber(s) {
			return false, ErrNotHandled
		}
		w.buf = append(w.buf, s...)
		return true, nil
	case primTime:
		return true, w.instant(m)
	case primTimeOfDay:
		return true, w.timeOfDay(m)
	case primEnumCode:
		num := m.Get(f).Enum()
		if num == 0 {
			return false, nil
		}
		ev := f.Enum().Values().ByNumber(num)
		if ev == nil {
			return false, ErrNotHandled
		}
		w.str(w.p.enumCode(ev))
		return true, nil
	}
	return false, ErrNotHandled
}

// instant prints Date, DateTime and Instant values at their precision.
func (w *writer) instant(m protoreflect.Message) error {
	fs := m.Descriptor().Fields()
	us := m.Get(fs.ByName("value_us")).Int()
	tz := m.Get(fs.ByName("timezone")).String()
	precName := precision(m)
	loc, ok := zone(tz)
	if !ok {
		return ErrNotHandled
	}
	t := unixMicro(us, loc)
	utc := tz == "Z"
	var layout string
	switch precName {
	case "YEAR":
		layout = "2006"
	case "MONTH":
		layout = "2006-01"
	case "DAY":
		layout = "2006-01-02"
	case "SECOND":
		layout = pick(utc, "2006-01-02T15:04:05Z", "2006-01-02T15:04:05-07:00")
	case "MILLISECOND":
		layout = pick(utc, "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05.000-07:00")
	case "MICROSECOND":
		layout = pick(utc, "2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000000-07:00")
	default:
		return ErrNotHandled
	}
	w.buf = append(w.buf, '"')
	w.buf = t.AppendFormat(w.buf, layout)
	w.buf = append(w.buf, '"')
	return nil
}

// timeOfDay prints a Time value (microseconds since midnight) at its
// precision.
func (w *writer) timeOfDay(m protoreflect.Message) error {
	var layout string
	switch precision(m) {
	case "SECOND":
		layout = "15:04:05"
	case "MILLISECOND":
		layout = "15:04:05.000"
	case "MICROSECOND":
		layout = "15:04:05.000000"
	default:
		return ErrNotHandled
	}
	us := m.Get(m.Descriptor().Fields().ByName("value_us")).Int()
	w.buf = append(w.buf, '"')
	w.buf = unixMicro(us, time.UTC).AppendFormat(w.buf, layout)
	w.buf = append(w.buf, '"')
	return nil
}

// precision is the name of a time value's precision, or "" if unknown.
func precision(m protoreflect.Message) string {
	f := m.Descriptor().Fields().ByName("precision")
	if f == nil || f.Enum() == nil {
		return ""
	}
	ev := f.Enum().Values().ByNumber(m.Get(f).Enum())
	if ev == nil {
		return ""
	}
	return string(ev.Name())
}

func pick(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

// zone gives the location jsonformat prints a time in (its
// jsonpbhelper.GetLocation): "Z", "UTC" (what the codec's Unmarshaller
// records for dates) and "" are UTC, "+hh:mm" and "-hh:mm" fixed offsets.
// Named zones are left to jsonformat.
func zone(tz string) (*time.Location, bool) {
	if tz == "Z" || tz == "UTC" || tz == "" {
		return time.UTC, true
	}
	if len(tz) != 6 || tz[0] != '+' && tz[0] != '-' || tz[3] != ':' {
		return nil, false
	}
	h, err1 := strconv.Atoi(tz[1:3])
	mn, err2 := strconv.Atoi(tz[4:6])
	if err1 != nil || err2 != nil {
		return nil, false
	}
	off := h*3600 + mn*60
	if tz[0] == '-' {
		off = -off
	}
	return time.FixedZone(tz, off), true
}

// validNumber accepts the JSON number syntax (jsonformat passes decimals
// through encoding/json, which would reject anything else).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	start := i
	if n := digits(); n == 0 || n > 1 && s[start] == '0' {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

const hex = "0123456789abcdef"

// str appends s as a JSON string, escaped as encoding/json does with
// SetEscapeHTML(false).
func (w *writer) str(s string) {
	w.buf = append(w.buf, '"')
	w.strBody(s)
	w.buf = append(w.buf, '"')
}

// base64 appends src as a JSON string in standard base64 with padding,
// as encoding/json prints []byte: six bytes at a time through the table of
// 12-bit pairs, the tail with package base64.
func (w *writer) base64(src []byte) {
	n := base64.StdEncoding.EncodedLen(len(src))
	w.buf = append(w.buf, '"')
	w.buf = slices.Grow(w.buf, n+1)
	start := len(w.buf)
	dst := w.buf[start : start+n]
	t := w.p.b64
	si, di := 0, 0
	for ; si+8 <= len(src); si, di = si+6, di+8 {
		x := binary.BigEndian.Uint64(src[si:]) // the top 48 bits are used
		binary.LittleEndian.PutUint64(dst[di:], uint64(t[x>>52])|uint64(t[x>>40&0xFFF])<<16|
			uint64(t[x>>28&0xFFF])<<32|uint64(t[x>>16&0xFFF])<<48)
	}
	base64.StdEncoding.Encode(dst[di:], src[si:])
	w.buf = append(w.buf[:start+n], '"')
}

// safe8 reports whether 8 bytes of a string need neither escaping nor
// UTF-8 checks: all ASCII, none below 0x20, none '"' or '\\'.
func safe8(s string) bool {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q, b := x^lsb*'"', x^lsb*'\\'
	// A byte's high bit is set in (v-lsb)&^v when that byte of v is zero
	// (and possibly above it), in (x-lsb*0x20)&^x when it is below 0x20,
	// for ASCII x.
	return (x|(x-lsb*0x20)&^x|(q-lsb)&^q|(b-lsb)&^b)&msb == 0
}

// strBody appends the escaped content of a JSON string.
func (w *writer) strBody(s string) {
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && safe8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.buf = append(w.buf, s[start:i]...)
			switch c {
			case '"', '\\':
				w.buf = append(w.buf, '\\', c)
			case '\n':
				w.buf = append(w.buf, '\\', 'n')
			case '\r':
				w.buf = append(w.buf, '\\', 'r')
			case '\t':
				w.buf = append(w.buf, '\\', 't')
			case '\b':
				w.buf = append(w.buf, '\\', 'b')
			case '\f':
				w.buf = append(w.buf, '\\', 'f')
			default:
				w.buf = append(w.buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.buf = append(w.buf, s[start:i]...)
			w.buf = append(w.buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			w.buf = append(w.buf, s[start:i]...)
			w.buf = append(w.buf, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	w.buf = append(w.buf, s[start:]...)
}

func unixMicro(us int64, loc *time.Location) time.Time { return time.UnixMicro(us).In(loc) }

// isChoice recognises google/fhir choice types (ValueX and the like) by
// their single oneof "choice", without a descriptor-option lookup; infoOf
// agrees (the codec's corpus and fuzz tests cover both).
func isChoice(d protoreflect.MessageDescriptor) bool {
	o := d.Oneofs()
	return o.Len() == 1 && o.Get(0).Name() == "choice"
}

// enumCode is the FHIR code of a google/fhir code enum value: its original
// code when the enum name could not hold it, else the name lower-cased with
// hyphens.
func (p *Printer) enumCode(ev protoreflect.EnumValueDescriptor) string {
	if c, ok := p.names.Load(ev); ok {
		return c.(string)
	}
	c := proto.GetExtension(ev.Options(), apb.E_FhirOriginalCode).(string)
	if c == "" {
		c = strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
	}
	p.names.Store(ev, c)
	return c
}

// plan is how the direct printer walks one message type with package
// reflect, built once per type: protoreflect's Range and Get cost a
// reflect.NewAt per field, set or not, which made up a quarter of the
// printing of a mapped Bundle. A plan reads the generated struct's fields
// by index instead, in the order jsonformat prints their keys.
type plan struct {
	kind kind
	in   *info
	name string // the message name: a resource's resourceType
	// generic: print through protoreflect (object) because a key's place
	// depends on the value (choice names that sort across other keys) or
	// the type has fields object refuses (scalars, maps, oneofs).
	generic bool
	fields  []planField // kindMessage, sorted by key

	// Primitives: the indices of the id, extension and value fields (-1 if
	// absent) and, for enum codes, the code of each enum number.
	id, ext, val int
	codes        []string

	// ContainedResource: the oneof's field index and its members, by the
	// wrapper type of each.
	oneof   int
	members map[reflect.Type]*oneofMember
}

// planField is one key of an object. index is -1 for the resourceType key.
type planField struct {
	key     string // `"key":`
	index   int
	list    bool
	any     bool                          // a list of google.protobuf.Any
	oneof   int                           // choice fields: the oneof's index in the choice type
	members map[reflect.Type]*oneofMember // choice fields: members by wrapper type
	sub     atomic.Pointer[plan]          // the plan of the field's type, once needed
}

// oneofMember is one member of a oneof: its key (`"valueQuantity":`) or,
// for ContainedResource, the resource's name.
type oneofMember struct {
	key string
	sub atomic.Pointer[plan]
}

// planOf returns the plan of the message type t (a pointer to a generated
// struct).
func (p *Printer) planOf(t reflect.Type) *plan {
	if pl, ok := p.plans.Load(t); ok {
		return pl.(*plan)
	}
	pl, _ := p.plans.LoadOrStore(t, p.newPlan(t))
	return pl.(*plan)
}

// subPlan returns the plan cached in c, building it on first use.
func (p *Printer) subPlan(c *atomic.Pointer[plan], t reflect.Type) *plan {
	if pl := c.Load(); pl != nil {
		return pl
	}
	pl := p.planOf(t)
	c.Store(pl)
	return pl
}

func (p *Printer) newPlan(t reflect.Type) *plan {
	d := reflect.New(t.Elem()).Interface().(proto.Message).ProtoReflect().Descriptor()
	in := p.infoOf(d)
	pl := &plan{kind: in.kind, in: in, name: string(d.Name()), id: -1, ext: -1, val: -1}
	idx := structFields(t.Elem())
	switch in.kind {
	case kindPrimitive:
		pl.id, pl.ext, pl.val = fieldIndex(idx, in.id), fieldIndex(idx, in.ext), fieldIndex(idx, in.value)
		if in.prim == primEnumCode {
			vals := in.value.Enum().Values()
			for i := 0; i < vals.Len(); i++ {
				ev := vals.Get(i)
				n := int(ev.Number())
				if n < 0 || n > 4096 {
					pl.codes = nil // read through protoreflect
					break
				}
				for len(pl.codes) <= n {
					pl.codes = append(pl.codes, "")
				}
				pl.codes[n] = p.enumCode(ev)
			}
		}
	case kindContained:
		od := d.Oneofs().ByName("oneof_resource")
		pl.oneof = idx[string(od.Name())]
		pl.members = p.oneofMembers(t, od, pl.oneof, func(f protoreflect.FieldDescriptor) string { return string(f.Message().Name()) })
	case kindMessage:
		p.planFields(pl, d, t, idx)
	}
	return pl
}

// planFields lists the keys of a message type in jsonformat's order, or
// marks the plan generic.
func (p *Printer) planFields(pl *plan, d protoreflect.MessageDescriptor, t reflect.Type, idx map[string]int) {
	type keyed struct {
		f        *planField
		min, max string
	}
	ks := []keyed{{f: &planField{key: `"resourceType":`, index: -1}, min: "resourceType", max: "resourceType"}}
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		if fd.Message() == nil || fd.IsMap() || fd.ContainingOneof() != nil {
			pl.generic = true
			return
		}
		k := keyed{f: &planField{key: jsonKey(fd.JSONName()), index: fieldIndex(idx, fd), list: fd.IsList()}, min: fd.JSONName(), max: fd.JSONName()}
		switch {
		case k.f.list && fd.Message().FullName() == anyName:
			if fd.JSONName() != "contained" {
				pl.generic = true // refused when set
				return
			}
			k.f.any = true
		case k.f.list && isChoice(fd.Message()):
			pl.generic = true
			return
		case !k.f.list && isChoice(fd.Message()):
			ct := t.Elem().Field(k.f.index).Type
			od := fd.Message().Oneofs().Get(0)
			k.f.oneof = structFields(ct.Elem())[string(od.Name())]
			k.f.members = p.oneofMembers(ct, od, k.f.oneof, func(m protoreflect.FieldDescriptor) string { return jsonKey(p.choiceName(fd, m)) })
			k.min, k.max = "", ""
			for j := 0; j < od.Fields().Len(); j++ {
				n := p.choiceName(fd, od.Fields().Get(j))
				if k.min == "" || n < k.min {
					k.min = n
				}
				if n > k.max {
					k.max = n
				}
			}
		}
		if k.f.index < 0 {
			pl.generic = true
			return
		}
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].min < ks[j].min })
	pl.fields = make([]planField, len(ks))
	for i := range ks {
		if i > 0 && ks[i-1].max >= ks[i].min {
			pl.generic = true // a choice key may sort across another key
			return
		}
		pl.fields[i].key, pl.fields[i].index, pl.fields[i].list, pl.fields[i].any = ks[i].f.key, ks[i].f.index, ks[i].f.list, ks[i].f.any
		pl.fields[i].oneof, pl.fields[i].members = ks[i].f.oneof, ks[i].f.members
	}
}

// oneofMembers maps the wrapper type of each message member of od to its
// key. t is the type holding the oneof, at struct field index field.
func (p *Printer) oneofMembers(t reflect.Type, od protoreflect.OneofDescriptor, field int, key func(protoreflect.FieldDescriptor) string) map[reflect.Type]*oneofMember {
	ms := map[reflect.Type]*oneofMember{}
	fs := od.Fields()
	for i := 0; i < fs.Len(); i++ {
		fd := fs.Get(i)
		if fd.Message() == nil {
			continue // not a message: unknown to the plan, refused when met
		}
		m := reflect.New(t.Elem()).Interface().(proto.Message).ProtoReflect()
		m.Set(fd, m.NewField(fd))
		wt := reflect.ValueOf(m.Interface()).Elem().Field(field).Elem().Type()
		ms[wt] = &oneofMember{key: key(fd)}
	}
	return ms
}

// structFields maps the proto names of a generated struct's fields (and
// its oneofs) to their indices.
func structFields(t reflect.Type) map[string]int {
	idx := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if o := sf.Tag.Get("protobuf_oneof"); o != "" {
			idx[o] = i
			continue
		}
		for _, part := range strings.Split(sf.Tag.Get("protobuf"), ",") {
			if name, ok := strings.CutPrefix(part, "name="); ok {
				idx[name] = i
			}
		}
	}
	return idx
}

func fieldIndex(idx map[string]int, fd protoreflect.FieldDescriptor) int {
	if fd == nil {
		return -1
	}
	if i, ok := idx[string(fd.Name())]; ok {
		return i
	}
	return -1
}

// jsonKey is a key with its quotes and colon; keys need no escaping.
func jsonKey(k string) string { return `"` + k + `":` }

// planned prints the message v (a non-nil pointer) by its plan.
func (w *writer) planned(pl *plan, v reflect.Value) (bool, error) {
	switch pl.kind {
	case kindMessage:
		if pl.generic {
			return true, w.object(v.Interface().(proto.Message).ProtoReflect(), "")
		}
		return true, w.fields(pl, v.Elem(), "")
	case kindPrimitive:
		return w.prim(pl, v)
	case kindContained:
		return true, w.containedV(pl, v)
	case kindReference:
		return true, w.reference(v.Interface().(proto.Message).ProtoReflect())
	}
	return false, ErrNotHandled
}

// child prints a field's message value v (non-nil), trying the fast types
// first; c caches the plan of v's type.
func (w *writer) child(c *atomic.Pointer[plan], v reflect.Value) (bool, error) {
	if ok, err := w.fastValue(v.Interface()); ok || err != nil {
		return ok, err
	}
	return w.planned(w.p.subPlan(c, v.Type()), v)
}

// fields prints the struct s as an object; resourceType is printed when
// not empty.
func (w *writer) fields(pl *plan, s reflect.Value, resourceType string) error {
	w.buf = append(w.buf, '{')
	first := true
	for i := range pl.fields {
		f := &pl.fields[i]
		if f.index < 0 {
			if resourceType != "" {
				if !first {
					w.buf = append(w.buf, ',')
				}
				first = false
				w.buf = append(w.buf, f.key...)
				w.str(resourceType)
			}
			continue
		}
		fv := s.Field(f.index)
		if f.list {
			n := fv.Len()
			if n == 0 {
				continue
			}
			if !first {
				w.buf = append(w.buf, ',')
			}
			first = false
			w.buf = append(w.buf, f.key...)
			if f.any {
				if err := w.containedAny(fv.Interface().([]*anypb.Any)); err != nil {
					return err
				}
				continue
			}
			w.buf = append(w.buf, '[')
			for j := 0; j < n; j++ {
				if j > 0 {
					w.buf = append(w.buf, ',')
				}
				ev := fv.Index(j)
				if ev.IsNil() {
					return ErrNotHandled
				}
				ok, err := w.child(&f.sub, ev)
				if err != nil {
					return err
				}
				if !ok {
					return ErrNotHandled // jsonformat would print null here
				}
			}
			w.buf = append(w.buf, ']')
			continue
		}
		if fv.IsNil() {
			continue
		}
		key, sub := f.key, &f.sub
		if f.members != nil {
			c := fv.Elem().Field(f.oneof)
			if c.IsNil() {
				return ErrNotHandled
			}
			wv := c.Elem()
			mb := f.members[wv.Type()]
			if mb == nil {
				return ErrNotHandled
			}
			key, sub, fv = mb.key, &mb.sub, wv.Elem().Field(0)
			if fv.IsNil() {
				return ErrNotHandled
			}
		}
		mark, wasFirst := len(w.buf), first
		if !first {
			w.buf = append(w.buf, ',')
		}
		first = false
		w.buf = append(w.buf, key...)
		ok, err := w.child(sub, fv)
		if err != nil {
			return err
		}
		if !ok {
			w.buf, first = w.buf[:mark], wasFirst // jsonformat omits a key whose value is empty (an unset code)
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

// prim prints a primitive: codes read with package reflect, others
// through protoreflect.
func (w *writer) prim(pl *plan, v reflect.Value) (bool, error) {
	s := v.Elem()
	if pl.val < 0 || pl.id >= 0 && !s.Field(pl.id).IsNil() || pl.ext >= 0 && s.Field(pl.ext).Len() > 0 {
		return w.primitive(v.Interface().(proto.Message).ProtoReflect(), pl.in)
	}
	switch pl.in.prim {
	case primEnumCode:
		if pl.codes == nil {
			break
		}
		n := s.Field(pl.val).Int()
		if n == 0 {
			return false, nil
		}
		if n < 0 || n >= int64(len(pl.codes)) || pl.codes[n] == "" {
			return false, ErrNotHandled
		}
		w.str(pl.codes[n])
		return true, nil
	case primString, primStringCode:
		w.str(s.Field(pl.val).String())
		return true, nil
	}
	return w.primitive(v.Interface().(proto.Message).ProtoReflect(), pl.in)
}

// containedV prints the resource inside a ContainedResource v.
func (w *writer) containedV(pl *plan, v reflect.Value) error {
	c := v.Elem().Field(pl.oneof)
	if c.IsNil() {
		return fmt.Errorf("fhirjson: empty ContainedResource")
	}
	wv := c.Elem()
	mb := pl.members[wv.Type()]
	rv := wv.Elem().Field(0)
	if mb == nil || rv.IsNil() {
		return w.contained(v.Interface().(proto.Message).ProtoReflect())
	}
	return w.resource(rv, w.p.subPlan(&mb.sub, rv.Type()))
}
