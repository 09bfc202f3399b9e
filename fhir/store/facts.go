package store

import (
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
	b              []byte
	next           int // the next group
	param0, param1 int // the current group's parameter
	kind           search.Kind
	pos, end       int // the current group's values not read yet
	left           int // the current date group's ranges not read yet
}

// Groups returns a walk over v's groups. The store's IndexValues have this
// method; a filter finds it with a type assertion to an interface of its
// own.
func (v *storedValues) Groups() Groups { return Groups{b: v.b} }

// Next moves to the next group, reporting false after the last one. The
// lengths and count are almost always below 128, one byte each; groups
// that are not are read by groupReader, which checks the same bounds.
func (gs *Groups) Next() bool {
	b := gs.b[gs.next:]
	if len(b) > 0 && b[0] < 0x80 {
		n := int(b[0])
		if len(b) >= n+4 {
			count, size := b[n+2], b[n+3]
			if count < 0x80 && count > 0 && size < 0x80 && int(size) <= len(b)-n-4 && int(count) <= len(b)-n-2 {
				at := gs.next
				gs.param0, gs.param1, gs.kind = at+1, at+1+n, search.Kind(b[1+n])
				gs.pos, gs.end, gs.left = at+n+4, at+n+4+int(size), int(count)
				gs.next = gs.end
				return true
			}
		}
	}
	r := groupReader{b: b}
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

// Text returns the current group's next token, string or reference; ok is
// false when none is left (always for a date group).
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
	return b[w : w+int(n)], true
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
