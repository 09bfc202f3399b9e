package store

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// Change is one write of a resource, as the change log holds it.
type Change struct {
	Seq     uint64 // the change log's sequence number
	Type    string
	ID      string
	Version uint64
}

// ChangesAfter lists, oldest first, at most limit changes of typ whose
// sequence number is above after: a consumer that acts on writes (routing
// acts on finished stays) reads them in order from its Cursor, so that a
// write committed while it was stopped is still acted on.
func (s *Store) ChangesAfter(typ string, after uint64, limit int) (out []Change, err error) {
	err = s.View(func(r *Snapshot) error {
		out, err = r.ChangesAfter(typ, after, limit)
		return err
	})
	return out, err
}

// ChangesAfter is Store.ChangesAfter in r.
func (r *Snapshot) ChangesAfter(typ string, after uint64, limit int) ([]Change, error) {
	var out []Change
	prefix := typePrefix(typ)
	c := r.tx.Bucket(bucketTypeLog).Cursor()
	for k, v := c.Seek(append(bytes.Clone(prefix), u64(after+1)...)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			return nil, errBadKey
		}
		id, ver, ok := bytes.Cut(v, []byte{0})
		if !ok || len(ver) != 8 {
			return nil, errBadKey
		}
		out = append(out, Change{Seq: binary.BigEndian.Uint64(k[len(prefix):]), Type: typ, ID: string(id), Version: binary.BigEndian.Uint64(ver)})
	}
	return out, nil
}

// Cursor returns the position of the consumer name in the change log (0
// before its first SetCursor).
func (s *Store) Cursor(name string) (seq uint64, err error) {
	err = s.View(func(r *Snapshot) error {
		if v := r.tx.Bucket(bucketMeta).Get(append(bytes.Clone(keyCursorPrefix), name...)); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return seq, err
}

// SetCursor records the position of the consumer name in the change log.
func (s *Store) SetCursor(ctx context.Context, name string, seq uint64) error {
	w := s.begin()
	defer w.end()
	return s.commit(ctx, w, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(append(bytes.Clone(keyCursorPrefix), name...), u64(seq))
	}, false)
}

// TypesUnchangedSince reports whether no resource of the given types was
// written after the change log's sequence gen in r. Unlike
// TypesGeneration it also answers inside a write transaction: a value
// derived at gen from those types alone still holds there.
func (r *Snapshot) TypesUnchangedSince(gen uint64, types ...string) bool {
	return gen != 0 && r.typesSequence(types) == gen
}

// TypesGeneration is Generation for the resources of the given types only:
// the sequence number of the newest change to any of them in r (0 when
// none was ever written). A value derived from those types alone (the
// directory's index) is reused while it stays the same, whatever else is
// written.
func (r *Snapshot) TypesGeneration(types ...string) uint64 {
	if r.tx.Writable() {
		return 0
	}
	return r.typesSequence(types)
}

// typesSequence is the sequence of the newest change to types in r.
func (r *Snapshot) typesSequence(types []string) uint64 {
	var gen uint64
	c := r.tx.Bucket(bucketTypeLog).Cursor()
	for _, typ := range types {
		prefix := typePrefix(typ)
		if k, _ := seekLast(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 {
			gen = max(gen, binary.BigEndian.Uint64(k[len(prefix):]))
		}
	}
	return gen
}
