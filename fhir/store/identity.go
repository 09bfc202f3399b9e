package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// Identity claims: the uniqueness index that keeps one person (or
// professional, or organisation) from becoming two resources when two
// sources send her at once.
//
// A write may claim identifiers for the resource it writes (TxEntry.Claims):
// in the write transaction, before anything is written, every claim is
// checked against the claims bucket, and the whole write fails with a
// *ClaimError when another resource of the type holds one of them; else the
// claims are recorded with the write. Whoever decides which identifiers link
// (gateway/identity) resolves against a snapshot, writes with its claims,
// and on a ClaimError resolves again: the loser of a race then finds the
// winner's resource. Inside an HL7 v2 batch the resolution runs in the
// batch's own transaction (Batch.Snapshot), so it never loses.
//
// A claim outlives the deletion of its resource: the identifier still
// names that resource, and the next write about her reuses its id. It
// ends only when a write of its resource releases it (Claim.Release):
// the identity source said the identifier was never hers (HL7 v2 A47).

// Claim reserves the identifier System|Value for one resource of Type.
type Claim struct {
	Type, System, Value string
	// From, when set, is an id whose claim this one may take over: a
	// merge moves the old resource's identifiers to the survivor.
	From string
	// Release ends the claim when the resource written holds it (and
	// does nothing otherwise): the identifier no longer names her.
	Release bool
}

func (c Claim) valid() bool {
	return c.Type != "" && c.System != "" && c.Value != "" &&
		!strings.ContainsRune(c.System, 0) && !strings.ContainsRune(c.Value, 0)
}

// ClaimError fails a write claiming an identifier that another resource of
// the type holds. Its text names neither the identifier nor the owner:
// both may be patient data.
type ClaimError struct {
	Claim Claim
	Owner string // the id that holds it
}

var errClaimed = outcome.New(outcome.Conflict, "an identifier of the resource already names another resource")

func (e *ClaimError) Error() string { return errClaimed.Summary }

// Unwrap makes a ClaimError an outcome Conflict.
func (e *ClaimError) Unwrap() error { return errClaimed }

// IsClaimed reports whether err is (or wraps) a ClaimError.
func IsClaimed(err error) bool {
	var ce *ClaimError
	return errors.As(err, &ce)
}

// claimPut is one claim of a write: its key and the id claiming it.
type claimPut struct {
	key  []byte
	id   string
	from string
	c    Claim
}

// claimsOf lists the valid claims of entries; targets, when given, are
// the entries' Type/id (Transaction assigns POST ids), else e.ID.
func claimsOf(entries []TxEntry, targets []string) []claimPut {
	var out []claimPut
	for i, e := range entries {
		id := e.ID
		if targets != nil {
			_, id, _ = strings.Cut(targets[i], "/")
		}
		for _, c := range e.Claims {
			if c.valid() && id != "" {
				out = append(out, claimPut{key: claimKey(c.Type, c.System, c.Value), id: id, from: c.From, c: c})
			}
		}
	}
	return out
}

// checkClaims fails with a *ClaimError when a claim is held by another
// resource, or claimed twice for two resources by the same write.
func checkClaims(tx *bolt.Tx, puts []claimPut) error {
	b := tx.Bucket(bucketClaims)
	mine := map[string]string{}
	for _, p := range puts {
		if p.c.Release {
			continue
		}
		if prev, ok := mine[string(p.key)]; ok && prev != p.id {
			return &ClaimError{Claim: p.c, Owner: prev}
		}
		mine[string(p.key)] = p.id
		if v := b.Get(p.key); v != nil && string(v) != p.id && (p.from == "" || string(v) != p.from) {
			return &ClaimError{Claim: p.c, Owner: string(v)}
		}
	}
	return nil
}

// writeClaims records puts (checked by checkClaims).
func writeClaims(tx *bolt.Tx, puts []claimPut) error {
	b := tx.Bucket(bucketClaims)
	for _, p := range puts {
		v := b.Get(p.key)
		if p.c.Release {
			if v != nil && string(v) == p.id {
				if err := b.Delete(p.key); err != nil {
					return err
				}
			}
			continue
		}
		if v != nil && string(v) == p.id {
			continue
		}
		if err := b.Put(p.key, []byte(p.id)); err != nil {
			return err
		}
	}
	return nil
}

// ClaimOwner is Snapshot.ClaimOwner in a snapshot of its own.
func (s *Store) ClaimOwner(typ, system, value string) (id string, err error) {
	err = s.View(func(r *Snapshot) error {
		id = r.ClaimOwner(typ, system, value)
		return nil
	})
	return id, err
}

// ClaimOwner returns the id of the resource of typ that holds the
// identifier system|value, or "".
func (r *Snapshot) ClaimOwner(typ, system, value string) string {
	c := Claim{Type: typ, System: system, Value: value}
	if !c.valid() {
		return ""
	}
	return string(r.tx.Bucket(bucketClaims).Get(claimKey(typ, system, value)))
}

// IdentityReview is one entry of the identity administrator's review list:
// resources that may be one person (a probable duplicate) or that were
// merged and whose consents both apply until someone looks.
type IdentityReview struct {
	Kind      string    // e.g. "probable-duplicate", "merge"
	Resources []string  // "Type/id", at least one; with Kind, the entry's key
	Reason    string    // why it is listed (no patient data)
	Time      time.Time // when it was first listed
	// Message names the message that listed it, when one did: an HL7 v2
	// message's control ID (MSH-10).
	Message string
}

func (v IdentityReview) key() []byte {
	return reviewKey(v.Kind, v.Resources)
}

// PutIdentityReviews adds vs to the review list, committed with
// concurrent writes. An entry already listed (same kind and resources) is
// kept as it was: replaying a message lists nothing twice.
func (s *Store) PutIdentityReviews(ctx context.Context, vs ...IdentityReview) error {
	if len(vs) == 0 {
		return nil
	}
	w := s.begin()
	defer w.end()
	return s.commit(ctx, w, func(tx *bolt.Tx) error { return putReviews(tx, vs) }, false)
}

// PutIdentityReviews adds vs to the review list in the batch's transaction.
func (b *Batch) PutIdentityReviews(vs ...IdentityReview) error {
	if b.broken != nil {
		return b.broken
	}
	if err := putReviews(b.tx, vs); err != nil {
		b.broken = errors.Join(ErrBatchBroken, err)
		return b.broken
	}
	return nil
}

func putReviews(tx *bolt.Tx, vs []IdentityReview) error {
	b := tx.Bucket(bucketIdentityReview)
	for _, v := range vs {
		if v.Kind == "" || len(v.Resources) == 0 {
			return errors.New("identity review without kind or resources")
		}
		k := v.key()
		if b.Get(k) != nil {
			continue
		}
		rec, err := json.Marshal(reviewRecord{Reason: v.Reason, Time: v.Time.UnixMicro(), Message: v.Message})
		if err != nil {
			return err
		}
		if err := b.Put(k, rec); err != nil {
			return err
		}
	}
	return nil
}

// reviewRecord is the stored value of a review entry (JSON).
type reviewRecord struct {
	Reason  string `json:"reason"`
	Time    int64  `json:"time"`              // Unix µs
	Message string `json:"message,omitempty"` // IdentityReview.Message
}

// IdentityReviews lists the review list in key order (kind, then
// resources).
func (s *Store) IdentityReviews() ([]IdentityReview, error) {
	var out []IdentityReview
	err := s.view(func(r *Snapshot) error {
		return r.tx.Bucket(bucketIdentityReview).ForEach(func(k, v []byte) error {
			kind, res, err := splitReviewKey(k)
			if err != nil {
				return err
			}
			var rec reviewRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return errBadKey
			}
			out = append(out, IdentityReview{Kind: kind, Resources: res, Reason: rec.Reason, Time: time.UnixMicro(rec.Time).UTC(), Message: rec.Message})
			return nil
		})
	})
	return out, err
}

// Snapshot reads the batch's transaction, what it wrote so far included.
// The batch makes its index writes at its end (sortedIndex): with
// searching, they are made now, so that a search sees them; without, a
// search misses what the batch wrote (reads and claims do not). Valid
// until fn of ApplyQueued returns.
func (b *Batch) Snapshot(searching bool) (*Snapshot, error) {
	if b.broken != nil {
		return nil, b.broken
	}
	if searching {
		if err := b.idx.flush(writable(b.tx, bucketIndex)); err != nil {
			b.broken = err
			return nil, err
		}
	}
	return &Snapshot{s: b.s, tx: b.tx}, nil
}

// Fresh reports whether every target of pl is still as it was planned.
func (b *Batch) Fresh(pl *Planned) (bool, error) {
	if b.broken != nil {
		return false, b.broken
	}
	return pl.plan.current(b.tx)
}

// Snapshot reads the planner's snapshot: what was committed when it was
// opened, without the plans made since. Valid until Close.
func (p *Planner) Snapshot() *Snapshot { return &Snapshot{s: p.s, tx: p.tx} }

// splitReviewKey reverses reviewKey.
func splitReviewKey(k []byte) (string, []string, error) {
	parts := bytes.Split(k, []byte{0})
	if len(parts) < 2 || len(parts[0]) == 0 {
		return "", nil, errBadKey
	}
	res := make([]string, len(parts)-1)
	for i, p := range parts[1:] {
		if len(p) == 0 {
			return "", nil, errBadKey
		}
		res[i] = string(p)
	}
	return string(parts[0]), res, nil
}
