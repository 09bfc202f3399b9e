package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

// TxOptions extend a transaction of PUTs (TransactionWith).
type TxOptions struct {
	// Extra runs in the same bbolt write transaction as the entries, after
	// their preconditions were checked and before any of them is written,
	// so that a caller keeps records of its own (in buckets declared in
	// schema.go) atomically with the data. The transaction may be shared
	// with other writers: Extra must return an error only before it has
	// written anything. Its error is TransactionWith's, unchanged.
	Extra func(tx *bolt.Tx) error
	// KeepUnchanged makes a PUT whose resource equals the current version
	// (apart from meta.versionId and meta.lastUpdated) write nothing: its
	// result is the current version, "200 OK". Resources that a source
	// repeats in every message (the mapping's Device, the sending
	// hospital's Organization) then keep one version instead of one per
	// message, and concurrent transactions do not conflict on them.
	KeepUnchanged bool
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
	w := s.begin()
	defer w.end()
	for attempt := 0; attempt < 8; attempt++ {
		p, err := s.plan(entries, o.KeepUnchanged)
		if err != nil {
			return nil, err
		}
		err = s.commit(ctx, w, func(tx *bolt.Tx) error { return p.apply(tx, o.Extra) }, false)
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

// txPlan is a prepared transaction of PUTs: per entry the pointer it was
// prepared against and either a change to apply or (kept) nothing.
type txPlan struct {
	keys    [][]byte
	expect  []pointer
	changes []*change // nil: the entry keeps the current version
	results []TxResult
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
	var current []*Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, current, err = readPlan(tx, entries, keepUnchanged, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := p.prepareAll(s, entries, current, s.now()); err != nil {
		return nil, err
	}
	return p, nil
}

// readPlan reads in tx the pointer of every target and, where an entry may
// keep it (IfAbsent, keepUnchanged), its current version. A target in
// overlay (may be nil) is read from there instead (Planner).
func readPlan(tx *bolt.Tx, entries []TxEntry, keepUnchanged bool, overlay map[string]planned) (*txPlan, []*Record, error) {
	p := &txPlan{
		keys: make([][]byte, len(entries)), expect: make([]pointer, len(entries)),
		changes: make([]*change, len(entries)), results: make([]TxResult, len(entries)),
	}
	current := make([]*Record, len(entries))
	cur := tx.Bucket(bucketCurrent)
	for i, e := range entries {
		p.keys[i] = currentKey(e.Type, e.ID)
		if st, ok := overlay[string(p.keys[i])]; ok {
			p.expect[i], current[i] = st.ptr, st.cur
			continue
		}
		pv := cur.Get(p.keys[i])
		if pv == nil {
			continue
		}
		ptr, err := decodePointer(pv)
		if err != nil {
			return nil, nil, err
		}
		p.expect[i] = ptr
		if !ptr.deleted && (e.IfAbsent || keepUnchanged) {
			if current[i], err = readVersion(tx, e.Type, e.ID, ptr.version); err != nil {
				return nil, nil, err
			}
		}
	}
	return p, current, nil
}

// prepareAll prepares every entry against what readPlan found.
func (p *txPlan) prepareAll(s *Store, entries []TxEntry, current []*Record, now time.Time) error {
	for i, e := range entries {
		if err := p.prepareEntry(s, i, e, current[i], now); err != nil {
			return entryFailed(i, err)
		}
	}
	return nil
}

func (p *txPlan) prepareEntry(s *Store, i int, e TxEntry, cur *Record, now time.Time) error {
	ptr := p.expect[i]
	if e.IfMatch > 0 && ptr.version != e.IfMatch {
		return outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
	}
	resource.SetID(e.Resource, e.ID)
	if cur != nil && (e.IfAbsent || s.unchanged(e.Resource, cur)) {
		p.results[i] = TxResult{Status: "200 OK", Record: cur}
		return nil
	}
	method, status := writeKind(ptr)
	c, err := s.prepare(e.Resource, method, ptr.version+1, now)
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

// apply runs in the writer's transaction: every target must still be as
// planned (else errStale, before anything is written), then extra, then
// the writes.
func (p *txPlan) apply(tx *bolt.Tx, extra func(*bolt.Tx) error) error {
	cur := tx.Bucket(bucketCurrent)
	for i, k := range p.keys {
		var have pointer
		if pv := cur.Get(k); pv != nil {
			var err error
			if have, err = decodePointer(pv); err != nil {
				return err
			}
		}
		if have != p.expect[i] {
			return errStale
		}
	}
	if extra != nil {
		if err := extra(tx); err != nil {
			return err
		}
	}
	for _, c := range p.changes {
		if c == nil {
			continue
		}
		if err := apply(tx, c); err != nil {
			return err
		}
	}
	return nil
}
