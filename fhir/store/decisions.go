package store

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// The consent decision log: one record per decision, append-only, indexed
// by patient, by actor and for break-the-glass review. The record itself
// is the owner's encoding; the store keeps the fields it indexes by.

// Decision is one entry of the decision log.
type Decision struct {
	ID         string    // unique
	Time       time.Time // when it was decided
	Patient    string    // "Patient/id", or "" for none
	Actor      string    // the requester's reference, or ""
	BreakGlass bool
	Record     []byte // the owner's record, returned as is
}

// AppendDecisions stores ds and returns once they are durable: in the
// decision journal (journal.go), whose sync concurrent appends share, and
// from there in bbolt shortly after. Decided inside a write transaction
// (ctx carries its snapshot: a Follower's), they are written in it, and
// committed, or not, with what they decided.
func (s *Store) AppendDecisions(ctx context.Context, ds ...Decision) error {
	recs := make([]journalRecord, len(ds))
	for i, d := range ds {
		if d.ID == "" || d.Time.IsZero() {
			return errors.New("decision log: record without id or time")
		}
		recs[i] = journalRecord{key: decisionKey(d.Time, d.ID), record: d.Record, patient: d.Patient, actor: d.Actor, breakGlass: d.BreakGlass}
	}
	if r := SnapshotFrom(ctx); r != nil && r.tx.Writable() {
		return putDecisions(r.tx, recs)
	}
	return s.decisions.append(recs)
}

func decisionIndexKeys(patient, actor string, breakGlass bool, key []byte) [][]byte {
	var out [][]byte
	if patient != "" {
		out = append(out, decisionIndexKey('p', patient, key))
	}
	if actor != "" {
		out = append(out, decisionIndexKey('a', actor, key))
	}
	if breakGlass {
		out = append(out, decisionIndexKey('b', "", key))
	}
	return out
}

// DecisionQuery selects decisions; zero fields do not restrict.
type DecisionQuery struct {
	Patient    string
	Actor      string
	BreakGlass bool
	Since      time.Time
	Until      time.Time // exclusive
}

// Decisions walks the records of the decisions q selects, newest first,
// through the narrowest index (patient, then actor, then break-the-glass),
// until visit returns false or fails. The record passed to visit is the
// store's own memory: valid during the call only. The index walked narrows
// the records by one field only: visit checks the others.
func (s *Store) Decisions(q DecisionQuery, visit func(record []byte) (more bool, err error)) error {
	if err := s.decisions.flush(); err != nil {
		return err
	}
	return s.view(func(r *Snapshot) error {
		b, idx := r.tx.Bucket(bucketConsentLog), r.tx.Bucket(bucketConsentLogIdx)
		var prefix []byte
		c := b.Cursor()
		switch {
		case q.Patient != "":
			prefix, c = decisionIndexKey('p', q.Patient, nil), idx.Cursor()
		case q.Actor != "":
			prefix, c = decisionIndexKey('a', q.Actor, nil), idx.Cursor()
		case q.BreakGlass:
			prefix, c = decisionIndexKey('b', "", nil), idx.Cursor()
		}
		until := []byte{0xff}
		if !q.Until.IsZero() {
			until = timeKey(q.Until)
		}
		var since []byte
		if !q.Since.IsZero() {
			since = timeKey(q.Since)
		}
		k, _ := c.Seek(append(bytes.Clone(prefix), until...))
		if k == nil {
			k, _ = c.Last()
		}
		for ; k != nil; k, _ = c.Prev() {
			if !bytes.HasPrefix(k, prefix) {
				if bytes.Compare(k, prefix) < 0 {
					return nil
				}
				continue
			}
			key := k[len(prefix):]
			if len(key) < 8 || bytes.Compare(key, until) >= 0 {
				continue
			}
			if since != nil && bytes.Compare(key, since) < 0 {
				return nil
			}
			v := b.Get(key)
			if v == nil {
				continue
			}
			more, err := visit(v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}
