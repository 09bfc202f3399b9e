package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
)

// The audit log: append-only AuditEvents (package fhir/audit), each the
// leaf of a Merkle tree in the style of RFC 6962 (section 2.1; RFC 9162
// section 2.1): leaf hash SHA-256(0x00 || the AuditEvent's JSON bytes),
// node hash SHA-256(0x01 || left || right).
//
// An entry is stored as its event's fields (audit.Encode), a fifth of its
// JSON, and its leaf hash is that of the JSON audit.Render makes of them,
// which is what /fhir/AuditEvent serves: a patient or an auditor checks a
// proof against the AuditEvent she reads. Entries stored before storage
// version 9 hold their JSON itself (auditJSON reads both).
//
// Entries are numbered in the order they reach bbolt, from 0. The tree is
// kept as every node it has completed (bucket auditnode: the leaf hashes
// at level 0 and every perfect subtree above), plus the compact range of
// the whole tree in the meta key audit-tree (RFC 9162 section 2.1.2's
// right border: at most log2(n) hashes). Appending an entry is then a walk
// up the right border, O(log n), and writes the nodes it completes; the
// root of any past size and the inclusion and consistency proofs between
// sizes (RFC 9162 section 2.1.3 and 2.1.4) are read from stored nodes,
// with at most one node recomputed (transparency-dev/merkle's proof
// package).
//
// Entries are made durable by the journal (journal.go), whose sync
// concurrent appends share, and numbered when the journal moves them into
// bbolt: an entry recorded inside a write transaction (a Follower's) is
// numbered in it. An entry moved twice (a crash after the move and before
// its file was emptied) is known by its id (auditid) and not appended
// again.
//
// Pruning (PruneAudit) replaces the body of an entry past its retention
// with a tombstone (its head alone) and deletes its index keys; its leaf
// hash and the nodes above stay, so that the tree, its roots and the
// proofs of the entries kept do not change.

var hasher = rfc6962.DefaultHasher

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

// LeafHash is the RFC 6962 leaf hash of an entry's bytes.
func LeafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// auditRecord is an entry on its way to bbolt: in the journal, or
// recorded in a write transaction.
type auditRecord struct {
	id    string
	value []byte // encodeAuditValue
	// leaf is the entry's leaf hash, taken where the event was recorded
	// (the request's goroutine, so that the one writer moving entries
	// into bbolt does not render them); nil for a record read back from
	// the journal, whose leaf putAudit renders.
	leaf []byte
}

// renderBuffers are the buffers auditRecordOf renders JSON into to take
// its leaf hash: a read's is 2.4 KB, and every read records one.
var renderBuffers = sync.Pool{New: func() any { return new([]byte) }}

// auditRecordOf encodes e and its head.
func auditRecordOf(e *audit.Event) (auditRecord, error) {
	if e.ID == "" || e.Time.IsZero() || e.Kind == "" {
		return auditRecord{}, errors.New("audit log: event without id, time or kind")
	}
	h := headOf(e)
	// the body is encoded in place after the head: one buffer, no copy
	v := appendAuditHead(make([]byte, 0, 512), &h) // a read's is 400 bytes
	buf := renderBuffers.Get().(*[]byte)
	*buf = audit.Render((*buf)[:0], e)
	leaf := hasher.HashLeaf(*buf)
	renderBuffers.Put(buf)
	return auditRecord{id: e.ID, value: audit.Encode(v, e), leaf: leaf}, nil
}

// headOf is the head e is stored with: the fields searches read, and
// from which its index keys are made (auditIndexKeys).
func headOf(e *audit.Event) auditHead {
	h := auditHead{time: e.Time.UnixMicro(), kind: string(e.Kind), typ: e.Type.Code, subtype: strings.Join(e.SubtypeCodes(), " "),
		outcome: e.Outcome, patients: e.Patients(), agents: e.AgentRefs(), entities: e.EntityRefs()}
	if e.BreakGlass {
		h.flags |= auditFlagBreakGlass
	}
	return h
}

// auditJSON renders stored audit bodies, reusing its buffer.
type auditJSON struct{ buf []byte }

// of is the AuditEvent JSON of a stored body: rendered from its stored
// form into j's buffer (valid until the next call), or the body itself
// when it is JSON (stored before version 9).
func (j *auditJSON) of(body []byte) ([]byte, error) {
	js, _, err := j.decode(body)
	return js, err
}

// decode is of, with the event a body in its stored form holds (nil for
// a body stored as JSON).
func (j *auditJSON) decode(body []byte) ([]byte, *audit.Event, error) {
	if len(body) > 0 && body[0] == '{' {
		return body, nil, nil
	}
	e, err := audit.Decode(body)
	if err != nil {
		return nil, nil, err
	}
	j.buf = audit.Render(j.buf[:0], &e)
	return j.buf, &e, nil
}

// auditIDOf is the id of the event a stored body holds.
func auditIDOf(body []byte) string {
	if len(body) > 0 && body[0] == '{' {
		return auditIDOfJSON(body)
	}
	e, err := audit.Decode(body)
	if err != nil {
		return ""
	}
	return e.ID
}

// AppendAudit records events and returns once they are durable: in the
// journal (journal.go), whose sync concurrent appends share, and from
// there in bbolt shortly after, where each becomes the next leaf of the
// tree. Recorded inside a write transaction (ctx carries its snapshot: a
// Follower's), they are written in it, and committed, or not, with what
// they record.
func (s *Store) AppendAudit(ctx context.Context, events ...audit.Event) error {
	recs, err := auditRecordsOf(events)
	if err != nil {
		return err
	}
	if r := SnapshotFrom(ctx); r != nil && r.tx.Writable() {
		return putAudit(r.tx, recs)
	}
	return s.decisions.append(recs)
}

// AppendAudit records events in b's transaction: committed, or not, with
// what the batch writes (an ingested message and its event together).
func (b *Batch) AppendAudit(events ...audit.Event) error {
	recs, err := auditRecordsOf(events)
	if err != nil {
		return err
	}
	return putAudit(b.tx, recs)
}

// auditRecordsOf renders events as the journal and putAudit take them.
func auditRecordsOf(events []audit.Event) ([]auditRecord, error) {
	recs := make([]auditRecord, len(events))
	for i := range events {
		r, err := auditRecordOf(&events[i])
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	return recs, nil
}

// auditTree is the tree's compact range, read from and written to meta.
func loadAuditTree(tx *bolt.Tx) (*compact.Range, error) {
	size, hashes, err := decodeAuditTree(tx.Bucket(bucketMeta).Get(keyAuditTree))
	if err != nil {
		return nil, fmt.Errorf("audit tree: %w", err)
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// putAudit appends recs to the tree in tx.
func putAudit(tx *bolt.Tx, recs []auditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	tree, err := loadAuditTree(tx)
	if err != nil {
		return err
	}
	b, ids, idx, nodes := writable(tx, bucketAudit), tx.Bucket(bucketAuditID), tx.Bucket(bucketAuditIdx), writable(tx, bucketAuditNode)
	var perr error
	var render auditJSON // the JSON each leaf hash is taken of
	visit := func(id compact.NodeID, hash []byte) {
		if perr == nil {
			perr = nodes.Put(auditNodeKey(id.Level, id.Index), hash)
		}
	}
	// The id and index keys of a group land all over their buckets (one
	// range per patient, per agent): put in key order, each insert into a
	// leaf bbolt has not split yet (it splits at commit) moves only the
	// keys it had, not the ones this group added before it.
	type kv struct{ k, v []byte }
	var idKeys, idxKeys []kv
	seen := make(map[string]bool, len(recs))
	for i := range recs {
		r := &recs[i]
		if seen[r.id] || ids.Get([]byte(r.id)) != nil {
			continue // moved before a crash
		}
		seen[r.id] = true
		h, body, err := decodeAuditValue(r.value)
		if err != nil || body == nil {
			return fmt.Errorf("audit entry %s: malformed", r.id)
		}
		leaf := r.leaf
		if len(leaf) != sha256.Size {
			js, err := render.of(body)
			if err != nil {
				return fmt.Errorf("audit entry %s: %w", r.id, err)
			}
			leaf = hasher.HashLeaf(js)
		}
		n := tree.End()
		if err := b.Put(u64(n), r.value); err != nil {
			return err
		}
		idKeys = append(idKeys, kv{[]byte(r.id), u64(n)})
		for _, k := range auditIndexKeys(&h, n) {
			idxKeys = append(idxKeys, kv{k, nil})
		}
		if err := tree.Append(leaf, visit); err != nil {
			return err
		}
		if perr != nil {
			return perr
		}
	}
	for _, l := range []struct {
		b    *bolt.Bucket
		keys []kv
	}{{ids, idKeys}, {idx, idxKeys}} {
		slices.SortFunc(l.keys, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, e := range l.keys {
			if err := l.b.Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketMeta).Put(keyAuditTree, encodeAuditTree(tree.End(), tree.Hashes()))
}

// AuditHead is what the store keeps of an entry besides its JSON.
type AuditHead struct {
	Index      uint64
	Time       time.Time
	Kind       audit.Kind
	Type       string
	Subtypes   []string
	Outcome    string
	BreakGlass bool
	Patients   []string
	Agents     []string
	Entities   []string
}

func (h *auditHead) export(n uint64) AuditHead {
	return AuditHead{Index: n, Time: time.UnixMicro(h.time), Kind: audit.Kind(h.kind), Type: h.typ, Subtypes: strings.Fields(h.subtype),
		Outcome: h.outcome, BreakGlass: h.flags&auditFlagBreakGlass != 0, Patients: h.patients, Agents: h.agents, Entities: h.entities}
}

// AuditQuery selects audit entries; zero fields do not restrict. Values
// that are lists (Subtypes, Outcomes, Kinds) match any of theirs.
type AuditQuery struct {
	Patient    string
	Agent      string
	Entity     string
	Subtypes   []string
	Types      []string
	Outcomes   []string
	Kinds      []audit.Kind
	BreakGlass bool
	Since      time.Time
	Until      time.Time // exclusive
	// Clauses are a search's parameters, ANDed with each other and with
	// the fields above; each matches when one of its values does
	// (https://hl7.org/fhir/R4/search.html#combining).
	Clauses []AuditClause
	// Before resumes a walk after a page: only entries older than this
	// position (AuditHead.Pos of the last one served) are visited.
	Before AuditPos
}

// AuditPos is an entry's place in the walks of AuditEvents, newest
// first: by time, then by number. The zero value is "from the newest".
type AuditPos struct {
	Time  int64 // Unix µs
	Index uint64
}

// Pos is h's position, to resume a walk after it (AuditQuery.Before).
func (h *AuditHead) Pos() AuditPos { return AuditPos{Time: h.Time.UnixMicro(), Index: h.Index} }

// AuditField is what an AuditClause compares.
type AuditField byte

// The fields of an entry's head a clause can compare.
const (
	AuditPatient AuditField = iota + 1
	AuditAgent
	AuditEntity
	AuditType
	AuditSubtype
	AuditOutcome
	AuditDate
)

// AuditClause is one search parameter: Refs for patient, agent and entity
// ("Type/id" matches that resource at any version, "Type/id/_history/n"
// that version, a bare "id" a resource of any type with that id, as R4
// reference search reads them: https://hl7.org/fhir/R4/search.html#reference;
// "client:<id>" a backend client agent), Codes for type, subtype and
// outcome, Dates for date (the entry's time a range of one microsecond,
// https://hl7.org/fhir/R4/search.html#date). A clause without values
// matches nothing.
type AuditClause struct {
	Field AuditField
	Refs  []string
	Codes []string
	Dates []search.Cond
}

func (c *AuditClause) match(h *AuditHead) bool {
	switch c.Field {
	case AuditPatient:
		return anyRef(c.Refs, h.Patients)
	case AuditAgent:
		return anyRef(c.Refs, h.Agents)
	case AuditEntity:
		// R4 entity is AuditEvent.entity.what, whatever the role: the
		// patient's entity is one (auditevent.html#search)
		return anyRef(c.Refs, h.Entities) || anyRef(c.Refs, h.Patients)
	case AuditType:
		return slices.Contains(c.Codes, h.Type)
	case AuditSubtype:
		return slices.ContainsFunc(h.Subtypes, func(s string) bool { return slices.Contains(c.Codes, s) })
	case AuditOutcome:
		return slices.Contains(c.Codes, h.Outcome)
	case AuditDate:
		t := h.Time.UnixMicro()
		return slices.ContainsFunc(c.Dates, func(d search.Cond) bool { return d.Matches(t, t+1) })
	}
	return false
}

// anyRef reports whether one of refs (query values) matches one of have
// (an entry's references, which may carry a version).
func anyRef(refs, have []string) bool {
	for _, r := range refs {
		for _, h := range have {
			if refMatches(r, h) {
				return true
			}
		}
	}
	return false
}

func refMatches(q, ref string) bool {
	if !strings.Contains(q, "/") && !strings.HasPrefix(q, "client:") {
		_, rest, ok := strings.Cut(ref, "/")
		id, _, _ := strings.Cut(rest, "/")
		return ok && id == q
	}
	return ref == q || strings.HasPrefix(ref, q) && strings.HasPrefix(ref[len(q):], "/_history/")
}

// timeRange is the range [lo, hi) of Unix µs that q's times and date
// clauses allow, for the walks to seek and stop: each date clause allows
// the hull of its values (search.Cond.Bounds), and clauses intersect.
func (q *AuditQuery) timeRange() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !q.Since.IsZero() {
		lo = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		hi = q.Until.UnixMicro()
	}
	for _, c := range q.Clauses {
		if c.Field != AuditDate {
			continue
		}
		clo, chi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, d := range c.Dates {
			dlo, dhi := d.Bounds()
			clo, chi = min(clo, dlo), max(chi, dhi)
		}
		lo, hi = max(lo, clo), min(hi, chi)
	}
	return lo, hi
}

func (q *AuditQuery) match(h *AuditHead) bool {
	in := func(v string, l []string) bool {
		if len(l) == 0 {
			return true
		}
		for _, x := range l {
			if x == v {
				return true
			}
		}
		return false
	}
	has := func(l []string, v string) bool { return v == "" || in(v, l) && len(l) > 0 }
	kinds := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		kinds[i] = string(k)
	}
	if !q.Since.IsZero() && h.Time.Before(q.Since) || !q.Until.IsZero() && !h.Time.Before(q.Until) {
		return false
	}
	for i := range q.Clauses {
		if !q.Clauses[i].match(h) {
			return false
		}
	}
	return has(h.Patients, q.Patient) && has(h.Agents, q.Agent) && (has(h.Entities, q.Entity) || has(h.Patients, q.Entity)) &&
		(len(q.Subtypes) == 0 || slices.ContainsFunc(h.Subtypes, func(s string) bool { return in(s, q.Subtypes) })) && in(h.Type, q.Types) && in(h.Outcome, q.Outcomes) && in(string(h.Kind), kinds) &&
		(!q.BreakGlass || h.BreakGlass)
}

// indexPrefixes are the audit index ranges a walk of q reads, one per
// value of the narrowest indexed condition (a patient, then an agent,
// clause whose values are all full references, whose index keys are
// theirs), or nil when none is: the walk then reads the entries
// themselves. Entity, type, subtype, outcome and a bare id are not
// indexed (auditIndexKeys says why): they filter what the walk reads.
func (q *AuditQuery) indexPrefixes() [][]byte {
	indexed := func(r string) bool {
		return (strings.Contains(r, "/") || strings.HasPrefix(r, "client:")) && !strings.Contains(r, "/_history/")
	}
	for _, f := range []AuditField{AuditPatient, AuditAgent} {
		for _, c := range q.Clauses {
			if c.Field != f || len(c.Refs) == 0 || !allOf(c.Refs, indexed) {
				continue
			}
			tag := byte(auditByPatient)
			if f == AuditAgent {
				tag = auditByAgent
			}
			out := make([][]byte, len(c.Refs))
			for i, r := range c.Refs {
				out[i] = auditIndexPrefix(tag, r)
			}
			return out
		}
	}
	switch {
	case q.Patient != "":
		return [][]byte{auditIndexPrefix(auditByPatient, q.Patient)}
	case q.Agent != "":
		return [][]byte{auditIndexPrefix(auditByAgent, q.Agent)}
	case q.BreakGlass:
		return [][]byte{auditIndexPrefix(auditByBreakGlass, "")}
	}
	return nil
}

// auditSkew bounds how much earlier than the entry numbered before it an
// entry's time may be: its time is taken when its request was decided,
// its number when the journal moves it, a request's duration plus
// journalMoveAge later. A walk of the entries by number newest first
// stops this far past the lower bound of the time it was asked for.
const auditSkew = time.Minute

// AuditEvents walks the entries q selects, newest first, through the
// narrowest index (patient, agent, break-the-glass), else the entries
// themselves, until visit returns false or fails. The JSON passed to
// visit is the store's own memory: valid during the call only. It first
// moves into bbolt what the journal holds, so that it sees every entry
// recorded before it was called.
func (s *Store) AuditEvents(q AuditQuery, visit func(h AuditHead, js []byte) (more bool, err error)) error {
	if err := s.decisions.flush(); err != nil {
		return err
	}
	var render auditJSON
	return s.view(func(r *Snapshot) error {
		b := r.tx.Bucket(bucketAudit)
		each := func(n uint64, v []byte) (bool, error) {
			h, body, err := decodeAuditValue(v)
			if err != nil {
				return false, fmt.Errorf("audit entry %d: %w", n, err)
			}
			if body == nil {
				return true, nil
			}
			head := h.export(n)
			if !q.match(&head) {
				return true, nil
			}
			js, err := render.of(body)
			if err != nil {
				return false, fmt.Errorf("audit entry %d: %w", n, err)
			}
			return visit(head, js)
		}
		lo, hi := q.timeRange()
		if lo >= hi {
			return nil
		}
		prefixes := q.indexPrefixes()
		if prefixes == nil {
			return walkAuditEntries(b, lo, q.Before, each)
		}
		return walkAuditIndex(r.tx.Bucket(bucketAuditIdx), prefixes, lo, hi, q.Before, func(n uint64) (bool, error) {
			v := b.Get(u64(n))
			if v == nil {
				return true, nil
			}
			return each(n, v)
		})
	})
}

// walkAuditIndex walks the index ranges of prefixes together, newest
// first (time, then number), from hi (exclusive) or before, whichever is
// older, down to lo, visiting each entry once (an entry with two of the
// values, agents A and B of agent=A,B, is under both).
func walkAuditIndex(idx *bolt.Bucket, prefixes [][]byte, lo, hi int64, before AuditPos, each func(n uint64) (bool, error)) error {
	type head struct {
		c      *bolt.Cursor
		prefix []byte
		k      []byte // the current key; nil when the range is done
	}
	upper := func(prefix []byte) []byte {
		k := append(bytes.Clone(prefix), i64key(hi)...)
		if hi == math.MaxInt64 {
			k = append(bytes.Clone(prefix), 0xff)
		}
		if before != (AuditPos{}) {
			bk := append(append(bytes.Clone(prefix), i64key(before.Time)...), u64(before.Index)...)
			if bytes.Compare(bk, k) < 0 {
				k = bk
			}
		}
		return k
	}
	heads := make([]*head, len(prefixes))
	for i, p := range prefixes {
		h := &head{c: idx.Cursor(), prefix: p}
		// the last key below upper: Seek finds the first at or above it
		if k, _ := h.c.Seek(upper(p)); k == nil {
			h.k, _ = h.c.Last()
		} else {
			h.k, _ = h.c.Prev()
		}
		heads[i] = h
	}
	var lower []byte
	done := func(h *head) bool {
		if h.k == nil || !bytes.HasPrefix(h.k, h.prefix) {
			return true
		}
		if lo != math.MinInt64 {
			lower = append(append(lower[:0], h.prefix...), i64key(lo)...)
			return bytes.Compare(h.k, lower) < 0
		}
		return false
	}
	last, any := uint64(0), false
	for {
		var top *head
		for _, h := range heads {
			if done(h) {
				continue
			}
			if len(h.k) != len(h.prefix)+16 {
				return fmt.Errorf("audit index: %w", errBadKey)
			}
			if top == nil || bytes.Compare(h.k[len(h.k)-16:], top.k[len(top.k)-16:]) > 0 {
				top = h
			}
		}
		if top == nil {
			return nil
		}
		n := binary.BigEndian.Uint64(top.k[len(top.k)-8:])
		top.k, _ = top.c.Prev()
		if any && n == last {
			continue // the same entry under another value
		}
		last, any = n, true
		if more, err := each(n); err != nil || !more {
			return err
		}
	}
}

func allOf(l []string, f func(string) bool) bool {
	for _, s := range l {
		if !f(s) {
			return false
		}
	}
	return true
}

// walkAuditEntries walks the entries by number, newest first, from the
// last one or the one numbered before before.Index, until the first older
// than lo (Unix µs) by auditSkew.
func walkAuditEntries(b *bolt.Bucket, lo int64, before AuditPos, each func(n uint64, v []byte) (bool, error)) error {
	var stop int64 = math.MinInt64
	if lo != math.MinInt64 {
		stop = lo - auditSkew.Microseconds()
	}
	c := b.Cursor()
	k, v := c.Last()
	if before != (AuditPos{}) {
		if k, v = c.Seek(u64(before.Index)); k != nil {
			k, v = c.Prev()
		} else {
			k, v = c.Last()
		}
	}
	for ; k != nil; k, v = c.Prev() {
		if len(k) != 8 || len(v) < 10 {
			return fmt.Errorf("audit entry: %w", errBadKey)
		}
		if t := auditValueTime(v); t < stop {
			return nil
		}
		if more, err := each(binary.BigEndian.Uint64(k), v); err != nil || !more {
			return err
		}
	}
	return nil
}

// AuditEvent returns the entry whose AuditEvent has id, its JSON a copy.
func (s *Store) AuditEvent(id string) (AuditHead, []byte, error) {
	if err := s.decisions.flush(); err != nil {
		return AuditHead{}, nil, err
	}
	var head AuditHead
	var out []byte
	err := s.view(func(r *Snapshot) error {
		nv := r.tx.Bucket(bucketAuditID).Get([]byte(id))
		if len(nv) != 8 {
			return outcome.New(outcome.NotFound, "audit event not found")
		}
		n := binary.BigEndian.Uint64(nv)
		v := r.tx.Bucket(bucketAudit).Get(nv)
		if v == nil {
			return outcome.New(outcome.NotFound, "audit event not found")
		}
		h, body, err := decodeAuditValue(v)
		if err != nil {
			return fmt.Errorf("audit entry %d: %w", n, err)
		}
		if body == nil {
			return outcome.New(outcome.Gone, "audit event pruned")
		}
		js, err := new(auditJSON).of(body)
		if err != nil {
			return fmt.Errorf("audit entry %d: %w", n, err)
		}
		head, out = h.export(n), bytes.Clone(js)
		return nil
	})
	return head, out, err
}

// AuditTree returns the tree's size and root hash (that of the empty
// string for size 0, RFC 9162 section 2.1.1).
func (s *Store) AuditTree() (size uint64, root []byte, err error) {
	if err := s.decisions.flush(); err != nil {
		return 0, nil, err
	}
	err = s.view(func(r *Snapshot) error {
		tree, err := loadAuditTree(r.tx)
		if err != nil {
			return err
		}
		size, root, err = tree.End(), rootOf(tree), nil
		return err
	})
	return size, root, err
}

func rootOf(tree *compact.Range) []byte {
	if tree.End() == 0 {
		return hasher.EmptyRoot()
	}
	root, _ := tree.GetRootHash(nil)
	return root
}

// AuditProof is an inclusion proof: the entry's leaf hash and the
// audit path to the root of a tree of Size entries.
type AuditProof struct {
	Index, Size uint64
	LeafHash    []byte
	Path        [][]byte
	Root        []byte
}

// AuditInclusion returns the inclusion proof of entry index in the tree
// of size entries (RFC 9162 section 2.1.3.1).
func (s *Store) AuditInclusion(index, size uint64) (AuditProof, error) {
	p := AuditProof{Index: index, Size: size}
	if err := s.decisions.flush(); err != nil {
		return p, err
	}
	err := s.view(func(r *Snapshot) error {
		nodes, err := s.auditSizeCheck(r.tx, size)
		if err != nil {
			return err
		}
		if index >= size {
			return outcome.New(outcome.Invalid, "index beyond the tree size")
		}
		pn, err := proof.Inclusion(index, size)
		if err != nil {
			return outcome.Wrap(outcome.Invalid, "bad proof request", err)
		}
		if p.Path, err = fetchProof(nodes, pn); err != nil {
			return err
		}
		p.LeafHash = bytes.Clone(nodes.Get(auditNodeKey(0, index)))
		p.Root, err = rootAt(nodes, size)
		return err
	})
	return p, err
}

// AuditConsistency returns the consistency proof between the trees of
// size1 and size2 entries (RFC 9162 section 2.1.4.1) and their roots.
func (s *Store) AuditConsistency(size1, size2 uint64) (path [][]byte, root1, root2 []byte, err error) {
	if err := s.decisions.flush(); err != nil {
		return nil, nil, nil, err
	}
	err = s.view(func(r *Snapshot) error {
		nodes, err := s.auditSizeCheck(r.tx, size2)
		if err != nil {
			return err
		}
		pn, err := proof.Consistency(size1, size2)
		if err != nil {
			return outcome.Wrap(outcome.Invalid, "bad proof request", err)
		}
		if path, err = fetchProof(nodes, pn); err != nil {
			return err
		}
		if root1, err = rootAt(nodes, size1); err != nil {
			return err
		}
		root2, err = rootAt(nodes, size2)
		return err
	})
	return path, root1, root2, err
}

func (s *Store) auditSizeCheck(tx *bolt.Tx, size uint64) (*bolt.Bucket, error) {
	tree, err := loadAuditTree(tx)
	if err != nil {
		return nil, err
	}
	if size > tree.End() {
		return nil, outcome.New(outcome.Invalid, "tree size beyond the log's")
	}
	return tx.Bucket(bucketAuditNode), nil
}

func fetchProof(nodes *bolt.Bucket, pn proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(pn.IDs))
	for i, id := range pn.IDs {
		h := nodes.Get(auditNodeKey(id.Level, id.Index))
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("audit tree node %d/%d missing", id.Level, id.Index)
		}
		hashes[i] = bytes.Clone(h)
	}
	return pn.Rehash(hashes, hasher.HashChildren)
}

// rootAt is the root of the tree of the first size entries, from the
// perfect subtrees that cover them.
func rootAt(nodes *bolt.Bucket, size uint64) ([]byte, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h := nodes.Get(auditNodeKey(id.Level, id.Index))
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("audit tree node %d/%d missing", id.Level, id.Index)
		}
		hashes[i] = bytes.Clone(h)
	}
	tree, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, err
	}
	return rootOf(tree), nil
}

// PruneAudit replaces with tombstones the bodies of at most max entries
// of kind recorded before before (oldest first), in one commit, and
// returns how many it pruned, and done once no entry before before is
// left to examine: call it again until done. Leaf hashes and tree nodes
// stay (the tree does not change).
//
// It walks the entries by number from where its last call for kind
// stopped (meta "audit-pruned/" kind), and stops at the first entry of
// any kind recorded at or after before: entries are in time order within
// auditSkew, so an entry a little older than one before it waits for the
// next pruning; none is pruned early. A call examines at most 64 × max
// entries, so that a commit stays short when kind is rare.
func (s *Store) PruneAudit(ctx context.Context, kind audit.Kind, before time.Time, max int) (pruned int, done bool, err error) {
	if err := s.decisions.flush(); err != nil {
		return 0, false, err
	}
	n := 0
	limit := before.UnixMicro()
	err = s.commit(ctx, nil, func(tx *bolt.Tx) error {
		n = 0
		b, ids, idx, meta := tx.Bucket(bucketAudit), tx.Bucket(bucketAuditID), tx.Bucket(bucketAuditIdx), tx.Bucket(bucketMeta)
		posKey := append(bytes.Clone(keyAuditPrunedPrefix), kind...)
		var from uint64
		if v := meta.Get(posKey); len(v) == 8 {
			from = binary.BigEndian.Uint64(v)
		}
		type victim struct {
			n uint64
			h auditHead
			v []byte
		}
		var vs []victim
		next, c := from, b.Cursor()
		done = true
		for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
			if len(vs) == max || next-from == 64*uint64(max) {
				done = false
				break
			}
			if len(k) != 8 {
				return fmt.Errorf("audit entry: %w", errBadKey)
			}
			num := binary.BigEndian.Uint64(k)
			h, body, err := decodeAuditValue(v)
			if err != nil {
				return fmt.Errorf("audit entry %d: %w", num, err)
			}
			if h.time >= limit {
				break
			}
			next = num + 1
			if body != nil && h.kind == string(kind) {
				vs = append(vs, victim{num, h, bytes.Clone(body)})
			}
		}
		for _, v := range vs {
			for _, k := range auditIndexKeys(&v.h, v.n) {
				if err := idx.Delete(k); err != nil {
					return err
				}
			}
			if id := auditIDOf(v.v); id != "" {
				if err := ids.Delete([]byte(id)); err != nil {
					return err
				}
			}
			t := auditHead{time: v.h.time, flags: v.h.flags | auditFlagPruned, kind: v.h.kind}
			if err := b.Put(u64(v.n), encodeAuditValue(&t, nil)); err != nil {
				return err
			}
		}
		n = len(vs)
		return meta.Put(posKey, u64(next))
	}, true)
	return n, done, err
}

// auditIDOfJSON reads the id of a rendered AuditEvent (audit.Render
// writes it first).
func auditIDOfJSON(js []byte) string {
	const pre = `{"resourceType":"AuditEvent","id":"`
	if !bytes.HasPrefix(js, []byte(pre)) {
		return ""
	}
	rest := js[len(pre):]
	if i := bytes.IndexByte(rest, '"'); i >= 0 {
		return string(rest[:i])
	}
	return ""
}

// PutAuditCheckpoint keeps a signed checkpoint of the tree at size.
func (s *Store) PutAuditCheckpoint(ctx context.Context, size uint64, t time.Time, signed []byte) error {
	return s.commit(ctx, nil, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAuditCheckpoint).Put(auditCheckpointKey(size, t.UnixMicro()), bytes.Clone(signed))
	}, false)
}

// LatestAuditCheckpoint returns the newest checkpoint kept (a copy), nil
// when there is none.
func (s *Store) LatestAuditCheckpoint() ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketAuditCheckpoint).Cursor().Last()
		out = bytes.Clone(v)
		return nil
	})
	return out, err
}
