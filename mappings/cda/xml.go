package cda

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds a small XML 1.0 + Namespaces reader made for CDA: one pass
// over the input builds a flat arena of nodes whose names and (unescaped)
// texts are substrings of one string copy of the input. It refuses what a
// CDA document never needs and what makes XML dangerous: DOCTYPE (so no
// internal or external entities, no billion laughs), undeclared entity
// references, unbound prefixes, excessive depth.

// Namespace identifiers. Names in any other namespace get nsOther.
type nsID uint8

const (
	nsNone nsID = iota // no namespace
	nsCDA              // urn:hl7-org:v3
	nsSDTC             // urn:hl7-org:sdtc
	nsXSI              // http://www.w3.org/2001/XMLSchema-instance
	nsXML              // http://www.w3.org/XML/1998/namespace
	nsOther
)

func nsOf(uri string) nsID {
	switch uri {
	case "":
		return nsNone
	case "urn:hl7-org:v3":
		return nsCDA
	case "urn:hl7-org:sdtc":
		return nsSDTC
	case "http://www.w3.org/2001/XMLSchema-instance":
		return nsXSI
	case "http://www.w3.org/XML/1998/namespace":
		return nsXML
	}
	return nsOther
}

// node is an element or a text node. Children form a singly linked list.
type node struct {
	name       string // element local name, or the text of a text node
	parent     int32
	first      int32 // first child, -1 if none
	last       int32
	next       int32 // next sibling, -1 if none
	attrs      int32 // index of the first attribute in tree.attrs
	nattrs     int32
	ns         nsID
	isText     bool
	hasElement bool // has at least one element child
}

type attr struct {
	ns          nsID
	name, value string
}

// tree is a parsed document. Node 0 is the root element.
type tree struct {
	nodes []node
	attrs []attr
	ids   map[string]int32 // narrative ID attributes
}

// trees keeps the arenas of documents converted for the next ones: a
// tree is garbage once its conversion returns (what the conversion keeps
// are strings), and allocating and zeroing its arenas anew cost more than
// parsing into them.
var trees = sync.Pool{New: func() any { return &tree{ids: map[string]int32{}} }}

// newTree returns an empty tree with room for about nodes nodes and attrs
// attributes.
func newTree(nodes, attrs int) *tree {
	t := trees.Get().(*tree)
	if cap(t.nodes) < nodes {
		t.nodes = make([]node, 0, nodes)
	}
	if cap(t.attrs) < attrs {
		t.attrs = make([]attr, 0, attrs)
	}
	return t
}

// release returns t to trees; t must not be used afterwards.
func (t *tree) release() {
	if cap(t.nodes) > maxPooledNodes {
		return
	}
	t.nodes, t.attrs = t.nodes[:0], t.attrs[:0]
	clear(t.ids)
	trees.Put(t)
}

// maxPooledNodes bounds the trees kept: a few MB of arenas.
const maxPooledNodes = 64 << 10

// Parse limits. The size limit is Options.MaxSize.
const (
	maxDepth = 256
)

var (
	errDTD       = errors.New("DOCTYPE and entity declarations are not allowed")
	errNotXML    = errors.New("not well-formed XML")
	errTooDeep   = errors.New("elements nested too deeply")
	errNoRoot    = errors.New("no root element")
	errEncoding  = errors.New("unsupported character encoding")
	errTrailing  = errors.New("content after the root element")
	errUnclosed  = errors.New("unclosed element")
	errMismatch  = errors.New("mismatched end tag")
	errEntity    = errors.New("undeclared entity reference")
	errBadPrefix = errors.New("unbound namespace prefix")
)

// syntaxError locates a parse error by byte offset only: the input may hold
// patient data, so no excerpt of it goes into the message.
type syntaxError struct {
	off int
	err error
}

func (e *syntaxError) Error() string { return fmt.Sprintf("XML at byte %d: %v", e.off, e.err) }
func (e *syntaxError) Unwrap() error { return e.err }

type binding struct {
	prefix string
	ns     nsID
	depth  int
}

type open struct {
	qname string
	node  int32
}

type parser struct {
	s        string
	i        int
	t        *tree
	bindings []binding
	stack    []open
	inText   int // depth inside narrative-like elements, where blank text matters
	raw      []attr
}

// parseXML builds the tree of doc. doc must already be within the size limit.
func parseXML(doc []byte) (*tree, error) {
	s, err := decodeInput(doc)
	if err != nil {
		return nil, &syntaxError{0, err}
	}
	// Size the arenas once: an element starts at a '<' and a text node ends
	// at one, and end tags rarely follow text outside narrative, so nodes
	// are about as many as '<'; every attribute has a '='.
	p := &parser{s: s, t: newTree(strings.Count(s, "<")+16, strings.Count(s, "=")+16)}
	p.bindings = append(p.bindings, binding{prefix: "xml", ns: nsXML, depth: -1})
	if err := p.run(); err != nil {
		p.t.release()
		return nil, &syntaxError{p.i, err}
	}
	return p.t, nil
}

// decodeInput returns the document as a UTF-8 string: UTF-8 (with or without
// BOM), UTF-16 with a BOM, or ISO-8859-1/Windows-1252 when the XML
// declaration says so. Invalid UTF-8 sequences are replaced.
func decodeInput(b []byte) (string, error) {
	switch {
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		b = b[3:]
	case len(b) >= 2 && (b[0] == 0xFF && b[1] == 0xFE || b[0] == 0xFE && b[1] == 0xFF):
		return decodeUTF16(b[2:], b[0] == 0xFE), nil
	}
	enc := declaredEncoding(b)
	switch enc {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
	case "iso-8859-1", "latin1", "iso8859-1", "windows-1252", "cp1252", "iso-8859-15":
		return latin1(b), nil
	default:
		return "", errEncoding
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

func decodeUTF16(b []byte, bigEndian bool) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	return string(utf16.Decode(u))
}

func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// declaredEncoding reads encoding="..." from a leading XML declaration,
// lower-cased, or "".
func declaredEncoding(b []byte) string {
	if len(b) < 6 || string(b[:5]) != "<?xml" {
		return ""
	}
	end := strings.Index(string(b[:min(len(b), 200)]), "?>")
	if end < 0 {
		return ""
	}
	decl := string(b[:end])
	k := strings.Index(decl, "encoding")
	if k < 0 {
		return ""
	}
	rest := strings.TrimLeft(decl[k+len("encoding"):], " \t\r\n=")
	if rest == "" || rest[0] != '"' && rest[0] != '\'' {
		return ""
	}
	q := rest[0]
	rest = rest[1:]
	if j := strings.IndexByte(rest, q); j >= 0 {
		return strings.ToLower(rest[:j])
	}
	return ""
}

func (p *parser) run() error {
	rootDone := false
	for p.i < len(p.s) {
		if p.inText == 0 {
			// Outside narrative, the white space between tags is dropped
			// (text and the end of the document treat it so): skip it
			// without a call to IndexByte.
			j := p.i
			for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\n' || p.s[j] == '\t' || p.s[j] == '\r') {
				j++
			}
			if j < len(p.s) && p.s[j] == '<' {
				p.i = j
				if err := p.markup(&rootDone); err != nil {
					return err
				}
				continue
			}
		}
		lt := strings.IndexByte(p.s[p.i:], '<')
		if lt < 0 {
			if len(p.stack) > 0 {
				return errUnclosed
			}
			if strings.TrimSpace(p.s[p.i:]) != "" {
				return errTrailing
			}
			p.i = len(p.s)
			break
		}
		if lt > 0 {
			if err := p.text(p.s[p.i : p.i+lt]); err != nil {
				return err
			}
			p.i += lt
		}
		if err := p.markup(&rootDone); err != nil {
			return err
		}
	}
	if len(p.stack) > 0 {
		return errUnclosed
	}
	if !rootDone {
		return errNoRoot
	}
	return nil
}

func (p *parser) markup(rootDone *bool) error {
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, "<?"):
		return p.skipPast("?>")
	case strings.HasPrefix(rest, "<!--"):
		return p.skipPast("-->")
	case strings.HasPrefix(rest, "<![CDATA["):
		end := strings.Index(rest, "]]>")
		if end < 0 || len(p.stack) == 0 {
			return errNotXML
		}
		p.addText(rest[len("<![CDATA["):end])
		p.i += end + 3
		return nil
	case strings.HasPrefix(rest, "<!"):
		return errDTD
	case strings.HasPrefix(rest, "</"):
		return p.endTag()
	}
	if len(p.stack) == 0 && *rootDone {
		return errTrailing
	}
	if err := p.startTag(); err != nil {
		return err
	}
	*rootDone = true
	return nil
}

func (p *parser) skipPast(end string) error {
	j := strings.Index(p.s[p.i:], end)
	if j < 0 {
		return errNotXML
	}
	p.i += j + len(end)
	return nil
}

// text handles character data between markup.
func (p *parser) text(s string) error {
	if len(p.stack) == 0 {
		if strings.TrimSpace(s) != "" {
			return errNotXML
		}
		return nil
	}
	if p.inText == 0 && isBlank(s) {
		return nil
	}
	u, err := unescape(s)
	if err != nil {
		return err
	}
	p.addText(u)
	return nil
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

func (p *parser) addText(s string) {
	parent := p.stack[len(p.stack)-1].node
	// Merge with a preceding text node (text, CDATA, text).
	if l := p.t.nodes[parent].last; l >= 0 && p.t.nodes[l].isText {
		p.t.nodes[l].name += s
		return
	}
	p.link(parent, node{name: s, isText: true, first: -1, last: -1, next: -1})
}

func (p *parser) link(parent int32, n node) int32 {
	n.parent = parent
	idx := int32(len(p.t.nodes))
	p.t.nodes = append(p.t.nodes, n)
	if parent >= 0 {
		pn := &p.t.nodes[parent]
		if pn.last >= 0 {
			p.t.nodes[pn.last].next = idx
		} else {
			pn.first = idx
		}
		pn.last = idx
		if !n.isText {
			pn.hasElement = true
		}
	}
	return idx
}

func isNameByte(c byte) bool { return nameBytes[c] }

// nameBytes tells the bytes names are made of.
var nameBytes = func() (t [256]bool) {
	for i := range t {
		c := byte(i)
		t[i] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ':' || c == '_' || c == '-' || c == '.' || c >= 0x80
	}
	return t
}()

func (p *parser) name() (string, error) {
	j := p.i
	for j < len(p.s) && isNameByte(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", errNotXML
	}
	n := p.s[p.i:j]
	p.i = j
	return n, nil
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) startTag() error {
	if len(p.stack) >= maxDepth {
		return errTooDeep
	}
	p.i++ // '<'
	qname, err := p.name()
	if err != nil {
		return err
	}
	p.raw = p.raw[:0]
	selfClose, err := p.attributes()
	if err != nil {
		return err
	}
	depth := len(p.stack)
	for _, a := range p.raw {
		switch {
		case a.name == "xmlns":
			p.bindings = append(p.bindings, binding{"", nsOf(a.value), depth})
		case strings.HasPrefix(a.name, "xmlns:"):
			p.bindings = append(p.bindings, binding{a.name[6:], nsOf(a.value), depth})
		}
	}
	ns, local, err := p.resolve(qname, true)
	if err != nil {
		return err
	}
	parent := int32(-1)
	if depth > 0 {
		parent = p.stack[depth-1].node
	}
	idx := p.link(parent, node{name: local, ns: ns, first: -1, last: -1, next: -1, attrs: int32(len(p.t.attrs))})
	if err := p.storeAttrs(idx); err != nil {
		return err
	}
	if selfClose {
		p.popBindings(depth)
		return nil
	}
	p.stack = append(p.stack, open{qname, idx})
	if local == "text" || local == "originalText" {
		p.inText++
	}
	return nil
}

// attributes reads attributes into p.raw up to '>' or '/>'.
func (p *parser) attributes() (selfClose bool, err error) {
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return false, errNotXML
		}
		switch p.s[p.i] {
		case '>':
			p.i++
			return false, nil
		case '/':
			if p.i+1 < len(p.s) && p.s[p.i+1] == '>' {
				p.i += 2
				return true, nil
			}
			return false, errNotXML
		}
		n, err := p.name()
		if err != nil {
			return false, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return false, errNotXML
		}
		p.i++
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '"' && p.s[p.i] != '\'' {
			return false, errNotXML
		}
		// Values are short: one loop finds the closing quote and notes '<'
		// (refused) and '&', cheaper than three IndexByte calls.
		q, start := p.s[p.i], p.i+1
		j, lt, amp := start, false, false
		for ; j < len(p.s) && p.s[j] != q; j++ {
			switch p.s[j] {
			case '<':
				lt = true
			case '&':
				amp = true
			}
		}
		if j >= len(p.s) {
			return false, errNotXML
		}
		v := p.s[start:j]
		p.i = j + 1
		if lt {
			return false, errNotXML
		}
		if amp {
			if v, err = unescape(v); err != nil {
				return false, err
			}
		}
		p.raw = append(p.raw, attr{name: n, value: v})
	}
}

func (p *parser) storeAttrs(idx int32) error {
	n := int32(0)
	for _, a := range p.raw {
		if a.name == "xmlns" || strings.HasPrefix(a.name, "xmlns:") {
			continue
		}
		ns, local, err := p.resolve(a.name, false)
		if err != nil {
			return err
		}
		p.t.attrs = append(p.t.attrs, attr{ns: ns, name: local, value: a.value})
		n++
		if local == "ID" && ns == nsNone {
			if _, dup := p.t.ids[a.value]; !dup {
				p.t.ids[a.value] = idx
			}
		}
	}
	p.t.nodes[idx].nattrs = n
	return nil
}

// resolve splits a qualified name and finds its namespace. Unprefixed
// attributes are in no namespace; unprefixed elements in the default one.
func (p *parser) resolve(qname string, element bool) (nsID, string, error) {
	// Names are short: one loop finds the colon and refuses a second one,
	// cheaper than strings.Cut and IndexByte.
	colon := -1
	for i := 0; i < len(qname); i++ {
		if qname[i] == ':' {
			if colon >= 0 {
				return 0, "", errNotXML
			}
			colon = i
		}
	}
	prefix, local := "", qname
	if colon < 0 {
		if !element {
			return nsNone, qname, nil
		}
	} else {
		prefix, local = qname[:colon], qname[colon+1:]
	}
	if local == "" {
		return 0, "", errNotXML
	}
	for i := len(p.bindings) - 1; i >= 0; i-- {
		if p.bindings[i].prefix == prefix {
			return p.bindings[i].ns, local, nil
		}
	}
	if prefix == "" {
		return nsNone, local, nil
	}
	return 0, "", errBadPrefix
}

func (p *parser) popBindings(depth int) {
	for len(p.bindings) > 0 && p.bindings[len(p.bindings)-1].depth >= depth {
		p.bindings = p.bindings[:len(p.bindings)-1]
	}
}

func (p *parser) endTag() error {
	p.i += 2
	qname, err := p.name()
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '>' {
		return errNotXML
	}
	p.i++
	if len(p.stack) == 0 || p.stack[len(p.stack)-1].qname != qname {
		return errMismatch
	}
	top := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if n := p.t.nodes[top.node].name; n == "text" || n == "originalText" {
		p.inText--
	}
	p.popBindings(len(p.stack))
	return nil
}

// unescape replaces the predefined entities and character references. Any
// other entity reference is an error: without a DTD none can be declared.
func unescape(s string) (string, error) {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.WriteString(s[:amp])
		s = s[amp:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 || semi > 12 {
			return "", errEntity
		}
		ref := s[1:semi]
		s = s[semi+1:]
		switch ref {
		case "lt":
			b.WriteByte('<')
		case "gt":
			b.WriteByte('>')
		case "amp":
			b.WriteByte('&')
		case "quot":
			b.WriteByte('"')
		case "apos":
			b.WriteByte('\'')
		default:
			r, err := charRef(ref)
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		}
		amp = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String(), nil
}

func charRef(ref string) (rune, error) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, errEntity
	}
	var n uint64
	var err error
	if ref[1] == 'x' || ref[1] == 'X' {
		n, err = strconv.ParseUint(ref[2:], 16, 32)
	} else {
		n, err = strconv.ParseUint(ref[1:], 10, 32)
	}
	if err != nil || n == 0 || n > utf8.MaxRune || n >= 0xD800 && n <= 0xDFFF {
		return 0, errEntity
	}
	return rune(n), nil
}
