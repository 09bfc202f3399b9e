package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// clock is a settable clock for tests.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.UnixMicro(c.t.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.t.Store(t.UnixMicro()) }
func (c *clock) add(d time.Duration) { c.t.Add(d.Microseconds()) }

func newRetentionTest(t *testing.T, keep time.Duration) (*Ingester, *store.Store, *clock) {
	t.Helper()
	_, st := newTest(t)
	c := &clock{}
	c.set(time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC))
	in, err := New(Config{Store: st, ACKRetention: keep, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Options: Options{Now: c.now, Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, in)
	return in, st, c
}

func bucketLen(t *testing.T, st *store.Store, name []byte) int {
	t.Helper()
	n := 0
	st.DB().View(func(tx *bolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	return n
}

// TestACKRetention: an ACK record past its retention is deleted, so the
// message sent again is stored again instead of answered as a resend; a
// younger one still answers the resend; a message set aside loses its
// record and its time entry together.
func TestACKRetention(t *testing.T) {
	t.Parallel()
	in, st, c := newRetentionTest(t, 24*time.Hour)
	ctx := context.Background()
	old := ingesttest.Admit(51)
	send(t, in, old)
	c.add(20 * time.Hour)
	young := ingesttest.Admit(52)
	send(t, in, young)
	c.add(5 * time.Hour)

	if n, err := in.PruneACKs(ctx); n != 1 || err != nil {
		t.Fatalf("PruneACKs = %d, %v; want the record of 25 hours ago", n, err)
	}
	if r := send(t, in, old); r.Resent || len(r.Writes) == 0 {
		t.Errorf("the message of 25 hours ago: resent %v, writes %d; want it stored again", r.Resent, len(r.Writes))
	}
	if r := send(t, in, young); !r.Resent {
		t.Error("the message of 5 hours ago was not answered as a resend")
	}
	if a, tm := bucketLen(t, st, store.BucketHL7Ack), bucketLen(t, st, store.BucketHL7AckTime); a != 2 || tm != 2 {
		t.Errorf("%d ACK records and %d time entries, want 2 and 2", a, tm)
	}

	// A message set aside: its ACK record and time entry go.
	data := ingesttest.Admit(53)
	msg, err := er7.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	key, received := ackKey(msg), c.now()
	seq, err := st.Enqueue(ctx, encodeQueued(received, data), func(tx *bolt.Tx) error {
		if err := tx.Bucket(store.BucketHL7AckTime).Put(ackTimeKey(received, key), nil); err != nil {
			return err
		}
		return tx.Bucket(store.BucketHL7Ack).Put(key, encodeACKRecord(&Reply{ACK: []byte("MSH|x\r")}))
	})
	if err != nil {
		t.Fatal(err)
	}
	it := &queued{seq: seq}
	if err := in.remap(it, data, received); err != nil {
		t.Fatal(err)
	}
	it.entries = append(it.entries, it.entries[0]) // refused by the store
	if err := in.q.write([]*queued{it}); err != nil {
		t.Fatal(err)
	}
	if a, tm := bucketLen(t, st, store.BucketHL7Ack), bucketLen(t, st, store.BucketHL7AckTime); a != 2 || tm != 2 {
		t.Errorf("after a message set aside: %d ACK records and %d time entries, want 2 and 2", a, tm)
	}
}

// TestPruneInChunks: more expired records than one transaction deletes are
// all deleted, the younger ones kept; a negative retention keeps all.
func TestPruneInChunks(t *testing.T) {
	t.Parallel()
	in, st, c := newRetentionTest(t, time.Hour)
	const expired, younger = 2*pruneChunk + 345, 10
	base := c.now().Add(-2 * time.Hour)
	err := st.DB().Update(func(tx *bolt.Tx) error {
		for i := range expired + younger {
			at := base.Add(time.Duration(i) * time.Microsecond)
			if i >= expired {
				at = c.now().Add(-time.Minute)
			}
			key := []byte(fmt.Sprintf("HIS\x00CHU\x00%06d", i))
			if err := tx.Bucket(store.BucketHL7AckTime).Put(ackTimeKey(at, key), nil); err != nil {
				return err
			}
			if err := tx.Bucket(store.BucketHL7Ack).Put(key, []byte{1, 0, 0, 0, 0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	forever, err := New(Config{Store: st, ACKRetention: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Options: Options{Now: c.now}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := forever.PruneACKs(context.Background()); n != 0 || err != nil {
		t.Errorf("a negative retention pruned %d, %v", n, err)
	}
	if n, err := in.PruneACKs(context.Background()); n != expired || err != nil {
		t.Errorf("PruneACKs = %d, %v; want %d", n, err, expired)
	}
	if a, tm := bucketLen(t, st, store.BucketHL7Ack), bucketLen(t, st, store.BucketHL7AckTime); a != younger || tm != younger {
		t.Errorf("%d ACK records and %d time entries left, want %d", a, tm, younger)
	}
}
