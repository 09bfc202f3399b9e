// Package relabel labels stored data again under the current labelling
// rules (mappings/sensitivity, category.LabelContent), once per version of
// those rules (sensitivity.Version), when Relais starts.
//
// Data an earlier Relais stored keeps the labels it was stored with: an
// HIV diagnosis stored before the rule named B20 carries no HIV label, and
// a nurse whose permit names CLIN would read it. The pass reads the
// current version of every resource whose labels depend on its content
// (sensitivity.Types), applies the one rule (sensitivity.Label, resolving
// what a resource lists as content among the stored resources, themselves
// labelled under the current rules), and writes a new version of each one
// that gains a label, with the source Binary and the warnings of a
// Provenance that gains one (sensitivity.EachSource). It writes new
// versions: history stays as it was disclosed, meta.versionId and
// meta.lastUpdated move on, and the rule only adds labels, so none that a
// source or a consent administrator set is taken off.
//
// It walks the store's change log type by type, a chunk at a time: each
// chunk's new versions are one transaction, written only if their
// resources did not change since they were read (store.TxEntry.Pinned),
// and its position is recorded after it (store.SetCursor). A pass stopped
// anywhere (a crash, a signal) commits whole chunks or nothing, and the
// next start goes on from the last recorded position; a chunk committed
// without its position is read again and finds nothing left to label.
// When every type is done the rules' version is recorded, and later
// starts read nothing.
//
// Each new version is recorded in the audit log, in its chunk's
// transaction, as a change of the resource's security attributes
// (audit.RelabelEvent), one per version and patient it is about: a
// consent officer sees which labels of a patient's data the rules
// changed, and when, by reference (the labels are in the versions).
//
// The pass runs before the server listens, and no request is served
// until it ends: until a resource is relabelled its old labels would
// still decide who reads it (an HIV diagnosis stored unlabelled would go
// to whoever may read CLIN), so serving reads during the pass is not safe
// for consent.
//
// What it logs is counts per resource type, never an id or a code.
package relabel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/mappings/sensitivity"
)

// DoneCursor is the store cursor (store.Cursor) holding the version of the
// rules the stored data was last labelled under (0: never).
const DoneCursor = "relabel"

// DefaultChunk is how many change-log entries one transaction covers.
const DefaultChunk = 256

// maxDepth bounds how far a resource's content is followed (an Encounter's
// diagnosis, a Composition's DiagnosticReport and its results).
const maxDepth = 4

// Config is what a pass needs.
type Config struct {
	Store  *store.Store
	Codec  *codec.Codec
	Logger *slog.Logger // default slog.Default()
	// Chunk is how many change-log entries one transaction covers
	// (DefaultChunk when 0).
	Chunk int
	// CodesOnly reports whether a resource is labelled by its own codes
	// alone, not by what it refers to (routing's plan requests, whose
	// reasons are references their recipient cannot follow:
	// routing.PlanRequest); nil: none is.
	CodesOnly func(proto.Message) bool
	// Progress, when set, is called after each chunk is recorded, with
	// the counts so far: a pass whose context ends there stops before the
	// next chunk.
	Progress func(Summary)
	// Now is the clock of the audit events (time.Now when nil).
	Now func() time.Time
}

// Summary is what a pass did.
type Summary struct {
	Version int // the rules' version (sensitivity.Version)
	// Current: the stored data was labelled under Version already, and
	// nothing was read.
	Current bool
	Scanned int // current versions read
	// Relabelled counts the new versions written, per resource type.
	Relabelled map[string]int
}

// Total is the number of new versions written.
func (s Summary) Total() int {
	n := 0
	for _, c := range s.Relabelled {
		n += c
	}
	return n
}

// Run labels the stored data under the current rules, unless it was
// already (DoneCursor), and logs a summary of counts.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = DefaultChunk
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sum := Summary{Version: sensitivity.Version, Relabelled: map[string]int{}}
	done, err := cfg.Store.Cursor(DoneCursor)
	if err != nil {
		return sum, fmt.Errorf("relabel: %w", err)
	}
	if done >= uint64(sensitivity.Version) {
		sum.Current = true
		cfg.Logger.Info("sensitivity labels current", "rules", sensitivity.Version)
		return sum, nil
	}
	start := time.Now()
	// said before the pass, which may take minutes on a large store, so
	// that an operator knows why the server does not listen yet
	cfg.Logger.Info("labelling stored data under the current sensitivity rules", "rules", sensitivity.Version, "previous", done)
	p := &pass{cfg: cfg, sum: &sum}
	for _, typ := range sensitivity.Types {
		scanned, relabelled := sum.Scanned, sum.Total()
		if err := p.walk(ctx, typ); err != nil {
			return sum, fmt.Errorf("relabel %s: %w", typ, err)
		}
		cfg.Logger.Debug("sensitivity labels of a type brought up to date", "type", typ,
			"scanned", sum.Scanned-scanned, "relabelled", sum.Total()-relabelled)
	}
	if err := cfg.Store.SetCursor(ctx, DoneCursor, uint64(sensitivity.Version)); err != nil {
		return sum, fmt.Errorf("relabel: %w", err)
	}
	attrs := []any{"rules", sensitivity.Version, "scanned", sum.Scanned, "relabelled", sum.Total(),
		"took", time.Since(start).Round(time.Millisecond).String()}
	for _, typ := range sensitivity.Types {
		if n := sum.Relabelled[typ]; n > 0 {
			attrs = append(attrs, typ, n)
		}
	}
	if n := sum.Relabelled["Binary"]; n > 0 {
		attrs = append(attrs, "Binary", n)
	}
	if n := sum.Relabelled["OperationOutcome"]; n > 0 {
		attrs = append(attrs, "OperationOutcome", n)
	}
	cfg.Logger.Info("sensitivity labels brought up to date", attrs...)
	return sum, nil
}

// pass is one Run.
type pass struct {
	cfg Config
	sum *Summary
}

// ProgressCursor is the store cursor holding how far in typ's change log
// the pass under the current rules has gone.
func ProgressCursor(typ string) string {
	return fmt.Sprintf("%s/%d/%s", DoneCursor, sensitivity.Version, typ)
}

// walk relabels typ's resources, a chunk of its change log at a time, from
// the recorded position.
func (p *pass) walk(ctx context.Context, typ string) error {
	name := ProgressCursor(typ)
	after, err := p.cfg.Store.Cursor(name)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		changes, err := p.cfg.Store.ChangesAfter(typ, after, p.cfg.Chunk)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if err := p.chunk(ctx, changes); err != nil {
			return err
		}
		after = changes[len(changes)-1].Seq
		if err := p.cfg.Store.SetCursor(ctx, name, after); err != nil {
			return err
		}
		if p.cfg.Progress != nil {
			p.cfg.Progress(*p.sum)
		}
	}
}

// chunk writes, in one transaction, the new versions the changes' current
// resources need; when one of them changed meanwhile it reads them again.
func (p *pass) chunk(ctx context.Context, changes []store.Change) error {
	for attempt := 0; ; attempt++ {
		b := &batch{p: p, at: map[string]int{}, counts: map[string]int{}}
		if err := b.plan(changes); err != nil {
			return err
		}
		if len(b.entries) > 0 {
			_, err := p.cfg.Store.TransactionWith(ctx, b.entries, store.TxOptions{Audit: b.events()})
			if errors.Is(err, store.ErrMoved) && attempt < 8 {
				continue
			}
			if err != nil {
				return err
			}
		}
		p.sum.Scanned += b.scanned
		for typ, n := range b.counts {
			p.sum.Relabelled[typ] += n
		}
		return nil
	}
}

// batch is one chunk's new versions.
type batch struct {
	p       *pass
	entries []store.TxEntry
	at      map[string]int // "Type/id" -> index in entries
	counts  map[string]int
	scanned int
	err     error // the first read error of a resolver
}

// plan reads each change's resource, if the change is its current version,
// and labels it.
func (b *batch) plan(changes []store.Change) error {
	seen := map[string]bool{}
	for _, c := range changes {
		key := c.Type + "/" + c.ID
		if seen[key] {
			continue
		}
		m, ver, err := b.read(c.Type, c.ID)
		if err != nil {
			return err
		}
		if m == nil || ver != c.Version {
			continue // deleted, or a later change of the log lists it
		}
		seen[key] = true
		b.scanned++
		resolve := b.resolver(0)
		if b.p.cfg.CodesOnly != nil && b.p.cfg.CodesOnly(m) {
			resolve = nil
		}
		before := labels(m)
		sensitivity.Label(m, resolve)
		if b.err != nil {
			return b.err
		}
		if labels(m) != before {
			b.add(c.Type, c.ID, ver, m)
		}
		if err := b.sources(m); err != nil {
			return err
		}
	}
	return nil
}

// sources gives the sources of the Provenance m (sensitivity.EachSource)
// its sensitivity.
func (b *batch) sources(m proto.Message) error {
	var err error
	sensitivity.EachSource(m, func(ref *dtpb.Reference) {
		typ, id, _, ok := resource.RefTarget(ref)
		if !ok || err != nil {
			return
		}
		if i, ok := b.at[typ+"/"+id]; ok {
			sensitivity.LabelSource(b.entries[i].Resource, m)
			return
		}
		var src proto.Message
		var ver uint64
		if src, ver, err = b.read(typ, id); err != nil || src == nil {
			return
		}
		before := labels(src)
		sensitivity.LabelSource(src, m)
		if labels(src) != before {
			b.add(typ, id, ver, src)
		}
	})
	return err
}

// add puts m's new version among the entries, written only over version
// ver.
func (b *batch) add(typ, id string, ver uint64, m proto.Message) {
	b.at[typ+"/"+id] = len(b.entries)
	b.entries = append(b.entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: m, Pinned: true, Expect: ver})
	b.counts[typ]++
}

// events are the audit events of the chunk's new versions
// (audit.RelabelEvent), one per version and patient it is about (one
// naming none for data about nobody: a source Binary, warnings), recorded
// with them or not at all. Each entry is pinned to the version it was
// labelled from: it writes the next.
func (b *batch) events() []audit.Event {
	now := b.p.cfg.Now()
	var out []audit.Event
	for _, e := range b.entries {
		r := audit.Relabel{Time: now, Rules: sensitivity.Version,
			What: e.Type + "/" + e.ID + "/_history/" + strconv.FormatUint(e.Expect+1, 10)}
		pats := consent.FactsOf(e.Resource).Patients
		if len(pats) == 0 {
			pats = []string{""}
		}
		for _, p := range pats {
			r.ID, r.Patient = "relabel-"+store.NewID(), p
			out = append(out, audit.RelabelEvent(&r))
		}
	}
	return out
}

// read returns the current version of Type/id decoded, and its number; nil
// when it does not exist or is deleted.
func (b *batch) read(typ, id string) (proto.Message, uint64, error) {
	rec, err := b.p.cfg.Store.Read(typ, id)
	switch outcome.KindOf(err) {
	case outcome.NotFound, outcome.Gone:
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	m, err := b.p.cfg.Codec.DecodeStored(rec.JSON)
	if err != nil {
		return nil, 0, outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
	}
	return m, rec.Version, nil
}

// resolver finds what a resource lists as content: among the chunk's new
// versions, else as stored, labelled under the current rules itself (so
// that an Encounter whose diagnosis is stored unlabelled is labelled from
// the diagnosis's codes).
func (b *batch) resolver(depth int) sensitivity.Resolver {
	return func(ref *dtpb.Reference) proto.Message {
		typ, id, _, ok := resource.RefTarget(ref)
		if !ok {
			return nil
		}
		if i, ok := b.at[typ+"/"+id]; ok {
			return b.entries[i].Resource
		}
		m, _, err := b.read(typ, id)
		if err != nil {
			if b.err == nil {
				b.err = err
			}
			return nil
		}
		if m != nil && depth < maxDepth {
			sensitivity.Label(m, b.resolver(depth+1))
		}
		return m
	}
}

// labels is how many labels m carries: the rule only adds.
func labels(m proto.Message) int {
	if meta := resource.PeekMeta(m); meta != nil {
		return len(meta.Security)
	}
	return 0
}
