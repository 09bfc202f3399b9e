package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/search"
)

// Hit is one search match: a resource at its current version.
type Hit struct {
	ID          string
	Version     uint64
	LastUpdated int64
	sortKey     []int64
}

// Filter decides whether a caller may see a matching resource; it is applied
// before paging and counting. Values are the resource's index entries
// (labels in _security, references, dates), so no JSON is parsed. r is the
// snapshot the search runs in: whatever else the filter reads, it reads
// there (see Snapshot).
type Filter func(r *Snapshot, typ, id string, values IndexValues) bool

// IndexValues gives a filter the indexed facts of one resource. They are
// read from the values stored with the current pointer, which the search
// has already found, so a filter costs no further lookup. An IndexValues is
// valid only during the Filter call it is passed to.
type IndexValues interface {
	// Tokens returns the system|code tokens of param.
	Tokens(param string) []string
	// Refs returns the Type/id references of param.
	Refs(param string) []string
	// Dates returns the [start, end) ranges (Unix µs) of param.
	Dates(param string) [][2]int64
}

// Search is Snapshot.Search in a snapshot of its own.
func (s *Store) Search(q *search.Query, filter Filter) (hits []Hit, err error) {
	err = s.View(func(r *Snapshot) error {
		hits, err = r.Search(q, filter)
		return err
	})
	return hits, err
}

// Search runs q and returns every match filter allows, sorted, at the
// versions current in the snapshot.
func (r *Snapshot) Search(q *search.Query, filter Filter) ([]Hit, error) {
	return match(r, q, filter)
}

// match evaluates q in r's transaction (a write transaction too, for the
// conditional writes).
func match(r *Snapshot, q *search.Query, filter Filter) ([]Hit, error) {
	tx := r.tx
	if r.pending != nil {
		if err := r.pending.flush(writable(tx, bucketIndex)); err != nil {
			return nil, err
		}
	}
	ids, all, err := candidates(r, q, filter)
	if err != nil {
		return nil, err
	}
	cur := tx.Bucket(bucketCurrent)
	var hits []Hit
	fv := &storedValues{}
	exact := q.Exact()
	visit := func(id string, pv []byte) error {
		p, err := decodePointer(pv)
		if err != nil {
			return err
		}
		if p.deleted {
			return nil
		}
		fv.reset(pv[pointerSize:])
		for _, m := range q.Missing {
			if fv.has(m.Param) == m.Missing {
				return nil
			}
		}
		// Before the filter, which must see only matches.
		if exact {
			if ok, err := r.matchesExact(q, id, p); err != nil || !ok {
				return err
			}
		}
		if filter != nil && !filter(r, q.Type, id, fv) {
			return nil
		}
		hits = append(hits, Hit{ID: id, Version: p.version, LastUpdated: p.lastUpdated, sortKey: sortKey(q.Sort, fv.b)})
		return nil
	}
	if all {
		prefix := typePrefix(q.Type)
		c := cur.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if err := visit(string(k[len(prefix):]), v); err != nil {
				return nil, err
			}
		}
	} else {
		for id := range ids {
			if pv := cur.Get(currentKey(q.Type, id)); pv != nil {
				if err := visit(id, pv); err != nil {
					return nil, err
				}
			}
		}
	}
	sortHits(q, hits)
	return hits, nil
}

// matchesExact decides q's :exact conditions on the resource itself, at
// the version p points to: the index holds normalised strings
// (search.Normalize), which only narrow :exact down.
func (r *Snapshot) matchesExact(q *search.Query, id string, p pointer) (bool, error) {
	rec, err := r.versionAt(q.Type, id, p.created, p.version)
	if err != nil {
		return false, err
	}
	res, err := r.s.codec.DecodeStored(rec.JSON)
	if err != nil {
		return false, fmt.Errorf("decode %s/%s for :exact: %w", q.Type, id, err)
	}
	return q.MatchExact(res), nil
}

// candidates intersects the id sets of _id and every clause. all reports
// that there is no restriction (every resource of the type). A chained
// clause matches the references to what its own search finds in r
// (https://hl7.org/fhir/R4/search.html#chaining), through filter: a
// chain never tests a resource the caller may not see.
func candidates(r *Snapshot, q *search.Query, filter Filter) (ids map[string]struct{}, all bool, err error) {
	tx := r.tx
	all = true
	if q.IDs != nil {
		ids = make(map[string]struct{}, len(q.IDs))
		for _, id := range q.IDs {
			ids[id] = struct{}{}
		}
		all = false
	}
	idx := tx.Bucket(bucketIndex)
	for _, cl := range q.Clauses {
		set := map[string]struct{}{}
		conds := cl.Conds
		if cl.Chain != nil {
			hits, err := match(r, cl.Chain, filter)
			if err != nil {
				return nil, false, err
			}
			conds = make([]search.Cond, len(hits))
			for i, h := range hits {
				conds[i] = search.Cond{Tag: 'r', Key: cl.Chain.Type + "/" + h.ID}
			}
		}
		for _, c := range conds {
			if err := scan(idx, q.Type, cl.Param.Name, c, set); err != nil {
				return nil, false, err
			}
		}
		if all {
			ids, all = set, false
		} else {
			for id := range ids {
				if _, ok := set[id]; !ok {
					delete(ids, id)
				}
			}
		}
		if len(ids) == 0 {
			return ids, false, nil
		}
	}
	return ids, all, nil
}

// scan adds to set the ids whose index entries satisfy c. Tokens and
// references are keyed by their second part first (keys.go): code alone and
// system|code, id alone and Type/id are each a prefix of those keys; a
// search for any code of a system ("system|") reads the parameter's keys
// and compares the systems.
func scan(idx *bolt.Bucket, typ, param string, c search.Cond, set map[string]struct{}) error {
	var (
		tag          byte
		first, after string // the key's value starts with first 0 after
		exact        = true // first is the whole first part
		system       string // "system|": every key of the parameter, this system
		anySystem    bool
	)
	switch c.Tag {
	case 'd':
		return scanDate(idx, typ, param, c, set)
	case 'c':
		tag, first = tagToken, c.Key
	case 't':
		sys, code, _ := cutBar(c.Key)
		if c.Prefix {
			tag, system, anySystem = tagToken, keySystem(sys), true
			break
		}
		tag, first, after = tagToken, code, keySystem(sys)+"\x00"
	case 'i':
		tag, first = tagRef, c.Key
	case 'r':
		rtyp, rid, _ := cutSlash(c.Key)
		tag, first, after = tagRef, rid, rtyp+"\x00"
	case 's':
		tag, first, exact = tagString, c.Key, !c.Prefix && !c.Contains
	default:
		return fmt.Errorf("search condition tag %q: %w", c.Tag, errBadKey)
	}
	parts := 2
	if tag == tagString {
		parts = 1
	}
	prefix := indexPrefix(nil, typ, param, tag)
	off := len(prefix)
	seek := prefix
	if !anySystem && !c.Contains {
		seek = append(bytes.Clone(prefix), first...)
		if exact {
			seek = append(append(seek, 0), after...)
		}
	}
	cur := idx.Cursor()
	for k, _ := cur.Seek(seek); k != nil && bytes.HasPrefix(k, seek); k, _ = cur.Next() {
		val, id, err := splitIndexKey(k, off, parts)
		if err != nil {
			return err
		}
		switch {
		case c.Contains && !strings.Contains(string(val), c.Key):
			continue
		case anySystem:
			if _, sys, ok := bytes.Cut(val, []byte{0}); !ok || string(sys) != system {
				continue
			}
		}
		set[id] = struct{}{}
	}
	return nil
}

// scanDate walks the start-ordered ('d') or end-ordered ('e') date index,
// whichever bounds the comparison, and checks each range exactly. Date
// index values are primary bound(8) other bound(8).
func scanDate(idx *bolt.Bucket, typ, param string, c search.Cond, set map[string]struct{}) error {
	tag, from, to := byte(tagStart), int64(-1<<63), int64(1<<63-1)
	switch c.Cmp {
	case "eq":
		from, to = c.Start, c.End
	case "lt", "le", "eb":
		to = c.End // starts at or after the query's end cannot match
	case "gt", "ge", "sa":
		tag, from = tagEnd, c.Start // ends at or before the query's start cannot match
	}
	prefix := indexPrefix(nil, typ, param, tag)
	off := len(prefix)
	cur := idx.Cursor()
	for k, _ := cur.Seek(append(bytes.Clone(prefix), i64key(from)...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		val, id, err := splitIndexKey(k, off, 0)
		if err != nil {
			return err
		}
		primary, other := i64of(val[:8]), i64of(val[8:])
		if tag == tagStart && primary >= to {
			break
		}
		start, end := primary, other
		if tag == tagEnd {
			start, end = other, primary
		}
		if c.Matches(start, end) {
			set[id] = struct{}{}
		}
	}
	return nil
}

// storedValues serves IndexValues from the encoded values of a current
// pointer (keys.go). One storedValues serves a whole search: the groups of
// the resource at hand are parsed once whatever the number of calls, and
// texts that recur across resources (the patient, the category labels) are
// allocated once per search.
type storedValues struct {
	b      []byte
	groups []valueGroup // parsed from b when parsed
	parsed bool
	recent [4]string // the last texts returned, checked before intern
	next   int
	intern map[string]string
}

// maxIntern bounds the texts a search keeps.
const maxIntern = 4096

// reset points v at the encoded values of another resource.
func (v *storedValues) reset(b []byte) {
	v.b, v.groups, v.parsed = b, v.groups[:0], false
}

func (v *storedValues) all() []valueGroup {
	if !v.parsed {
		v.parsed = true
		r := groupReader{b: v.b}
		for g, ok := r.next(); ok; g, ok = r.next() {
			v.groups = append(v.groups, g)
		}
	}
	return v.groups
}

// has reports whether the resource has a value of param (the groups hold
// only parameters with values).
func (v *storedValues) has(param string) bool {
	groups := v.all()
	for i := range groups {
		if g := &groups[i]; len(g.param) == len(param) && string(g.param) == param && g.count > 0 {
			return true
		}
	}
	return false
}

// texts returns the texts of param's values of kind k.
func (v *storedValues) texts(param string, k search.Kind) []string {
	var out []string
	groups := v.all()
	for i := range groups {
		g := &groups[i]
		if g.kind != k || len(g.param) != len(param) || string(g.param) != param {
			continue
		}
		if out == nil {
			out = make([]string, 0, g.count)
		}
		for b := g.body; len(b) > 0; {
			n, w := binary.Uvarint(b)
			if w <= 0 || n > uint64(len(b)-w) {
				break
			}
			if text := b[w : w+int(n)]; k == search.Token && packedToken(text) {
				out = append(out, v.token(text))
			} else {
				out = append(out, v.str(text))
			}
			b = b[w+int(n):]
		}
	}
	return out
}

// str returns text as a string, shared with earlier equal texts.
func (v *storedValues) str(text []byte) string {
	for _, s := range v.recent {
		if len(s) == len(text) && s == string(text) {
			return s
		}
	}
	s, ok := v.intern[string(text)]
	if !ok {
		s = string(text)
		if v.intern == nil {
			v.intern = make(map[string]string)
		}
		if len(v.intern) < maxIntern {
			v.intern[s] = s
		}
	}
	v.recent[v.next] = s
	v.next = (v.next + 1) % len(v.recent)
	return s
}

// token returns a packed token text as search.Extract wrote it, shared
// with earlier equal texts: the labels every resource carries are
// expanded once per search.
func (v *storedValues) token(text []byte) string {
	if s, ok := v.intern[string(text)]; ok {
		return s // a packed text is never a key of an unpacked one
	}
	s := string(appendTokenText(nil, text))
	if v.intern == nil {
		v.intern = make(map[string]string)
	}
	if len(v.intern) < maxIntern {
		v.intern[string(text)] = s
	}
	return s
}

// Tokens implements IndexValues.
func (v *storedValues) Tokens(param string) []string { return v.texts(param, search.Token) }

// Refs implements IndexValues.
func (v *storedValues) Refs(param string) []string { return v.texts(param, search.Reference) }

// Dates implements IndexValues.
func (v *storedValues) Dates(param string) [][2]int64 {
	var out [][2]int64
	for _, g := range v.all() {
		if g.kind == search.Date && string(g.param) == param {
			_ = g.each(func(_ []byte, start, end int64) { out = append(out, [2]int64{start, end}) })
		}
	}
	return out
}

// earliest is the smallest start among param's dates in the encoded values
// b; resources without the parameter sort last.
func earliest(b []byte, param string) int64 {
	best := int64(1<<63 - 1)
	r := groupReader{b: b}
	for g, ok := r.next(); ok; g, ok = r.next() {
		if g.kind == search.Date && string(g.param) == param {
			_ = g.each(func(_ []byte, start, _ int64) { best = min(best, start) })
		}
	}
	return best
}

// sortKey gives a hit the date keys of q's sort, from its encoded values.
func sortKey(keys []search.SortKey, values []byte) []int64 {
	if len(keys) == 0 {
		return nil
	}
	out := make([]int64, len(keys))
	for j, k := range keys {
		if k.Param != "_lastUpdated" && k.Param != "_id" {
			out[j] = earliest(values, k.Param)
		}
	}
	return out
}

// sortHits orders hits by q.Sort, then by _lastUpdated descending, then id.
// Ids are unique, so the order is total and need not be a stable sort.
func sortHits(q *search.Query, hits []Hit) {
	keys := q.Sort
	slices.SortFunc(hits, func(ha, hb Hit) int {
		for j, k := range keys {
			var c int
			switch k.Param {
			case "_id":
				c = strings.Compare(ha.ID, hb.ID)
			case "_lastUpdated":
				c = cmp.Compare(ha.LastUpdated, hb.LastUpdated)
			default:
				c = cmp.Compare(ha.sortKey[j], hb.sortKey[j])
			}
			if c != 0 {
				if k.Desc {
					return -c
				}
				return c
			}
		}
		if c := cmp.Compare(hb.LastUpdated, ha.LastUpdated); c != 0 {
			return c
		}
		return strings.Compare(ha.ID, hb.ID)
	})
}

// Refs is Snapshot.Refs in a snapshot of its own.
func (s *Store) Refs(typ, id, param string) (out []string, err error) {
	err = s.View(func(r *Snapshot) error {
		out = r.Refs(typ, id, param)
		return nil
	})
	return out, err
}

// Refs returns the Type/id references param holds in the current version of
// typ/id (for _include).
func (r *Snapshot) Refs(typ, id, param string) []string {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if len(pv) > pointerSize {
		return (&storedValues{b: pv[pointerSize:]}).Refs(param)
	}
	return nil
}
