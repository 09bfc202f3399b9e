package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/relais-health/relais/fhir/store"
)

// Record is one entry of the decision log. It may hold references (it
// stays in the database, for administrators); it never goes to log lines.
type Record struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor,omitempty"`
	Patient    string    `json:"patient,omitempty"`
	Permit     bool      `json:"permit"`
	Basis      []string  `json:"basis,omitempty"`
	Provision  string    `json:"provision,omitempty"`
	Policy     string    `json:"policy,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	Action     string    `json:"action,omitempty"`
	Resource   string    `json:"resource,omitempty"` // "Type/id", else the type
	System     bool      `json:"system,omitempty"`
	BreakGlass bool      `json:"breakGlass,omitempty"`
	Reason     string    `json:"reason,omitempty"` // break-the-glass reason
	Expires    time.Time `json:"expires,omitzero"`
	// Permitted and Denied count the resources of a filtered search or
	// Bundle that this record stands for (0 for a single decision).
	Permitted int `json:"permitted,omitempty"`
	Denied    int `json:"denied,omitempty"`
	// Parts, on the record of a request that decided for several patients
	// (a search), are the ids of the per-patient records it links.
	Parts []string `json:"parts,omitempty"`
}

func recordOf(req *Request, d *Decision) Record {
	res := req.Resource.Ref
	if res == "" {
		res = req.Resource.Type
	}
	return Record{
		ID: d.ID, Time: d.Time, Actor: req.Actor, Patient: req.Patient, Permit: d.Permit,
		Basis: d.Basis, Provision: d.Provision, Policy: d.Policy, Purpose: req.Purpose,
		Action: req.Action, Resource: res, System: req.System, BreakGlass: d.BreakGlass,
		Reason: req.BreakGlassReason, Expires: d.Expires,
	}
}

// Log is the append-only decision log, kept in the store
// (store.AppendDecisions).
type Log struct{ st *store.Store }

// NewLog returns the decision log kept in st.
func NewLog(st *store.Store) *Log { return &Log{st: st} }

// Record appends r and returns once it is durable: in the store's decision
// journal, whose sync concurrent records share (store.AppendDecisions).
func (l *Log) Record(ctx context.Context, r Record) error {
	d, err := entryOf(r)
	if err != nil {
		return err
	}
	return l.st.AppendDecisions(ctx, d)
}

// entryOf is the store's entry for r.
func entryOf(r Record) (store.Decision, error) {
	if r.ID == "" || r.Time.IsZero() {
		return store.Decision{}, errors.New("consent log: record without id or time")
	}
	js, err := json.Marshal(r)
	if err != nil {
		return store.Decision{}, fmt.Errorf("consent log: %w", err)
	}
	return store.Decision{ID: r.ID, Time: r.Time, Patient: r.Patient, Actor: r.Actor, BreakGlass: r.BreakGlass, Record: js}, nil
}

// Query selects log records; zero fields do not restrict.
type Query struct {
	Patient    string
	Actor      string
	BreakGlass bool // only break-the-glass records, for review
	Since      time.Time
	Until      time.Time // exclusive
	Limit      int       // default 100
}

// List returns the records matching q, newest first.
func (l *Log) List(q Query) ([]Record, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var out []Record
	sq := store.DecisionQuery{Patient: q.Patient, Actor: q.Actor, BreakGlass: q.BreakGlass, Since: q.Since, Until: q.Until}
	err := l.st.Decisions(sq, func(v []byte) (bool, error) {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("consent log record: %w", err)
		}
		// The store walked one index: check the other conditions.
		if (q.Patient == "" || r.Patient == q.Patient) && (q.Actor == "" || r.Actor == q.Actor) && (!q.BreakGlass || r.BreakGlass) {
			out = append(out, r)
		}
		return len(out) < q.Limit, nil
	})
	return out, err
}
