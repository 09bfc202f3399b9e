package store

import (
	"bytes"
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
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

// AppendDecisions stores ds, committed with concurrent writes (they share
// the fsync); it returns once they are durable.
func (s *Store) AppendDecisions(ctx context.Context, ds ...Decision) error {
	for _, d := range ds {
		if d.ID == "" || d.Time.IsZero() {
			return errors.New("decision log: record without id or time")
		}
	}
	w := s.begin()
	defer w.end()
	return s.commit(ctx, w, func(tx *bolt.Tx) error {
		b, idx := writable(tx, bucketConsentLog), tx.Bucket(bucketConsentLogIdx)
		for _, d := range ds {
			key := decisionKey(d.Time, d.ID)
			if err := b.Put(key, d.Record); err != nil {
				return err
			}
			for _, ik := range decisionIndexKeys(&d, key) {
				if err := idx.Put(ik, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}, false)
}

func decisionIndexKeys(d *Decision, key []byte) [][]byte {
	var out [][]byte
	if d.Patient != "" {
		out = append(out, decisionIndexKey('p', d.Patient, key))
	}
	if d.Actor != "" {
		out = append(out, decisionIndexKey('a', d.Actor, key))
	}
	if d.BreakGlass {
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
