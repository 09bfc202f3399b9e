package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
)

// TxEntry is one entry of a transaction Bundle, already parsed.
type TxEntry struct {
	FullURL     string        // e.g. "urn:uuid:…", used to rewrite references
	Method      string        // POST, PUT, DELETE or GET
	Type, ID    string        // target; for POST, ID is empty (the store picks one) or one NewID gave
	Resource    proto.Message // for POST and PUT
	IfMatch     uint64        // PUT/DELETE precondition (0: none)
	IfMatchAny  bool          // PUT/DELETE precondition If-Match: * (RFC 9110 section 13.1.1): a current version exists
	IfNoneExist *search.Query // POST conditional create
	// Patch marks a PUT that writes what a PATCH made of the current
	// version (R4 http.html#patch): the version is stored as made by that
	// PATCH, which its history shows (Record.HistoryRequest). A patch
	// creates nothing: without a current version it is an update as any
	// PUT's (the API pins it to the version it patched).
	Patch bool
	// IfAbsent makes a PUT create only: when Type/id exists (and is not
	// deleted) nothing is written and the result is its current version.
	IfAbsent bool
	// KeepUnchanged makes a PUT whose resource, as it would be stored,
	// equals the current version (apart from meta.versionId and
	// meta.lastUpdated) write nothing: its result is the current version,
	// "200 OK", with no new version, history entry or follower run (R4
	// http.html#update leaves it to the server whether an update that
	// changes nothing makes a version). TxOptions.KeepUnchanged sets it
	// for every entry.
	KeepUnchanged bool
	// EventTime, when set, is the time of the event the PUT comes from
	// (HL7 v2 EVN-2, else MSH-7), for the writes that take it
	// (TransactionWith, Batch.Put, Planner.Put). The store keeps, per
	// resource, the time of the newest event that wrote it: a PUT from an
	// older event is not applied (its result is the current version, with
	// Older set), and a Provenance among the same entries no longer claims
	// it as a target (Provenance.target names what the activity wrote:
	// https://hl7.org/fhir/R4/provenance-definitions.html#Provenance.target).
	// Equal times apply in order. A zero EventTime is not ordered.
	EventTime time.Time
	// Pinned writes only if the current version of Type/id is still Expect
	// (0: absent), else the transaction fails with ErrMoved before
	// anything is written: the API decided its access rules on that
	// version, and decides again on the new one.
	Pinned bool
	Expect uint64
	// Visible, for If-None-Exist, is the caller's consent filter: a
	// resource it refuses does not match, so that the answer is the same
	// as if the resource did not exist.
	Visible Filter
	// Claims are identifiers the written resource takes for its own
	// (identity.go): if another resource holds one, the write fails with
	// a *ClaimError before anything is written.
	Claims []Claim
}

// ErrMoved fails a transaction whose Pinned entry's resource has another
// version than Expect.
var ErrMoved = errors.New("store: the resource changed since the write was decided")

// TxResult is the outcome of one entry.
type TxResult struct {
	Status string  // "201 Created", "200 OK", "204 No Content"
	Record *Record // the version written or read (nil for a no-op delete)
	// Older: nothing was written, a newer event's version stands
	// (TxEntry.EventTime).
	Older bool
	// Kept: nothing was written, the current version is what the update
	// would have stored (TxEntry.KeepUnchanged); Record is that version.
	Kept bool
}

// txOrder is FHIR's processing order for transactions:
// https://hl7.org/fhir/R4/http.html#trules
var txOrder = map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}

// Transaction applies entries in one bbolt transaction: all succeed or
// nothing is stored. References to an entry's fullUrl (urn:uuid:…) are
// rewritten to the id the entry gets. Results are in entry order.
func (s *Store) Transaction(ctx context.Context, entries []TxEntry) ([]TxResult, error) {
	if err := s.await(); err != nil { // its GETs and If-None-Exist read
		return nil, err
	}
	if err := checkTargets(entries); err != nil {
		return nil, err
	}
	if err := checkLocalRefs(entries); err != nil {
		return nil, err
	}
	var results []TxResult
	err := s.commit(ctx, nil, func(tx *bolt.Tx) error {
		var err error
		results, err = s.applyTx(tx, entries, writable(tx, bucketIndex))
		return err
	}, true)
	if err != nil {
		return nil, err
	}
	return results, nil
}

// checkTargets refuses two entries that write the same resource.
func checkTargets(entries []TxEntry) error {
	seen := map[string]int{}
	for i, e := range entries {
		if e.Method == "POST" || e.Method == "GET" {
			continue
		}
		k := e.Type + "/" + e.ID
		if j, ok := seen[k]; ok {
			return entryError(outcome.Invalid, i, fmt.Sprintf("entries %d and %d both write %s", j, i, k))
		}
		seen[k] = i
	}
	return nil
}

// checkLocalRefs refuses a reference to a urn:uuid: that no entry has as
// its fullUrl: such a reference names a resource of the Bundle
// (https://hl7.org/fhir/R4/bundle.html#references), and stored unresolved
// it would point nowhere.
func checkLocalRefs(entries []TxEntry) error {
	urls := map[string]bool{}
	for _, e := range entries {
		if e.FullURL != "" {
			urls[e.FullURL] = true
		}
	}
	for i, e := range entries {
		if e.Resource == nil || e.Type == "Bundle" {
			// A Bundle stored as a resource (a document) resolves its
			// urn:uuid: references among its own entries.
			continue
		}
		for _, u := range URNRefs(e.Resource) {
			if !urls[u] {
				return entryError(outcome.Invalid, i, "reference to "+u+", which no entry of the Bundle has as its fullUrl")
			}
		}
	}
	return nil
}

// URNRefs lists the urn:uuid: references of m, each once, in the order
// met: each names the entry of m's Bundle whose fullUrl it is (R4
// bundle.html#references), which must be resolved before m is stored.
func URNRefs(m proto.Message) []string {
	var out []string
	resource.WalkReferences(m, func(r *dtpb.Reference) {
		if u, ok := r.Reference.(*dtpb.Reference_Uri); ok {
			if v := u.Uri.GetValue(); strings.HasPrefix(v, "urn:uuid:") && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	})
	return out
}

// RefMap maps a reference as a Bundle's entries write it, an entry's
// fullUrl ("urn:uuid:…": R4 bundle.html#references), to the "Type/id" that
// entry is stored as.
type RefMap map[string]string

// Rewrite points each reference of m that is a key of l at its value, and
// reports whether it changed one.
func (l RefMap) Rewrite(m proto.Message) bool {
	changed := false
	resource.WalkReferences(m, func(r *dtpb.Reference) {
		if u, ok := r.Reference.(*dtpb.Reference_Uri); ok {
			if t, found := l[u.Uri.GetValue()]; found {
				resource.SetRefString(r, t)
				changed = true
			}
		}
	})
	return changed
}

func entryError(k outcome.Kind, i int, text string) error {
	return outcome.New(k, "transaction entry failed", outcome.Issue{
		Severity: outcome.SevError, Path: fmt.Sprintf("Bundle.entry[%d]", i), Text: text,
	})
}

// entryFailed attaches the entry location to an error from the store.
func entryFailed(i int, err error) error {
	oe, ok := err.(*outcome.Error)
	if !ok {
		return fmt.Errorf("entry %d: %w", i, err)
	}
	out := *oe
	out.Issues = append([]outcome.Issue{{Severity: outcome.SevError, Path: fmt.Sprintf("Bundle.entry[%d]", i), Text: oe.Summary}}, oe.Issues...)
	return &out
}

// applyTx applies entries in tx, their index writes going to idx.
func (s *Store) applyTx(tx *bolt.Tx, entries []TxEntry, idx indexWriter) ([]TxResult, error) {
	results := make([]TxResult, len(entries))
	targets, existing, err := s.resolveTargets(tx, entries)
	if err != nil {
		return nil, err
	}
	rewriteRefs(entries, targets)
	claims := claimsOf(entries, targets)
	if err := checkClaims(tx, claims); err != nil {
		return nil, err
	}
	if err := writeClaims(tx, claims); err != nil {
		return nil, err
	}
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return txOrder[entries[order[a]].Method] < txOrder[entries[order[b]].Method]
	})
	now := s.now()
	for _, i := range order {
		e := entries[i]
		if rec := existing[i]; rec != nil {
			results[i] = TxResult{Status: "200 OK", Record: rec}
			continue
		}
		res, err := s.applyEntry(tx, e, targets[i], now, idx)
		if err != nil {
			return nil, entryFailed(i, err)
		}
		results[i] = res
	}
	return results, nil
}

// resolveTargets gives every entry its Type/id: POSTs get new ids (the one
// they carry, when the caller took it from NewID to name the resource
// before writing it), or the id of the one resource their If-None-Exist
// matches (returned in existing).
func (s *Store) resolveTargets(tx *bolt.Tx, entries []TxEntry) ([]string, map[int]*Record, error) {
	targets := make([]string, len(entries))
	existing := map[int]*Record{}
	for i, e := range entries {
		if e.Method != "POST" {
			targets[i] = e.Type + "/" + e.ID
			continue
		}
		if e.IfNoneExist != nil {
			hits, err := match(&Snapshot{s: s, tx: tx}, e.IfNoneExist, e.Visible)
			if err != nil {
				return nil, nil, entryFailed(i, err)
			}
			if len(hits) > 1 {
				return nil, nil, entryError(outcome.PreconditionFailed, i, "If-None-Exist matches several resources")
			}
			if len(hits) == 1 {
				rec, err := (&Snapshot{s: s, tx: tx}).readVersion(e.Type, hits[0].ID, hits[0].Version)
				if err != nil {
					return nil, nil, err
				}
				existing[i] = rec
				targets[i] = e.Type + "/" + hits[0].ID
				continue
			}
		}
		if e.ID != "" {
			targets[i] = e.Type + "/" + e.ID
			continue
		}
		targets[i] = e.Type + "/" + NewID()
	}
	return targets, existing, nil
}

// rewriteRefs points references to an entry's fullUrl at its target.
func rewriteRefs(entries []TxEntry, targets []string) {
	byURL := RefMap{}
	for i, e := range entries {
		if e.FullURL != "" {
			byURL[e.FullURL] = targets[i]
		}
	}
	if len(byURL) == 0 {
		return
	}
	for _, e := range entries {
		if e.Resource != nil {
			byURL.Rewrite(e.Resource)
		}
	}
}

func (s *Store) applyEntry(tx *bolt.Tx, e TxEntry, target string, now time.Time, idx indexWriter) (TxResult, error) {
	typ, id, _ := strings.Cut(target, "/")
	cur := tx.Bucket(bucketCurrent).Get(currentKey(typ, id))
	var p pointer
	if cur != nil {
		var err error
		if p, err = decodePointer(cur); err != nil {
			return TxResult{}, err
		}
	}
	if e.Pinned && p.version != e.Expect {
		return TxResult{}, ErrMoved
	}
	if e.IfMatch > 0 && p.version != e.IfMatch || e.IfMatchAny && (p.version == 0 || p.deleted) {
		return TxResult{}, outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
	}
	switch e.Method {
	case "GET":
		rec, err := (&Snapshot{s: s, tx: tx}).readCurrent(typ, id)
		if err != nil {
			return TxResult{}, err
		}
		if rec.Deleted {
			return TxResult{}, outcome.New(outcome.Gone, "resource deleted")
		}
		return TxResult{Status: "200 OK", Record: rec}, nil
	case "DELETE":
		if p.version == 0 || p.deleted {
			return TxResult{Status: "204 No Content"}, nil
		}
		c := &change{typ: typ, id: id, method: 'D', version: p.version + 1, lastUpdated: stamp(now, p).UnixMicro(), expect: p.version}
		return TxResult{Status: "204 No Content", Record: c.record()}, s.applyTo(tx, c, idx)
	}
	if e.Method == "POST" && p.version != 0 {
		// an id NewID gave is never in use: a caller reused one
		return TxResult{}, outcome.New(outcome.Conflict, "a created resource's id is already in use")
	}
	if e.IfAbsent && p.version != 0 && !p.deleted {
		rec, err := (&Snapshot{s: s, tx: tx}).readCurrent(typ, id)
		return TxResult{Status: "200 OK", Record: rec}, err
	}
	resource.SetID(e.Resource, id)
	if e.KeepUnchanged && e.Method == "PUT" && p.version != 0 && !p.deleted {
		rec, err := (&Snapshot{s: s, tx: tx}).readCurrent(typ, id)
		if err != nil {
			return TxResult{}, err
		}
		if s.unchanged(e.Resource, rec) {
			return TxResult{Status: "200 OK", Record: rec, Kept: true}, nil
		}
	}
	method, status := writeKind(p, e.Method, e.Patch)
	c, err := s.prepare(e.Resource, method, p.version+1, stamp(now, p), p.created)
	if err != nil {
		return TxResult{}, err
	}
	c.expect = p.version
	if err := s.applyTo(tx, c, idx); err != nil {
		return TxResult{}, err
	}
	return TxResult{Status: status, Record: c.record()}, nil
}
