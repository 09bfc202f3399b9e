package consent

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

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

// Log is the append-only decision log in the store's bbolt file (buckets
// consentlog and consentlogidx, see fhir/store/schema.go).
type Log struct{ st *store.Store }

// NewLog returns the decision log kept in st.
func NewLog(st *store.Store) *Log { return &Log{st: st} }

// Record appends r, committed with concurrent store writes (shared fsync).
// It returns once r is durable.
func (l *Log) Record(ctx context.Context, r Record) error {
	_, err := l.st.TransactionWith(ctx, nil, store.TxOptions{Extra: func(tx *bolt.Tx) error { return Put(tx, r) }})
	return err
}

// Put appends r inside tx: for callers that record decisions atomically with
// their own writes (TxOptions.Extra). It fails only before writing.
func Put(tx *bolt.Tx, r Record) error {
	if r.ID == "" || r.Time.IsZero() {
		return errors.New("consent log: record without id or time")
	}
	js, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("consent log: %w", err)
	}
	b, idx := tx.Bucket(store.BucketConsentLog), tx.Bucket(store.BucketConsentLogIdx)
	if b == nil || idx == nil {
		return errors.New("consent log: buckets missing")
	}
	key := logKey(r.Time, r.ID)
	if err := b.Put(key, js); err != nil {
		return err
	}
	for _, ik := range indexKeys(&r, key) {
		if err := idx.Put(ik, nil); err != nil {
			return err
		}
	}
	return nil
}

// logKey is time(8: Unix µs, big-endian, sign bit flipped) then the ID.
func logKey(t time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(t.UnixMicro())^1<<63)
	return append(k, id...)
}

func indexKeys(r *Record, key []byte) [][]byte {
	var out [][]byte
	if r.Patient != "" {
		out = append(out, idxKey('p', r.Patient, key))
	}
	if r.Actor != "" {
		out = append(out, idxKey('a', r.Actor, key))
	}
	if r.BreakGlass {
		out = append(out, idxKey('b', "", key))
	}
	return out
}

func idxKey(kind byte, ref string, key []byte) []byte {
	k := append([]byte{kind}, ref...)
	k = append(k, 0)
	return append(k, key...)
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
	err := l.st.DB().View(func(tx *bolt.Tx) error {
		b, idx := tx.Bucket(store.BucketConsentLog), tx.Bucket(store.BucketConsentLogIdx)
		if b == nil || idx == nil {
			return errors.New("consent log: buckets missing")
		}
		var err error
		out, err = scanLog(b, idx, &q)
		return err
	})
	return out, err
}

// scanLog walks the narrowest index (or the log itself) backwards from
// Until, checking the other conditions on each record.
func scanLog(b, idx *bolt.Bucket, q *Query) ([]Record, error) {
	var prefix []byte
	c := b.Cursor()
	switch {
	case q.Patient != "":
		prefix, c = idxKey('p', q.Patient, nil), idx.Cursor()
	case q.Actor != "":
		prefix, c = idxKey('a', q.Actor, nil), idx.Cursor()
	case q.BreakGlass:
		prefix, c = idxKey('b', "", nil), idx.Cursor()
	}
	until := []byte{0xff}
	if !q.Until.IsZero() {
		until = logKey(q.Until, "")
	}
	var out []Record
	k, _ := c.Seek(append(bytes.Clone(prefix), until...))
	if k == nil {
		k, _ = c.Last()
	}
	for ; k != nil && len(out) < q.Limit; k, _ = c.Prev() {
		if !bytes.HasPrefix(k, prefix) {
			if bytes.Compare(k, prefix) < 0 {
				break
			}
			continue
		}
		key := k[len(prefix):]
		if len(key) < 8 || bytes.Compare(key, until) >= 0 {
			continue
		}
		if !q.Since.IsZero() && bytes.Compare(key, logKey(q.Since, "")) < 0 {
			break
		}
		r, ok, err := loadRecord(b, key, q)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// loadRecord reads the record at key and checks the conditions the index
// walked did not.
func loadRecord(b *bolt.Bucket, key []byte, q *Query) (Record, bool, error) {
	v := b.Get(key)
	if v == nil {
		return Record{}, false, nil
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, false, fmt.Errorf("consent log record: %w", err)
	}
	ok := (q.Patient == "" || r.Patient == q.Patient) && (q.Actor == "" || r.Actor == q.Actor) &&
		(!q.BreakGlass || r.BreakGlass)
	return r, ok, nil
}
