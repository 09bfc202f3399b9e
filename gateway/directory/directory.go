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
// by role, activity, territory, language and availability and explains
// each decision.
//
// # Caveats
//
//   - Ranking is by territorial precision then reference. Load (open Tasks
//     relative to a capacity extension) is not read yet: routing, which
//     creates the Tasks, is not written.
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
// directory's own types changed since the last one. It reads the snapshot
// ctx carries (store.WithSnapshot: routing inside a write transaction
// must not open another), else one of its own.
func (d *Directory) Index(ctx context.Context) (*Index, error) {
	if r := store.SnapshotFrom(ctx); r != nil {
		return d.indexIn(ctx, r)
	}
	var x *Index
	err := d.st.View(func(r *store.Snapshot) error {
		var err error
		x, err = d.indexIn(ctx, r)
		return err
	})
	return x, err
}

func (d *Directory) indexIn(ctx context.Context, r *store.Snapshot) (*Index, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Only a write to the directory's own types invalidates the index:
	// routing a stay writes Tasks, not PractitionerRoles.
	if d.idx != nil && r.TypesUnchangedSince(d.idx.generation, IndexedTypes...) {
		return d.idx, nil
	}
	recs, err := readAll(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("directory index: %w", err)
	}
	res := make([]proto.Message, 0, len(recs))
	for _, rec := range recs {
		m, err := d.dec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, fmt.Errorf("directory index: %s/%s: %w", rec.Type, rec.ID, err)
		}
		res = append(res, m)
	}
	// A write transaction's generation is 0: an index of its uncommitted
	// state serves it alone.
	gen := r.TypesGeneration(IndexedTypes...)
	x := BuildIndex(gen, res)
	if gen != 0 {
		d.idx = x
	}
	return x, nil
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

// Candidates is Index.Candidates on the current index.
func (d *Directory) Candidates(ctx context.Context, q Query) ([]Candidate, Explanation, error) {
	x, err := d.Index(ctx)
	if err != nil {
		return nil, Explanation{}, err
	}
	c, ex := x.Candidates(q)
	return c, ex, nil
}
