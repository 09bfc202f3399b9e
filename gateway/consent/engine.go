package consent

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/category"
)

// Config configures an Engine.
type Config struct {
	Directory Directory // required
	CareTeams CareTeams // required
	Consents  Consents  // required
	Policy    *Policy   // default FrenchLaw()
	Now       func() time.Time
	Logger    *slog.Logger // default slog.Default()
	// HashKey keys the HMAC of patient and actor references in log lines
	// (required: no PHI in logs).
	HashKey []byte
	// Recorder, when set, records every decision before Decide returns; if
	// it fails, Decide fails (and denies).
	Recorder Recorder
	// BreakGlass is how long a break-the-glass grant lasts (default 4 h).
	BreakGlass time.Duration
	// CacheSize bounds the patients whose compiled Consents are kept
	// (default 4096).
	CacheSize int
}

// Recorder keeps decision records; Log implements it.
type Recorder interface {
	Record(ctx context.Context, rs ...Record) error
}

// EventRecorder is a Recorder that also keeps the other AuditEvents of a
// request (its disclosure, its changes) in the same append; Log
// implements it.
type EventRecorder interface {
	Recorder
	RecordEvents(ctx context.Context, rs []Record, also []audit.Event) error
}

// Engine decides. It is safe for concurrent use.
type Engine struct {
	cfg           Config
	pol           Policy
	teamMask      uint8
	permitMask    uint8
	candidateMask uint8
	requesterMask uint8
	obligations   [64][]category.Code
	cache         *cache
	grants        *grants
	idPrefix      string
	idKey         cipher.Block // permutes the sequence (newID)
	seq           atomic.Uint64

	permits, denies atomic.Uint64 // Stats
}

// Stats counts the decisions an Engine made since New, as the decision log
// records them: one per Decide (a failed Decide denies), and one per
// patient of a filtered request (one for a system caller), which permits
// when anything of that patient's was permitted.
type Stats struct {
	Permits, Denies uint64
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	return Stats{Permits: e.permits.Load(), Denies: e.denies.Load()}
}

// tally counts one decision.
func (e *Engine) tally(permit bool) {
	if permit {
		e.permits.Add(1)
	} else {
		e.denies.Add(1)
	}
}

// New builds an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Directory == nil || cfg.CareTeams == nil || cfg.Consents == nil {
		return nil, errors.New("consent: Directory, CareTeams and Consents are required")
	}
	if len(cfg.HashKey) == 0 {
		return nil, errors.New("consent: HashKey is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BreakGlass <= 0 {
		cfg.BreakGlass = 4 * time.Hour
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 4096
	}
	pol := FrenchLaw()
	if cfg.Policy != nil {
		pol = *cfg.Policy
	}
	var prefix [8]byte
	var key [16]byte
	if _, err := rand.Read(prefix[:]); err != nil {
		return nil, fmt.Errorf("consent: decision id prefix: %w", err)
	}
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("consent: decision id key: %w", err)
	}
	idKey, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("consent: decision id key: %w", err)
	}
	return &Engine{
		cfg: cfg, pol: pol,
		teamMask: mask(pol.CareTeam), permitMask: mask(pol.Permit), candidateMask: mask(pol.Candidate),
		requesterMask: mask(pol.Requester),
		obligations:   obligationTable(),
		cache:         newCache(cfg.CacheSize),
		grants:        newGrants(),
		idPrefix:      hex.EncodeToString(prefix[:]),
		idKey:         idKey,
	}, nil
}

// Hash is the HMAC of an identifier for log lines.
func (e *Engine) Hash(ref string) string {
	m := hmac.New(sha256.New, e.cfg.HashKey)
	m.Write([]byte(ref))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// newID returns a unique decision ID: the second it is made, a random
// per-engine prefix and the engine's sequence number under a keyed
// permutation, so that unique without telling the order within a second.
// A caller is sent the IDs of her requests' decisions
// (X-Consent-Decision): were they a sequence, the distance between two of
// hers would count the decisions made in between, her own included, which
// differ when a request is about something she may not see from when it
// is about nothing (an update of another's resource decides on what is
// stored, of an absent one on nothing). The second, which she knows
// already, leads so that IDs sort by time: the store indexes audit
// entries by ID, and IDs that sort at random would spread every group of
// appends over the whole index, rewriting more of it the longer the log.
func (e *Engine) newID() string {
	return idSecond(e.cfg.Now()) + "-" + e.idPrefix + "-" + strconv.FormatUint(permute(e.idKey, e.seq.Add(1)), 36)
}

// idSecond is t's Unix second in base 36, zero-padded to 7 digits (which
// hold every second until the year 4453), so that it sorts as text.
func idSecond(t time.Time) string {
	s := strconv.FormatInt(max(t.Unix(), 0), 36)
	return strings.Repeat("0", max(0, 7-len(s))) + s
}

// permute is a permutation of the 64-bit integers keyed by k: four
// Feistel rounds over 32-bit halves, each round's function AES under k of
// the round number and the right half (Luby and Rackoff: four rounds of a
// pseudorandom function make a strong pseudorandom permutation).
func permute(k cipher.Block, x uint64) uint64 {
	l, r := uint32(x>>32), uint32(x)
	for round := range 4 {
		var b [aes.BlockSize]byte
		b[0] = byte(round)
		binary.BigEndian.PutUint32(b[12:], r)
		k.Encrypt(b[:], b[:])
		l, r = r, l^binary.BigEndian.Uint32(b[:4])
	}
	return uint64(l)<<32 | uint64(r)
}

// Decide answers req. On error the decision denies; the caller must fail
// the request. Every decision (including system access) is recorded when a
// Recorder is configured.
func (e *Engine) Decide(ctx context.Context, req Request) (d Decision, err error) {
	defer func() { e.tally(err == nil && d.Permit) }()
	now := e.cfg.Now()
	d, err = e.decide(ctx, &req, now)
	d.ID, d.Time = e.newID(), now
	if err != nil {
		d = Decision{ID: d.ID, Time: now, Policy: PolicyBadRequest}
		return d, err
	}
	if rerr := e.record(ctx, &req, &d); rerr != nil {
		return Decision{ID: d.ID, Time: now}, fmt.Errorf("record decision %s: %w", d.ID, rerr)
	}
	return d, nil
}

func (e *Engine) decide(ctx context.Context, req *Request, now time.Time) (Decision, error) {
	normalize(req)
	if req.System {
		return Decision{Permit: true, Policy: PolicySystem, Obligations: e.obligations[63]}, nil
	}
	if req.Self != "" && badRequest(req) == "" {
		d := *selfDecision(req, req.Patient)
		if d.Permit {
			d.Obligations = e.obligations[63]
		}
		return d, nil
	}
	if reason := badRequest(req); reason != "" {
		d := Decision{Policy: PolicyBadRequest}
		if req.Explain {
			d.Trace = []string{reason}
		}
		return d, nil
	}
	sc, err := e.scope(ctx, req.Patient, req.Actor, req.Draft)
	if err != nil {
		return Decision{}, err
	}
	if d, ok := e.breakGlass(req, sc, now); ok {
		return d, nil
	}
	f := factsOf(&req.Resource)
	return e.evaluate(sc, req, &f, now), nil
}

// normalize applies the defaults.
func normalize(req *Request) {
	if req.Action == "" {
		req.Action = ActionAccess
	}
	if req.Purpose == "" {
		req.Purpose = PurposeTreat
	}
}

// badRequest says what makes req undecidable, "" when nothing does.
func badRequest(req *Request) string {
	switch {
	case !strings.HasPrefix(req.Patient, "Patient/") || len(req.Patient) == len("Patient/"):
		return "no patient"
	case req.Actor == "" || !strings.Contains(req.Actor, "/"):
		return "no actor"
	case req.Action != ActionAccess && req.Action != ActionDisclose:
		return "unknown action " + req.Action
	case req.Resource.Type == "":
		return "no resource type"
	}
	return ""
}

// record writes the decision record and the PHI-free log line.
func (e *Engine) record(ctx context.Context, req *Request, d *Decision) error {
	if d.BreakGlass {
		e.cfg.Logger.WarnContext(ctx, "consent: break-the-glass access", "decision", d.ID,
			"patient", e.Hash(req.Patient), "actor", e.Hash(req.Actor), "until", d.Expires)
	} else if e.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		e.cfg.Logger.DebugContext(ctx, "consent: decision", "decision", d.ID, "permit", d.Permit,
			"patient", e.Hash(req.Patient), "actor", e.Hash(req.Actor), "policy", d.Policy, "provision", d.Provision)
	}
	if e.cfg.Recorder == nil {
		return nil
	}
	r := recordOf(req, d)
	r.Org = e.organization(ctx, r.Actor)
	if er, ok := e.cfg.Recorder.(EventRecorder); ok && r.BreakGlass && r.Permit && r.Reason != "" {
		return er.RecordEvents(ctx, []Record{r}, []audit.Event{audit.BreakGlassEvent(e.newID(), &r)})
	}
	return e.cfg.Recorder.Record(ctx, r)
}

// Owned reports whether typ's resources pass only for their owner
// (Policy.Owned): the API stamps the owner on every write of one.
func (e *Engine) Owned(typ string) bool { return slices.Contains(e.pol.Owned, typ) }
