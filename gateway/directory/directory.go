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
//   - availableTime hours are compared with the wall clock of Query.At's
//     location: pass At in the patient's zone (Place.Location), where the
//     candidates covering her place work.
//   - A 4-digit code at commune level is a Belgian postal code; Belgian
//     patients are matched on their postal code only.
package directory

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	eppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/endpoint_go_proto"
	hspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/healthcare_service_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
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
// Index until the directory changes. It keeps the directory's resources
// decoded, so that a change costs the decoding of what changed; and since
// the types it reads are also written by every source (the Practitioners
// and Organizations of HL7 v2 messages and documents), a change to one no
// role or service refers to keeps the index as it is.
type Directory struct {
	st  *store.Store
	dec Decoder

	mu   sync.Mutex
	idx  *Index
	res  map[string]proto.Message // idx's resources, by "Type/id"
	used map[string]bool          // what idx's roles and services refer to
	// stale are resources changed since res was read that no role or
	// service referred to then: read again only when the index is rebuilt
	stale      map[string]bool
	refreshing atomic.Bool // an index of the committed state is being built
}

// maxIncremental bounds the changes applied to the kept resources; more
// (an import) read the directory again.
const maxIncremental = 4096

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
	// A write transaction's generation is 0: what is derived from its
	// uncommitted state serves it alone (the kept resources are copied,
	// not changed), and the committed state's index is built beside it for
	// the next ones.
	gen := r.TypesGeneration(IndexedTypes...)
	res, relevant, err := d.changed(ctx, r, gen != 0)
	if err != nil {
		return nil, fmt.Errorf("directory index: %w", err)
	}
	x := d.idx
	used := d.used
	if relevant || x == nil {
		list := make([]proto.Message, 0, len(res))
		for _, m := range res {
			list = append(list, m)
		}
		x, used = BuildIndex(gen, list), referred(list)
	} else {
		x = x.at(gen)
	}
	if gen != 0 {
		d.idx, d.res, d.used = x, res, used
	} else if d.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer d.refreshing.Store(false)
			_ = d.st.ViewNow(func(r *store.Snapshot) error {
				_, err := d.indexIn(context.Background(), r) // not ctx: it carries the write transaction
				return err
			})
		}()
	}
	return x, nil
}

// changed returns the directory's resources in r: the kept ones (changed
// in place when own, else a copy) with what changed since the index,
// decoded, or all of them read again; relevant is false when no change
// touches a role, a service or what they refer to.
func (d *Directory) changed(ctx context.Context, r *store.Snapshot, own bool) (map[string]proto.Message, bool, error) {
	var changes []store.Change
	if d.idx != nil && d.res != nil {
		for _, typ := range IndexedTypes {
			cs, err := r.ChangesAfter(typ, d.idx.generation, maxIncremental+1)
			if err != nil {
				return nil, false, err
			}
			changes = append(changes, cs...)
		}
	}
	if d.res == nil || d.idx == nil || len(changes) > maxIncremental {
		if own {
			d.stale = nil
		}
		recs, err := readAll(ctx, r)
		if err != nil {
			return nil, false, err
		}
		res := make(map[string]proto.Message, len(recs))
		for _, rec := range recs {
			m, err := d.dec.DecodeStored(rec.JSON)
			if err != nil {
				return nil, false, fmt.Errorf("%s/%s: %w", rec.Type, rec.ID, err)
			}
			res[rec.Type+"/"+rec.ID] = m
		}
		return res, true, nil
	}
	relevant := false
	for _, c := range changes {
		if c.Type == "PractitionerRole" || c.Type == "HealthcareService" || d.used[c.Type+"/"+c.ID] {
			relevant = true
			break
		}
	}
	if !relevant {
		// Every HL7 v2 message writes Practitioners and Organizations
		// that no role refers to: the index stands, and what changed is
		// read when a rebuild needs it, not decoded for every plan.
		if own {
			if d.stale == nil {
				d.stale = map[string]bool{}
			}
			for _, c := range changes {
				d.stale[c.Type+"/"+c.ID] = true
			}
			if len(d.stale) > maxIncremental {
				d.res, d.stale = nil, nil // the next index reads them all
			}
		}
		return d.res, false, nil
	}
	res := d.res
	if !own {
		res = maps.Clone(d.res)
	}
	refs := make(map[string]bool, len(changes)+len(d.stale))
	for ref := range d.stale {
		refs[ref] = true
	}
	for _, c := range changes {
		refs[c.Type+"/"+c.ID] = true
	}
	for ref := range refs {
		typ, id, _ := strings.Cut(ref, "/")
		rec, err := r.Read(typ, id)
		switch {
		case outcome.KindOf(err) == outcome.NotFound || outcome.KindOf(err) == outcome.Gone:
			delete(res, ref)
			continue
		case err != nil:
			return nil, false, err
		}
		m, err := d.dec.DecodeStored(rec.JSON)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", ref, err)
		}
		res[ref] = m
	}
	if own {
		d.stale = nil
	}
	return res, relevant, nil
}

// referred lists what the roles and services among res refer to: the
// Organizations, Practitioners and HealthcareServices whose changes
// change the index.
func referred(res []proto.Message) map[string]bool {
	used := map[string]bool{}
	for _, m := range res {
		switch v := m.(type) {
		case *prrpb.PractitionerRole:
			used[resource.RefString(v.GetOrganization())] = true
			used[resource.RefString(v.GetPractitioner())] = true
			for _, s := range v.GetHealthcareService() {
				used[resource.RefString(s)] = true
			}
		case *hspb.HealthcareService:
			used[resource.RefString(v.GetProvidedBy())] = true
		}
	}
	return used
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

// EndpointAddresses lists the address of every active Endpoint of the
// directory (R4 Endpoint.status active): where push notifications may go
// when the server keeps to the directory's endpoints
// (relais serve --endpoint-allow-list).
func (d *Directory) EndpointAddresses() ([]string, error) {
	var out []string
	err := d.st.ViewNow(func(r *store.Snapshot) error {
		hits, err := r.Search(&search.Query{Type: "Endpoint"}, nil)
		if err != nil {
			return err
		}
		for _, h := range hits {
			rec, err := r.VRead("Endpoint", h.ID, h.Version)
			if err != nil {
				continue
			}
			m, err := d.dec.DecodeStored(rec.JSON)
			if err != nil {
				return fmt.Errorf("Endpoint/%s: %w", h.ID, err)
			}
			ep, ok := m.(*eppb.Endpoint)
			if !ok || ep.GetStatus().GetValue() != codes.EndpointStatusCode_ACTIVE {
				continue
			}
			if a := strings.TrimSpace(ep.GetAddress().GetValue()); a != "" {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}
