package jsonpatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// A value is a JSON value as the patch works on it: *object, *array,
// string, json.Number, bool or nil. Objects keep their members' order and
// numbers their text, so that what no operation touches comes out as it
// went in (apart from white space).
type value = any

// object is a JSON object whose members keep their order.
type object struct{ members []member }

type member struct {
	key string
	val value
}

// array is a JSON array; a pointer, so that it can grow in place.
type array struct{ elems []value }

func (o *object) find(key string) int {
	for i := range o.members {
		if o.members[i].key == key {
			return i
		}
	}
	return -1
}

// parse reads one JSON value. The input has passed strictjson.Check, so it
// is valid JSON with unique keys and nesting bounded by that check.
func parse(b []byte) (value, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	v, err := parseValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func parseValue(d *json.Decoder) (value, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		o := &object{}
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseValue(d)
			if err != nil {
				return nil, err
			}
			o.members = append(o.members, member{key: k.(string), val: v})
		}
		_, err := d.Token() // '}'
		return o, err
	case json.Delim('['):
		a := &array{}
		for d.More() {
			v, err := parseValue(d)
			if err != nil {
				return nil, err
			}
			a.elems = append(a.elems, v)
		}
		_, err := d.Token() // ']'
		return a, err
	}
	return tok, nil
}

// write appends v as compact JSON.
func write(buf *bytes.Buffer, v value) {
	switch v := v.(type) {
	case *object:
		buf.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, m.key)
			buf.WriteByte(':')
			write(buf, m.val)
		}
		buf.WriteByte('}')
	case *array:
		buf.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				buf.WriteByte(',')
			}
			write(buf, e)
		}
		buf.WriteByte(']')
	case string:
		writeString(buf, v)
	case json.Number:
		buf.WriteString(string(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case nil:
		buf.WriteString("null")
	}
}

// writeString writes s as a JSON string, escaping only what RFC 8259 §7
// requires (the quote, the backslash and control characters): unlike
// encoding/json, it leaves <, > and & alone, as the codec prints them.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf.WriteString(s[start:i])
		switch c {
		case '"', '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// clone returns a deep copy of v and the number of values in it.
func clone(v value) (value, int) {
	switch v := v.(type) {
	case *object:
		o := &object{members: make([]member, len(v.members))}
		n := 1
		for i, m := range v.members {
			c, k := clone(m.val)
			o.members[i] = member{key: m.key, val: c}
			n += k
		}
		return o, n
	case *array:
		a := &array{elems: make([]value, len(v.elems))}
		n := 1
		for i, e := range v.elems {
			c, k := clone(e)
			a.elems[i] = c
			n += k
		}
		return a, n
	}
	return v, 1
}

// count returns the number of values in v.
func count(v value) int {
	switch v := v.(type) {
	case *object:
		n := 1
		for _, m := range v.members {
			n += count(m.val)
		}
		return n
	case *array:
		n := 1
		for _, e := range v.elems {
			n += count(e)
		}
		return n
	}
	return 1
}

// equal is the equality of RFC 6902 §4.6: same type; strings with the
// same code points; numbers numerically equal; arrays element by element;
// objects with the same members in any order.
func equal(a, b value) bool {
	switch a := a.(type) {
	case *object:
		b, ok := b.(*object)
		if !ok || len(a.members) != len(b.members) {
			return false
		}
		for _, m := range a.members {
			j := b.find(m.key)
			if j < 0 || !equal(m.val, b.members[j].val) {
				return false
			}
		}
		return true
	case *array:
		b, ok := b.(*array)
		if !ok || len(a.elems) != len(b.elems) {
			return false
		}
		for i := range a.elems {
			if !equal(a.elems[i], b.elems[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		return ok && numbersEqual(string(a), string(b))
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case nil:
		return b == nil
	}
	return false
}

// numbersEqual compares two RFC 8259 numbers by value (1, 1.0 and 1e0 are
// equal) without converting them to floats, which would round.
func numbersEqual(a, b string) bool {
	if a == b {
		return true
	}
	na, da, ea, okA := decimal(a)
	nb, db, eb, okB := decimal(b)
	if !okA || !okB {
		return false // exponents beyond int64: equal only as text
	}
	if da == "" || db == "" {
		return da == db // zero, whatever its sign
	}
	return na == nb && da == db && ea == eb
}

// decimal writes a valid JSON number as ±0.digits × 10^exp with no
// leading or trailing zero in digits; zero has no digits.
func decimal(s string) (neg bool, digits string, exp int64, ok bool) {
	neg = strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, e, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		var err error
		if exp, err = strconv.ParseInt(e, 10, 64); err != nil {
			return false, "", 0, false
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	all := strings.TrimLeft(intPart+frac, "0")
	// The point sits after intPart; leading zeros removed move it left.
	point := int64(len(intPart)) - int64(len(intPart+frac)-len(all))
	digits = strings.TrimRight(all, "0")
	if digits == "" {
		return neg, "", 0, true
	}
	if (exp > 0 && point > maxInt64-exp) || (exp < 0 && point < minInt64-exp) {
		return false, "", 0, false
	}
	return neg, digits, exp + point, true
}

const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)
