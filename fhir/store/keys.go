package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/search"
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

// historyPrefix is type 0 created(8) id 0, the prefix of a resource's keys
// in the history bucket; historyKey appends the version. The versions of
// resources stored together are adjacent, so that storing new resources
// appends instead of writing one page per resource wherever its id falls
// (storage version 5; versions stored before stay in the versions bucket,
// under versionKey).
func historyPrefix(typ string, created int64, id string) []byte {
	k := make([]byte, 0, len(typ)+len(id)+10+8)
	k = append(append(k, typ...), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(created)^1<<63)
	return append(append(k, id...), 0)
}

func historyKey(typ string, created int64, id string, v uint64) []byte {
	return append(historyPrefix(typ, created, id), u64(v)...)
}

// splitVersionKey reverses versionKey.
func splitVersionKey(k []byte) (typ, id string, v uint64, err error) {
	if len(k) < 8+4 || k[len(k)-9] != 0 {
		return "", "", 0, errBadKey
	}
	typ, id, err = splitCurrentKey(k[:len(k)-9])
	return typ, id, binary.BigEndian.Uint64(k[len(k)-8:]), err
}

// current values: version(8) flags(1) lastUpdated(8) values. values (since
// storage version 2) are the index values of the current version (none for a
// deletion), so that a search filter reads them with the pointer it already
// has and a write finds the index keys to replace without another lookup.
// They are grouped by parameter, one group per parameter: first the
// leading parameters (below) in their order, then the others by name. A
// reader skips the groups it does not want by their size, and a reader
// that wants only leading parameters stops at the first other group:
//
//	group: len(param) uvarint, param, kind(1) ('t' 's' 'r' 'd'), count uvarint,
//	       len(body) uvarint, body: count × value
//	value: token, string, reference: len uvarint, text; date: start(8) end(8)
//
// A token's text is system|code, its system packed when keySystem packs it
// (since storage version 12: appendToken).
//
// Dates are sign-flipped big-endian Unix µs, as in index keys.
const flagDeleted = 1

// The pointer (storage version 5): version(8) flags(1) lastUpdated(8)
// created(8) eventTime(8), then the values. created is when the resource
// was first stored (Unix µs; for resources stored before version 5, their
// last update then): index keys carry it before the id (indexKey), so that
// the keys of resources stored together sit together. eventTime is the
// time of the newest event that wrote the resource (TxEntry.EventTime),
// noTime when none. Versions 1 to 4 had the first 17 bytes only
// (pointerSizeV4; version 4 kept event times in a bucket of their own).
const (
	pointerSize   = 33
	pointerSizeV4 = 17
)

type pointer struct {
	version     uint64
	deleted     bool
	lastUpdated int64 // Unix µs
	created     int64 // Unix µs
	eventTime   int64 // Unix µs, noTime: none
}

// noTime stands for "no event time".
const noTime = math.MinInt64

// encode renders p followed by values (the output of encodeValues).
func (p pointer) encode(values []byte) []byte {
	b := make([]byte, pointerSize, pointerSize+len(values))
	binary.BigEndian.PutUint64(b, p.version)
	if p.deleted {
		b[8] = flagDeleted
	}
	binary.BigEndian.PutUint64(b[9:], uint64(p.lastUpdated))
	binary.BigEndian.PutUint64(b[17:], uint64(p.created))
	binary.BigEndian.PutUint64(b[25:], uint64(p.eventTime))
	return append(b, values...)
}

// decodePointer reads the pointer part of a current value; the values
// follow at pointerSize.
func decodePointer(b []byte) (pointer, error) {
	if len(b) < pointerSize {
		return pointer{}, fmt.Errorf("current pointer: %w", errBadKey)
	}
	p := decodePointerV4(b)
	p.created = int64(binary.BigEndian.Uint64(b[17:]))
	p.eventTime = int64(binary.BigEndian.Uint64(b[25:]))
	return p, nil
}

// decodePointerV4 reads the first 17 bytes of a pointer, all that storage
// versions 1 to 4 kept (the caller checks the length).
func decodePointerV4(b []byte) pointer {
	return pointer{
		version:     binary.BigEndian.Uint64(b),
		deleted:     b[8]&flagDeleted != 0,
		lastUpdated: int64(binary.BigEndian.Uint64(b[9:])),
		eventTime:   noTime,
	}
}

// encodeV4 renders p as storage versions 1 to 4 did, followed by values.
func (p pointer) encodeV4(values []byte) []byte {
	return append(p.encode(nil)[:pointerSizeV4], values...)
}

// leading are the parameters whose groups come first in the current
// values, in this order: a resource's sensitivity labels and the patient it
// is about, which a search filter reads for every resource it meets
// (Groups.NextLeading). Storage version 3 keeps this order.
var leading = []string{"_security", "patient", "subject"}

func leadRank(param string) int {
	for i, p := range leading {
		if p == param {
			return i
		}
	}
	return len(leading)
}

// orderValues puts vs (search.Extract's output: grouped by parameter in
// name order) in stored order: the leading parameters' values first.
func orderValues(vs []search.Value) {
	slices.SortStableFunc(vs, func(a, b search.Value) int { return leadRank(a.Param) - leadRank(b.Param) })
}

// encodeValues renders index values in the layout above; consecutive values
// of one parameter share a group.
func encodeValues(vs []search.Value) []byte {
	if len(vs) == 0 {
		return nil
	}
	n := 0
	for _, v := range vs {
		n += len(v.Param) + len(v.Text) + 24
	}
	b := make([]byte, 0, n)
	var body []byte
	for i := 0; i < len(vs); {
		j := i + 1
		for j < len(vs) && vs[j].Param == vs[i].Param && vs[j].Kind == vs[i].Kind {
			j++
		}
		body = body[:0]
		for _, v := range vs[i:j] {
			switch v.Kind {
			case search.Date:
				body = binary.BigEndian.AppendUint64(body, uint64(v.Start)^1<<63)
				body = binary.BigEndian.AppendUint64(body, uint64(v.End)^1<<63)
			case search.Token:
				body = binary.AppendUvarint(body, uint64(tokenSize(v.Text)))
				body = appendToken(body, v.Text)
			default:
				body = binary.AppendUvarint(body, uint64(len(v.Text)))
				body = append(body, v.Text...)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(vs[i].Param)))
		b = append(b, vs[i].Param...)
		b = append(b, byte(vs[i].Kind))
		b = binary.AppendUvarint(b, uint64(j-i))
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
		i = j
	}
	return b
}

// valueGroup is one parameter's values in encoded form.
type valueGroup struct {
	param []byte
	kind  search.Kind
	count int
	body  []byte
}

// groupReader walks the groups of encoded values without allocating.
type groupReader struct {
	b   []byte
	err error
}

// next returns the next group; ok is false at the end or on malformed
// input (r.err).
func (r *groupReader) next() (g valueGroup, ok bool) {
	if len(r.b) == 0 {
		return g, false
	}
	b := r.b
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n+1 {
		return r.fail()
	}
	g.param, g.kind, b = b[w:w+int(n)], search.Kind(b[w+int(n)]), b[w+int(n)+1:]
	count, w := binary.Uvarint(b)
	if w <= 0 || count == 0 || count > uint64(len(b)) {
		return r.fail()
	}
	b = b[w:]
	size, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < size {
		return r.fail()
	}
	g.count, g.body, r.b = int(count), b[w:w+int(size)], b[w+int(size):]
	return g, true
}

func (r *groupReader) fail() (valueGroup, bool) {
	r.err, r.b = fmt.Errorf("current values: %w", errBadKey), nil
	return valueGroup{}, false
}

// each calls fn with each value of g: its text (token, string, reference;
// a token as search.Extract wrote it, valid during the call) or its range
// (date). It fails on a body that does not hold count values.
func (g valueGroup) each(fn func(text []byte, start, end int64)) error {
	b := g.body
	var token []byte
	for range g.count {
		if g.kind == search.Date {
			if len(b) < 16 {
				return fmt.Errorf("current values: %w", errBadKey)
			}
			fn(nil, i64of(b[:8]), i64of(b[8:16]))
			b = b[16:]
			continue
		}
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return fmt.Errorf("current values: %w", errBadKey)
		}
		text := b[w : w+int(n)]
		if g.kind == search.Token && packedToken(text) {
			token = appendTokenText(token[:0], text)
			text = token
		}
		fn(text, 0, 0)
		b = b[w+int(n):]
	}
	if len(b) != 0 {
		return fmt.Errorf("current values: %w", errBadKey)
	}
	return nil
}

// decodeValues reverses encodeValues.
func decodeValues(b []byte) ([]search.Value, error) {
	var out []search.Value
	r := groupReader{b: b}
	for {
		g, ok := r.next()
		if !ok {
			return out, r.err
		}
		param := string(g.param)
		err := g.each(func(text []byte, start, end int64) {
			out = append(out, search.Value{Param: param, Kind: g.kind, Text: string(text), Start: start, End: end})
		})
		if err != nil {
			return nil, err
		}
	}
}

// version values: flags(1) method(1) lastUpdated(8) JSON, method 'C' for
// a POST, 'P' for a PUT that created the resource (since Relais wrote it:
// an older one reads it as an update), 'U' for an update, 'A' for a
// PATCH (since Relais wrote it: an older one reads it as an update) and
// 'D' for a deletion (Record.HistoryRequest), the JSON
// compressed when flags has flagCompressed (since storage version 5,
// compress.go), with its large base64 value decoded before when flags
// also has flagDecoded (since storage version 9), as an S2 block rather
// than a Zstandard frame when flags also has flagS2 (since storage
// version 13).
const versionHeader = 10

const (
	flagCompressed = 2
	flagDecoded    = 4
	flagS2         = 8
)

// encodeVersion renders a version value, compressing json with z when that
// pays (z nil: never).
func encodeVersion(deleted bool, method byte, lastUpdated int64, json []byte, z *codecs) []byte {
	b := make([]byte, versionHeader, versionHeader+len(json))
	if deleted {
		b[0] = flagDeleted
	}
	b[1] = method
	binary.BigEndian.PutUint64(b[2:], uint64(lastUpdated))
	if z != nil {
		if out, flags := z.compress(b, json); flags != 0 {
			out[0] |= flags
			return out
		}
	}
	return append(b, json...)
}

// Index key tags (storage version 3). Versions 1 and 2 keyed tokens as
// system|code ('t') and again as code ('c'), references as Type/id ('r') and
// again as id ('i'): twice the keys, twice the B+tree pages a write dirties.
const (
	tagToken  = 'k' // value: code 0 system
	tagString = 's' // value: the normalised string
	tagRef    = 'f' // value: id 0 Type
	tagStart  = 'd' // value: start(8) end(8)
	tagEnd    = 'e' // value: end(8) start(8)
)

// indexKey is type 0 param 0 tag value 0 created(8) id. For dates value is
// the 8-byte bound the key orders by, then the other bound. created is the
// resource's creation time (the pointer's, time-key encoded): among the
// resources with one value, those stored together have adjacent keys, so a
// write dirties the leaf at the end of each value's range instead of one
// leaf per resource at a place its (often hashed) id decides. Since
// storage version 5; versions 3 and 4 had value 0 id.
func indexKey(typ, param string, tag byte, value []byte, created int64, id string) []byte {
	k := make([]byte, 0, len(typ)+len(param)+len(value)+len(id)+12)
	k = indexPrefix(k, typ, param, tag)
	k = append(k, value...)
	return keyTail(k, created, id)
}

// indexKey2 is type 0 param 0 tag first 0 second 0 created(8) id: the token
// and reference keys, whose value has two parts (neither holds a zero byte:
// search.Extract removes them). A token's second part is its system as
// keySystem writes it.
func indexKey2(typ, param string, tag byte, first, second string, created int64, id string) []byte {
	k := make([]byte, 0, len(typ)+len(param)+len(first)+len(second)+len(id)+14)
	k = indexPrefix(k, typ, param, tag)
	k = append(k, first...)
	k = append(k, 0)
	if tag == tagToken {
		second = keySystem(second)
	}
	k = append(k, second...)
	return keyTail(k, created, id)
}

// The code systems of a token index key (storage version 11): those below
// are written as packedSystem and their number, the others as they are.
// Every resource carries sensitivity labels (meta.security, indexed as
// _security) whose systems were an eighth of the index's bytes, and the
// systems of the mappings' common codes follow them. packedSystem cannot
// start a system (a URI starts with a letter, RFC 3986 §3.1). The table
// is part of the storage format: an entry is never changed or removed, and
// one added needs a new storage version whose migration rebuilds the
// index (reindexAll).
const packedSystem = 1

var keySystems = [...]string{
	"", // 0 is not a number: a zero byte ends the value
	"https://relais-health.github.io/fhir/CodeSystem/data-category",
	"http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
	"http://terminology.hl7.org/CodeSystem/v3-ActCode",
	"https://relais-health.github.io/fhir/CodeSystem/identity-reliability",
	"http://snomed.info/sct",
	"http://loinc.org",
	"http://hl7.org/fhir/sid/icd-10",
	"https://smt.esante.gouv.fr/terminologie-cim-10/",
	"https://smt.esante.gouv.fr/terminologie-ccam/",
	"http://terminology.hl7.org/CodeSystem/condition-category",
	"http://terminology.hl7.org/CodeSystem/condition-clinical",
	"http://terminology.hl7.org/CodeSystem/condition-ver-status",
	"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
	"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
	"http://terminology.hl7.org/CodeSystem/observation-category",
	"http://terminology.hl7.org/CodeSystem/provenance-participant-type",
	"http://terminology.hl7.org/CodeSystem/v2-0007",
	"http://terminology.hl7.org/CodeSystem/v2-0203",
	"http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
	"http://terminology.hl7.org/CodeSystem/consentscope",
	"http://terminology.hl7.org/CodeSystem/consentpolicycodes",
	"http://loinc.org/consent",
	"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
	"https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale",
	"https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge",
	"https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial",
	"https://relais-health.github.io/fhir/CodeSystem/routing-status",
	"https://relais-health.github.io/fhir/CodeSystem/role",
	"urn:oid:1.2.250.1.213.1.4.8",
	"urn:oid:1.2.250.1.213.1.4.10",
	"urn:oid:1.2.250.1.71.4.2.1",
	"https://rpps.esante.gouv.fr",
	"https://finess.esante.gouv.fr",
	"http://www.whocc.no/atc",
	"http://unitsofmeasure.org",
}

// keySystemOf is keySystems' inverse, as the packed form.
var keySystemOf = func() map[string]string {
	m := make(map[string]string, len(keySystems))
	for n, sys := range keySystems[1:] {
		m[sys] = string([]byte{packedSystem, byte(n + 1)})
	}
	return m
}()

// keySystem is system as token index keys hold it. A system that starts
// with packedSystem anyway (not a URI, but a token's system is what the
// resource says) gets packedEscape after it, which is no number.
func keySystem(system string) string {
	if p, ok := keySystemOf[system]; ok {
		return p
	}
	if len(system) > 0 && system[0] == packedSystem {
		return string([]byte{packedSystem, packedEscape}) + system
	}
	return system
}

const packedEscape = 0xff

// Token values kept with the current pointer (storage version 12) pack
// their system the same way: packedSystem, its number, then "|code". A
// stored token text that starts with packedSystem is always packed: the
// codec refuses a system holding a control character.

// appendToken appends token text t (search.Extract's "system|code") as
// current values hold it.
func appendToken(dst []byte, t string) []byte {
	if sys, code, ok := cutBar(t); ok {
		if p, ok := keySystemOf[sys]; ok {
			dst = append(dst, p...)
			dst = append(dst, '|')
			return append(dst, code...)
		}
	}
	return append(dst, t...)
}

// tokenSize is len(appendToken(nil, t)).
func tokenSize(t string) int {
	if sys, code, ok := cutBar(t); ok {
		if _, ok := keySystemOf[sys]; ok {
			return 3 + len(code)
		}
	}
	return len(t)
}

// packedToken reports whether b, a stored token text, has a packed system.
func packedToken(b []byte) bool {
	return len(b) >= 2 && b[0] == packedSystem && b[1] != 0 && int(b[1]) < len(keySystems)
}

// appendTokenText appends stored token text b to dst as search.Extract
// wrote it.
func appendTokenText(dst, b []byte) []byte {
	if packedToken(b) {
		dst = append(dst, keySystems[b[1]]...)
		return append(dst, b[2:]...)
	}
	return append(dst, b...)
}

// keyTail appends 0 created(8) id.
func keyTail(k []byte, created int64, id string) []byte {
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(created)^1<<63)
	return appendID(k, id)
}

// Ids of 32 lowercase hexadecimal digits (those the mappings derive from
// business identifiers, and 128-bit server-assigned ones) end index keys
// as packedID then their 16 bytes: a sixth of an index key, where every
// resource has a few dozen. packedID cannot start an id
// ([A-Za-z0-9.-]{1,64}), so any other id is kept as it is.
const packedID = 1

func appendID(k []byte, id string) []byte {
	if len(id) != 32 || strings.IndexFunc(id, func(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }) >= 0 {
		return append(k, id...)
	}
	packed, err := hex.AppendDecode(append(k, packedID), []byte(id))
	if err != nil { // not after the check above
		return append(k, id...)
	}
	return packed
}

// idOf reverses appendID.
func idOf(b []byte) string {
	if len(b) == 17 && b[0] == packedID {
		return hex.EncodeToString(b[1:])
	}
	return string(b)
}

// splitIndexKey returns the value and the id of an index key whose value
// starts at off: parts zero-separated text parts (1 for strings, 2 for
// tokens and references), or for dates (parts 0) 16 bytes.
func splitIndexKey(k []byte, off, parts int) (value []byte, id string, err error) {
	end := off
	if parts == 0 {
		end += 16
	}
	for p := range parts {
		i := bytes.IndexByte(k[end:], 0)
		if i < 0 {
			return nil, "", errBadKey
		}
		end += i
		if p < parts-1 {
			end++ // the zero between two parts belongs to the value
		}
	}
	if len(k) < end+1+8+1 || k[end] != 0 {
		return nil, "", errBadKey
	}
	return k[off:end], idOf(k[end+1+8:]), nil
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

// decodeKeys reads the idxrev values of storage version 1: a list of keys,
// each uvarint-length-prefixed (used only by the migration to version 2).
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

// timeKey is an instant as a key part: Unix µs, 8 bytes big-endian with the
// sign bit flipped, so that keys sort by time (the same as date index
// bounds). Event times, ACK record times and decision times use it.
func timeKey(t time.Time) []byte { return i64key(t.UnixMicro()) }

func timeOf(b []byte) time.Time { return time.UnixMicro(i64of(b)).UTC() }

// eventTimeKey is the eventtime key of a resource: its current key.
func eventTimeKey(typ, id string) []byte { return currentKey(typ, id) }

// ackKey is the hl7ack key of an HL7 v2 message: MSH-3 0 MSH-4 0 MSH-10,
// as sent (escapes kept). ok is false when a part holds a zero byte, which
// would make two messages' keys collide.
func ackKey(k MessageKey) (key []byte, ok bool) {
	if strings.ContainsRune(k.App, 0) || strings.ContainsRune(k.Facility, 0) || strings.ContainsRune(k.Control, 0) {
		return nil, false
	}
	key = make([]byte, 0, len(k.App)+len(k.Facility)+len(k.Control)+2)
	key = append(append(key, k.App...), 0)
	key = append(append(key, k.Facility...), 0)
	return append(key, k.Control...), true
}

// ackTimeKey is the hl7acktime key of an ACK record written at t: time(8)
// then the record's hl7ack key.
func ackTimeKey(t time.Time, key []byte) []byte { return append(timeKey(t), key...) }

// decisionKey is the consentlog key of a decision (storage version 7, read
// by its migration only): time(8) then its ID.
func decisionKey(t time.Time, id string) []byte { return append(timeKey(t), id...) }

// jtiTimeKey is the jtitime key of an assertion record: its until(8) then
// its jti key.
func jtiTimeKey(until time.Time, key []byte) []byte { return append(timeKey(until), key...) }

// Client values: created(8) then name, jwks, scope and fhirUser, each a
// uvarint length and its bytes. The id is the key; decoding refuses
// a value with bytes left over.
func encodeClient(c *Client) []byte {
	b := make([]byte, 0, 8+len(c.Name)+len(c.JWKS)+len(c.Scope)+len(c.FHIRUser)+4*binary.MaxVarintLen64)
	b = append(b, timeKey(c.Created)...)
	for _, f := range [][]byte{[]byte(c.Name), c.JWKS, []byte(c.Scope), []byte(c.FHIRUser)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeClient reverses encodeClient; the Client owns its bytes.
func decodeClient(id string, v []byte) (Client, error) {
	if len(v) < 8 {
		return Client{}, fmt.Errorf("client %q: %w", id, errBadKey)
	}
	c := Client{ID: id, Created: timeOf(v[:8])}
	b := v[8:]
	var fields [4][]byte
	for i := range fields {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return Client{}, fmt.Errorf("client %q: %w", id, errBadKey)
		}
		fields[i], b = bytes.Clone(b[w:w+int(n)]), b[w+int(n):]
	}
	if len(b) != 0 {
		return Client{}, fmt.Errorf("client %q: %w", id, errBadKey)
	}
	c.Name, c.JWKS, c.Scope, c.FHIRUser = string(fields[0]), fields[1], string(fields[2]), string(fields[3])
	return c, nil
}

// claimKey is type 0 system 0 value: an identifier claimed by one resource
// of type (identity.go). Claims with a zero byte are refused before.
func claimKey(typ, system, value string) []byte {
	k := make([]byte, 0, len(typ)+len(system)+len(value)+2)
	k = append(append(k, typ...), 0)
	k = append(append(k, system...), 0)
	return append(k, value...)
}

// reviewKey is kind 0 resource (0 resource)...: an identity review entry.
func reviewKey(kind string, resources []string) []byte {
	k := []byte(kind)
	for _, r := range resources {
		k = append(append(k, 0), r...)
	}
	return k
}

// taskLoadKey is the taskload key of an owner: the reference as the index
// values hold it ("PractitionerRole/id", search.Extract). References never
// hold a zero byte (search.Extract removes them), so a key is one owner.
func taskLoadKey(owner string) []byte { return []byte(owner) }

// taskLoadCount reads a taskload value: a count, 8 bytes big-endian; a
// missing value is 0.
func taskLoadCount(v []byte) (uint64, error) {
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("taskload count: %w", errBadKey)
}

// outboxKey is subscription 0 number(8): an event's key in outbox,
// outboxdead and (followed by attempt(4)) outboxtry. A Subscription's
// events sort by number; subscription ids hold no zero byte.
func outboxKey(sub string, n uint64) []byte {
	k := make([]byte, 0, len(sub)+9+4)
	k = append(append(k, sub...), 0)
	return binary.BigEndian.AppendUint64(k, n)
}

// splitOutboxKey reverses outboxKey; a longer key (outboxtry's) keeps its
// tail after the number.
func splitOutboxKey(k []byte) (sub string, n uint64, err error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || len(k) < i+9 {
		return "", 0, errBadKey
	}
	return string(k[:i]), binary.BigEndian.Uint64(k[i+1 : i+9]), nil
}

// tryKey is an attempt's outboxtry key: outboxKey then attempt(4).
func tryKey(sub string, n uint64, attempt uint32) []byte {
	return binary.BigEndian.AppendUint32(outboxKey(sub, n), attempt)
}

// eventHeader is the fixed part of an outbox value: state(1) attempts(4)
// version(8) time(8) since(8) next(8).
const eventHeader = 37

// encodeEvent renders e's outbox value (the key holds its subscription and
// number).
func encodeEvent(e *Event) []byte {
	b := make([]byte, eventHeader, eventHeader+len(e.Type)+len(e.ID)+len(e.LastError)+len(e.Decision)+8)
	b[0] = byte(e.State)
	binary.BigEndian.PutUint32(b[1:], e.Attempts)
	binary.BigEndian.PutUint64(b[5:], e.Version)
	copy(b[13:], timeKey(e.Time))
	copy(b[21:], timeKey(e.Since))
	copy(b[29:], timeKey(e.Next))
	for _, f := range []string{e.Type, e.ID, e.LastError, e.Decision} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// decodeEvent reverses encodeEvent for the event keyed k; the Event owns
// its bytes. A value with bytes left over or an unknown state is refused.
func decodeEvent(k, v []byte) (Event, error) {
	sub, n, err := splitOutboxKey(k)
	if err != nil || len(k) != len(sub)+9 || len(v) < eventHeader || !EventState(v[0]).valid() {
		return Event{}, fmt.Errorf("outbox event: %w", errBadKey)
	}
	e := Event{
		Subscription: sub, Number: n, State: EventState(v[0]),
		Attempts: binary.BigEndian.Uint32(v[1:]), Version: binary.BigEndian.Uint64(v[5:]),
		Time: timeOf(v[13:21]), Since: timeOf(v[21:29]), Next: timeOf(v[29:37]),
	}
	fields, err := uvarintFields(v[eventHeader:], 4)
	if err != nil {
		return Event{}, fmt.Errorf("outbox event %s/%d: %w", sub, n, err)
	}
	e.Type, e.ID, e.LastError, e.Decision = fields[0], fields[1], fields[2], fields[3]
	return e, nil
}

// uvarintFields reads exactly n uvarint-length-prefixed strings from b.
func uvarintFields(b []byte, n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		l, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < l {
			return nil, errBadKey
		}
		out[i], b = string(b[w:w+int(l)]), b[w+int(l):]
	}
	if len(b) != 0 {
		return nil, errBadKey
	}
	return out, nil
}

// subCounts is an outboxsub value: last(8) head(8) delivered(8)
// withheld(8) dead(8) cancelled(8). A 40-byte value, written before
// events could be cancelled, has no cancelled count (0).
type subCounts struct{ last, head, delivered, withheld, dead, cancelled uint64 }

const subCountsSize, subCountsSizeV1 = 48, 40

func (c subCounts) encode() []byte {
	b := make([]byte, 0, subCountsSize)
	for _, v := range []uint64{c.last, c.head, c.delivered, c.withheld, c.dead, c.cancelled} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

func decodeSubCounts(v []byte) (subCounts, error) {
	if v == nil {
		return subCounts{head: 1}, nil
	}
	if len(v) != subCountsSize && len(v) != subCountsSizeV1 {
		return subCounts{}, fmt.Errorf("outbox counts: %w", errBadKey)
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(v[8*i:]) }
	c := subCounts{last: u(0), head: u(1), delivered: u(2), withheld: u(3), dead: u(4)}
	if len(v) == subCountsSize {
		c.cancelled = u(5)
	}
	return c, nil
}

// encodeTry renders an outboxtry value: time(8) state(1) then decision and
// error, each a uvarint length and its bytes.
func encodeTry(a Attempt) []byte {
	b := make([]byte, 9, 9+len(a.Decision)+len(a.Error)+4)
	copy(b, timeKey(a.Time))
	b[8] = byte(a.State)
	for _, f := range []string{a.Decision, a.Error} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeTry(v []byte) (Attempt, error) {
	if len(v) < 9 || !EventState(v[8]).valid() {
		return Attempt{}, fmt.Errorf("outbox attempt: %w", errBadKey)
	}
	fields, err := uvarintFields(v[9:], 2)
	if err != nil {
		return Attempt{}, fmt.Errorf("outbox attempt: %w", err)
	}
	return Attempt{Time: timeOf(v[:8]), State: EventState(v[8]), Decision: fields[0], Error: fields[1]}, nil
}

// The audit log (audit.go).
//
//	audit value:  len(head) uvarint, head, then the AuditEvent JSON (the
//	              leaf: its bytes are what the leaf hash covers)
//	head:         time(8) flags(1) (1: break-the-glass), then kind, type,
//	              subtypes (codes separated by spaces), outcome, each a
//	              uvarint length and its bytes,
//	              then the patients, the agents and the entities, each a
//	              uvarint count and that many uvarint-prefixed strings
//	tombstone:    the head alone, with flag 2: a body pruned (PruneAudit)
//	auditnode:    end(8) level(1) -> hash(32), end = (index+1) << level
//	              (auditNodeKey)
//	auditidx:     tag(1) [value 0] time(8) index(8) (auditIndexKey):
//	              patient, agent, break-the-glass
//	auditid:      the AuditEvent id -> index(8)
//	auditcp:      size(8) time(8) -> a signed checkpoint, the owner's bytes
const (
	auditFlagBreakGlass = 1
	auditFlagPruned     = 2
)

// auditHead is the index fields of an audit entry.
type auditHead struct {
	time                        int64 // Unix µs
	flags                       byte
	kind, typ, subtype, outcome string
	patients, agents, entities  []string
}

func (h *auditHead) encode(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.time)^1<<63)
	dst = append(dst, h.flags)
	for _, s := range []string{h.kind, h.typ, h.subtype, h.outcome} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	for _, l := range [][]string{h.patients, h.agents, h.entities} {
		dst = binary.AppendUvarint(dst, uint64(len(l)))
		for _, s := range l {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}
	}
	return dst
}

func (h *auditHead) equal(o *auditHead) bool {
	return h.time == o.time && h.flags == o.flags && h.kind == o.kind && h.typ == o.typ && h.subtype == o.subtype &&
		h.outcome == o.outcome && slices.Equal(h.patients, o.patients) && slices.Equal(h.agents, o.agents) &&
		slices.Equal(h.entities, o.entities)
}

// encodeAuditValue is an audit entry's stored value: its head, then its
// body, the event's stored form (audit.Encode; before storage version 9
// its JSON, which starts with '{'), empty for a tombstone.
func encodeAuditValue(h *auditHead, body []byte) []byte {
	return append(appendAuditHead(nil, h), body...)
}

// appendAuditHead appends the start of an audit value, its head's length
// and its head, to dst: the body follows.
func appendAuditHead(dst []byte, h *auditHead) []byte {
	start := len(dst)
	dst = h.encode(append(dst, 0, 0)) // room for a uvarint up to 16383
	n := len(dst) - start - 2
	if n >= 1<<14 {
		head := bytes.Clone(dst[start+2:])
		return append(binary.AppendUvarint(dst[:start], uint64(n)), head...)
	}
	if n < 1<<7 {
		dst[start] = byte(n)
		return append(dst[:start+1], dst[start+2:]...)
	}
	binary.PutUvarint(dst[start:start+2], uint64(n))
	return dst
}

// auditValueTime is the time (Unix µs) of a stored audit value, without
// decoding the rest; v must be at least 10 bytes (a head is 9 or more,
// its length one byte or more).
func auditValueTime(v []byte) int64 {
	_, w := binary.Uvarint(v)
	if w <= 0 || len(v) < w+8 {
		return 0
	}
	return i64of(v[w : w+8])
}

// decodeAuditValue splits a stored audit value into its head and body
// (nil for a tombstone; auditJSON renders it). body aliases v.
func decodeAuditValue(v []byte) (h auditHead, body []byte, err error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)-w) || n < 9 {
		return h, nil, errBadKey
	}
	head, js := v[w:w+int(n)], v[w+int(n):]
	h.time, h.flags, head = i64of(head[:8]), head[8], head[9:]
	str := func() (string, bool) {
		l, w := binary.Uvarint(head)
		if w <= 0 || l > uint64(len(head)-w) {
			return "", false
		}
		s := string(head[w : w+int(l)])
		head = head[w+int(l):]
		return s, true
	}
	for _, p := range []*string{&h.kind, &h.typ, &h.subtype, &h.outcome} {
		var ok bool
		if *p, ok = str(); !ok {
			return h, nil, errBadKey
		}
	}
	for _, p := range []*[]string{&h.patients, &h.agents, &h.entities} {
		c, w := binary.Uvarint(head)
		if w <= 0 || c > uint64(len(head)) {
			return h, nil, errBadKey
		}
		head = head[w:]
		for range c {
			s, ok := str()
			if !ok {
				return h, nil, errBadKey
			}
			*p = append(*p, s)
		}
	}
	if len(head) != 0 {
		return h, nil, errBadKey
	}
	if h.flags&auditFlagPruned != 0 {
		js = nil
	}
	return h, js, nil
}

// Tags of the audit index keys.
const (
	auditByPatient    = 'p'
	auditByAgent      = 'a'
	auditByBreakGlass = 'b'
)

// auditIndexPrefix is tag, then value 0 (for tags with a value).
func auditIndexPrefix(tag byte, value string) []byte {
	k := make([]byte, 0, 2+len(value)+16)
	k = append(k, tag)
	if tag != auditByBreakGlass {
		k = append(append(k, value...), 0)
	}
	return k
}

// auditIndexKey is auditIndexPrefix, time(8), index(8).
func auditIndexKey(tag byte, value string, t int64, n uint64) []byte {
	k := auditIndexPrefix(tag, value)
	k = binary.BigEndian.AppendUint64(k, uint64(t)^1<<63)
	return binary.BigEndian.AppendUint64(k, n)
}

// decodeAuditIndexKey is auditIndexKey's inverse.
func decodeAuditIndexKey(k []byte) (tag byte, value string, t int64, n uint64, err error) {
	if len(k) < 17 {
		return 0, "", 0, 0, errBadKey
	}
	tag, v := k[0], k[1:len(k)-16]
	switch tag {
	case auditByBreakGlass:
		if len(v) != 0 {
			return 0, "", 0, 0, errBadKey
		}
	case auditByPatient, auditByAgent:
		if len(v) < 2 || v[len(v)-1] != 0 || bytes.IndexByte(v[:len(v)-1], 0) >= 0 {
			return 0, "", 0, 0, errBadKey
		}
		value = string(v[:len(v)-1])
	default:
		return 0, "", 0, 0, errBadKey
	}
	return tag, value, i64of(k[len(k)-16 : len(k)-8]), binary.BigEndian.Uint64(k[len(k)-8:]), nil
}

// auditIndexKeys are every index key of entry n: by patient, by agent,
// and by break-the-glass. The other search fields (kind, type, subtype,
// outcome, entity, time) are read from the entry's head while walking
// one of these, or the entries themselves, which are in time order within
// auditSkew (audit.go): each key put lands in the middle of the bucket,
// where bbolt moves the node's tail on every insert until the commit
// splits it, so an entry carries as few as its searches need.
// A tombstone has none: PruneAudit deletes them with its body.
func auditIndexKeys(h *auditHead, n uint64) [][]byte {
	if h.flags&auditFlagPruned != 0 {
		return nil
	}
	out := make([][]byte, 0, len(h.patients)+len(h.agents)+1)
	for _, p := range h.patients {
		out = append(out, auditIndexKey(auditByPatient, p, h.time, n))
	}
	for _, a := range h.agents {
		out = append(out, auditIndexKey(auditByAgent, a, h.time, n))
	}
	if h.flags&auditFlagBreakGlass != 0 {
		out = append(out, auditIndexKey(auditByBreakGlass, "", h.time, n))
	}
	return out
}

// auditNodeKey is end(8) level(1), end the index after the last leaf the
// node covers ((index+1) << level): nodes sort in the order appends
// complete them, so that appending writes at the bucket's end.
func auditNodeKey(level uint, index uint64) []byte {
	k := make([]byte, 9)
	binary.BigEndian.PutUint64(k, (index+1)<<level)
	k[8] = byte(level)
	return k
}

// decodeAuditNodeKey is auditNodeKey's inverse.
func decodeAuditNodeKey(k []byte) (level uint, index uint64, err error) {
	if len(k) != 9 || k[8] > 63 {
		return 0, 0, errBadKey
	}
	level, end := uint(k[8]), binary.BigEndian.Uint64(k)
	if end == 0 || end&(1<<level-1) != 0 {
		return 0, 0, errBadKey
	}
	return level, end>>level - 1, nil
}

// auditCheckpointKey is size(8) time(8).
func auditCheckpointKey(size uint64, t int64) []byte {
	return binary.BigEndian.AppendUint64(u64(size), uint64(t)^1<<63)
}

// encodeAuditTree is the meta value keyAuditTree: size(8) then the
// hashes of the compact range [0, size), 32 bytes each, left to right.
func encodeAuditTree(size uint64, hashes [][]byte) []byte {
	b := u64(size)
	for _, h := range hashes {
		b = append(b, h...)
	}
	return b
}

func decodeAuditTree(v []byte) (size uint64, hashes [][]byte, err error) {
	if v == nil {
		return 0, nil, nil
	}
	if len(v) < 8 || (len(v)-8)%32 != 0 {
		return 0, nil, errBadKey
	}
	size = binary.BigEndian.Uint64(v)
	for b := v[8:]; len(b) > 0; b = b[32:] {
		hashes = append(hashes, bytes.Clone(b[:32]))
	}
	return size, hashes, nil
}
