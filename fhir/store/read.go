package store

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// Record is one stored version of a resource.
type Record struct {
	Type, ID    string
	Version     uint64
	LastUpdated time.Time
	Deleted     bool
	Method      string // the interaction that made it: POST, PUT, PATCH or DELETE
	// Created: the version created the resource, its request answered
	// 201 Created: a POST, or a PUT of an id that had no current version
	// (update as create, R4 http.html#upsert, a deleted resource's
	// included). A version an earlier Relais stored by such a PUT shows
	// as it was stored: a first version as a POST, a re-creation as an
	// update.
	Created bool
	JSON    []byte // the resource as stored; nil for a deletion
}

// methods are the interactions of a version's method byte: 'P' is a PUT
// that created the resource, 'A' a PATCH (writeKind).
var methods = map[byte]string{'C': "POST", 'P': "PUT", 'U': "PUT", 'A': "PATCH", 'D': "DELETE"}

// created reports whether method byte m created its resource.
func created(m byte) bool { return m == 'C' || m == 'P' }

// HistoryRequest is how an entry of a history Bundle shows the
// request that made the record (R4 http.html#history: "the request that
// created the version"; bundle.html#bundle-entry for request and
// response): a creation by POST as POST [type] answered 201 Created, a
// creation by PUT (update as create, a deleted resource's re-creation
// included: R4 http.html#update) as PUT [type]/[id] answered 201 Created,
// a deletion as DELETE [type]/[id] answered 204 No Content, an update as
// PUT [type]/[id] answered 200 OK, a patch as PATCH [type]/[id] answered
// 200 OK (R4 Bundle.entry.request.method admits PATCH). A notification Bundle shows its
// events the same way (Subscriptions Backport IG STU 1.1,
// notifications.html).
func (r *Record) HistoryRequest() (method, url, status string) {
	switch {
	case r.Method == "POST":
		return "POST", r.Type, "201 Created"
	case r.Method == "DELETE":
		return "DELETE", r.Type + "/" + r.ID, "204 No Content"
	case r.Created:
		return "PUT", r.Type + "/" + r.ID, "201 Created"
	case r.Method == "PATCH":
		return "PATCH", r.Type + "/" + r.ID, "200 OK"
	}
	return "PUT", r.Type + "/" + r.ID, "200 OK"
}

// ETag is the weak ETag of the record's version.
func (r *Record) ETag() string { return `W/"` + itoa(r.Version) + `"` }

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// decodeRecord builds a Record from a version value, copying the bytes out
// of the transaction (decompressing them when stored compressed).
func (r *Snapshot) decodeRecord(typ, id string, ver uint64, v []byte) (*Record, error) {
	if len(v) < versionHeader {
		return nil, errBadKey
	}
	rec := &Record{
		Type: typ, ID: id, Version: ver,
		Deleted:     v[0]&flagDeleted != 0,
		Method:      methods[v[1]],
		Created:     created(v[1]),
		LastUpdated: time.UnixMicro(int64(binary.BigEndian.Uint64(v[2:]))).UTC(),
	}
	if rec.Deleted {
		return rec, nil
	}
	if v[0]&flagCompressed == 0 {
		rec.JSON = bytes.Clone(v[versionHeader:])
		return rec, nil
	}
	var err error
	rec.JSON, err = r.s.zip.decompress(v[versionHeader:], v[0])
	return rec, err
}

func notFound() error { return outcome.New(outcome.NotFound, "resource not found") }

// Read returns the current version of typ/id. A deleted resource gives an
// outcome.Gone error together with its deletion record.
func (s *Store) Read(typ, id string) (*Record, error) { return s.ReadAllowed(typ, id, nil) }

// ReadAllowed is Snapshot.ReadAllowed in a snapshot of its own.
func (s *Store) ReadAllowed(typ, id string, allow Filter) (rec *Record, err error) {
	err = s.View(func(r *Snapshot) error {
		rec, err = r.ReadAllowed(typ, id, allow)
		return err
	})
	return rec, err
}

// Read returns the current version of typ/id, as Store.Read does.
func (r *Snapshot) Read(typ, id string) (*Record, error) { return r.ReadAllowed(typ, id, nil) }

// ReadAllowed is Read for a caller that may not see every resource: allow
// decides on the index values stored with the current version, read in the
// same snapshot as the version returned, so that a change of labels or
// subject committed in between cannot be served under the earlier decision.
// A resource allow refuses is NotFound, as if it did not exist; a nil allow
// refuses nothing.
func (r *Snapshot) ReadAllowed(typ, id string, allow Filter) (*Record, error) {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if pv == nil {
		return nil, notFound()
	}
	p, err := decodePointer(pv)
	if err != nil {
		return nil, err
	}
	if allow != nil && !p.deleted && !allow(r, typ, id, &storedValues{b: pv[pointerSize:]}) {
		return nil, notFound()
	}
	rec, err := r.versionAt(typ, id, p.created, p.version)
	if err != nil {
		return nil, err
	}
	if rec.Deleted {
		return rec, outcome.New(outcome.Gone, "resource deleted")
	}
	return rec, nil
}

// EventTime is the time of the newest event that wrote typ/id
// (TxEntry.EventTime); false when none is kept or typ/id is absent.
func (r *Snapshot) EventTime(typ, id string) (time.Time, bool) {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if pv == nil {
		return time.Time{}, false
	}
	p, err := decodePointer(pv)
	if err != nil || p.eventTime == noTime {
		return time.Time{}, false
	}
	return time.UnixMicro(p.eventTime), true
}

func (r *Snapshot) readCurrent(typ, id string) (*Record, error) {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if pv == nil {
		return nil, notFound()
	}
	p, err := decodePointer(pv)
	if err != nil {
		return nil, err
	}
	return r.versionAt(typ, id, p.created, p.version)
}

// readVersion reads version ver of typ/id, whose creation time it finds in
// the current pointer.
func (r *Snapshot) readVersion(typ, id string, ver uint64) (*Record, error) {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if pv == nil {
		return nil, notFound()
	}
	p, err := decodePointer(pv)
	if err != nil {
		return nil, err
	}
	return r.versionAt(typ, id, p.created, ver)
}

// versionAt reads version ver of typ/id created at created: from history,
// else, for a version stored before storage version 5, from versions.
func (r *Snapshot) versionAt(typ, id string, created int64, ver uint64) (*Record, error) {
	v := r.tx.Bucket(bucketHistory).Get(historyKey(typ, created, id, ver))
	if v == nil {
		v = r.tx.Bucket(bucketVersions).Get(versionKey(typ, id, ver))
	}
	if v == nil {
		return nil, notFound()
	}
	return r.decodeRecord(typ, id, ver, v)
}

// VRead is Snapshot.VRead in a snapshot of its own.
func (s *Store) VRead(typ, id string, ver uint64) (rec *Record, err error) {
	err = s.View(func(r *Snapshot) error {
		rec, err = r.VRead(typ, id, ver)
		return err
	})
	return rec, err
}

// VRead returns version ver of typ/id. Reading the version that deleted a
// resource gives outcome.Gone.
func (r *Snapshot) VRead(typ, id string, ver uint64) (*Record, error) {
	rec, err := r.readVersion(typ, id, ver)
	if err != nil {
		return nil, err
	}
	if rec.Deleted {
		return rec, outcome.New(outcome.Gone, "version is a deletion")
	}
	return rec, nil
}

// HistoryOptions page through a history, newest first.
type HistoryOptions struct {
	Since  time.Time // only versions updated at or after Since
	Before uint64    // cursor: only entries older than this one (0 = from the newest)
	Count  int       // page size (default 20)
}

// History is one page of a history, newest first. Next is the cursor for
// the following page, 0 when there is none. Cursors[i] is Records[i]'s:
// as Before, it starts a page with the entries older than that record.
type History struct {
	Records []*Record
	Cursors []uint64
	Next    uint64
}

// InstanceHistory is Snapshot.InstanceHistory in a snapshot of its own.
func (s *Store) InstanceHistory(typ, id string, o HistoryOptions) (h *History, err error) {
	err = s.View(func(r *Snapshot) error {
		h, err = r.InstanceHistory(typ, id, o)
		return err
	})
	return h, err
}

// InstanceHistory lists the versions of typ/id; the cursor is a version.
// The versions in history are newer than any a resource kept in versions
// (storage versions before 5), so the page is read there first.
func (r *Snapshot) InstanceHistory(typ, id string, o HistoryOptions) (*History, error) {
	pv := r.tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	if pv == nil {
		return nil, notFound()
	}
	p, err := decodePointer(pv)
	if err != nil {
		return nil, err
	}
	decode := func(ver uint64, v []byte) (*Record, error) { return r.decodeRecord(typ, id, ver, v) }
	h, err := pageBackwards(r.tx.Bucket(bucketHistory), historyPrefix(typ, p.created, id), o, decode)
	if err != nil || h.Next != 0 {
		return h, err
	}
	// The rest of the page, or whether there is a next one, is in versions.
	rest := o
	if n := len(h.Records); n > 0 {
		rest.Before = h.Records[n-1].Version
	}
	full := len(h.Records) >= pageSize(o.Count)
	rest.Count = pageSize(o.Count) - len(h.Records)
	if full {
		rest.Count = 1
	}
	older, err := pageBackwards(r.tx.Bucket(bucketVersions), versionPrefix(typ, id), rest, decode)
	switch {
	case err != nil:
		return nil, err
	case full && len(older.Records) > 0:
		h.Next = rest.Before // the cursor excludes itself: the next page starts below it
	case !full:
		h.Records, h.Next = append(h.Records, older.Records...), older.Next
		h.Cursors = append(h.Cursors, older.Cursors...)
	}
	return h, nil
}

// TypeHistory is Snapshot.TypeHistory in a snapshot of its own.
func (s *Store) TypeHistory(typ string, o HistoryOptions) (h *History, err error) {
	err = s.View(func(r *Snapshot) error {
		h, err = r.TypeHistory(typ, o)
		return err
	})
	return h, err
}

// TypeHistory lists the changes to every resource of typ, or of all types
// when typ is ""; the cursor is a change sequence number.
func (r *Snapshot) TypeHistory(typ string, o HistoryOptions) (*History, error) {
	bucket, prefix := bucketLog, []byte(nil)
	if typ != "" {
		bucket, prefix = bucketTypeLog, typePrefix(typ)
	}
	return pageBackwards(r.tx.Bucket(bucket), prefix, o,
		func(_ uint64, v []byte) (*Record, error) { return r.recordOfLog(typ, v) })
}

// pageBackwards reads one page of the entries prefix+cursor(8) of b, newest
// first, starting below o.Before when set and stopping at o.Since. Version
// keys and (type) log keys share this shape; record decodes one entry.
func pageBackwards(b *bolt.Bucket, prefix []byte, o HistoryOptions, record func(cursor uint64, v []byte) (*Record, error)) (*History, error) {
	h := &History{}
	count := pageSize(o.Count)
	c := b.Cursor()
	var k, v []byte
	if o.Before > 0 {
		c.Seek(append(bytes.Clone(prefix), u64(o.Before)...))
		k, v = c.Prev()
	} else {
		k, v = seekLast(c, prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if len(k) != len(prefix)+8 {
			return nil, errBadKey
		}
		cursor := binary.BigEndian.Uint64(k[len(prefix):])
		if len(h.Records) == count {
			h.Next = cursor + 1
			return h, nil
		}
		rec, err := record(cursor, v)
		if err != nil {
			return nil, err
		}
		if rec.LastUpdated.Before(o.Since) {
			return h, nil
		}
		h.Records = append(h.Records, rec)
		h.Cursors = append(h.Cursors, cursor)
	}
	return h, nil
}

// recordOfLog reads the version a log entry points to. System log values
// are full version keys; type log values omit the type.
func (r *Snapshot) recordOfLog(typ string, v []byte) (*Record, error) {
	var key []byte
	if typ == "" {
		key = v
	} else {
		key = append(typePrefix(typ), v...)
	}
	t, id, ver, err := splitVersionKey(key)
	if err != nil {
		return nil, err
	}
	return r.readVersion(t, id, ver)
}

// seekLast positions c on the last key with prefix (nil if none).
func seekLast(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	if len(prefix) == 0 {
		return c.Last()
	}
	end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	k, _ := c.Seek(end)
	if k == nil {
		return c.Last()
	}
	return c.Prev()
}

func pageSize(n int) int {
	if n <= 0 {
		return 20
	}
	return min(n, 1000)
}
