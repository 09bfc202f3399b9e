package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Key layouts. Type names and ids never contain a zero byte (FHIR ids are
// [A-Za-z0-9.-]{1,64}), so 0 separates them; integers are 8-byte big-endian
// so keys sort numerically; signed integers (times) have their sign bit
// flipped so negative values sort first.

var errBadKey = errors.New("malformed key")

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func i64key(v int64) []byte { return u64(uint64(v) ^ 1<<63) }

func i64of(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ 1<<63) }

// currentKey is type 0 id.
func currentKey(typ, id string) []byte {
	k := make([]byte, 0, len(typ)+1+len(id))
	k = append(k, typ...)
	k = append(k, 0)
	return append(k, id...)
}

// splitCurrentKey reverses currentKey.
func splitCurrentKey(k []byte) (typ, id string, err error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || i == len(k)-1 {
		return "", "", errBadKey
	}
	return string(k[:i]), string(k[i+1:]), nil
}

// typePrefix is type 0: the prefix of a type's keys in current, typelog and index.
func typePrefix(typ string) []byte { return append([]byte(typ), 0) }

// versionPrefix is type 0 id 0; versionKey appends the version.
func versionPrefix(typ, id string) []byte { return append(currentKey(typ, id), 0) }

func versionKey(typ, id string, v uint64) []byte {
	return append(versionPrefix(typ, id), u64(v)...)
}

// splitVersionKey reverses versionKey.
func splitVersionKey(k []byte) (typ, id string, v uint64, err error) {
	if len(k) < 8+4 || k[len(k)-9] != 0 {
		return "", "", 0, errBadKey
	}
	typ, id, err = splitCurrentKey(k[:len(k)-9])
	return typ, id, binary.BigEndian.Uint64(k[len(k)-8:]), err
}

// current values: version(8) flags(1) lastUpdated(8).
const flagDeleted = 1

type pointer struct {
	version     uint64
	deleted     bool
	lastUpdated int64 // Unix µs
}

func (p pointer) encode() []byte {
	b := make([]byte, 17)
	binary.BigEndian.PutUint64(b, p.version)
	if p.deleted {
		b[8] = flagDeleted
	}
	binary.BigEndian.PutUint64(b[9:], uint64(p.lastUpdated))
	return b
}

func decodePointer(b []byte) (pointer, error) {
	if len(b) != 17 {
		return pointer{}, fmt.Errorf("current pointer: %w", errBadKey)
	}
	return pointer{
		version:     binary.BigEndian.Uint64(b),
		deleted:     b[8]&flagDeleted != 0,
		lastUpdated: int64(binary.BigEndian.Uint64(b[9:])),
	}, nil
}

// version values: flags(1) method(1) lastUpdated(8) JSON.
const versionHeader = 10

func encodeVersion(deleted bool, method byte, lastUpdated int64, json []byte) []byte {
	b := make([]byte, versionHeader+len(json))
	if deleted {
		b[0] = flagDeleted
	}
	b[1] = method
	binary.BigEndian.PutUint64(b[2:], uint64(lastUpdated))
	copy(b[versionHeader:], json)
	return b
}

// indexKey is type 0 param 0 tag value 0 id. For dates value is the 8-byte
// bound the key orders by.
func indexKey(typ, param string, tag byte, value []byte, id string) []byte {
	k := make([]byte, 0, len(typ)+len(param)+len(value)+len(id)+4)
	k = indexPrefix(k, typ, param, tag)
	k = append(k, value...)
	k = append(k, 0)
	return append(k, id...)
}

// indexPrefix appends type 0 param 0 tag to k.
func indexPrefix(k []byte, typ, param string, tag byte) []byte {
	k = append(k, typ...)
	k = append(k, 0)
	k = append(k, param...)
	k = append(k, 0)
	return append(k, tag)
}

// idOfIndexKey returns the id at the end of an index key whose value part
// starts at offset off, and the value. Text values (fixed == 0) end at the
// last zero byte; date values are fixed-width.
func idOfIndexKey(k []byte, off, fixed int) (string, []byte, error) {
	if fixed > 0 {
		if len(k) < off+fixed+2 || k[off+fixed] != 0 {
			return "", nil, errBadKey
		}
		return string(k[off+fixed+1:]), k[off : off+fixed], nil
	}
	i := bytes.LastIndexByte(k, 0)
	if i < off {
		return "", nil, errBadKey
	}
	return string(k[i+1:]), k[off:i], nil
}

// logValue is type 0 id 0 version(8), the same as a version key.
func logValue(typ, id string, v uint64) []byte { return versionKey(typ, id, v) }

// encodeKeys and decodeKeys store a list of keys as uvarint-prefixed bytes.
func encodeKeys(keys [][]byte) []byte {
	n := 0
	for _, k := range keys {
		n += binary.MaxVarintLen32 + len(k)
	}
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func decodeKeys(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return nil, fmt.Errorf("idxrev: %w", errBadKey)
		}
		out = append(out, b[w:w+int(n)])
		b = b[w+int(n):]
	}
	return out, nil
}
