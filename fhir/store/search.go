package store

import (
	"bytes"
	"sort"
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
// (labels in _security, references, dates), so no JSON is parsed.
type Filter func(typ, id string, values IndexValues) bool

// IndexValues gives a filter the indexed facts of one resource.
type IndexValues interface {
	// Tokens returns the system|code tokens of param.
	Tokens(param string) []string
	// Refs returns the Type/id references of param.
	Refs(param string) []string
	// Dates returns the [start, end) ranges (Unix µs) of param.
	Dates(param string) [][2]int64
}

// Search runs q and returns every visible match, sorted, at the versions
// current in one consistent snapshot.
func (s *Store) Search(q *search.Query, filter Filter) ([]Hit, error) {
	var hits []Hit
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		hits, err = s.match(tx, q, filter)
		return err
	})
	return hits, err
}

// match evaluates q in tx.
func (s *Store) match(tx *bolt.Tx, q *search.Query, filter Filter) ([]Hit, error) {
	ids, all, err := candidates(tx, q)
	if err != nil {
		return nil, err
	}
	cur := tx.Bucket(bucketCurrent)
	var hits []Hit
	visit := func(id string, pv []byte) error {
		p, err := decodePointer(pv)
		if err != nil {
			return err
		}
		if p.deleted {
			return nil
		}
		if filter != nil && !filter(q.Type, id, &lazyValues{tx: tx, typ: q.Type, id: id}) {
			return nil
		}
		hits = append(hits, Hit{ID: id, Version: p.version, LastUpdated: p.lastUpdated})
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
	if err := sortHits(tx, q, hits); err != nil {
		return nil, err
	}
	return hits, nil
}

// candidates intersects the id sets of _id and every clause. all reports
// that there is no restriction (every resource of the type).
func candidates(tx *bolt.Tx, q *search.Query) (ids map[string]struct{}, all bool, err error) {
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
		for _, c := range cl.Conds {
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

// scan adds to set the ids whose index entries satisfy c.
func scan(idx *bolt.Bucket, typ, param string, c search.Cond, set map[string]struct{}) error {
	if c.Tag == 'd' {
		return scanDate(idx, typ, param, c, set)
	}
	prefix := indexPrefix(nil, typ, param, c.Tag)
	off := len(prefix)
	seek := append(bytes.Clone(prefix), c.Key...)
	if !c.Prefix && !c.Contains {
		seek = append(seek, 0)
	}
	if c.Contains {
		seek = prefix
	}
	cur := idx.Cursor()
	for k, _ := cur.Seek(seek); k != nil && bytes.HasPrefix(k, seek); k, _ = cur.Next() {
		id, val, err := idOfIndexKey(k, off, 0)
		if err != nil {
			return err
		}
		if c.Contains && !strings.Contains(string(val), c.Key) {
			continue
		}
		set[id] = struct{}{}
	}
	return nil
}

// scanDate walks the start-ordered ('d') or end-ordered ('e') date index,
// whichever bounds the comparison, and checks each range exactly. Date
// index values are primary bound(8) other bound(8).
func scanDate(idx *bolt.Bucket, typ, param string, c search.Cond, set map[string]struct{}) error {
	tag, from, to := byte('d'), int64(-1<<63), int64(1<<63-1)
	switch c.Cmp {
	case "eq":
		from, to = c.Start, c.End
	case "lt", "le", "eb":
		to = c.End // starts at or after the query's end cannot match
	case "gt", "ge", "sa":
		tag, from = 'e', c.Start // ends at or before the query's start cannot match
	}
	prefix := indexPrefix(nil, typ, param, tag)
	off := len(prefix)
	cur := idx.Cursor()
	for k, _ := cur.Seek(append(bytes.Clone(prefix), i64key(from)...)); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		id, val, err := idOfIndexKey(k, off, 16)
		if err != nil {
			return err
		}
		primary, other := i64of(val[:8]), i64of(val[8:])
		if tag == 'd' && primary >= to {
			break
		}
		start, end := primary, other
		if tag == 'e' {
			start, end = other, primary
		}
		if c.Matches(start, end) {
			set[id] = struct{}{}
		}
	}
	return nil
}

// lazyValues reads a resource's index entries from idxrev on first use.
type lazyValues struct {
	tx      *bolt.Tx
	typ, id string
	keys    [][]byte
	loaded  bool
}

func (l *lazyValues) load() [][]byte {
	if !l.loaded {
		l.loaded = true
		if v := l.tx.Bucket(bucketIdxRev).Get(currentKey(l.typ, l.id)); v != nil {
			l.keys, _ = decodeKeys(v)
		}
	}
	return l.keys
}

// values returns the value parts of the entries of param with tag.
func (l *lazyValues) values(param string, tag byte, fixed int) [][]byte {
	prefix := indexPrefix(nil, l.typ, param, tag)
	var out [][]byte
	for _, k := range l.load() {
		if bytes.HasPrefix(k, prefix) {
			if _, v, err := idOfIndexKey(k, len(prefix), fixed); err == nil {
				out = append(out, v)
			}
		}
	}
	return out
}

// Tokens implements IndexValues.
func (l *lazyValues) Tokens(param string) []string { return strs(l.values(param, 't', 0)) }

// Refs implements IndexValues.
func (l *lazyValues) Refs(param string) []string { return strs(l.values(param, 'r', 0)) }

// Dates implements IndexValues.
func (l *lazyValues) Dates(param string) [][2]int64 {
	var out [][2]int64
	for _, v := range l.values(param, 'd', 16) {
		out = append(out, [2]int64{i64of(v[:8]), i64of(v[8:])})
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// sortHits orders hits by q.Sort, then by _lastUpdated descending, then id.
func sortHits(tx *bolt.Tx, q *search.Query, hits []Hit) error {
	keys := q.Sort
	for i := range hits {
		h := &hits[i]
		h.sortKey = make([]int64, len(keys))
		for j, k := range keys {
			switch k.Param {
			case "_lastUpdated":
				h.sortKey[j] = h.LastUpdated
			case "_id":
			default:
				lv := &lazyValues{tx: tx, typ: q.Type, id: h.ID}
				h.sortKey[j] = earliest(lv.values(k.Param, 'd', 16))
			}
		}
	}
	sort.SliceStable(hits, func(a, b int) bool {
		ha, hb := &hits[a], &hits[b]
		for j, k := range keys {
			if k.Param == "_id" {
				if ha.ID != hb.ID {
					return (ha.ID < hb.ID) != k.Desc
				}
				continue
			}
			if ha.sortKey[j] != hb.sortKey[j] {
				return (ha.sortKey[j] < hb.sortKey[j]) != k.Desc
			}
		}
		if ha.LastUpdated != hb.LastUpdated {
			return ha.LastUpdated > hb.LastUpdated
		}
		return ha.ID < hb.ID
	})
	return nil
}

// earliest is the smallest start among date values; resources without the
// parameter sort last.
func earliest(vs [][]byte) int64 {
	best := int64(1<<63 - 1)
	for _, v := range vs {
		if s := i64of(v[:8]); s < best {
			best = s
		}
	}
	return best
}

// Refs returns the Type/id references param holds in the current version of
// typ/id (for _include).
func (s *Store) Refs(typ, id, param string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		lv := &lazyValues{tx: tx, typ: typ, id: id}
		out = lv.Refs(param)
		return nil
	})
	return out, err
}
