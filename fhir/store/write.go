package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
)

// ValidID reports whether id is a valid FHIR logical id: 1 to 64 of
// A-Z, a-z, 0-9, '-' and '.' (R4 datatypes, id). Every read and write
// checks one, so it is a loop rather than the regular expression.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// NewID returns a fresh server-assigned id: 128 bits in hex, the first 48
// the current Unix time in milliseconds and the other 80 random (the layout
// of a UUIDv7, RFC 9562 section 5.7, without its version bits). Ids made
// later sort later, so the keys of new resources (current, versions, each
// index value) land at the end of their ranges: concurrent creates share
// the same few B+tree pages instead of each dirtying pages of its own.
func NewID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// stamp is the time a new version of the resource p points to gets as
// its meta.lastUpdated: now, unless the clock went back since the current
// version was stamped (an NTP step, a virtual machine restored), when it
// is a microsecond after that version. A version stamped before the one
// it replaces would be answered 304 Not Modified to the client holding the
// older one (If-Modified-Since, RFC 9110 section 13.1.3: R4 http.html#cread)
// and listed out of order in its history.
func stamp(now time.Time, p pointer) time.Time {
	if p.version == 0 {
		return now
	}
	if after := time.UnixMicro(p.lastUpdated + 1); now.Before(after) {
		return after
	}
	return now
}

// change is a prepared write: everything computed, ready to apply in a
// transaction. expect is the current version the preparation was based on
// (0: the resource did not exist or the caller does not care).
type change struct {
	typ, id     string
	method      byte // 'C' (POST), 'P' (PUT creating), 'U', 'A' (PATCH) or 'D'
	version     uint64
	lastUpdated int64
	json        []byte   // the rendering
	stored      []byte   // the versions value (encodeVersion), made in prepare
	values      []byte   // encoded index values (encodeValues)
	keys        [][]byte // index keys, sorted, without duplicates
	created     int64    // the resource's creation time (pointer.created)
	eventTime   int64    // the event time to keep, when setEvent (else the stored one)
	setEvent    bool
	expect      uint64
	fresh       bool          // must not exist yet (server-assigned id)
	res         proto.Message // what was rendered (nil for a deletion), for followers
}

// prepare stamps res with version ver and time at, labels it, renders its
// JSON and extracts its index values. created is the resource's creation
// time (pointer.created), 0 for a resource that does not exist yet.
func (s *Store) prepare(res proto.Message, method byte, ver uint64, at time.Time, created int64) (*change, error) {
	resource.SetVersion(res, ver, at)
	category.Label(res)
	category.LabelContent(res)
	js, err := s.codec.Encode(res)
	if err != nil {
		return nil, outcome.Wrap(outcome.Invalid, "resource cannot be rendered", err)
	}
	if created == 0 {
		created = at.UnixMicro()
	}
	c := &change{
		typ: resource.Type(res), id: resource.ID(res), method: method, version: ver,
		lastUpdated: at.UnixMicro(), created: created, res: res,
	}
	c.stored, c.json = encodeVersion(false, method, c.lastUpdated, js, s.zip), js
	vs := search.Extract(res)
	orderValues(vs)
	c.values, c.keys = encodeValues(vs), indexKeys(c.typ, c.id, c.created, vs)
	return c, nil
}

// apply writes c in tx: the version, the current pointer, the logs, the
// index entries and, for a Task, the open-Task counts (taskload.go). It checks first and fails before writing anything. Keys
// and values were encoded in prepare, so the writer only compares and puts.
func (s *Store) apply(tx *bolt.Tx, c *change) error {
	return s.applyTo(tx, c, writable(tx, bucketIndex))
}

// indexWriter takes apply's index writes: the index bucket itself, or a
// Batch's buffer that writes them in key order at its end (sortedIndex).
type indexWriter interface {
	Put(key, value []byte) error
	Delete(key []byte) error
}

// applyTo is apply with the index writes going to idx.
func (s *Store) applyTo(tx *bolt.Tx, c *change, idx indexWriter) error {
	cur := tx.Bucket(bucketCurrent)
	ck := currentKey(c.typ, c.id)
	have := pointer{eventTime: noTime}
	var old []byte // the index values replaced
	if pv := cur.Get(ck); pv != nil {
		p, err := decodePointer(pv)
		if err != nil {
			return err
		}
		have, old = p, bytes.Clone(pv[pointerSize:])
	}
	switch {
	case c.fresh && have.version != 0:
		return outcome.New(outcome.Conflict, "id already in use")
	case have.version != c.expect:
		return errStale
	}
	stored := c.stored
	if stored == nil {
		stored = encodeVersion(c.method == 'D', c.method, c.lastUpdated, c.json, nil)
	}
	p := pointer{version: c.version, deleted: c.method == 'D', lastUpdated: c.lastUpdated, created: c.created, eventTime: have.eventTime}
	if have.version != 0 {
		p.created = have.created // a deletion's change does not know it
	}
	if c.setEvent {
		p.eventTime = c.eventTime
	}
	if err := writable(tx, bucketHistory).Put(historyKey(c.typ, p.created, c.id, c.version), stored); err != nil {
		return err
	}
	if err := cur.Put(ck, p.encode(c.values)); err != nil {
		return err
	}
	if err := appendLogs(tx, c); err != nil {
		return err
	}
	if c.typ == "Task" {
		if err := countTaskLoad(tx, old, c.values); err != nil {
			return err
		}
	}
	if err := reindex(idx, c, p.created, old); err != nil {
		return err
	}
	s.noteWritten(c)
	return nil
}

// errStale means the resource changed between preparation and commit; the
// write is prepared again.
var errStale = outcome.New(outcome.Conflict, "concurrent update")

// appendLogs logs c in the change logs. The log's sequence is also the
// Generation of the snapshots that see c: every write of a resource comes
// here.
func appendLogs(tx *bolt.Tx, c *change) error {
	log := writable(tx, bucketLog)
	seq, err := log.NextSequence()
	if err != nil {
		return err
	}
	if err := log.Put(u64(seq), logValue(c.typ, c.id, c.version)); err != nil {
		return err
	}
	tk := append(typePrefix(c.typ), u64(seq)...)
	tv := append(append([]byte(c.id), 0), u64(c.version)...)
	return writable(tx, bucketTypeLog).Put(tk, tv)
}

// reindex turns the index entries of the values old (those the current
// pointer held) into c.keys: only the keys that differ are deleted or put,
// so that rewriting a resource that barely changed touches few index pages.
func reindex(idx indexWriter, c *change, created int64, old []byte) error {
	if bytes.Equal(old, c.values) {
		return nil
	}
	var was [][]byte
	if len(old) > 0 {
		vs, err := decodeValues(old)
		if err != nil {
			return err
		}
		was = indexKeys(c.typ, c.id, created, vs)
	}
	now := c.keys
	for len(was) > 0 || len(now) > 0 {
		cmp := 1
		switch {
		case len(was) == 0:
			cmp = 1
		case len(now) == 0:
			cmp = -1
		default:
			cmp = bytes.Compare(was[0], now[0])
		}
		switch {
		case cmp < 0:
			if err := idx.Delete(was[0]); err != nil {
				return err
			}
			was = was[1:]
		case cmp > 0:
			if err := idx.Put(now[0], nil); err != nil {
				return err
			}
			now = now[1:]
		default:
			was, now = was[1:], now[1:]
		}
	}
	return nil
}

// indexKeys renders the index entries of a resource, sorted and without
// duplicates: one key per value, except dates, which are indexed by start
// ('d') and by end ('e'), each key holding both bounds. Tokens are keyed
// code first ('k': code 0 system), so that one key serves a search by code
// alone and by system|code; references id first ('f': id 0 Type), so that
// one key serves a search by id alone and by Type/id (keys.go).
func indexKeys(typ, id string, created int64, values []search.Value) [][]byte {
	keys := make([][]byte, 0, len(values)+4)
	for _, v := range values {
		switch v.Kind {
		case search.Token:
			system, code, _ := cutBar(v.Text)
			keys = append(keys, indexKey2(typ, v.Param, tagToken, code, system, created, id))
		case search.String:
			keys = append(keys, indexKey(typ, v.Param, tagString, []byte(v.Text), created, id))
		case search.Reference:
			rtyp, rid, _ := cutSlash(v.Text)
			keys = append(keys, indexKey2(typ, v.Param, tagRef, rid, rtyp, created, id))
		case search.Date:
			keys = append(keys,
				indexKey(typ, v.Param, tagStart, append(i64key(v.Start), i64key(v.End)...), created, id),
				indexKey(typ, v.Param, tagEnd, append(i64key(v.End), i64key(v.Start)...), created, id))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

func cutBar(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

// Create stores res under a new server-assigned id (any id it carries is
// replaced) and returns the stored record.
func (s *Store) Create(ctx context.Context, res proto.Message) (*Record, error) {
	w := s.begin()
	defer w.end()
	resource.SetID(res, NewID())
	c, err := s.prepare(res, 'C', 1, s.now(), 0)
	if err != nil {
		return nil, err
	}
	c.fresh = true
	if err := s.commit(ctx, w, func(tx *bolt.Tx) error { return s.apply(tx, c) }, false); err != nil {
		return nil, err
	}
	return c.record(), nil
}

// ConditionalCreate creates res unless a resource matches q (If-None-Exist).
// With one match it returns that resource and created == false; with more it
// fails with PreconditionFailed. The check is repeated inside the write
// transaction, so two racing conditional creates cannot both create.
func (s *Store) ConditionalCreate(ctx context.Context, res proto.Message, q *search.Query) (rec *Record, created bool, err error) {
	if err := s.await(); err != nil {
		return nil, false, err
	}
	w := s.begin()
	defer w.end()
	resource.SetID(res, NewID())
	c, err := s.prepare(res, 'C', 1, s.now(), 0)
	if err != nil {
		return nil, false, err
	}
	c.fresh = true
	err = s.commit(ctx, w, func(tx *bolt.Tx) error {
		hits, err := match(&Snapshot{s: s, tx: tx}, q, nil)
		if err != nil {
			return err
		}
		switch len(hits) {
		case 0:
			created = true
			return s.apply(tx, c)
		case 1:
			rec, err = (&Snapshot{s: s, tx: tx}).readVersion(q.Type, hits[0].ID, hits[0].Version)
			return err
		}
		return outcome.New(outcome.PreconditionFailed, "If-None-Exist matches several resources")
	}, false)
	if err != nil {
		return nil, false, err
	}
	if created {
		rec = c.record()
	}
	return rec, created, nil
}

// Update stores res as the next version of its id, creating it when absent
// (update-as-create). ifMatch > 0 requires the current version to be ifMatch.
func (s *Store) Update(ctx context.Context, res proto.Message, ifMatch uint64) (rec *Record, created bool, err error) {
	typ, id := resource.Type(res), resource.ID(res)
	if !ValidID(id) {
		return nil, false, outcome.New(outcome.Invalid, "invalid resource id")
	}
	w := s.begin()
	defer w.end()
	for attempt := 0; attempt < 8; attempt++ {
		cur, err := s.pointer(typ, id)
		if err != nil {
			return nil, false, err
		}
		if ifMatch > 0 && cur.version != ifMatch {
			return nil, false, outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
		}
		method, status := writeKind(cur, "PUT", false)
		c, err := s.prepare(proto.Clone(res), method, cur.version+1, stamp(s.now(), cur), cur.created)
		if err != nil {
			return nil, false, err
		}
		c.expect = cur.version
		err = s.commit(ctx, w, func(tx *bolt.Tx) error { return s.apply(tx, c) }, false)
		if err == errStale {
			if ifMatch > 0 {
				return nil, false, outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
			}
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return c.record(), status == "201 Created", nil
	}
	return nil, false, outcome.New(outcome.Conflict, "resource is being updated concurrently")
}

// Delete records the deletion of typ/id as a new version. Deleting a missing
// or already deleted resource succeeds with a nil record (FHIR delete is
// idempotent).
func (s *Store) Delete(ctx context.Context, typ, id string, ifMatch uint64) (*Record, error) {
	w := s.begin()
	defer w.end()
	for attempt := 0; attempt < 8; attempt++ {
		cur, err := s.pointer(typ, id)
		if err != nil {
			return nil, err
		}
		if ifMatch > 0 && cur.version != ifMatch {
			return nil, outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
		}
		if cur.version == 0 || cur.deleted {
			return nil, nil
		}
		c := &change{typ: typ, id: id, method: 'D', version: cur.version + 1,
			lastUpdated: stamp(s.now(), cur).UnixMicro(), expect: cur.version}
		err = s.commit(ctx, w, func(tx *bolt.Tx) error { return s.apply(tx, c) }, false)
		if err == errStale {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c.record(), nil
	}
	return nil, outcome.New(outcome.Conflict, "resource is being updated concurrently")
}

// pointer reads the current pointer of typ/id (zero when absent).
func (s *Store) pointer(typ, id string) (pointer, error) {
	var p pointer
	err := s.db.View(func(tx *bolt.Tx) error {
		pv := tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
		if pv == nil {
			return nil
		}
		var err error
		p, err = decodePointer(pv)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("read pointer: %w", err)
	}
	return p, nil
}

// writeKind gives the method byte and response status of a write of
// request method m (POST or PUT) over the current pointer p: a POST is a
// creation ('C'); a PUT an update when a current version exists ('A'
// when it writes a PATCH's result: R4 http.html#patch), else a creation
// by PUT ('P', 201 Created: R4 http.html#update, update as create), a
// deleted resource's re-creation included, which its history shows as
// that PUT (Record.HistoryRequest).
func writeKind(p pointer, m string, patch bool) (method byte, status string) {
	switch {
	case m == "POST":
		return 'C', "201 Created"
	case p.version == 0 || p.deleted:
		return 'P', "201 Created"
	case patch:
		return 'A', "200 OK"
	}
	return 'U', "200 OK"
}

func (c *change) record() *Record {
	return &Record{
		Type: c.typ, ID: c.id, Version: c.version, LastUpdated: time.UnixMicro(c.lastUpdated).UTC(),
		Deleted: c.method == 'D', Method: methods[c.method], Created: created(c.method), JSON: c.json,
	}
}
