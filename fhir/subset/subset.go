// Package subset gives the views of a resource that a client asks for with
// _summary and _elements (https://hl7.org/fhir/R4/search.html#summary,
// #elements), on reads and searches alike: it cuts elements out of the
// stored JSON, never parsing it into a resource again, and tags what it
// cut SUBSETTED, so that the copy is never taken for the whole resource.
//
// Which elements each view keeps comes from the R4 StructureDefinitions
// (table.go, written by internal/gen): isSummary, min >= 1 and isModifier
// of every element, and which elements the invariants read. Every view
// keeps the id, meta, the mandatory elements and those an invariant reads
// (without which the copy would not be a valid resource: ppc-1 of Consent
// wants a policy or a policyRule) and the modifier elements, which change
// what the rest means
// (https://hl7.org/fhir/R4/conformance-rules.html#isModifier: a status
// entered-in-error, Patient.active, a modifierExtension); R4 asks clients
// to list them in _elements, later versions ask servers to keep them.
//
// # Caveats
//
// A view decides which elements of one resource are shown, never which
// resources: a caller who may not read a resource gets no view of it.
// Inside a data type, an element's id and extensions are kept with it (R4
// leaves open whether extensions are in the summary); only the content
// R4 leaves out of it goes (an Attachment's data, a Signature's).
package subset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
)

// Summary is a _summary value other than count, which asks for no
// resource at all.
type Summary uint8

// The summaries (https://hl7.org/fhir/R4/search.html#summary).
const (
	Full Summary = iota // false, or no _summary: the whole resource
	True                // the elements marked isSummary
	Text                // text, id, meta and the top-level mandatory elements
	Data                // all but text
)

// ParseSummary reads a _summary value; count is not a view.
func ParseSummary(s string) (Summary, bool) {
	switch s {
	case "false":
		return Full, true
	case "true":
		return True, true
	case "text":
		return Text, true
	case "data":
		return Data, true
	}
	return Full, false
}

func (s Summary) String() string {
	return [...]string{"false", "true", "text", "data"}[s]
}

// View is what a request asks to see of each resource.
type View struct {
	Summary Summary
	// Elements are the top-level elements _elements lists, as the
	// definitions name them (value[x]); nil when it lists none.
	Elements []string
}

// Whole reports whether v shows resources whole.
func (v View) Whole() bool { return v.Summary == Full && v.Elements == nil }

// Included is the view of the resources a search includes: "the list of
// elements does not apply to included resources"
// (https://hl7.org/fhir/R4/search.html#elements); the summary does.
func (v View) Included() View { return View{Summary: v.Summary} }

// Params are the query parameters that ask for v (_summary=true,
// _elements=status,value), "" for the whole resource: what the page links
// of a search repeat, so that they state the search they continue.
func (v View) Params() string {
	switch {
	case v.Elements != nil:
		names := make([]string, len(v.Elements))
		for i, e := range v.Elements {
			names[i] = strings.TrimSuffix(e, "[x]")
		}
		return "_elements=" + strings.Join(names, ",")
	case v.Summary != Full:
		return "_summary=" + v.Summary.String()
	}
	return ""
}

// Element returns the top-level element of typ that a name of _elements
// denotes: an element's name (status), a choice's without [x] (value) or
// with it, or one of its JSON names (valueQuantity).
func Element(typ, name string) (string, bool) {
	t := lookup(typ)
	if t == nil || strings.Contains(name, ".") || strings.HasPrefix(name, "_") {
		return "", false
	}
	if e, ok := t.byKey[name]; ok {
		return e.path, true
	}
	if e, ok := t.byPath[name]; ok && !strings.Contains(name, ".") {
		return e.path, true
	}
	return "", false
}

// SubsettedSystem and SubsettedCode tag a resource that is shown in part
// (https://hl7.org/fhir/R4/search.html#summary: servers mark it SUBSETTED
// "to ensure that the incomplete resource is not accidentally used to
// overwrite a complete resource").
const (
	SubsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	SubsettedCode   = "SUBSETTED"
)

// Tagged reports whether m carries meta.tag SUBSETTED: it is a view of a
// resource, never the whole of one.
func Tagged(m proto.Message) bool {
	for _, c := range resource.PeekMeta(m).GetTag() {
		if c.GetSystem().GetValue() == SubsettedSystem && c.GetCode().GetValue() == SubsettedCode {
			return true
		}
	}
	return false
}

const subsettedTag = `{"system":"` + SubsettedSystem + `","code":"` + SubsettedCode + `","display":"subsetted"}`

// Apply returns the view v of js, the JSON of a resource of type typ: js
// itself when v keeps it whole or cuts nothing out of it, else the
// elements v keeps, in their order, with meta.tag SUBSETTED. It never
// modifies js.
func (v View) Apply(typ string, js []byte) ([]byte, error) {
	if v.Whole() {
		return js, nil
	}
	t := lookup(typ)
	if t == nil {
		return nil, fmt.Errorf("subset: unknown resource type %q", typ)
	}
	members, err := object(js)
	if err != nil {
		return nil, fmt.Errorf("subset %s: %w", typ, err)
	}
	var keep func(member) (json.RawMessage, bool, error)
	switch {
	case v.Elements != nil:
		keep = func(m member) (json.RawMessage, bool, error) {
			e := t.element("", m.key)
			return m.val, e != nil && (e.always() || slices.Contains(v.Elements, e.path)), nil
		}
	case v.Summary == True:
		keep = func(m member) (json.RawMessage, bool, error) { return t.summary("", m) }
	case v.Summary == Text:
		keep = func(m member) (json.RawMessage, bool, error) {
			e := t.element("", m.key)
			return m.val, e != nil && (e.always() || e.path == "text"), nil
		}
	case v.Summary == Data:
		keep = func(m member) (json.RawMessage, bool, error) {
			return m.val, strings.TrimPrefix(m.key, "_") != "text", nil
		}
	}
	out := make([]member, 0, len(members))
	cut := false
	for _, m := range members {
		if m.key == "resourceType" {
			out = append(out, m)
			continue
		}
		val, ok, err := keep(m)
		if err != nil {
			return nil, fmt.Errorf("subset %s.%s: %w", typ, m.key, err)
		}
		if ok {
			cut = cut || !bytes.Equal(val, m.val)
			out = append(out, member{m.key, val})
		} else {
			cut = true
		}
	}
	if !cut {
		return js, nil
	}
	if out, err = tagSubsetted(out); err != nil {
		return nil, fmt.Errorf("subset %s: %w", typ, err)
	}
	return render(out), nil
}

// tagSubsetted adds meta.tag SUBSETTED to a resource's members, unless
// it is there.
func tagSubsetted(members []member) ([]member, error) {
	i := slices.IndexFunc(members, func(m member) bool { return m.key == "meta" })
	if i < 0 {
		// after id, where meta goes (R4 resource.html)
		at := 1 + slices.IndexFunc(members, func(m member) bool { return m.key == "id" })
		return slices.Insert(members, max(at, 1), member{"meta", json.RawMessage(`{"tag":[` + subsettedTag + `]}`)}), nil
	}
	meta, err := object(members[i].val)
	if err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	j := slices.IndexFunc(meta, func(m member) bool { return m.key == "tag" })
	if j < 0 {
		meta = append(meta, member{"tag", json.RawMessage(`[` + subsettedTag + `]`)})
	} else {
		var tags []json.RawMessage
		if err := json.Unmarshal(meta[j].val, &tags); err != nil {
			return nil, fmt.Errorf("meta.tag: %w", err)
		}
		for _, tag := range tags {
			var c struct{ System, Code string }
			if json.Unmarshal(tag, &c) == nil && c.System == SubsettedSystem && c.Code == SubsettedCode {
				return members, nil
			}
		}
		meta[j].val = renderArray(append(tags, json.RawMessage(subsettedTag)))
	}
	members = slices.Clone(members)
	members[i].val = render(meta)
	return members, nil
}

// element flags (resourceTable).
const (
	flagSummary   = 1 << iota // isSummary
	flagMandatory             // min >= 1
	flagModifier              // isModifier
	// flagChecked: an invariant of its parent reads it (ppc-1 of Consent:
	// policy or policyRule); kept whole, the invariant holds as it did
	flagChecked
)

// elem is one element of a resource type's definition.
type elem struct {
	path  string // as defined: component.value[x]
	flags uint8
	// children is the path whose elements are this one's: its own, or
	// the one its definition refers to (contentReference)
	children string
	// dtype is the data type to look into (datatypeTable), "" for none;
	// for a choice, each JSON name has its own elem
	dtype string
}

// always reports whether every view keeps the element.
func (e *elem) always() bool {
	return e.path == "id" || e.path == "meta" || e.flags&(flagMandatory|flagModifier|flagChecked) != 0
}

// typeDef is one resource type's table.
type typeDef struct {
	byPath map[string]*elem // by path as defined (value[x])
	// byKey finds an element by its JSON name below its parent's path
	// (component.valueQuantity); a choice has one per type
	byKey   map[string]*elem
	parents map[string]bool // paths with elements of their own in the table
}

// element is the element of JSON member key (a primitive's extensions,
// _status, are status's) below parent ("" for the top level, else a path
// ending in "."), nil when the table has none.
func (t *typeDef) element(parent, key string) *elem {
	return t.byKey[parent+strings.TrimPrefix(key, "_")]
}

// dataType is the table of one data type: what goes (drop) and what to
// look into.
type dataType map[string]dtElem

type dtElem struct {
	drop   bool
	dtype  string // the type to look into
	choice bool   // a choice: its JSON name tells the type (fixedAttachment)
}

type tables struct {
	resources map[string]*typeDef
	datatypes map[string]dataType
}

var parsed = sync.OnceValue(parseTables)

func lookup(typ string) *typeDef { return parsed().resources[typ] }

// parseTables reads table.go's strings once.
func parseTables() *tables {
	out := &tables{resources: map[string]*typeDef{}, datatypes: map[string]dataType{}}
	for typ, s := range resourceTable {
		t := &typeDef{byPath: map[string]*elem{}, byKey: map[string]*elem{}, parents: map[string]bool{}}
		for _, entry := range strings.Fields(s) {
			parts := strings.Split(entry, "/")
			e := &elem{path: parts[0], children: parts[0]}
			for _, f := range parts[1] {
				e.flags |= map[rune]uint8{'s': flagSummary, 'm': flagMandatory, 'x': flagModifier, 'c': flagChecked}[f]
			}
			t.byPath[e.path] = e
			parent, name := "", e.path
			if i := strings.LastIndexByte(e.path, '.'); i >= 0 {
				parent, name = e.path[:i+1], e.path[i+1:]
				t.parents[e.path[:i]] = true
			}
			var extra string
			if len(parts) > 2 {
				extra = parts[2]
			}
			switch base, choice := strings.CutSuffix(name, "[x]"); {
			case choice:
				for _, typ := range strings.Split(extra, ",") {
					c := *e
					if _, ok := datatypeTable[typ]; ok {
						c.dtype = typ
					}
					t.byKey[parent+base+typ] = &c
				}
				t.byKey[parent+base] = e // the name _elements may give
			case strings.HasPrefix(extra, ">"):
				e.children = extra[1:]
				t.byKey[e.path] = e
			default:
				e.dtype = extra
				t.byKey[e.path] = e
			}
		}
		out.resources[typ] = t
	}
	for typ, s := range datatypeTable {
		dt := dataType{}
		for _, entry := range strings.Fields(s) {
			name, to, found := strings.Cut(entry, "/")
			base, choice := strings.CutSuffix(name, "[x]")
			dt[base] = dtElem{drop: !found, dtype: strings.TrimPrefix(to, "*"), choice: choice}
		}
		out.datatypes[typ] = dt
	}
	return out
}

// summary returns what _summary=true keeps of member m below parent: an
// element the definitions mark isSummary, mandatory or modifier, or that
// an invariant reads (whole), and of the others, in a backbone element or
// a data type, what is kept of them in turn. An object left empty goes, unless its element is mandatory: then
// it stays whole (an empty object is no valid element, R4 json.html).
func (t *typeDef) summary(parent string, m member) (json.RawMessage, bool, error) {
	e := t.element(parent, m.key)
	if e == nil || e.flags == 0 {
		return nil, false, nil
	}
	if strings.HasPrefix(m.key, "_") || e.flags&flagChecked != 0 {
		return m.val, true, nil
	}
	var cut func([]member) ([]member, error)
	switch {
	case t.parents[e.children]:
		cut = func(members []member) ([]member, error) {
			var out []member
			for _, c := range members {
				val, ok, err := t.summary(e.children+".", c)
				if err != nil {
					return nil, err
				}
				if ok {
					out = append(out, member{c.key, val})
				}
			}
			return out, nil
		}
	case e.dtype != "":
		cut = func(members []member) ([]member, error) { return cutDataType(e.dtype, members) }
	default:
		return m.val, true, nil
	}
	val, err := each(m.val, cut)
	if err != nil {
		return nil, false, err
	}
	if val == nil {
		if e.flags&flagMandatory != 0 {
			return m.val, true, nil
		}
		return nil, false, nil
	}
	return val, true, nil
}

// cutDataType cuts what is outside the summary out of a value of data
// type typ (datatypeTable).
func cutDataType(typ string, members []member) ([]member, error) {
	dt := parsed().datatypes[typ]
	var out []member
	for _, m := range members {
		name := strings.TrimPrefix(m.key, "_")
		d, ok := dt[name]
		for base, c := range dt {
			if !ok && c.choice && len(name) > len(base) && strings.HasPrefix(name, base) {
				d, ok = dtElem{dtype: name[len(base):]}, true // fixedAttachment: Attachment
			}
		}
		switch {
		case !ok:
			out = append(out, m)
		case d.drop:
		case strings.HasPrefix(m.key, "_") || parsed().datatypes[d.dtype] == nil:
			out = append(out, m)
		default:
			val, err := each(m.val, func(ms []member) ([]member, error) { return cutDataType(d.dtype, ms) })
			if err != nil {
				return nil, err
			}
			if val != nil {
				out = append(out, member{m.key, val})
			}
		}
	}
	return out, nil
}

// each applies cut to val, an object or an array of objects: nil when
// nothing is left (every object cut to nothing).
func each(val json.RawMessage, cut func([]member) ([]member, error)) (json.RawMessage, error) {
	one := func(obj json.RawMessage) (json.RawMessage, error) {
		members, err := object(obj)
		if err != nil {
			return nil, err
		}
		kept, err := cut(members)
		if err != nil || len(kept) == 0 {
			return nil, err
		}
		return render(kept), nil
	}
	if v := bytes.TrimLeft(val, " \t\r\n"); len(v) == 0 || v[0] != '[' {
		return one(val)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(val, &items); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, it := range items {
		kept, err := one(it)
		if err != nil {
			return nil, err
		}
		if kept != nil {
			out = append(out, kept)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return renderArray(out), nil
}

// member is one name: value of a JSON object, the value as written.
type member struct {
	key string
	val json.RawMessage
}

// object reads a JSON object's members in their order.
func object(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		out = append(out, member{key, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func render(members []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func renderArray(items []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	return b.Bytes()
}
