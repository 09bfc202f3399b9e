package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

// TxOptions extend a transaction of PUTs (TransactionWith).
type TxOptions struct {
	// KeepUnchanged makes a PUT whose resource equals the current version
	// (apart from meta.versionId and meta.lastUpdated) write nothing: its
	// result is the current version, "200 OK". Resources that a source
	// repeats in every message (the mapping's Device, the sending
	// hospital's Organization) then keep one version instead of one per
	// message, and concurrent transactions do not conflict on them.
	KeepUnchanged bool
	// Audit are AuditEvents recorded in the same transaction as the
	// entries (an ingested document's import event): both are committed,
	// or neither.
	Audit []audit.Event
}

// TransactionWith stores PUT entries all or nothing, like Transaction, but
// prepared on the caller's goroutine (stamping, JSON, index values) and
// committed together with concurrent writes, so that many small
// transactions share fsyncs. Entries must be PUTs to Type/id; references
// are not rewritten. If a target changes between preparation and commit,
// the transaction is prepared again.
func (s *Store) TransactionWith(ctx context.Context, entries []TxEntry, o TxOptions) ([]TxResult, error) {
	if err := checkPuts(entries); err != nil {
		return nil, err
	}
	recs, err := auditRecordsOf(o.Audit)
	if err != nil {
		return nil, err
	}
	w := s.begin()
	defer w.end()
	for attempt := 0; attempt < 8; attempt++ {
		p, err := s.plan(entries, o.KeepUnchanged)
		if err != nil {
			return nil, err
		}
		err = s.commit(ctx, w, func(tx *bolt.Tx) error {
			if err := p.apply(s, tx); err != nil {
				return err
			}
			if err := putAudit(tx, recs); err != nil {
				return errors.Join(errAbort, err)
			}
			return nil
		}, false)
		if err == errStale {
			continue
		}
		if err != nil {
			return nil, err
		}
		return p.results, nil
	}
	return nil, outcome.New(outcome.Conflict, "resources are being updated concurrently")
}

// txPlan is a prepared transaction of PUTs: per entry the pointer and the
// event time it was prepared against, and either a change to apply or
// (kept) nothing.
type txPlan struct {
	keys    [][]byte
	expect  []pointer
	changes []*change // nil: the entry keeps the current version
	results []TxResult
	// The event time to store (noTime: none, the entry is older or not
	// ordered); the time stored when planned is expect's.
	writeTime []int64
	claims    []claimPut // checked and written with the changes
}

// checkPuts accepts PUT entries with a resource and a valid Type/id, each
// resource once: what TransactionWith and the inbox's batches take.
func checkPuts(entries []TxEntry) error {
	for i, e := range entries {
		if e.Method != "PUT" || e.Resource == nil || !ValidID(e.ID) || resource.Type(e.Resource) != e.Type {
			return entryError(outcome.NotSupported, i, "only PUT entries with a resource and a valid Type/id are taken here")
		}
	}
	return checkTargets(entries)
}

// plan reads the targets' current state in one snapshot, then prepares each
// entry outside any transaction.
func (s *Store) plan(entries []TxEntry, keepUnchanged bool) (*txPlan, error) {
	var p *txPlan
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, err = readPlan(&Snapshot{s: s, tx: tx}, entries, keepUnchanged, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := p.prepareAll(s, entries, s.now()); err != nil {
		return nil, err
	}
	return p, nil
}

// planState is what planning reads of one target: its pointer (with its
// event time) and its current version when an entry may keep it (nil when
// absent or deleted).
type planState struct {
	ptr pointer
	cur *Record
}

// readPlan reads in tx the state of every target, from overlay (may be
// nil) when planned there already (Planner), and decides which entries are
// older than the events stored.
func readPlan(r *Snapshot, entries []TxEntry, keepUnchanged bool, overlay map[string]planState) (*txPlan, error) {
	tx := r.tx
	n := len(entries)
	p := &txPlan{
		keys: make([][]byte, n), expect: make([]pointer, n), changes: make([]*change, n),
		results: make([]TxResult, n), writeTime: make([]int64, n),
		claims: claimsOf(entries, nil),
	}
	cur := tx.Bucket(bucketCurrent)
	for i, e := range entries {
		p.keys[i] = currentKey(e.Type, e.ID)
		p.writeTime[i] = noTime
		st, ok := overlay[string(p.keys[i])]
		if !ok {
			var err error
			want := keepUnchanged || e.KeepUnchanged || e.IfAbsent || !e.EventTime.IsZero()
			if st, err = readState(r, cur, e, p.keys[i], want); err != nil {
				return nil, err
			}
		}
		p.expect[i], p.results[i].Record = st.ptr, st.cur
		if e.EventTime.IsZero() {
			continue
		}
		at := e.EventTime.UnixMicro()
		if st.ptr.eventTime != noTime && st.ptr.eventTime > at {
			p.results[i] = TxResult{Status: "200 OK", Record: st.cur, Older: true}
			continue
		}
		p.writeTime[i] = at
	}
	return p, nil
}

// readState reads the state of entry e's target (key) in tx; its current
// version only when wanted.
func readState(r *Snapshot, cur *bolt.Bucket, e TxEntry, key []byte, want bool) (planState, error) {
	st := planState{ptr: pointer{eventTime: noTime}}
	pv := cur.Get(key)
	if pv == nil {
		return st, nil
	}
	var err error
	if st.ptr, err = decodePointer(pv); err != nil {
		return st, err
	}
	if want && !st.ptr.deleted {
		st.cur, err = r.versionAt(e.Type, e.ID, st.ptr.created, st.ptr.version)
	}
	return st, err
}

// prepareAll prepares every entry against what readPlan found (the
// current versions it left in the results); a Provenance no longer claims
// the entries found older.
func (p *txPlan) prepareAll(s *Store, entries []TxEntry, now time.Time) error {
	older := map[string]bool{}
	for i, e := range entries {
		if p.results[i].Older {
			older[e.Type+"/"+e.ID] = true
		}
	}
	for i, e := range entries {
		if p.results[i].Older {
			continue
		}
		cur := p.results[i].Record
		p.results[i].Record = nil
		if len(older) > 0 {
			e.Resource = withoutTargets(e.Resource, older)
		}
		if err := p.prepareEntry(s, i, e, cur, now); err != nil {
			return entryFailed(i, err)
		}
	}
	return nil
}

// withoutTargets returns res, or a copy of it without the targets in drop
// when it is a Provenance that claims some.
func withoutTargets(res proto.Message, drop map[string]bool) proto.Message {
	prov, ok := res.(*provpb.Provenance)
	if !ok || !slices.ContainsFunc(prov.Target, func(t *dtpb.Reference) bool { return drop[resource.RefString(t)] }) {
		return res
	}
	prov = proto.Clone(prov).(*provpb.Provenance)
	prov.Target = slices.DeleteFunc(prov.Target, func(t *dtpb.Reference) bool { return drop[resource.RefString(t)] })
	return prov
}

func (p *txPlan) prepareEntry(s *Store, i int, e TxEntry, cur *Record, now time.Time) error {
	ptr := p.expect[i]
	if e.Pinned && ptr.version != e.Expect { // as Transaction honours it (applyEntry)
		return ErrMoved
	}
	if e.IfMatch > 0 && ptr.version != e.IfMatch || e.IfMatchAny && (ptr.version == 0 || ptr.deleted) {
		return outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
	}
	resource.SetID(e.Resource, e.ID)
	if cur != nil && (e.IfAbsent || s.unchanged(e.Resource, cur)) {
		p.results[i] = TxResult{Status: "200 OK", Record: cur}
		return nil
	}
	method, status := writeKind(ptr, "PUT", false)
	c, err := s.prepare(e.Resource, method, ptr.version+1, stamp(now, ptr), ptr.created)
	if err != nil {
		return err
	}
	c.expect = ptr.version
	p.changes[i] = c
	p.results[i] = TxResult{Status: status, Record: c.record()}
	return nil
}

// unchanged reports whether res, stamped as cur, renders exactly as cur.
// A false "changed" only costs a version; a false "unchanged" is impossible
// since the bytes are compared. Resources found unchanged are remembered by
// a hash of their content, so that a resource a feed repeats in every
// message is recognised without rendering it again.
func (s *Store) unchanged(res proto.Message, cur *Record) bool {
	key := cur.Type + "/" + cur.ID
	sum, sumOK := contentSum(res)
	if sumOK && s.same.has(key, cur, sum) {
		return true
	}
	r := proto.Clone(res)
	resource.SetVersion(r, cur.Version, cur.LastUpdated)
	category.Label(r)
	category.LabelContent(r)
	js, err := s.codec.Encode(r)
	if err != nil || !bytes.Equal(js, cur.JSON) {
		return false
	}
	if sumOK {
		s.same.put(key, cur, sum)
	}
	return true
}

// contentSum hashes res as it would be stored, apart from meta.versionId
// and meta.lastUpdated (labelled, deterministic proto encoding).
func contentSum(res proto.Message) ([32]byte, bool) {
	category.Label(res)
	category.LabelContent(res)
	meta := resource.Meta(res)
	ver, at := meta.VersionId, meta.LastUpdated
	meta.VersionId, meta.LastUpdated = nil, nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res)
	meta.VersionId, meta.LastUpdated = ver, at
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(b), true
}

// sameCache maps "Type/id" to the content hash of its current version,
// for resources found unchanged. It is bounded: when full it starts over.
type sameCache struct {
	mu sync.Mutex
	m  map[string]sameEntry
}

type sameEntry struct {
	version     uint64
	lastUpdated time.Time
	sum         [32]byte
}

const sameCacheMax = 4096

func (c *sameCache) has(key string, cur *Record, sum [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return ok && e.version == cur.Version && e.lastUpdated.Equal(cur.LastUpdated) && e.sum == sum
}

func (c *sameCache) put(key string, cur *Record, sum [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= sameCacheMax {
		c.m = make(map[string]sameEntry)
	}
	c.m[key] = sameEntry{version: cur.Version, lastUpdated: cur.LastUpdated, sum: sum}
}

// current reports whether every target in tx is still as p was planned
// against: the same pointer, event time included.
func (p *txPlan) current(tx *bolt.Tx) (bool, error) {
	cur := tx.Bucket(bucketCurrent)
	for i, k := range p.keys {
		have := pointer{eventTime: noTime}
		if pv := cur.Get(k); pv != nil {
			var err error
			if have, err = decodePointer(pv); err != nil {
				return false, err
			}
		}
		if have != p.expect[i] {
			return false, nil
		}
	}
	return true, nil
}

// write applies p's changes, with the event times of the entries it did not
// find older; an entry kept unchanged gets its newer event time alone.
func (p *txPlan) write(s *Store, tx *bolt.Tx, idx indexWriter) error {
	if err := writeClaims(tx, p.claims); err != nil {
		return err
	}
	for i, c := range p.changes {
		t := p.writeTime[i]
		switch {
		case c != nil:
			c.eventTime, c.setEvent = t, t != noTime
			if err := s.applyTo(tx, c, idx); err != nil {
				return err
			}
		case t != noTime && t != p.expect[i].eventTime:
			if err := setEventTime(tx.Bucket(bucketCurrent), p.keys[i], t); err != nil {
				return err
			}
		}
	}
	return nil
}

// setEventTime rewrites the event time of the pointer at key.
func setEventTime(cur *bolt.Bucket, key []byte, t int64) error {
	pv := cur.Get(key)
	p, err := decodePointer(pv)
	if err != nil {
		return err
	}
	p.eventTime = t
	return cur.Put(key, p.encode(pv[pointerSize:]))
}

// apply runs in the writer's transaction: every target must still be as
// planned (else errStale, before anything is written), then the writes.
func (p *txPlan) apply(s *Store, tx *bolt.Tx) error {
	ok, err := p.current(tx)
	if err != nil {
		return err
	}
	if !ok {
		return errStale
	}
	if err := checkClaims(tx, p.claims); err != nil {
		return err
	}
	// The index writes are made in key order once every entry is written
	// (sortedIndex says why): in entry order, a document of tens of
	// thousands of entries took time quadratic in its size, holding the
	// store's only writer meanwhile. Nothing reads the index before the
	// flush: write reads the current values only.
	var idx sortedIndex
	if err := p.write(s, tx, &idx); err != nil {
		return err
	}
	return idx.flush(writable(tx, bucketIndex))
}
