package store

import (
	"bytes"
	"encoding/binary"

	"github.com/relais-health/relais/fhir/search"
)

// Groups walks the index values a Filter is passed, one parameter group
// at a time in stored order, without allocating: a filter that needs a
// few parameters of every resource (the consent filter reads the patient
// and _security) finds them all in one pass instead of one IndexValues
// call, and one slice of strings, per parameter.
//
// The texts it returns are the store's own bytes (memory-mapped, read
// only): they must not be modified and are valid only during the Filter
// call. On malformed values a walk ends where the IndexValues methods stop
// reading too, so both see the same values.
type Groups struct {
	// The state is offsets into b rather than slices: a walk then stores
	// no pointers, so it pays no GC write barrier while a collection runs.
	// token is the exception, written only when Text reads a token whose
	// system is packed (a consent filter reads labels with Raw).
	b              []byte
	next           int // the next group
	param0, param1 int // the current group's parameter
	kind           search.Kind
	pos, end       int    // the current group's values not read yet
	left           int    // the current date group's ranges not read yet
	token          []byte // the last packed token Text expanded
}

// Groups returns a walk over v's groups. The store's IndexValues have this
// method; a filter finds it with GroupsOf.
func (v *storedValues) Groups() Groups { return Groups{b: v.b} }

// GroupsOf returns a walk over the groups of v when v is the store's own
// IndexValues (as a Filter is passed), and false for any other.
func GroupsOf(v IndexValues) (Groups, bool) {
	if sv, ok := v.(*storedValues); ok {
		return Groups{b: sv.b}, true
	}
	return Groups{}, false
}

// Next moves to the next group, reporting false after the last one. The
// lengths and count are almost always below 128, one byte each; groups
// that are not are read by groupReader, which checks the same bounds.
func (gs *Groups) Next() bool {
	b, i := gs.b, gs.next
	if i < len(b) {
		n := int(b[i])
		j := i + n + 4 // where the values start
		if n < 0x80 && j <= len(b) {
			count, size := int(b[j-2]), int(b[j-1])
			if 0 < count && count < 0x80 && size < 0x80 && size <= len(b)-j && count <= len(b)-j+2 {
				gs.param0, gs.param1, gs.kind = i+1, i+1+n, search.Kind(b[j-3])
				gs.pos, gs.end, gs.left, gs.next = j, j+size, count, j+size
				return true
			}
		}
	}
	return gs.slow()
}

// NextOf moves to the next group of parameter a or b (of any kind),
// reporting false when there is none. It skips the others faster than Next
// and Is would.
func (gs *Groups) NextOf(a, b string) bool {
	buf, i := gs.b, gs.next
	for i < len(buf) {
		n := int(buf[i])
		j := i + n + 4
		if n >= 0x80 || j > len(buf) {
			break
		}
		count, size := int(buf[j-2]), int(buf[j-1])
		if count == 0 || count >= 0x80 || size >= 0x80 || size > len(buf)-j || count > len(buf)-j+2 {
			break
		}
		if p := buf[i+1 : i+1+n]; (n == len(a) && string(p) == a) || (n == len(b) && string(p) == b) {
			gs.param0, gs.param1, gs.kind = i+1, i+1+n, search.Kind(buf[j-3])
			gs.pos, gs.end, gs.left, gs.next = j, j+size, count, j+size
			return true
		}
		i = j + size
	}
	gs.next = i
	for gs.slow() {
		if p := string(gs.b[gs.param0:gs.param1]); p == a || p == b {
			return true
		}
	}
	return false
}

// NextLeading is NextOf for leading parameters (keys.go: "_security",
// "patient", "subject"), whose groups come before all others: it stops at
// the first group of another parameter instead of reading to the end.
// a and b must be leading parameters (or empty) to be found.
func (gs *Groups) NextLeading(a, b string) bool {
	for gs.Next() {
		p := gs.b[gs.param0:gs.param1]
		if string(p) == a || string(p) == b {
			return true
		}
		if !isLeading(p) {
			gs.next, gs.pos, gs.end, gs.left = len(gs.b), 0, 0, 0
			return false
		}
	}
	return false
}

// Leading returns the bytes of the leading parameters' groups (keys.go),
// which start the values: two resources with equal Leading bytes have the
// same labels and the same patient and subject references. Like a Text it
// is valid during the Filter call only; it leaves the walk at its start.
func (gs *Groups) Leading() []byte {
	w := Groups{b: gs.b}
	end := 0
	// The leading groups come in the order of leading, any of them absent.
	for i := 0; i < len(leading) && w.Next(); {
		p := w.b[w.param0:w.param1]
		for i < len(leading) && string(p) != leading[i] {
			i++
		}
		if i == len(leading) {
			break
		}
		end, i = w.next, i+1
	}
	return gs.b[:end]
}

// HasLeading reports whether Leading would return lead (bytes it returned
// for another resource), reading no more than that and one group header:
// the values start with lead, and the group after it is not a leading one.
func (gs *Groups) HasLeading(lead []byte) bool {
	if len(gs.b) < len(lead) || !bytes.Equal(gs.b[:len(lead)], lead) {
		return false
	}
	w := Groups{b: gs.b, next: len(lead)}
	return !w.Next() || !isLeading(w.b[w.param0:w.param1])
}

func isLeading(param []byte) bool {
	for _, l := range leading {
		if string(param) == l {
			return true
		}
	}
	return false
}

// slow is Next for the groups whose lengths take more than one byte, and
// at the end or on malformed values.
func (gs *Groups) slow() bool {
	r := groupReader{b: gs.b[gs.next:]}
	g, ok := r.next()
	if !ok {
		gs.next, gs.pos, gs.end, gs.left = len(gs.b), 0, 0, 0
		return false
	}
	// g's slices are within gs.b: their offsets follow from their capacities.
	off := func(s []byte) int { return cap(gs.b) - cap(s) }
	gs.param0, gs.param1, gs.kind = off(g.param), off(g.param)+len(g.param), g.kind
	gs.pos, gs.end, gs.left = off(g.body), off(g.body)+len(g.body), g.count
	gs.next = gs.end
	return true
}

// Is reports whether the current group holds param's values of kind k.
func (gs *Groups) Is(param string, k search.Kind) bool {
	return gs.kind == k && string(gs.b[gs.param0:gs.param1]) == param
}

// Raw returns the current group's values not read yet as stored (before
// any Text or Date: all of them), for use as a key: equal lists of values
// are equal bytes. Like a Text, it is valid during the Filter call only.
func (gs *Groups) Raw() []byte { return gs.b[gs.pos:gs.end] }

// Text returns the current group's next token (as search.Extract wrote
// it: a packed system is spelled out, into a buffer the next Text call
// reuses), string or reference; ok is false when none is left (always for
// a date group).
func (gs *Groups) Text() (text []byte, ok bool) {
	b := gs.b[gs.pos:gs.end]
	if gs.kind == search.Date || len(b) == 0 {
		return nil, false
	}
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		gs.pos = gs.end
		return nil, false
	}
	gs.pos += w + int(n)
	text = b[w : w+int(n)]
	if gs.kind == search.Token && packedToken(text) {
		gs.token = appendTokenText(gs.token[:0], text)
		return gs.token, true
	}
	return text, true
}

// Date returns the current date group's next [start, end) range (Unix
// µs); ok is false when none is left (always for other kinds).
func (gs *Groups) Date() (start, end int64, ok bool) {
	b := gs.b[gs.pos:gs.end]
	if gs.kind != search.Date || gs.left == 0 || len(b) < 16 {
		return 0, 0, false
	}
	gs.pos, gs.left = gs.pos+16, gs.left-1
	return i64of(b[:8]), i64of(b[8:16]), true
}
