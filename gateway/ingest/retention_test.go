package ingest

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

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

// ackCounts checks how many ACK records and time entries are stored.
func ackCounts(t *testing.T, st *store.Store, want int, when string) {
	t.Helper()
	if a, tm, err := st.ACKCounts(); err != nil || a != want || tm != want {
		t.Errorf("%s: %d ACK records and %d time entries (%v), want %d of each", when, a, tm, err, want)
	}
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
	ackCounts(t, st, 2, "after pruning")

	// A message set aside: its ACK record and time entry go.
	data := ingesttest.Admit(53)
	msg, err := er7.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	received := c.now()
	ack := &store.MessageACK{Key: *ackKey(msg), At: received, Record: encodeACKRecord(&Reply{ACK: []byte("MSH|x\r")}, contentDigest(msg))}
	seq, err := st.Enqueue(ctx, encodeQueued(received, data), ack)
	if err != nil {
		t.Fatal(err)
	}
	it := &queued{seq: seq}
	if err := in.remap(it, data, received); err != nil {
		t.Fatal(err)
	}
	it.entries = append(it.entries, it.entries[0]) // refused by the store
	if err := in.q.write([]*queued{it}, nil); err != nil {
		t.Fatal(err)
	}
	ackCounts(t, st, 2, "after a message set aside")
}

// TestRetentionForever: a negative retention prunes nothing.
func TestRetentionForever(t *testing.T) {
	t.Parallel()
	in, st, c := newRetentionTest(t, -1)
	send(t, in, ingesttest.Admit(54))
	c.add(1000 * 24 * time.Hour)
	if n, err := in.PruneACKs(context.Background()); n != 0 || err != nil {
		t.Errorf("a negative retention pruned %d, %v", n, err)
	}
	ackCounts(t, st, 1, "with a negative retention")
}
