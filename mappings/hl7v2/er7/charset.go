package er7

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// Charset is a character set a message can be encoded in (HL7 table 0211).
type Charset uint8

// The supported character sets.
const (
	ASCII  Charset = iota // "ASCII", the default when MSH-18 is empty
	Latin1                // "8859/1"
	Latin9                // "8859/15"
	UTF8                  // "UNICODE UTF-8"
)

// Name returns the table 0211 code of c.
func (c Charset) Name() string {
	switch c {
	case Latin1:
		return "8859/1"
	case Latin9:
		return "8859/15"
	case UTF8:
		return "UNICODE UTF-8"
	}
	return "ASCII"
}

// charsetByName reads MSH-18. ok is false for a character set this package
// does not support (ISO IR 87, UNICODE UTF-16, ...).
func charsetByName(name string) (Charset, bool) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "", "ASCII":
		return ASCII, true
	case "8859/1", "ISO-8859-1", "ISO IR100":
		return Latin1, true
	case "8859/15", "ISO-8859-15":
		return Latin9, true
	case "UNICODE UTF-8", "UTF-8", "UTF8":
		return UTF8, true
	}
	return 0, false
}

// latin9 lists where ISO 8859-15 differs from ISO 8859-1.
var latin9 = [256]rune{
	0xA4: '€', 0xA6: 'Š', 0xA8: 'š', 0xB4: 'Ž', 0xB8: 'ž', 0xBC: 'Œ', 0xBD: 'œ', 0xBE: 'Ÿ',
}

// decodeByte returns the rune byte b stands for in c (a single-byte set).
func (c Charset) decodeByte(b byte) rune {
	if c == Latin9 {
		if r := latin9[b]; r != 0 {
			return r
		}
	}
	return rune(b)
}

// toUTF8 converts single-byte text in c to UTF-8.
func (c Charset) toUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, x := range b {
		if x < utf8.RuneSelf {
			sb.WriteByte(x)
			continue
		}
		sb.WriteRune(c.decodeByte(x))
	}
	return sb.String()
}

// fromUTF8 encodes s in c; runes c cannot represent become '?'.
func (c Charset) fromUTF8(s string) []byte {
	if c == UTF8 || isASCIIString(s) {
		return []byte(s)
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, c.encodeRune(r))
	}
	return out
}

func (c Charset) encodeRune(r rune) byte {
	if r < utf8.RuneSelf {
		return byte(r)
	}
	if c == Latin9 {
		for b, x := range latin9 {
			if x == r {
				return byte(b)
			}
		}
		if r <= 0xFF && latin9[r] != 0 {
			return '?' // the Latin-1 character this slot held is not in 8859-15
		}
	}
	if (c == Latin1 || c == Latin9) && r <= 0xFF {
		return byte(r)
	}
	return '?'
}

// decodeHex turns the bytes of a \Xhh..\ escape into text: UTF-8 when they
// are valid UTF-8 in a UTF-8 or ASCII message, else single bytes in c.
func (c Charset) decodeHex(b []byte) string {
	if (c == UTF8 || c == ASCII) && utf8.Valid(b) {
		return string(b)
	}
	if c == UTF8 || c == ASCII {
		c = Latin1
	}
	return c.toUTF8(b)
}

// isASCII reports whether b is all ASCII, eight bytes at a time: whole
// messages are checked. (A version generic over strings and byte slices did
// not get its eight loads combined into one, and took four instructions a
// byte.)
func isASCII(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// isASCIIString is isASCII for a string.
func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
