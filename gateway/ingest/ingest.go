// Package ingest stores what the mappings produce: it turns a mapping's
// transaction Bundle (every entry a PUT to a deterministic Type/id) into one
// store transaction, and applies the rules of HL7 v2 feeds on the way
// (hl7v2.go): resends are answered with the original ACK, older events never
// overwrite newer data, and the ACK exists only once the message is durably
// committed (to the store's inbox; queue.go writes its resources in
// batches).
//
// The transports (gateway/api's /ingest routes, gateway/mllp, `relais
// convert`) call this package; it holds no HTTP or socket code. Map gives
// the mapping alone, with the same options the server uses, so that `relais
// convert` prints exactly what would be stored.
//
// # Lifecycle
//
// New builds an Ingester and starts nothing. Start writes the HL7 v2
// messages a previous run acknowledged and did not write, then starts the
// queue that writes accepted messages and the loop that prunes expired ACK
// records; HL7v2 refuses messages before Start (ErrNotStarted) and after
// Close (ErrClosed). Close, called once the transports have stopped
// accepting and before the store closes, writes every message accepted so
// far, then stops the pruning. CDA, Assessment, Store and the inbox
// operations need neither.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/assessment"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/cda"
	"github.com/relais-health/relais/mappings/fhirdoc"
	"github.com/relais-health/relais/mappings/hl7v2"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Format names a source format, as `relais convert --from` spells it.
type Format string

// The formats.
const (
	HL7v2      Format = "hl7v2"
	CDA        Format = "cda"
	FHIR       Format = "fhir"       // a FHIR R4 document (Bundle of type document)
	AGGIR      Format = "aggir"      // AGGIR JSON or a TDDUI QuestionnaireResponse
	Assessment Format = "assessment" // any assessment input (AGGIR, QuestionnaireResponse, needs)
)

// Formats lists the accepted formats.
var Formats = []Format{HL7v2, CDA, FHIR, AGGIR, Assessment}

// Options configure the mappings, for the server and `relais convert` alike.
type Options struct {
	// Now is the clock for Provenance, ACKs and lastUpdated; default time.Now.
	Now func() time.Time
	// Zone reads HL7 v2 and CDA times written without an offset; default UTC.
	Zone *time.Location
	// MaxCDA bounds a CDA document, embedded ones included; default
	// cda.DefaultMaxSize.
	MaxCDA int
	// Codec parses QuestionnaireResponse input; default: a shared one.
	Codec *codec.Codec
}

// Map translates data from format f into a transaction Bundle, storing
// nothing. HL7 v2 errors are *er7.Error; the others *outcome.Error (kind
// Invalid or TooLarge) whose issues say what was wrong.
func Map(f Format, data []byte, o Options) (*bundle.Result, error) {
	switch f {
	case HL7v2:
		cv, err := hl7v2.Convert(data, o.hl7v2())
		if err != nil {
			return nil, err
		}
		return cv.Result, nil
	case CDA:
		return cda.Convert(data, o.cda())
	case FHIR:
		return fhirdoc.Convert(data, o.fhirdoc())
	case AGGIR:
		return assessment.ConvertAGGIR(data, o.assessment(""))
	case Assessment:
		return assessment.Convert(data, o.assessment(""))
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

func (o Options) cda() cda.Options {
	return cda.Options{Now: o.Now, MaxSize: o.MaxCDA, Location: o.Zone}
}

func (o Options) fhirdoc() fhirdoc.Options {
	return fhirdoc.Options{Now: o.Now, Codec: o.Codec}
}

// hl7v2 wires MDM documents that carry CDA to the CDA mapping.
func (o Options) hl7v2() hl7v2.Options {
	return hl7v2.Options{
		Now: o.Now, Zone: o.Zone,
		EmbeddedCDA: func(doc []byte) (*bundle.Result, error) { return cda.Convert(doc, o.cda()) },
	}
}

func (o Options) assessment(carePlan string) assessment.Options {
	return assessment.Options{Now: o.Now, CarePlan: carePlan, Codec: o.Codec}
}

// Config configures an Ingester.
type Config struct {
	Store  *store.Store // required
	Logger *slog.Logger // default slog.Default()
	// ACKRetention is how long the ACK record of an HL7 v2 message is kept
	// for resend detection (retention.go); 0 means DefaultACKRetention, a
	// negative value forever.
	ACKRetention time.Duration
	Options
}

// Ingester maps and stores source documents and messages. It is safe for
// concurrent use.
type Ingester struct {
	store *store.Store
	ident *identity.Resolver // identity.go
	codec *codec.Codec       // reads stored resources (discharge.go)
	log   *slog.Logger
	opts  Options
	acker er7.Acker
	keep  time.Duration // ACK records: <0 forever

	q *queue // HL7 v2 messages being written (queue.go), built by New

	// state is notStarted, then running after Start, then closed after
	// Close; mu orders Start and Close.
	state atomic.Int32
	mu    sync.Mutex
	// stopPrune ends the ACK-retention loop (retention.go), which closes
	// pruned when it has returned.
	stopPrune context.CancelFunc
	pruned    chan struct{}
}

// The states of an Ingester.
const (
	notStarted int32 = iota
	running
	closed
)

// Errors HL7v2 returns outside Start..Close: nothing is stored or
// acknowledged. Calling it before Start is a wiring mistake; after Close
// the server is shutting down and the sender sends again later.
var (
	ErrNotStarted = outcome.New(outcome.Internal, "ingest: HL7 v2 message before Start")
	ErrClosed     = outcome.New(outcome.Busy, "ingest: shutting down; send again")
)

// New builds an Ingester.
func New(cfg Config) (*Ingester, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("ingest: Config.Store is required")
	}
	in := &Ingester{store: cfg.Store, log: cfg.Logger, opts: cfg.Options, keep: cfg.ACKRetention}
	if in.keep == 0 {
		in.keep = DefaultACKRetention
	}
	if in.log == nil {
		in.log = slog.Default()
	}
	if in.opts.Now == nil {
		in.opts.Now = time.Now
	}
	in.acker = er7.Acker{Now: in.opts.Now}
	c := in.opts.Codec
	if c == nil {
		c = codec.MustNew()
	}
	in.codec, in.ident = c, identity.New(c, in.opts.Now)
	in.q = newQueue(in)
	return in, nil
}

// Start writes the HL7 v2 messages acknowledged and not written before the
// store was last closed (a crash, or a stop with the store unavailable;
// see recoverQueued) and returns how many; then it starts the queue and
// the ACK-retention loop. Call it once, before any transport accepts
// messages and before anything reads the store: reads wait for those
// messages. ctx bounds the recovery only. If recovery fails, nothing is
// started, the messages stay in the inbox for the next start, and the
// Ingester cannot be started again.
func (in *Ingester) Start(ctx context.Context) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	switch in.state.Load() {
	case running:
		return 0, errors.New("ingest: Start called twice")
	case closed:
		return 0, errors.New("ingest: Start after Close")
	}
	n, err := in.recoverQueued(ctx)
	if err != nil {
		in.state.Store(closed)
		return 0, fmt.Errorf("recover accepted HL7 v2 messages: %w", err)
	}
	go in.q.run()
	pctx, cancel := context.WithCancel(context.Background())
	in.stopPrune, in.pruned = cancel, make(chan struct{})
	go func() { defer close(in.pruned); in.pruneLoop(pctx) }()
	in.state.Store(running)
	return n, nil
}

// Close writes every HL7 v2 message accepted so far, then stops the
// ACK-retention loop, and returns once both have stopped. Call it after
// the transports stopped accepting and before the store closes: a message
// accepted after Close is in the store's inbox only, and the next Start
// writes it. Close is idempotent, and harmless before Start.
func (in *Ingester) Close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state.Swap(closed) != running {
		return
	}
	close(in.q.stop)
	<-in.q.done
	in.stopPrune()
	<-in.pruned
}

// Authorize is asked, before anything is stored, whether the caller may
// create and update resources of the given types (sorted, distinct).
// Nil allows everything.
type Authorize func(types []string) error

// Stored is the outcome of storing one mapping result.
type Stored struct {
	// Results has one entry per Bundle entry, in order: the version each
	// PUT wrote, or the current version where nothing was written (an
	// unchanged resource, or one kept because newer data was stored).
	Results []store.TxResult
	// Issues are the mapping's warnings (also stored, as the Bundle's
	// OperationOutcome).
	Issues []outcome.Issue
}

// Store stores res, mapped from src, with one transaction, its identities
// resolved first (identity.go).
func (in *Ingester) Store(ctx context.Context, res *bundle.Result, src identity.Source, authz Authorize) (*Stored, error) {
	return in.storeAudited(ctx, res, src, authz, nil)
}

// storeAudited is Store, with the AuditEvents events makes of the resolved
// entries recorded in the same transaction.
func (in *Ingester) storeAudited(ctx context.Context, res *bundle.Result, src identity.Source, authz Authorize, events func([]store.TxEntry) []audit.Event) (*Stored, error) {
	entries, err := Entries(res)
	if err != nil {
		return nil, err
	}
	if err := authorize(authz, entries); err != nil {
		return nil, err
	}
	results, err := in.storeResolved(ctx, entries, res, src, events)
	if err != nil {
		return nil, err
	}
	return &Stored{Results: results, Issues: res.Issues}, nil
}

// CDA maps a CDA document and stores it.
func (in *Ingester) CDA(ctx context.Context, doc []byte, authz Authorize) (*Stored, error) {
	res, err := cda.Convert(doc, in.opts.cda())
	if err != nil {
		return nil, err
	}
	// The document's import event is committed with it, naming the
	// Patient identity resolution linked it to.
	return in.storeAudited(ctx, res, identity.CDA, authz, func(resolved []store.TxEntry) []audit.Event {
		return []audit.Event{in.documentEvent(ctx, "CDA", resolved)}
	})
}

// FHIRDocument maps a FHIR R4 document (a Bundle of type document) and
// stores it as a CDA document is stored: its identities resolved, an
// earlier version of it replaced, its import event committed with it.
// Its Patient's INS counts as the status its identity-reliability
// extension states, as for a Patient written through the FHIR API.
func (in *Ingester) FHIRDocument(ctx context.Context, doc []byte, authz Authorize) (*Stored, error) {
	res, err := fhirdoc.Convert(doc, in.opts.fhirdoc())
	if err != nil {
		return nil, err
	}
	return in.storeAudited(ctx, res, identity.API, authz, func(resolved []store.TxEntry) []audit.Event {
		return []audit.Event{in.documentEvent(ctx, "FHIR document", resolved)}
	})
}

// Assessment maps an assessment (AGGIR JSON, a TDDUI QuestionnaireResponse
// or a needs assessment) and stores it. A needs assessment is linked to the
// patient's active CarePlan when the store has one.
func (in *Ingester) Assessment(ctx context.Context, input []byte, authz Authorize) (*Stored, error) {
	res, err := assessment.Convert(input, in.opts.assessment(""))
	if err != nil {
		return nil, err
	}
	if kind, _ := assessment.Detect(input); kind == assessment.KindNeeds {
		plan, err := in.activeCarePlan(subjectOf(res))
		if err != nil {
			return nil, err
		}
		if plan != "" {
			if res, err = assessment.Convert(input, in.opts.assessment(plan)); err != nil {
				return nil, err
			}
		}
	}
	return in.Store(ctx, res, identity.Assessment, authz)
}

// subjectOf is the "Patient/id" the Bundle is about: its first Patient.
func subjectOf(res *bundle.Result) string {
	for _, e := range res.Bundle.GetEntry() {
		if r := resource.Unwrap(e.GetResource()); r != nil && resource.Type(r) == "Patient" {
			return "Patient/" + resource.ID(r)
		}
	}
	return ""
}

// activeCarePlan returns "CarePlan/id" of the patient's most recently
// updated active CarePlan, or "".
func (in *Ingester) activeCarePlan(patient string) (string, error) {
	if patient == "" {
		return "", nil
	}
	q, err := search.Parse("CarePlan", url.Values{"subject": {patient}, "status": {"active"}}, true)
	if err != nil {
		return "", fmt.Errorf("care plan query: %w", err)
	}
	hits, err := in.store.Search(q, nil)
	if err != nil || len(hits) == 0 {
		return "", err
	}
	best := hits[0]
	for _, h := range hits[1:] {
		if h.LastUpdated > best.LastUpdated {
			best = h
		}
	}
	return "CarePlan/" + best.ID, nil
}

// Entries turns a mapping's Bundle into store entries: every entry must be
// a PUT of a resource to its own Type/id.
func Entries(res *bundle.Result) ([]store.TxEntry, error) {
	entries, err := entriesOf(res)
	if err != nil {
		return nil, err
	}
	if path, ok := longString(entries); ok {
		return nil, outcome.New(outcome.Unprocessable, "a string exceeds 1 MB",
			outcome.Issue{Severity: outcome.SevError, Path: path, Text: "FHIR R4 strings are at most 1 MB (datatypes.html, string)"})
	}
	return entries, nil
}

// longString finds, in what a source of more than a megabyte mapped to
// (its source Binary says how large it was), a string over the FHIR limit
// (resource.MaxString), as "Type.path"; a smaller source cannot hold one.
func longString(entries []store.TxEntry) (string, bool) {
	large := false
	for _, e := range entries {
		if b, ok := e.Resource.(*binpb.Binary); ok && len(b.GetData().GetValue()) > resource.MaxString {
			large = true
		}
	}
	if !large {
		return "", false
	}
	for _, e := range entries {
		if e.Type == "Binary" || e.Resource == nil {
			continue
		}
		if path, ok := resource.LongString(e.Resource); ok {
			return e.Type + "." + path, true
		}
	}
	return "", false
}

func entriesOf(res *bundle.Result) ([]store.TxEntry, error) {
	entries := make([]store.TxEntry, 0, len(res.Bundle.GetEntry()))
	for i, e := range res.Bundle.GetEntry() {
		r := resource.Unwrap(e.GetResource())
		if r == nil || e.GetRequest().GetMethod().GetValue().String() != "PUT" {
			return nil, outcome.New(outcome.Internal, fmt.Sprintf("mapping entry %d is not a PUT of a resource", i))
		}
		typ, id := resource.Type(r), resource.ID(r)
		if e.GetRequest().GetUrl().GetValue() != typ+"/"+id {
			return nil, outcome.New(outcome.Internal, fmt.Sprintf("mapping entry %d: request.url is not its resource's Type/id", i))
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: r})
	}
	return entries, nil
}

func authorize(authz Authorize, entries []store.TxEntry, more ...string) error {
	if authz == nil {
		return nil
	}
	seen := map[string]bool{}
	var types []string
	for _, e := range entries {
		if !seen[e.Type] {
			seen[e.Type] = true
			types = append(types, e.Type)
		}
	}
	for _, typ := range more {
		if !seen[typ] {
			seen[typ] = true
			types = append(types, typ)
		}
	}
	sort.Strings(types)
	return authz(types)
}

// authorizeSource is authorize for what a source writes: its entries and,
// when it deletes documents (replace.go), every type a withdrawal may
// write, since what it withdraws is known only once the store is read.
func authorizeSource(authz Authorize, entries []store.TxEntry, doc document) error {
	if len(doc.deletes) == 0 {
		return authorize(authz, entries)
	}
	return authorize(authz, entries, withdrawnTypes()...)
}
