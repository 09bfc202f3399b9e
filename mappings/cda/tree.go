package cda

import (
	"strconv"
	"strings"
)

// el is a cursor on an element of a parsed tree. The zero el (or one with
// i < 0) stands for "absent": every method on it returns an absent el, ""
// or false, so navigation chains need no nil checks.
type el struct {
	t *tree
	i int32
}

func (e el) ok() bool { return e.t != nil && e.i >= 0 }

func (e el) n() *node { return &e.t.nodes[e.i] }

// name returns the local name of the element.
func (e el) name() string {
	if !e.ok() {
		return ""
	}
	return e.n().name
}

// isCDA reports whether the element is in the CDA namespace (or in none, for
// documents that forgot to declare it).
func (e el) isCDA() bool {
	return e.ok() && (e.n().ns == nsCDA || e.n().ns == nsNone)
}

// child returns the first CDA child element called name.
func (e el) child(name string) el {
	if !e.ok() {
		return el{}
	}
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		n := &e.t.nodes[c]
		if !n.isText && n.name == name && (n.ns == nsCDA || n.ns == nsNone) {
			return el{e.t, c}
		}
	}
	return el{}
}

// path follows a chain of child names.
func (e el) path(names ...string) el {
	for _, n := range names {
		e = e.child(n)
	}
	return e
}

// sdtc returns the first child called name in the sdtc extension namespace.
func (e el) sdtc(name string) el {
	if !e.ok() {
		return el{}
	}
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		n := &e.t.nodes[c]
		if !n.isText && n.name == name && n.ns == nsSDTC {
			return el{e.t, c}
		}
	}
	return el{}
}

// each calls fn for every CDA child element called name (every element
// child when name is "").
func (e el) each(name string, fn func(el)) {
	if !e.ok() {
		return
	}
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		n := &e.t.nodes[c]
		if !n.isText && (name == "" || n.name == name && (n.ns == nsCDA || n.ns == nsNone)) {
			fn(el{e.t, c})
		}
	}
}

// all returns the CDA child elements called name.
func (e el) all(name string) []el {
	var out []el
	e.each(name, func(c el) { out = append(out, c) })
	return out
}

// firstElem returns the first element child, whatever its name.
func (e el) firstElem() el {
	if !e.ok() {
		return el{}
	}
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		if !e.t.nodes[c].isText {
			return el{e.t, c}
		}
	}
	return el{}
}

func (e el) parent() el {
	if !e.ok() {
		return el{}
	}
	return el{e.t, e.n().parent}
}

// attr returns the value of the unqualified attribute name.
func (e el) attr(name string) string {
	if !e.ok() {
		return ""
	}
	n := e.n()
	for _, a := range e.t.attrs[n.attrs : n.attrs+n.nattrs] {
		if a.name == name && a.ns == nsNone {
			return a.value
		}
	}
	return ""
}

// xsiType returns the local part of xsi:type ("CD" for "v3:CD").
func (e el) xsiType() string {
	if !e.ok() {
		return ""
	}
	n := e.n()
	for _, a := range e.t.attrs[n.attrs : n.attrs+n.nattrs] {
		if a.name == "type" && a.ns == nsXSI {
			v := strings.TrimSpace(a.value)
			if i := strings.LastIndexByte(v, ':'); i >= 0 {
				v = v[i+1:]
			}
			return v
		}
	}
	return ""
}

// null reports whether the element is absent or carries a nullFlavor and no
// value of its own.
func (e el) null() bool {
	return !e.ok() || e.attr("nullFlavor") != "" && e.attr("value") == "" && e.attr("code") == "" && e.attr("root") == ""
}

// text returns the element's character data, trimmed; nested markup is
// flattened with single spaces.
func (e el) text() string {
	if !e.ok() {
		return ""
	}
	n := e.n()
	if n.first >= 0 && n.first == n.last && e.t.nodes[n.first].isText {
		return strings.TrimSpace(e.t.nodes[n.first].name)
	}
	var b strings.Builder
	e.collect(&b)
	return collapse(b.String())
}

func (e el) collect(b *strings.Builder) {
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		n := &e.t.nodes[c]
		if n.isText {
			b.WriteString(n.name)
			continue
		}
		if n.name == "br" || n.name == "paragraph" || n.name == "tr" || n.name == "item" {
			b.WriteByte(' ')
		}
		el{e.t, c}.collect(b)
		if n.name == "td" || n.name == "th" || n.name == "paragraph" || n.name == "item" {
			b.WriteByte(' ')
		}
	}
}

// collapse trims s and folds runs of white space into one space.
func collapse(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\t\r\n") && !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// byID returns the element whose ID attribute is id (with or without '#').
func (t *tree) byID(id string) el {
	i, ok := t.ids[strings.TrimPrefix(strings.TrimSpace(id), "#")]
	if !ok {
		return el{}
	}
	return el{t, i}
}

// xpath locates the element for warnings, e.g.
// /ClinicalDocument/component/structuredBody/component[3]/section. It is
// built on the stack and allocated once: statements without ids are keyed
// by it.
func (e el) xpath() string {
	if !e.ok() {
		return ""
	}
	var stack [32]int32
	path := stack[:0]
	for c := e; c.ok(); c = c.parent() {
		path = append(path, c.i)
	}
	var buf [256]byte
	b := buf[:0]
	for i := len(path) - 1; i >= 0; i-- {
		b = append(b, '/')
		b = el{e.t, path[i]}.appendStep(b)
	}
	return string(b)
}

// appendStep appends one XPath step, with a position when siblings share
// the name.
func (e el) appendStep(b []byte) []byte {
	n := e.n()
	if n.ns == nsSDTC {
		b = append(b, "sdtc:"...)
	}
	b = append(b, n.name...)
	if n.parent < 0 {
		return b
	}
	pos, count := 0, 0
	for c := e.t.nodes[n.parent].first; c >= 0; c = e.t.nodes[c].next {
		s := &e.t.nodes[c]
		if !s.isText && s.name == n.name && s.ns == n.ns {
			count++
			if c == e.i {
				pos = count
			}
		}
	}
	if count > 1 {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(pos), 10)
		b = append(b, ']')
	}
	return b
}

// templates returns the templateId roots of the element.
func (e el) templates() []string {
	var out []string
	e.each("templateId", func(t el) {
		if r := t.attr("root"); r != "" {
			out = append(out, r)
		}
	})
	return out
}

// hasTemplate reports whether the element declares any of the roots.
func (e el) hasTemplate(roots ...string) bool {
	found := false
	e.each("templateId", func(t el) {
		r := t.attr("root")
		for _, want := range roots {
			if r == want {
				found = true
			}
		}
	})
	return found
}

// rawText returns the element's character data as written, untrimmed.
func (e el) rawText() string {
	if !e.ok() {
		return ""
	}
	n := e.n()
	if n.first >= 0 && n.first == n.last && e.t.nodes[n.first].isText {
		return e.t.nodes[n.first].name
	}
	var b strings.Builder
	for c := n.first; c >= 0; c = e.t.nodes[c].next {
		if e.t.nodes[c].isText {
			b.WriteString(e.t.nodes[c].name)
		}
	}
	return b.String()
}
