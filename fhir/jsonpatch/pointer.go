package jsonpatch

import (
	"errors"
	"slices"
	"strings"
)

// pointer is a JSON Pointer (RFC 6901) as its reference tokens, unescaped.
// The empty pointer designates the whole document.
type pointer []string

var errPointerSyntax = errors.New("pointer syntax")

// parsePointer reads a JSON Pointer (RFC 6901 §3): empty, or '/' followed
// by tokens separated by '/', in which '~' is only ever followed by '0'
// ('~') or '1' ('/'). Reading '~' and its digit together is the same as
// the order §4 prescribes ("~1" first, then "~0"), so "~01" is "~1".
func parsePointer(s string) (pointer, error) {
	if s == "" {
		return pointer{}, nil
	}
	if s[0] != '/' {
		return nil, errPointerSyntax
	}
	if strings.Count(s, "/") > maxPointerDepth {
		return nil, errPointerDepth
	}
	var p pointer
	for _, tok := range strings.Split(s[1:], "/") {
		if !strings.Contains(tok, "~") {
			p = append(p, tok)
			continue
		}
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			if tok[i] != '~' {
				b.WriteByte(tok[i])
				continue
			}
			if i+1 == len(tok) || (tok[i+1] != '0' && tok[i+1] != '1') {
				return nil, errPointerSyntax
			}
			if tok[i+1] == '0' {
				b.WriteByte('~')
			} else {
				b.WriteByte('/')
			}
			i++
		}
		p = append(p, b.String())
	}
	return p, nil
}

var errPointerDepth = errors.New("pointer depth")

// isProperPrefix reports whether p designates a value strictly inside q's.
func (p pointer) isProperPrefix(q pointer) bool {
	return len(p) < len(q) && slices.Equal(p, q[:len(p)])
}

// arrayIndex reads an array index token (RFC 6901 §4): "0" or digits not
// starting with 0, below n; "-" (the element after the last) and n itself
// only if end is allowed, as for add.
func arrayIndex(tok string, n int, end bool) (int, bool) {
	if tok == "-" {
		return n, end
	}
	if tok == "" || len(tok) > 10 || (tok[0] == '0' && len(tok) > 1) {
		return 0, false
	}
	i := 0
	for _, c := range []byte(tok) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	if i > n || (i == n && !end) {
		return 0, false
	}
	return i, true
}

// resolve returns the value p designates in v.
func resolve(v value, p pointer) (value, bool) {
	for _, tok := range p {
		switch c := v.(type) {
		case *object:
			i := c.find(tok)
			if i < 0 {
				return nil, false
			}
			v = c.members[i].val
		case *array:
			i, ok := arrayIndex(tok, len(c.elems), false)
			if !ok {
				return nil, false
			}
			v = c.elems[i]
		default:
			return nil, false
		}
	}
	return v, true
}
