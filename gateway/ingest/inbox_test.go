package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// setAside queues data as accepted at arrival and writes it so that it
// fails: when it maps, with one resource written twice, which the store
// refuses. It returns its sequence number.
func setAside(t *testing.T, in *Ingester, st *store.Store, data []byte, arrival time.Time) uint64 {
	t.Helper()
	seq, err := st.Enqueue(context.Background(), encodeQueued(arrival, data), nil)
	if err != nil {
		t.Fatal(err)
	}
	it := &queued{seq: seq}
	if in.remap(it, data, arrival) == nil {
		it.entries = append(it.entries, it.entries[0])
	}
	if err := in.q.write([]*queued{it}, nil); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestRetryFailed: the report tells a set-aside message that maps now from
// one that does not, and why; a retry writes the first under the ordering
// rules (a newer event stored meanwhile keeps its data) and takes it out
// of the list, leaves the second set aside with the reason, and is refused
// without the scopes to write what the message maps to; a discard drops a
// message for good.
func TestRetryFailed(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ctx := context.Background()
	arrival := time.Date(2026, 3, 5, 8, 0, 0, 0, time.UTC)
	admit := ingesttest.Admit(31)
	good := setAside(t, in, st, admit, arrival)
	bad := setAside(t, in, st, []byte("MSH|^~\\&|HIS|CHU|||20260305080000||ADT^A01|c31|P|2.5\rEVN|A01\r"), arrival)

	rep, err := in.Inbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed) != 2 {
		t.Fatalf("report %+v, want two messages set aside", rep)
	}
	g, b := rep.Failed[0], rep.Failed[1]
	if g.Seq != good || !g.Maps || g.Reason != "" || !g.Received.Equal(arrival) {
		t.Errorf("the message that maps now: %+v", g)
	}
	if b.Seq != bad || b.Maps || !strings.Contains(b.Reason, "PID") || strings.Contains(b.Reason, "CHU") {
		t.Errorf("the message that does not map: %+v, want the missing PID named and nothing quoted", b)
	}

	discharge := send(t, in, ingesttest.Discharge(31)) // a newer event, stored meanwhile
	enc := written(t, st, discharge, "Encounter")

	refuse := func([]string) error { return outcome.New(outcome.Forbidden, "no") }
	if _, err := in.RetryFailed(ctx, good, refuse); outcome.KindOf(err) != outcome.Forbidden {
		t.Fatalf("retry without the scopes: %v", err)
	}
	res, err := in.RetryFailed(ctx, good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != good || res.Older == 0 || len(res.Writes) == 0 || res.Message == "" {
		t.Errorf("retry %+v, want the Encounter kept at the newer event", res)
	}
	if got := field(t, st, "Encounter", enc.ID, "status"); got != "finished" {
		t.Errorf("the retried older admission made the encounter %q", got)
	}
	for _, w := range res.Writes {
		if typ, id, _ := strings.Cut(w, "/"); typ == "Patient" {
			if _, err := st.Read(typ, id); err != nil {
				t.Errorf("%s after the retry: %v", w, err)
			}
		}
	}

	_, err = in.RetryFailed(ctx, bad, nil)
	if outcome.KindOf(err) != outcome.Unprocessable || !strings.Contains(err.Error(), "PID") {
		t.Errorf("retry of a message that does not map: %v", err)
	}
	if rep, _ := in.Inbox(); len(rep.Failed) != 1 || rep.Failed[0].Seq != bad {
		t.Errorf("report after the retries %+v, want the unmappable message alone", rep)
	}
	if err := in.DiscardFailed(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if rep, _ := in.Inbox(); len(rep.Failed) != 0 {
		t.Errorf("report after the discard %+v", rep)
	}
	for _, seq := range []uint64{good, bad} {
		if _, err := in.RetryFailed(ctx, seq, nil); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("retry %d again: %v", seq, err)
		}
		if err := in.DiscardFailed(ctx, seq); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("discard %d again: %v", seq, err)
		}
	}
}

// TestReason: what an operator and the log are told names a location or a
// fixed text, never the message's content.
func TestReason(t *testing.T) {
	t.Parallel()
	_, parseErr := er7.Parse([]byte("MSH|^~\\&|HIS|CHU|||20260305||ADT^A01|c1|P|2.5\rPID|1||7^^^CHU^PI||DUPONT\\T^JEAN\r"))
	if parseErr == nil {
		t.Fatal("the malformed escape parsed")
	}
	tests := []struct {
		err  error
		want string
	}{
		{parseErr, "PID-5"},
		{errors.Join(errUnmappable, errBadQueued), errBadQueued.Error()},
		{errors.Join(errUnmappable, nil), errUnmappable.Error()},
		{outcome.New(outcome.Invalid, "bad entry"), "bad entry"},
		{errors.New("DUPONT JEAN"), "internal error"},
	}
	for _, tt := range tests {
		got := reason(tt.err)
		if !strings.Contains(got, tt.want) || strings.Contains(got, "DUPONT") {
			t.Errorf("reason(%v) = %q, want %q and nothing of the message", tt.err, got, tt.want)
		}
	}
}
