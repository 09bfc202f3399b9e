package er7

import (
	"encoding/hex"
	"strings"
)

// Escape sequences (HL7 v2.5 section 2.7): \F\ \S\ \T\ \R\ \E\ stand for
// the delimiters, \P\ (v2.7) for the truncation character, \Xhh..\ for
// bytes in the message's character set, \.br\ for a line break. \H\ and \N\
// (highlighting on/off) have no plain-text rendering and are dropped. Every
// other sequence (\.sp\, \Cxxyy\, \Mxxyyzz\, \Zxx\, ...) is kept as written.

// unescape decodes the escape sequences of s. Parse has already checked
// that every sequence in s is terminated and well formed.
func unescape(s string, d Delimiters) string {
	i := strings.IndexByte(s, d.Escape)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i+1:]
		j := strings.IndexByte(s, d.Escape)
		if j < 0 { // not reachable after Parse; keep the text as it is
			b.WriteByte(d.Escape)
			break
		}
		seq := s[:j]
		s = s[j+1:]
		writeEscape(&b, seq, d)
		i = strings.IndexByte(s, d.Escape)
	}
	b.WriteString(s)
	return b.String()
}

func writeEscape(b *strings.Builder, seq string, d Delimiters) {
	switch seq {
	case "F":
		b.WriteByte(d.Field)
	case "S":
		b.WriteByte(d.Component)
	case "T":
		b.WriteByte(d.Subcomponent)
	case "R":
		b.WriteByte(d.Repetition)
	case "E":
		b.WriteByte(d.Escape)
	case ".br":
		b.WriteByte('\n')
	case "H", "N":
	case "P":
		if d.Truncation != 0 {
			b.WriteByte(d.Truncation)
			return
		}
		writeRaw(b, seq, d)
	default:
		if raw, ok := hexEscape(seq); ok {
			b.WriteString(d.charset.decodeHex(raw))
			return
		}
		writeRaw(b, seq, d)
	}
}

func writeRaw(b *strings.Builder, seq string, d Delimiters) {
	b.WriteByte(d.Escape)
	b.WriteString(seq)
	b.WriteByte(d.Escape)
}

// hexEscape decodes the hh.. of an "Xhh.." sequence.
func hexEscape(seq string) ([]byte, bool) {
	if len(seq) < 3 || seq[0] != 'X' {
		return nil, false
	}
	raw, err := hex.DecodeString(seq[1:])
	return raw, err == nil
}

// checkEscapes verifies that every escape sequence in a raw field is closed
// within the same component and, for \X..\, holds an even number of hex
// digits. It returns the offset within field of the first bad sequence.
func checkEscapes(field []byte, d Delimiters) (int, string, bool) {
	for i := 0; i < len(field); i++ {
		if field[i] != d.Escape {
			continue
		}
		j := i + 1
		for j < len(field) && field[j] != d.Escape && !d.isSeparator(field[j]) {
			j++
		}
		if j == len(field) || field[j] != d.Escape {
			return i, "unterminated escape sequence", false
		}
		seq := field[i+1 : j]
		if len(seq) > 0 && seq[0] == 'X' {
			if _, ok := hexEscape(string(seq)); !ok {
				return i, `malformed \X\ escape sequence: expected pairs of hex digits`, false
			}
		}
		i = j
	}
	return 0, "", true
}

func (d Delimiters) isSeparator(c byte) bool {
	return c == d.Component || c == d.Repetition || c == d.Subcomponent || c == d.Field
}

// Escape encodes text for use as one component or subcomponent: delimiters
// become escape sequences and line breaks become \.br\.
func Escape(s string, d Delimiters) string {
	if !needsEscape(s, d) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == d.Field:
			writeRaw(&b, "F", d)
		case c == d.Component:
			writeRaw(&b, "S", d)
		case c == d.Subcomponent:
			writeRaw(&b, "T", d)
		case c == d.Repetition:
			writeRaw(&b, "R", d)
		case c == d.Escape:
			writeRaw(&b, "E", d)
		case d.Truncation != 0 && c == d.Truncation:
			writeRaw(&b, "P", d)
		case c == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			writeRaw(&b, ".br", d)
		case c == '\n':
			writeRaw(&b, ".br", d)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(s string, d Delimiters) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if d.isSeparator(c) || c == d.Escape || c == '\r' || c == '\n' || (d.Truncation != 0 && c == d.Truncation) {
			return true
		}
	}
	return false
}
