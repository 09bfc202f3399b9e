package search

import (
	"slices"
	"strings"
	"time"
	"unicode"

	annpb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
)

// Value is one index entry of a resource: the value a parameter takes.
//
// Token values are "system|code" (system empty when absent) and the bare
// code; String values are normalised (lower case, accents removed); Reference
// values are "Type/id"; Date values are the half-open range [Start, End) in
// Unix microseconds.
type Value struct {
	Param string
	Kind  Kind
	Text  string
	Start int64
	End   int64
}

// maxText bounds an indexed text value (bbolt keys are at most 32 KiB, and
// nobody searches on a novel).
const maxText = 256

// pathNode is one step of the paths of a type's parameters, merged into a
// tree so that a resource is walked once: the 24 activities of a CarePlan
// are visited once for activity-code, performer and activity-reference
// together. params are the parameters whose path ends at the node.
type pathNode struct {
	name     protoreflect.Name
	params   []*Param
	children []*pathNode
	// desc is the message at this node when known before any choice type
	// is entered, and field the child's field in it: walk then skips the
	// lookup by name.
	desc  protoreflect.MessageDescriptor
	field protoreflect.FieldDescriptor
}

// extraction holds each type's path tree, built once at start-up.
var extraction = func() map[string]*pathNode {
	out := make(map[string]*pathNode, len(registry))
	for typ := range registry {
		root := &pathNode{}
		for _, p := range Params(typ) {
			p := p
			for _, path := range p.Paths {
				n := root
				for _, step := range strings.Split(path, ".") {
					n = n.child(protoreflect.Name(step))
				}
				n.params = append(n.params, &p)
			}
		}
		if m, err := resource.New(typ); err == nil {
			root.resolve(m.ProtoReflect().Descriptor())
		}
		out[typ] = root
	}
	return out
}()

// resolve records the descriptors of n's subtree below message d.
func (n *pathNode) resolve(d protoreflect.MessageDescriptor) {
	if d == nil || d.Oneofs().ByName("choice") != nil {
		return // a choice type: the message below depends on the choice
	}
	n.desc = d
	for _, c := range n.children {
		if c.field = d.Fields().ByName(c.name); c.field != nil && c.field.Kind() == protoreflect.MessageKind {
			c.resolve(c.field.Message())
		}
	}
}

func (n *pathNode) child(name protoreflect.Name) *pathNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	c := &pathNode{name: name}
	n.children = append(n.children, c)
	return c
}

// Extract returns the index entries of res for every parameter of its
// type, parameter by parameter in name order (each parameter's values in
// document order), without duplicates.
func Extract(res proto.Message) []Value {
	root := extraction[resource.Type(res)]
	if root == nil {
		return nil
	}
	out := walk(nil, root, res.ProtoReflect())
	slices.SortStableFunc(out, func(a, b Value) int { return strings.Compare(a.Param, b.Param) })
	return dedupe(out)
}

// walk appends the values of the parameters of n and its descendants found
// in m; repeated fields fan out and choice types ([x]) are entered
// transparently.
func walk(out []Value, n *pathNode, m protoreflect.Message) []Value {
	d := m.Descriptor()
	if d != n.desc { // n.desc, when known, is never a choice type (resolve)
		m = enterChoice(m)
		d = m.Descriptor()
	}
	for _, p := range n.params {
		out = appendValues(out, *p, m)
	}
	if len(n.children) == 0 {
		return out
	}
	for _, c := range n.children {
		f := c.field
		if n.desc != d {
			f = d.Fields().ByName(c.name)
		}
		if f == nil || f.Kind() != protoreflect.MessageKind || !m.Has(f) {
			continue
		}
		if f.IsList() {
			l := m.Get(f).List()
			for i := 0; i < l.Len(); i++ {
				out = walk(out, c, l.Get(i).Message())
			}
			continue
		}
		out = walk(out, c, m.Get(f).Message())
	}
	return out
}

// enterChoice returns the chosen value of a google/fhir choice-type message
// (a message whose only content is a "choice" oneof), else m itself.
func enterChoice(m protoreflect.Message) protoreflect.Message {
	od := m.Descriptor().Oneofs().ByName("choice")
	if od == nil {
		return m
	}
	f := m.WhichOneof(od)
	if f == nil || f.Kind() != protoreflect.MessageKind {
		return m
	}
	return m.Get(f).Message()
}

func appendValues(out []Value, p Param, m protoreflect.Message) []Value {
	switch p.Kind {
	case Token:
		out = appendTokens(out, p.Name, m)
	case String:
		for _, s := range strs(m) {
			if n := Normalize(s); n != "" {
				out = append(out, Value{Param: p.Name, Kind: String, Text: clip(n)})
			}
		}
	case Reference:
		if r, ok := m.Interface().(*dtpb.Reference); ok {
			typ, id, _, ok := resource.RefTarget(r)
			if ok && (p.Target == "" || p.Target == typ) {
				out = append(out, Value{Param: p.Name, Kind: Reference, Text: clip(typ + "/" + id)})
			}
		}
	case Date:
		if start, end, ok := dateRange(m.Interface()); ok {
			out = append(out, Value{Param: p.Name, Kind: Date, Start: start, End: end})
		}
	}
	return out
}

// appendTokens appends the token values of a coded element: "system|code"
// for each coding or identifier, and the FHIR code of enum-coded and
// primitive fields.
func appendTokens(out []Value, param string, m protoreflect.Message) []Value {
	switch v := m.Interface().(type) {
	case *dtpb.CodeableConcept:
		for _, c := range v.Coding {
			out = appendToken(out, param, c.GetSystem().GetValue(), c.GetCode().GetValue())
		}
		return out
	case *dtpb.Coding:
		return appendToken(out, param, v.GetSystem().GetValue(), v.GetCode().GetValue())
	case *dtpb.Identifier:
		return appendToken(out, param, v.GetSystem().GetValue(), v.GetValue().GetValue())
	case *dtpb.ContactPoint:
		return appendToken(out, param, "", v.GetValue().GetValue())
	case *dtpb.Boolean:
		if v.Value {
			return appendToken(out, param, "", "true")
		}
		return appendToken(out, param, "", "false")
	case *dtpb.Code:
		return appendToken(out, param, "", v.Value)
	case *dtpb.String:
		return appendToken(out, param, "", v.Value)
	case *dtpb.Uri:
		return appendToken(out, param, "", v.Value)
	case *dtpb.Canonical:
		return appendToken(out, param, "", v.Value)
	case *dtpb.Url:
		return appendToken(out, param, "", v.Value)
	case *dtpb.Id:
		return appendToken(out, param, "", v.Value)
	}
	// A google/fhir code enum wrapper: a message with an enum field "value".
	if f := m.Descriptor().Fields().ByName("value"); f != nil && f.Kind() == protoreflect.EnumKind {
		return appendToken(out, param, "", enumCode(f, m.Get(f).Enum()))
	}
	return out
}

// appendToken appends the token system|code; an empty code gives none.
func appendToken(out []Value, param, system, code string) []Value {
	if code == "" {
		return out
	}
	return append(out, Value{Param: param, Kind: Token, Text: clip(system + "|" + code)})
}

// enumCode returns the FHIR code of a google/fhir enum value: its
// fhir_original_code annotation, else the value name in lower-kebab case.
func enumCode(f protoreflect.FieldDescriptor, n protoreflect.EnumNumber) string {
	ev := f.Enum().Values().ByNumber(n)
	if ev == nil || n == 0 {
		return ""
	}
	if opts := ev.Options(); opts != nil && proto.HasExtension(opts, annpb.E_FhirOriginalCode) {
		return proto.GetExtension(opts, annpb.E_FhirOriginalCode).(string)
	}
	return strings.ReplaceAll(strings.ToLower(string(ev.Name())), "_", "-")
}

// strs gives the searchable texts of a string-ish element.
func strs(m protoreflect.Message) []string {
	switch v := m.Interface().(type) {
	case *dtpb.String:
		return []string{v.Value}
	case *dtpb.Markdown:
		return []string{v.Value}
	case *dtpb.HumanName:
		out := []string{v.GetText().GetValue(), v.GetFamily().GetValue()}
		for _, g := range v.Given {
			out = append(out, g.Value)
		}
		for _, g := range v.Prefix {
			out = append(out, g.Value)
		}
		return out
	case *dtpb.Address:
		out := []string{v.GetText().GetValue(), v.GetCity().GetValue(), v.GetDistrict().GetValue(),
			v.GetState().GetValue(), v.GetPostalCode().GetValue(), v.GetCountry().GetValue()}
		for _, l := range v.Line {
			out = append(out, l.Value)
		}
		return out
	}
	return nil
}

// Normalize folds a string for string search, what is indexed and what is
// searched alike: R4 search.html#string matches "after both have been
// normalized by case and accent" (NFD, combining marks removed, lower
// case), and leaves the rest to the server, which here reads punctuation
// as a space between words and collapses runs of them, so that the
// spellings of a compound name find each other: "Jean-Pierre" and
// "Jean Pierre" fold to "jean pierre", "Le-Goff" and "Le Goff" to
// "le goff", "d’Artagnan" to "d artagnan". Stored indexes hold this fold:
// changing it needs a storage migration (fhir/store schema.go,
// refoldStrings).
func Normalize(s string) string {
	var b strings.Builder
	space := false
	// Invalid UTF-8 (a query's bytes) as U+FFFD first: NFD leaves the
	// text after an invalid byte composed, and a second fold would then
	// differ from the first.
	for _, r := range norm.NFD.String(strings.ToValidUTF8(s, "\uFFFD")) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case unicode.IsSpace(r) || unicode.IsPunct(r):
			space = b.Len() > 0
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Refold folds the string values of vs (as Extract gave them, or as a
// store kept them, under an earlier Normalize) as Extract folds them now,
// and drops the repeats and empties that makes within a parameter (the
// values of a parameter adjacent). Normalize is idempotent, so that
// folding a folded text again is folding what was written, but for a
// text clipped before (longer than an index value holds), whose new fold
// is clipped at the same place or before.
func Refold(vs []Value) []Value {
	for i, v := range vs {
		if v.Kind == String {
			vs[i].Text = clip(Normalize(v.Text))
		}
	}
	return dedupe(vs)
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > maxText {
		s = s[:maxText]
	}
	return s
}

// dedupe drops empty values and repeats of a value within its parameter
// (the values of one parameter are adjacent). A parameter with many values
// (a Composition's or a Provenance's thousands of references) is checked
// with a set: scanning the values kept so far made a large document's
// extraction quadratic in its size.
func dedupe(vs []Value) []Value {
	out := vs[:0]
	group := 0 // where the current parameter's values start in out
	var seen map[Value]struct{}
	for _, v := range vs {
		if v.Kind != Date && v.Text == "" {
			continue
		}
		if len(out) > group && out[group].Param != v.Param {
			group, seen = len(out), nil
		}
		kept := out[group:]
		switch {
		case seen != nil:
			if _, dup := seen[v]; dup {
				continue
			}
			seen[v] = struct{}{}
		case len(kept) < dedupeScan:
			if slices.Contains(kept, v) {
				continue
			}
		default:
			seen = make(map[Value]struct{}, 2*len(kept))
			for _, k := range kept {
				seen[k] = struct{}{}
			}
			if _, dup := seen[v]; dup {
				continue
			}
			seen[v] = struct{}{}
		}
		out = append(out, v)
	}
	return out
}

// dedupeScan is how many values of a parameter dedupe compares one by one
// before it keeps them in a set.
const dedupeScan = 32

// dateRange gives the range a date-ish element covers.
func dateRange(v any) (start, end int64, ok bool) {
	switch d := v.(type) {
	case *dtpb.Date:
		return precisionRange(d.ValueUs, d.Timezone, datePrecision[d.Precision])
	case *dtpb.DateTime:
		return precisionRange(d.ValueUs, d.Timezone, dateTimePrecision[d.Precision])
	case *dtpb.Instant:
		return precisionRange(d.ValueUs, d.Timezone, instantPrecision[d.Precision])
	case *dtpb.Period:
		start, end = minTime, maxTime
		if d.Start != nil {
			start, _, _ = precisionRange(d.Start.ValueUs, d.Start.Timezone, dateTimePrecision[d.Start.Precision])
		}
		if d.End != nil {
			_, end, _ = precisionRange(d.End.ValueUs, d.End.Timezone, dateTimePrecision[d.End.Precision])
		}
		return start, end, d.Start != nil || d.End != nil
	}
	return 0, 0, false
}

// Open ends of ranges.
const (
	minTime int64 = -1 << 62
	maxTime int64 = 1 << 62
)

type precision int

const (
	year precision = iota + 1
	month
	day
	second
	milli
	micro
)

var (
	datePrecision = map[dtpb.Date_Precision]precision{
		dtpb.Date_YEAR: year, dtpb.Date_MONTH: month, dtpb.Date_DAY: day}
	dateTimePrecision = map[dtpb.DateTime_Precision]precision{
		dtpb.DateTime_YEAR: year, dtpb.DateTime_MONTH: month, dtpb.DateTime_DAY: day,
		dtpb.DateTime_SECOND: second, dtpb.DateTime_MILLISECOND: milli, dtpb.DateTime_MICROSECOND: micro}
	instantPrecision = map[dtpb.Instant_Precision]precision{
		dtpb.Instant_SECOND: second, dtpb.Instant_MILLISECOND: milli, dtpb.Instant_MICROSECOND: micro}
)

// precisionRange widens an instant to the range its precision denotes, in
// the value's own time zone (a day is midnight to midnight there).
func precisionRange(us int64, tz string, p precision) (int64, int64, bool) {
	if p == 0 {
		p = micro
	}
	t := time.UnixMicro(us).In(resource.Location(tz))
	var end time.Time
	switch p {
	case year:
		end = t.AddDate(1, 0, 0)
	case month:
		end = t.AddDate(0, 1, 0)
	case day:
		end = t.AddDate(0, 0, 1)
	case second:
		end = t.Add(time.Second)
	case milli:
		end = t.Add(time.Millisecond)
	default:
		end = t.Add(time.Microsecond)
	}
	return us, end.UnixMicro(), true
}
