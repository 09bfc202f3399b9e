// Package directory is the community directory that discharge routing
// chooses recipients from: the PractitionerRoles and HealthcareServices
// of the store, with the pathway roles their codes give (RoleCodes), the
// territories they cover (the ROR IG's ror-territorial-division on the
// HealthcareService and the Organization) and, for the patient, the place
// her home address resolves to through the INSEE commune table
// (Communes).
//
// # Basics
//
// Import loads a directory export (a Bundle or NDJSON) into the store,
// idempotently. Directory keeps an Index of the store's directory and
// rebuilds it when the store's generation moves; Index.Candidates filters
// by role, activity, territory, language, availability and capacity and
// explains each decision.
//
// Capacity is the project's extension ExtOpenTaskCapacity
// (https://relais-health.github.io/fhir/StructureDefinition/open-task-capacity,
// valueUnsignedInt) on a PractitionerRole or a HealthcareService: how
// many open Tasks it takes at once. The open Tasks are the store's
// counts (store.Snapshot.OpenTasks: requested, received, accepted, ready,
// in-progress), read per query, never kept in the Index, which only
// changes with the directory. A candidate holding as many as its
// capacity, or more, is skipped ("at capacity: 2 open Tasks of 2"); the
// others are ranked by load (open Tasks over capacity), then territorial
// precision, then reference. Like language and availability, a capacity
// that is absent is no constraint.
//
// # Caveats
//
//   - A candidate stating no capacity ranks as empty (load 0), whatever
//     it holds: its open Tasks are not read. Stating a capacity can only
//     move a candidate down the ranking, never up past those that state
//     none.
//   - Acceptance history (who accepts what she is asked) does not rank
//     candidates yet.
//   - The index is rebuilt whole when any resource changes (Snapshot
//     Generation), which every write advances; a store with frequent
//     writes and a large directory rebuilds often. Building it for 50,000
//     roles takes seconds: a TODO is an update from the change log.
//   - Import does not go through gateway/identity's resolver: a
//     Practitioner or Organization without an id gets one derived from
//     its national identifier (RPPS, IDNPS, FINESS, SIRET …), so that a
//     re-import updates it, but one already stored under another id from
//     another feed is not merged with it.
//   - availableTime hours are compared with Query.At's wall clock in its
//     own location: pass a time in Europe/Paris (or Brussels).
//   - A 4-digit code at commune level is a Belgian postal code; Belgian
//     patients are matched on their postal code only.
package directory

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// IndexedTypes are the resource types the index reads.
var IndexedTypes = []string{"Organization", "Practitioner", "HealthcareService", "PractitionerRole"}

// Decoder parses a stored resource (codec.Codec.DecodeStored).
type Decoder interface {
	DecodeStored(b []byte) (proto.Message, error)
}

// Directory serves candidates from the store's directory, keeping an
// Index until the store's resources change.
type Directory struct {
	st  *store.Store
	dec Decoder

	mu  sync.Mutex
	idx *Index
}

// New returns a Directory over st.
func New(st *store.Store, dec Decoder) *Directory { return &Directory{st: st, dec: dec} }

// Index returns an index of the current directory, rebuilt when the
// store's generation moved since the last one.
func (d *Directory) Index(ctx context.Context) (*Index, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var gen uint64
	var recs []*store.Record
	err := d.st.View(func(r *store.Snapshot) error {
		// Only a write to the directory's own types invalidates the index:
		// routing a stay writes Tasks, not PractitionerRoles.
		gen = r.TypesGeneration(IndexedTypes...)
		if d.idx != nil && d.idx.generation == gen && gen != 0 {
			return nil
		}
		var err error
		recs, err = readAll(ctx, r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory index: %w", err)
	}
	if recs == nil && d.idx != nil && d.idx.generation == gen && gen != 0 {
		return d.idx, nil
	}
	res := make([]proto.Message, 0, len(recs))
	for _, rec := range recs {
		m, err := d.dec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, fmt.Errorf("directory index: %s/%s: %w", rec.Type, rec.ID, err)
		}
		res = append(res, m)
	}
	d.idx = BuildIndex(gen, res)
	return d.idx, nil
}

// readAll reads every current resource of IndexedTypes in r.
func readAll(ctx context.Context, r *store.Snapshot) ([]*store.Record, error) {
	var out []*store.Record
	for _, typ := range IndexedTypes {
		hits, err := r.Search(&search.Query{Type: typ}, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			rec, err := r.Read(typ, h.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

// Candidates is Index.Candidates on the current index, with the open
// Tasks read per query (never kept in the index: every Task written moves
// them) from the snapshot ctx carries (store.SnapshotFrom), so that a
// caller inside a transaction sees its own Tasks and opens no second
// one; without it, from a snapshot of its own, taken only when a
// capacity is stated somewhere.
func (d *Directory) Candidates(ctx context.Context, q Query) ([]Candidate, Explanation, error) {
	x, err := d.Index(ctx)
	if err != nil {
		return nil, Explanation{}, err
	}
	if r := store.SnapshotFrom(ctx); r != nil {
		return x.Candidates(q, r)
	}
	if !x.capacities {
		return x.Candidates(q, nil)
	}
	var c []Candidate
	var ex Explanation
	err = d.st.View(func(r *store.Snapshot) error {
		c, ex, err = x.Candidates(q, r)
		return err
	})
	return c, ex, err
}
