package store

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/search"
)

// The open-Task counts (bucket taskload, schema.go): for each owner, how
// many current Tasks it owns in an open status. Discharge routing reads
// them to skip a recipient at its capacity, once per candidate of every
// action: a count kept with the writes costs one Get, where counting at
// read time would walk every Task the owner ever held (the index keys
// Task.owner, not Task.owner with its status) and read each one's
// pointer.
//
// The counts are derived from the index values of the current pointers
// (Task's search parameters "owner" and "status", fhir/search), the same
// values the writes compare to find the index keys they change: applyTo
// moves the counts from a Task's old values to its new ones, in the
// transaction that writes it, whatever the path (Create, Update, Delete,
// Transaction, TransactionWith, Batch).

// openTaskStatus are the index values ("|code": a code without a system,
// search.Extract) of the R4 task-status codes that leave a Task with its
// owner to act on (https://hl7.org/fhir/R4/valueset-task-status.html):
// requested, received, accepted, ready, in-progress. draft is not yet
// asked of anyone; on-hold waits for something other than the owner (in
// routing, the patient's permit); rejected, cancelled, failed, completed
// and entered-in-error are over.
var openTaskStatus = map[string]bool{
	"|requested": true, "|received": true, "|accepted": true, "|ready": true, "|in-progress": true,
}

// openOwners returns the owners of a Task whose encoded index values are
// values, when its status is open: none otherwise, nor for a deletion
// (no values). The returned slices alias values.
func openOwners(values []byte) ([][]byte, error) {
	var owners [][]byte
	open := false
	r := groupReader{b: values}
	for {
		g, ok := r.next()
		if !ok {
			break
		}
		switch {
		case g.kind == search.Token && string(g.param) == "status":
			err := g.each(func(text []byte, _, _ int64) { open = open || openTaskStatus[string(text)] })
			if err != nil {
				return nil, err
			}
		case g.kind == search.Reference && string(g.param) == "owner":
			err := g.each(func(text []byte, _, _ int64) { owners = append(owners, text) })
			if err != nil {
				return nil, err
			}
		}
	}
	if r.err != nil || !open {
		return nil, r.err
	}
	return owners, nil
}

// countTaskLoad moves the counts in tx from a Task's values old (its
// current pointer's, none when new or deleted) to now (the values
// written). It runs in applyTo for every Task written.
func countTaskLoad(tx *bolt.Tx, old, now []byte) error {
	if bytes.Equal(old, now) {
		return nil
	}
	was, err := openOwners(old)
	if err != nil {
		return err
	}
	is, err := openOwners(now)
	if err != nil {
		return err
	}
	if slices.EqualFunc(was, is, bytes.Equal) {
		return nil // most moves (accepted, in progress…) keep the owner and an open status
	}
	b := tx.Bucket(bucketTaskLoad)
	for _, o := range was {
		if err := addTaskLoad(b, o, -1); err != nil {
			return err
		}
	}
	for _, o := range is {
		if err := addTaskLoad(b, o, 1); err != nil {
			return err
		}
	}
	return nil
}

// addTaskLoad adds delta to owner's count; a count of 0 leaves no key.
// A count that would go below zero means the bucket does not match the
// current values: the write fails rather than store a wrong count.
func addTaskLoad(b *bolt.Bucket, owner []byte, delta int) error {
	k := taskLoadKey(string(owner))
	n, err := taskLoadCount(b.Get(k))
	if err != nil {
		return err
	}
	switch {
	case delta < 0 && n == 0:
		return fmt.Errorf("open Tasks of %s below zero: %w", owner, errBadKey)
	case delta < 0 && n == 1:
		return b.Delete(k)
	case delta < 0:
		return b.Put(k, u64(n-1))
	}
	return b.Put(k, u64(n+1))
}

// rebuildTaskLoad (version 6 to 7) counts the open Tasks of the current
// values into an empty taskload bucket.
func rebuildTaskLoad(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bucketTaskLoad); err != nil && err != bolt.ErrBucketNotFound {
		return err
	}
	b, err := tx.CreateBucket(bucketTaskLoad)
	if err != nil {
		return err
	}
	counts := map[string]uint64{}
	c := tx.Bucket(bucketCurrent).Cursor()
	prefix := typePrefix("Task")
	for k, pv := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, pv = c.Next() {
		if len(pv) < pointerSize {
			return fmt.Errorf("current pointer of %s: %w", k, errBadKey)
		}
		owners, err := openOwners(pv[pointerSize:])
		if err != nil {
			return fmt.Errorf("current values of %s: %w", k, err)
		}
		for _, o := range owners {
			counts[string(o)]++
		}
	}
	for o, n := range counts {
		if err := b.Put(taskLoadKey(o), u64(n)); err != nil {
			return err
		}
	}
	return nil
}

// OpenTasks returns, for each of owners (references "Type/id", as
// Task.owner holds them: "PractitionerRole/x", "HealthcareService/y"),
// how many current Tasks it owns in an open status (requested, received,
// accepted, ready, in-progress: openTaskStatus), in the order of owners.
// In a write transaction's snapshot the counts include that
// transaction's writes so far. One point read per owner.
func (r *Snapshot) OpenTasks(owners []string) ([]int, error) {
	b := r.tx.Bucket(bucketTaskLoad)
	out := make([]int, len(owners))
	for i, o := range owners {
		n, err := taskLoadCount(b.Get(taskLoadKey(o)))
		if err != nil {
			return nil, fmt.Errorf("open Tasks of %s: %w", o, err)
		}
		out[i] = int(n)
	}
	return out, nil
}
