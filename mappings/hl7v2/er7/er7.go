// Package er7 reads and writes HL7 v2 messages in their pipe-and-hat
// encoding (ER7), versions 2.3 to 2.8, and builds their acknowledgements.
//
// Parse splits a message into segments and fields once and checks its
// structure (MSH first, valid encoding characters, well-formed escape
// sequences, a known MSH-18 character set); repetitions, components and
// subcomponents are split on access, and escape sequences are decoded only
// when a value is read as text. Text is always UTF-8: ISO 8859-1 and 8859-15
// input is converted. Malformed input gives an *Error that names the segment,
// field and byte offset and never quotes the message.
//
// Specification: HL7 v2.5 chapter 2 (Control), sections 2.5 (message
// construction rules), 2.7 (escape sequences), 2.9 (acknowledgement modes),
// 2.14-2.15 (MSH, MSA, ERR segments).
package er7

import (
	"iter"
	"strings"
)

// Delimiters are a message's encoding characters, from MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
	Truncation                                         byte // v2.7+; 0 when absent

	charset Charset // how \Xhh\ escapes are decoded
}

// DefaultDelimiters returns "|^~\&", the delimiters nearly every sender uses.
func DefaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
}

// encoding returns MSH-2 for d.
func (d Delimiters) encoding() string {
	s := string([]byte{d.Component, d.Repetition, d.Escape, d.Subcomponent})
	if d.Truncation != 0 {
		s += string(d.Truncation)
	}
	return s
}

// Message is a parsed HL7 v2 message. Segments keep their order, including
// Z-segments and segments this package knows nothing about.
type Message struct {
	Delims   Delimiters
	Segments []*Segment
	// Charset is the character set the input was decoded from (MSH-18, or
	// UTF-8 / ISO 8859-1 detected when MSH-18 is empty or ASCII but the
	// bytes are not).
	Charset Charset
}

// Segment is one segment: its ID and its fields, kept encoded.
type Segment struct {
	Name   string
	Seq    int // occurrence of this segment ID in the message, from 1
	Offset int // byte offset of the segment in the input
	text   string
	// seps holds where each field separator is in text: piece i of the
	// segment (0 is its ID) runs from seps[i-1]+1 to seps[i]. Offsets rather
	// than strings: a quarter of the memory, and nothing for the GC to scan.
	seps []int
	d    Delimiters
}

// piece returns the i-th piece of the segment split at field separators,
// or "" past the end.
func (s *Segment) piece(i int) string {
	if i < 0 || i > len(s.seps) {
		return ""
	}
	from, to := 0, len(s.text)
	if i > 0 {
		from = s.seps[i-1] + 1
	}
	if i < len(s.seps) {
		to = s.seps[i]
	}
	return s.text[from:to]
}

// First returns the first segment with the given ID, or nil. Methods of a
// nil *Segment return empty values, so m.First("PV1").Field(19) is safe.
func (m *Message) First(name string) *Segment {
	for _, s := range m.Segments {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// All returns every segment with the given ID, in order.
func (m *Message) All(name string) []*Segment {
	var out []*Segment
	for _, s := range m.Segments {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// MSH returns the header segment (always the first).
func (m *Message) MSH() *Segment { return m.Segments[0] }

// Type returns MSH-9: message code, trigger event and message structure.
func (m *Message) Type() (code, trigger, structure string) {
	f := m.MSH().Field(9)
	return f.Comp(1).String(), f.Comp(2).String(), f.Comp(3).String()
}

// ControlID returns MSH-10.
func (m *Message) ControlID() string { return m.MSH().Field(10).String() }

// Version returns the version ID, MSH-12.1.
func (m *Message) Version() string { return m.MSH().Field(12).Comp(1).String() }

// Enhanced reports whether the sender asked for enhanced acknowledgement
// mode (MSH-15 or MSH-16 valued); otherwise original mode applies.
func (m *Message) Enhanced() bool {
	msh := m.MSH()
	return strings.TrimSpace(msh.Field(15).Raw()) != "" || strings.TrimSpace(msh.Field(16).Raw()) != ""
}

// Field returns field n (1-based, numbered as in the standard: for MSH,
// MSH-1 is the field separator and MSH-2 the encoding characters). A field
// past the end is empty.
func (s *Segment) Field(n int) Value {
	if s == nil || n < 1 || n > s.Len() {
		return Value{}
	}
	if s.Name != "MSH" {
		return Value{s: s.piece(n), d: s.d}
	}
	if n == 1 { // the separator itself, which splitting drops
		return Value{s: string(s.d.Field), d: s.d, lvl: literal}
	}
	v := Value{s: s.piece(n - 1), d: s.d}
	if n == 2 {
		v.lvl = literal
	}
	return v
}

// Len is the number of the last field present.
func (s *Segment) Len() int {
	if s == nil {
		return 0
	}
	if s.Name == "MSH" {
		return len(s.seps) + 1 // MSH-1 is the separator after the ID
	}
	return len(s.seps)
}

// Loc returns the location of field n of s.
func (s *Segment) Loc(field int) Location {
	if s == nil {
		return Location{Field: field}
	}
	return Location{Segment: s.Name, Seq: s.Seq, Field: field}
}

// level says how far a Value has been narrowed down.
type level uint8

const (
	fieldLevel level = iota
	repLevel
	compLevel
	subLevel
	literal // MSH-1, MSH-2: never split nor unescaped
)

// Value is a field, repetition, component or subcomponent, still encoded.
// The zero Value is empty.
type Value struct {
	s   string
	d   Delimiters
	lvl level
}

// Raw returns the encoded text of v, escape sequences included.
func (v Value) Raw() string { return v.s }

// Empty reports whether v has no content. The HL7 null `""` is not empty;
// see Null.
func (v Value) Empty() bool { return v.s == "" }

// Null reports whether v is the explicit HL7 null `""` ("delete this value").
func (v Value) Null() bool { return v.s == `""` }

// String returns v's text with escape sequences decoded. The HL7 null `""`
// reads as "".
func (v Value) String() string {
	if v.lvl == literal {
		return v.s
	}
	if v.s == `""` {
		return ""
	}
	return unescape(v.s, v.d)
}

// Rep returns repetition i (0-based) of a field. A repetition, component or
// subcomponent only has repetition 0: itself.
func (v Value) Rep(i int) Value {
	if v.lvl != fieldLevel {
		if i == 0 {
			return v
		}
		return Value{}
	}
	return Value{s: nth(v.s, v.d.Repetition, i), d: v.d, lvl: repLevel}
}

// Reps returns every repetition of a field; none when it is empty.
func (v Value) Reps() []Value {
	if v.s == "" {
		return nil
	}
	if v.lvl != fieldLevel {
		return []Value{v}
	}
	n := strings.Count(v.s, string(v.d.Repetition)) + 1
	out := make([]Value, 0, n)
	rest := v.s
	for {
		i := strings.IndexByte(rest, v.d.Repetition)
		if i < 0 {
			return append(out, Value{s: rest, d: v.d, lvl: repLevel})
		}
		out = append(out, Value{s: rest[:i], d: v.d, lvl: repLevel})
		rest = rest[i+1:]
	}
}

// Repetitions yields what Reps returns, without a slice: mappings walk
// the repetitions of most fields they read.
func (v Value) Repetitions() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.s == "" {
			return
		}
		if v.lvl != fieldLevel {
			yield(v)
			return
		}
		rest := v.s
		for {
			i := strings.IndexByte(rest, v.d.Repetition)
			if i < 0 {
				yield(Value{s: rest, d: v.d, lvl: repLevel})
				return
			}
			if !yield(Value{s: rest[:i], d: v.d, lvl: repLevel}) {
				return
			}
			rest = rest[i+1:]
		}
	}
}

// Comp returns component i (1-based) of the first repetition of v. A
// component or subcomponent has itself as component 1.
func (v Value) Comp(i int) Value {
	switch v.lvl {
	case fieldLevel:
		// The first repetition ends at the first repetition separator:
		// reading its components does not need to find that end first.
		return Value{s: nthBefore(v.s, v.d.Component, v.d.Repetition, i-1), d: v.d, lvl: compLevel}
	case compLevel, subLevel, literal:
		if i == 1 {
			return v
		}
		return Value{}
	}
	return Value{s: nth(v.s, v.d.Component, i-1), d: v.d, lvl: compLevel}
}

// Sub returns subcomponent i (1-based) of the first component of v.
func (v Value) Sub(i int) Value {
	switch v.lvl {
	case fieldLevel, repLevel:
		v = v.Comp(1)
	case subLevel, literal:
		if i == 1 {
			return v
		}
		return Value{}
	}
	return Value{s: nth(v.s, v.d.Subcomponent, i-1), d: v.d, lvl: subLevel}
}

// Text returns the decoded text of the first subcomponent of the first
// component of the first repetition: what a simple (ST, ID, IS, DTM) field holds.
func (v Value) Text() string { return v.Sub(1).String() }

// nthBefore is nth(nth(s, stop, 0), sep, i) in one pass over the bytes it
// needs: fields are short, and a component is read far more often than a
// whole repetition. A long value (an encapsulated document) is left to
// nth, whose search is vectorised.
func nthBefore(s string, sep, stop byte, i int) string {
	if len(s) > 256 {
		return nth(nth(s, stop, 0), sep, i)
	}
	if i < 0 {
		return ""
	}
	start := 0
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case sep:
			if i == 0 {
				return s[start:j]
			}
			i--
			start = j + 1
		case stop:
			if i == 0 {
				return s[start:j]
			}
			return ""
		}
	}
	if i == 0 {
		return s[start:]
	}
	return ""
}

// nth returns the i-th (0-based) piece of s split at sep, or "".
func nth(s string, sep byte, i int) string {
	if i < 0 {
		return ""
	}
	for ; i > 0; i-- {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return ""
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, sep); j >= 0 {
		return s[:j]
	}
	return s
}
