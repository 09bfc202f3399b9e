package auditlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/audit"
)

// Retention is how long the body of an audit entry of each kind is kept;
// past it the entry becomes a tombstone (store.PruneAudit): its leaf hash,
// and so the tree, its checkpoints and every other entry's proof, stay. A
// kind absent, or with 0, is kept for ever.
type Retention map[audit.Kind]time.Duration

const year = 365 * 24 * time.Hour

// DefaultRetention keeps disclosures, the decisions they were made under
// and changes six years, token issues and imports one. These are defaults
// of the configuration (relais serve --audit-retention), not a statement
// of what any law requires.
func DefaultRetention() Retention {
	return Retention{audit.KindDisclosure: 6 * year, audit.KindDecision: 6 * year, audit.KindChange: 6 * year,
		audit.KindSecurity: year, audit.KindIngest: year}
}

// ParseRetention reads "kind=duration,..." over the defaults: a duration
// is Go's (72h) or a number of days (30d) or years of 365 days (6y); 0
// keeps the kind for ever.
func ParseRetention(s string) (Retention, error) {
	r := DefaultRetention()
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		kind := audit.Kind(strings.TrimSpace(k))
		if _, known := r[kind]; !ok || !known {
			return nil, fmt.Errorf("audit retention %q: want kind=duration, kind one of %v", part, audit.Kinds)
		}
		d, err := parseDays(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("audit retention %q: bad duration", part)
		}
		r[kind] = d
	}
	return r, nil
}

func parseDays(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"y": year, "d": 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			return time.Duration(v) * unit, err
		}
	}
	return time.ParseDuration(s)
}

// PruneChunk is how many entries one commit of Prune turns into
// tombstones: a commit stays short, and reads and writes go between two.
const PruneChunk = 1000

// Prune turns into tombstones the entries past their kind's retention, in
// chunks of PruneChunk, until none is left or ctx ends; it returns how
// many it pruned.
func (l *Log) Prune(ctx context.Context) (int, error) {
	total := 0
	now := l.cfg.Now()
	for _, kind := range audit.Kinds {
		keep := l.cfg.Retention[kind]
		if keep <= 0 {
			continue
		}
		for done := false; !done && ctx.Err() == nil; {
			n, d, err := l.cfg.Store.PruneAudit(ctx, kind, now.Add(-keep), PruneChunk)
			total, done = total+n, d
			if err != nil {
				return total, fmt.Errorf("prune %s audit entries: %w", kind, err)
			}
		}
	}
	return total, ctx.Err()
}
