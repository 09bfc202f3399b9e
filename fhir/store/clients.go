package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// The registry of SMART backend-service clients and the record of the
// client assertions they have used (SMART App Launch v2, Backend
// Services). What a client's keys and scopes mean is the auth package's
// business; the store keeps them as given.

// Client is a registered backend-service client.
type Client struct {
	ID       string // client_id: the iss and sub of its assertions
	Name     string // for operators
	JWKS     []byte // the JWK Set (RFC 7517 section 5) of its public keys, as registered
	Scope    string // the SMART scopes it may be granted, space-separated
	FHIRUser string // the fhirUser its tokens carry, or ""
	Created  time.Time
}

// maxClientID bounds a client id; ids are keys, and the ones Relais makes
// are 22 characters.
const maxClientID = 128

// PutClient stores c, replacing a client of the same ID, and returns once
// it is durable.
func (s *Store) PutClient(ctx context.Context, c Client) error {
	if c.ID == "" || len(c.ID) > maxClientID || bytes.IndexByte([]byte(c.ID), 0) >= 0 {
		return outcome.New(outcome.Invalid, "client id must be 1 to 128 bytes without a zero byte")
	}
	v := encodeClient(&c)
	w := s.begin()
	defer w.end()
	return s.commit(ctx, w, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketClients).Put([]byte(c.ID), v)
	}, false)
}

// Client returns the client registered as id; the error is of kind
// NotFound when there is none. The returned Client is the caller's.
func (s *Store) Client(id string) (Client, error) {
	var c Client
	err := s.view(func(r *Snapshot) error {
		var err error
		c, err = r.Client(id)
		return err
	})
	return c, err
}

// Client is Store.Client in r.
func (r *Snapshot) Client(id string) (Client, error) {
	v := r.tx.Bucket(bucketClients).Get([]byte(id))
	if v == nil {
		return Client{}, outcome.New(outcome.NotFound, "no such client")
	}
	return decodeClient(id, v)
}

// Clients returns every registered client, by ID. The Clients are the
// caller's.
func (s *Store) Clients() ([]Client, error) {
	var out []Client
	err := s.view(func(r *Snapshot) error {
		return r.tx.Bucket(bucketClients).ForEach(func(k, v []byte) error {
			c, err := decodeClient(string(k), v)
			if err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// ErrJTIUsed is UseJTI's answer for a key already used and not expired.
var ErrJTIUsed = outcome.New(outcome.Conflict, "assertion already used")

// jtiPruneOnUse is how many expired entries each UseJTI deletes besides
// recording its own: more than it adds, so that the record of used
// assertions stays as small as the live ones under any traffic, without a
// loop of its own.
const jtiPruneOnUse = 2

// UseJTI records that the assertion named key was used, and must not be
// accepted again until until. It fails with ErrJTIUsed (kind Conflict)
// when key was recorded with an until still in the future (the store's
// clock), and with another error when the record could not be read or
// written: the caller must then refuse the assertion too. It returns once
// the record is durable.
func (s *Store) UseJTI(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("use jti: empty key")
	}
	k := []byte(key)
	w := s.begin()
	defer w.end()
	return s.commit(ctx, w, func(tx *bolt.Tx) error {
		jtis, times := tx.Bucket(bucketJTI), tx.Bucket(bucketJTITime)
		now := s.now()
		old := jtis.Get(k)
		if old != nil {
			if len(old) != 8 {
				return fmt.Errorf("jti record: %w", errBadKey)
			}
			if timeOf(old).After(now) {
				return ErrJTIUsed
			}
			if err := times.Delete(jtiTimeKey(timeOf(old), k)); err != nil {
				return err
			}
		}
		if _, err := pruneJTIs(tx, timeKey(now), jtiPruneOnUse); err != nil {
			return err
		}
		if err := jtis.Put(k, timeKey(until)); err != nil {
			return err
		}
		return times.Put(jtiTimeKey(until, k), nil)
	}, false)
}

// PruneJTIs deletes the records of assertions that expired before before,
// a chunk per transaction so that other writes interleave, and returns how
// many it deleted.
func (s *Store) PruneJTIs(ctx context.Context, before time.Time) (int, error) {
	cutoff := timeKey(before)
	return s.pruneInChunks(ctx, func(tx *bolt.Tx) (int, error) { return pruneJTIs(tx, cutoff, pruneChunk) })
}

// pruneJTIs deletes up to limit records whose until is before cutoff (a
// timeKey), oldest first.
func pruneJTIs(tx *bolt.Tx, cutoff []byte, limit int) (int, error) {
	times, jtis := tx.Bucket(bucketJTITime), tx.Bucket(bucketJTI)
	c := times.Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < limit && bytes.Compare(k[:min(8, len(k))], cutoff) < 0; k, _ = c.First() {
		if len(k) > 8 {
			// The record may have been used again since, with a later
			// until: it is then not this entry's to delete.
			if v := jtis.Get(k[8:]); v != nil && bytes.Equal(v, k[:8]) {
				if err := jtis.Delete(k[8:]); err != nil {
					return n, err
				}
			}
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// JTICount reports how many assertion records are stored, expired or not.
func (s *Store) JTICount() (int, error) {
	var n int
	err := s.view(func(r *Snapshot) error {
		n = r.tx.Bucket(bucketJTI).Stats().KeyN
		return nil
	})
	return n, err
}
