package fhirjson

import (
	"unicode/utf16"
	"unicode/utf8"
)

// parser is a cursor over the input. It accepts a subset of what
// encoding/json and json-iterator both accept: strict RFC 8259 JSON in
// valid UTF-8. Strings without escapes are substrings of s, one copy of
// the whole input, so they cost no allocation.
type parser struct {
	d *Decoder
	b []byte
	s string // string(b)
	i int

	scratch []byte // unescaping buffer
	refType string // set by normalizeReference
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// colon reads the ':' after a key and the white space after it.
func (p *parser) colon() error {
	p.ws()
	if p.peek() != ':' {
		return declined("bad object")
	}
	p.i++
	p.ws()
	return nil
}

// key reads an object key. Keys with escapes are declined: jsonformat would
// unescape them, but no FHIR client writes them.
func (p *parser) key() (string, error) {
	return p.plainString()
}

// plainString reads a string without escapes or non-ASCII bytes.
func (p *parser) plainString() (string, error) {
	p.i++ // '"'
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			return s, nil
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", declined("key or type with escapes or non-ASCII")
		}
		p.i++
	}
	return "", declined("unterminated string")
}

// strSpecial marks the bytes a string scan must stop at: the quote, the
// backslash, control characters and non-ASCII bytes.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return t
}()

// str reads a string value: valid UTF-8, no raw control characters,
// escapes decoded as encoding/json decodes them (lone surrogates declined).
// escaped reports whether the value differs from the text between the
// quotes.
func (p *parser) str() (val string, escaped bool, err error) {
	if p.peek() != '"' {
		return "", false, declined("not a string")
	}
	p.i++
	start := p.i
	ascii := true
	b := p.b
	for i := p.i; i < len(b); i++ {
		c := b[i]
		if !strSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			s := p.s[start:i]
			p.i = i + 1
			if !ascii && !utf8.ValidString(s) {
				return "", false, declined("invalid UTF-8")
			}
			return s, false, nil
		case c == '\\':
			p.i = i
			return p.escapedStr(start)
		case c < 0x20:
			return "", false, declined("control character in string")
		default:
			ascii = false
		}
	}
	return "", false, declined("unterminated string")
}

func (p *parser) escapedStr(start int) (string, bool, error) {
	out := append(p.scratch[:0], p.b[start:p.i]...)
	defer func() { p.scratch = out[:0] }()
	for p.i < len(p.b) {
		c := p.b[p.i]
		if !strSpecial[c] || c >= 0x80 {
			// Copy the run up to the next quote, backslash or control.
			j := p.i + 1
			for j < len(p.b) && (!strSpecial[p.b[j]] || p.b[j] >= 0x80) {
				j++
			}
			out = append(out, p.b[p.i:j]...)
			p.i = j
			continue
		}
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", false, declined("invalid UTF-8")
			}
			return string(out), true, nil
		case c < 0x20:
			return "", false, declined("control character in string")
		}
		if p.i+1 >= len(p.b) {
			return "", false, declined("unterminated string")
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false, declined("bad escape")
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 >= len(p.b) || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return "", false, declined("lone surrogate")
				}
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return "", false, declined("bad escape")
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", false, declined("lone surrogate")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false, declined("bad escape")
		}
	}
	return "", false, declined("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// number reads a JSON number and returns its text. Its grammar is also
// FHIR's decimal value_regex.
func (p *parser) number() (string, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return "", declined("bad number")
	}
	if p.peek() == '.' {
		p.i++
		if p.digits() == 0 {
			return "", declined("bad number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if p.digits() == 0 {
			return "", declined("bad number")
		}
	}
	return p.s[start:p.i], nil
}

func (p *parser) digits() int {
	n := 0
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// literal reads true, false or null.
func (p *parser) literal(w string) bool {
	if len(p.b)-p.i >= len(w) && p.s[p.i:p.i+len(w)] == w {
		p.i += len(w)
		return true
	}
	return false
}

// skip moves past one value, checking it as strictly as the rest.
func (p *parser) skip(depth int) error {
	if depth > maxDecodeDepth {
		return declined("too deep")
	}
	switch c := p.peek(); {
	case c == '"':
		_, _, err := p.str()
		return err
	case c == '{' || c == '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		p.i++
		p.ws()
		if p.peek() == close {
			p.i++
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if p.peek() != '"' {
					return declined("bad object")
				}
				if _, _, err := p.str(); err != nil {
					return err
				}
				if err := p.colon(); err != nil {
					return err
				}
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			switch p.peek() {
			case ',':
				p.i++
				continue
			case close:
				p.i++
				return nil
			}
			return declined("bad JSON")
		}
	case c == 't':
		if p.literal("true") {
			return nil
		}
	case c == 'f':
		if p.literal("false") {
			return nil
		}
	case c == 'n':
		if p.literal("null") {
			return nil
		}
	default:
		_, err := p.number()
		return err
	}
	return declined("bad JSON")
}
