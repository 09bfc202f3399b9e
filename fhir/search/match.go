package search

import (
	"strings"

	"golang.org/x/text/unicode/norm"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Match reports whether a resource whose index entries are vals (Extract)
// satisfies q's clauses, as the store's index would: every clause has a
// condition that one of its parameter's values meets
// (https://hl7.org/fhir/R4/search.html#combining). q.IDs, sorting and
// paging are not looked at. It serves what the index cannot: a resource
// as it was before its deletion. Like the index, it holds :exact to the
// normalised strings; MatchExact decides it on a resource.
func (q *Query) Match(vals []Value) bool {
	for _, cl := range q.Clauses {
		if !cl.match(vals) {
			return false
		}
	}
	for _, m := range q.Missing {
		has := false
		for _, v := range vals {
			has = has || v.Param == m.Param
		}
		if has == m.Missing {
			return false
		}
	}
	return true
}

func (cl *Clause) match(vals []Value) bool {
	for _, v := range vals {
		if v.Param != cl.Param.Name {
			continue
		}
		for _, c := range cl.Conds {
			if c.match(v) {
				return true
			}
		}
	}
	return false
}

// match is one condition against one value, as the store's scan of the
// index keys built from it (Value's forms: "system|code", "Type/id",
// normalised strings, date ranges).
func (c Cond) match(v Value) bool {
	switch c.Tag {
	case 'c':
		_, code, ok := strings.Cut(v.Text, "|")
		return v.Kind == Token && ok && code == c.Key
	case 't':
		if c.Prefix {
			return v.Kind == Token && strings.HasPrefix(v.Text, c.Key)
		}
		return v.Kind == Token && v.Text == c.Key
	case 'r':
		return v.Kind == Reference && v.Text == c.Key
	case 'i':
		_, id, ok := strings.Cut(v.Text, "/")
		return v.Kind == Reference && ok && id == c.Key
	case 's':
		switch {
		case v.Kind != String:
			return false
		case c.Contains:
			return strings.Contains(v.Text, c.Key)
		case c.Prefix:
			return strings.HasPrefix(v.Text, c.Key)
		}
		return v.Text == c.Key
	case 'd':
		return v.Kind == Date && c.Matches(v.Start, v.End)
	}
	return false
}

// Exact reports whether q has :exact string conditions, which the index
// (of normalised strings) only narrows down: MatchExact decides them.
func (q *Query) Exact() bool {
	for i := range q.Clauses {
		if q.Clauses[i].exact() {
			return true
		}
	}
	return false
}

// MatchExact reports whether res satisfies each of q's clauses that has an
// :exact condition, comparing those with the strings res holds as written:
// case and accents count (https://hl7.org/fhir/R4/search.html#string).
// Clauses without one are left to the index.
func (q *Query) MatchExact(res proto.Message) bool {
	for i := range q.Clauses {
		cl := &q.Clauses[i]
		if cl.exact() && !cl.matchStrings(rawStrings(res.ProtoReflect(), cl.Param)) {
			return false
		}
	}
	return true
}

func (cl *Clause) exact() bool {
	for _, c := range cl.Conds {
		if c.Exact != "" {
			return true
		}
	}
	return false
}

// matchStrings is the clause against a resource's strings as written: the
// :exact conditions equal one (both in NFC, so that an accent typed as a
// combining mark is the same accent), the others as the index would.
func (cl *Clause) matchStrings(texts []string) bool {
	for _, s := range texts {
		for _, c := range cl.Conds {
			if c.Exact != "" {
				if norm.NFC.String(s) == c.Exact {
					return true
				}
				continue
			}
			if n := Normalize(s); n != "" && c.match(Value{Param: cl.Param.Name, Kind: String, Text: clip(n)}) {
				return true
			}
		}
	}
	return false
}

// rawStrings returns the strings parameter p takes in m, as written
// (Extract gives them normalised).
func rawStrings(m protoreflect.Message, p Param) []string {
	var out []string
	for _, path := range p.Paths {
		out = appendRaw(out, m, strings.Split(path, "."))
	}
	return out
}

func appendRaw(out []string, m protoreflect.Message, path []string) []string {
	m = enterChoice(m)
	if len(path) == 0 {
		return append(out, strs(m)...)
	}
	f := m.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if f == nil || f.Kind() != protoreflect.MessageKind || !m.Has(f) {
		return out
	}
	if !f.IsList() {
		return appendRaw(out, m.Get(f).Message(), path[1:])
	}
	l := m.Get(f).List()
	for i := 0; i < l.Len(); i++ {
		out = appendRaw(out, l.Get(i).Message(), path[1:])
	}
	return out
}
