package consent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
)

// Record is one entry of the decision log: a consent or write-policy
// decision, kept in the audit log as a BALP AuthZ consent AuditEvent
// (audit.DecisionEvent) and read back from it. It may hold references (it
// stays in the database, for administrators); it never goes to log lines.
type Record = audit.Decision

func recordOf(req *Request, d *Decision) Record {
	res := req.Resource.Ref
	if res == "" {
		res = req.Resource.Type
	}
	rec := Record{
		ID: d.ID, Time: d.Time, Actor: req.requester(), Patient: req.Patient, Permit: d.Permit,
		Basis: d.Basis, Provision: d.Provision, Policy: d.Policy, Purpose: req.Purpose,
		Action: req.Action, Resource: res, System: req.System, BreakGlass: d.BreakGlass,
		Reason: req.BreakGlassReason, Expires: d.Expires, Token: req.Token, Peers: req.Peers,
	}
	if req.EvaluatedBy != "" {
		// a what-if: the record is the asker's, the actor only its subject
		rec.Actor, rec.Evaluated = req.EvaluatedBy, req.Actor
	}
	return rec
}

// Log is the decision log: a view of the store's audit log, whose
// decision entries it writes and reads.
type Log struct{ st *store.Store }

// NewLog returns the decision log kept in st.
func NewLog(st *store.Store) *Log { return &Log{st: st} }

// Record appends rs and returns once they are durable: in the store's
// audit journal, whose sync concurrent records share
// (store.AppendAudit).
func (l *Log) Record(ctx context.Context, rs ...Record) error {
	return l.RecordEvents(ctx, rs, nil)
}

// RecordEvents appends rs and the other events of the same request in
// one append: one wait for the journal's sync.
func (l *Log) RecordEvents(ctx context.Context, rs []Record, also []audit.Event) error {
	events := make([]audit.Event, 0, len(rs)+len(also))
	for i := range rs {
		if rs[i].ID == "" || rs[i].Time.IsZero() {
			return errors.New("consent log: record without id or time")
		}
		events = append(events, audit.DecisionEvent(&rs[i]))
	}
	return l.st.AppendAudit(ctx, append(events, also...)...)
}

// Query selects log records; zero fields do not restrict.
type Query struct {
	Patient    string
	Actor      string
	BreakGlass bool // only break-the-glass records, for review
	Since      time.Time
	Until      time.Time // exclusive
	Limit      int       // default 100
	// Before resumes after a page: the position Page returned as next.
	Before store.AuditPos
}

// List returns the records matching q, newest first.
func (l *Log) List(q Query) ([]Record, error) {
	out, _, err := l.Page(q)
	return out, err
}

// Page returns the records matching q, newest first, and the position to
// resume after them (Query.Before) when more follow, else the zero one.
func (l *Log) Page(q Query) (out []Record, next store.AuditPos, err error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var last store.AuditPos
	more := false
	sq := store.AuditQuery{Patient: q.Patient, Agent: q.Actor, BreakGlass: q.BreakGlass, Since: q.Since, Until: q.Until,
		Kinds: []audit.Kind{audit.KindDecision, audit.KindDisclosure}, Before: q.Before}
	err = l.st.AuditEvents(sq, func(h store.AuditHead, js []byte) (bool, error) {
		if h.Kind == audit.KindDisclosure && !slices.Contains(h.Subtypes, audit.SubAuthZ.Code) {
			return true, nil // a disclosure whose decisions are events of their own
		}
		if len(out) == q.Limit {
			more = true
			return false, nil
		}
		r, err := audit.DecisionOf(js)
		if err != nil {
			return false, fmt.Errorf("consent log record: %w", err)
		}
		out, last = append(out, r), h.Pos()
		return true, nil
	})
	if !more {
		last = store.AuditPos{}
	}
	return out, last, err
}

// organization is the Organization actor acts for, as the directory tells
// it (a PractitionerRole's or HealthcareService's organization, the one
// of every active role of a Practitioner, an Organization itself): the
// user's organization of BALP AuthZconsent (agent[userorg]). "" when it
// tells none or several, or cannot be read: the record is written all
// the same, without it.
func (e *Engine) organization(ctx context.Context, actor string) string {
	if strings.HasPrefix(actor, "Organization/") {
		return actor
	}
	if !strings.Contains(actor, "/") || strings.HasPrefix(actor, "Patient/") || strings.HasPrefix(actor, "RelatedPerson/") {
		return ""
	}
	a, err := e.cfg.Directory.Actor(ctx, actor)
	if err != nil {
		return ""
	}
	org := ""
	for _, b := range a.Belongs {
		if strings.HasPrefix(b, "Organization/") && b != org {
			if org != "" {
				return ""
			}
			org = b
		}
	}
	return org
}
