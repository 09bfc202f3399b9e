package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/outcome"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openClock(t *testing.T, path string, c *clock) *Store {
	t.Helper()
	s, err := Open(path, Options{Codec: testCodec, NoSync: true, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientsRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	created := time.Date(2026, 3, 5, 9, 0, 0, 123000, time.UTC)
	a := Client{ID: "b-client", Name: "Lab feed", JWKS: []byte(`{"keys":[]}`), Scope: "system/Task.rs",
		FHIRUser: "PractitionerRole/x", Created: created}
	b := Client{ID: "a-client", Created: created}
	for _, c := range []Client{a, b} {
		if err := s.PutClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Client("b-client")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(a) || !got.Created.Equal(created) {
		t.Errorf("Client = %+v, want %+v", got, a)
	}
	all, err := s.Clients()
	if err != nil || len(all) != 2 || all[0].ID != "a-client" || all[1].ID != "b-client" {
		t.Errorf("Clients = %+v, %v; want a-client then b-client", all, err)
	}
	if _, err := s.Client("nobody"); !errors.Is(err, outcome.ErrNotFound) {
		t.Errorf("Client(nobody) = %v, want NotFound", err)
	}
	for _, id := range []string{"", "a\x00b", string(make([]byte, maxClientID+1))} {
		if err := s.PutClient(ctx, Client{ID: id}); outcome.KindOf(err) != outcome.Invalid {
			t.Errorf("PutClient(%q) = %v, want Invalid", id, err)
		}
	}
}

func TestDecodeClientRefusesMalformed(t *testing.T) {
	t.Parallel()
	good := encodeClient(&Client{ID: "x", Name: "n", JWKS: []byte("{}"), Scope: "s", FHIRUser: "f"})
	if _, err := decodeClient("x", good); err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{nil, good[:7], good[:len(good)-1], append(good, 0), good[:9]} {
		if _, err := decodeClient("x", v); !errors.Is(err, errBadKey) {
			t.Errorf("decodeClient(%x) = %v, want errBadKey", v, err)
		}
	}
}

// TestUseJTI: a key is accepted once until it expires, also after the
// store is reopened, and accepted again once expired.
func TestUseJTI(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	now := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	c := &clock{t: now}
	s := openClock(t, path, c)
	ctx := context.Background()
	until := now.Add(5 * time.Minute)
	if err := s.UseJTI(ctx, "client\x00j1", until); err != nil {
		t.Fatal(err)
	}
	if err := s.UseJTI(ctx, "client\x00j1", until); !errors.Is(err, outcome.ErrConflict) {
		t.Fatalf("second use = %v, want Conflict", err)
	}
	if err := s.UseJTI(ctx, "other\x00j1", until); err != nil {
		t.Errorf("the same jti of another client = %v, want accepted", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openClock(t, path, c)
	defer s.Close()
	if err := s.UseJTI(ctx, "client\x00j1", until); !errors.Is(err, outcome.ErrConflict) {
		t.Errorf("use after reopen = %v, want Conflict", err)
	}
	c.set(until.Add(time.Second))
	if err := s.UseJTI(ctx, "client\x00j1", until.Add(10*time.Minute)); err != nil {
		t.Errorf("use after expiry = %v, want accepted", err)
	}
	c.set(until.Add(5 * time.Minute))
	if err := s.UseJTI(ctx, "client\x00j1", until); !errors.Is(err, outcome.ErrConflict) {
		t.Errorf("use within the renewed record = %v, want Conflict", err)
	}
	if err := s.UseJTI(ctx, "", until); err == nil {
		t.Error("empty key accepted")
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestUseJTIPrunes: each use deletes expired records, so that steady
// traffic keeps no more records than are live.
func TestUseJTIPrunes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	c := &clock{t: now}
	s := openClock(t, filepath.Join(t.TempDir(), "relais.db"), c)
	defer s.Close()
	ctx := context.Background()
	for i := range 100 {
		c.set(now.Add(time.Duration(i) * time.Minute))
		if err := s.UseJTI(ctx, fmt.Sprintf("c\x00%d", i), c.now().Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	// The records of the last 5 minutes are live; the one expiring exactly
	// now may stay.
	if n, err := s.JTICount(); err != nil || n > 7 {
		t.Errorf("%d records after 100 uses a minute apart (%v), want at most 7", n, err)
	}
}

func TestPruneJTIsInChunks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	s := openClock(t, filepath.Join(t.TempDir(), "relais.db"), &clock{t: now})
	defer s.Close()
	const expired, live = 2*pruneChunk + 345, 10
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i := range expired + live {
			until := now.Add(-time.Hour + time.Duration(i)*time.Microsecond)
			if i >= expired {
				until = now.Add(time.Minute)
			}
			k := []byte(fmt.Sprintf("c\x00%06d", i))
			if err := tx.Bucket(bucketJTI).Put(k, timeKey(until)); err != nil {
				return err
			}
			if err := tx.Bucket(bucketJTITime).Put(jtiTimeKey(until, k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneJTIs(context.Background(), now); n != expired || err != nil {
		t.Errorf("PruneJTIs = %d, %v; want %d", n, err, expired)
	}
	if n, _ := s.JTICount(); n != live {
		t.Errorf("%d records left, want %d", n, live)
	}
	if err := s.UseJTI(context.Background(), fmt.Sprintf("c\x00%06d", expired), now); !errors.Is(err, outcome.ErrConflict) {
		t.Errorf("a live record after pruning = %v, want Conflict", err)
	}
}

// TestOpenAddsClientBuckets: a file written before the client registry
// existed opens, gets the buckets, keeps its storage version and takes
// clients.
func TestOpenAddsClientBuckets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s := openAt(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketClients, bucketJTI, bucketJTITime} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	ctx := context.Background()
	if err := s.PutClient(ctx, Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UseJTI(ctx, "c\x00j", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyStorageVersion); string(v) != string(u64(storageVersion)) {
			return fmt.Errorf("storage version %x, want %d", v, storageVersion)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// TestWriteAfterClose: a write to a closed store fails at once instead of
// waiting for a writer that is gone (the token endpoint must refuse, not
// hang, when the record of used assertions cannot be written).
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "relais.db"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := s.UseJTI(context.Background(), "c\x00j", time.Now().Add(time.Minute)); !errors.Is(err, ErrClosed) {
			t.Fatalf("UseJTI after Close = %v, want ErrClosed", err)
		}
	}
}
