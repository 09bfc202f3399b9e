package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// ack parses an ACK and returns MSA-1, MSA-2 and its ERR segments.
func ack(t testing.TB, b []byte) (code, control string, errs []string) {
	t.Helper()
	m, err := er7.Parse(b)
	if err != nil {
		t.Fatalf("ACK does not parse: %v\n%q", err, b)
	}
	for _, s := range m.All("ERR") {
		errs = append(errs, s.Field(4).Text()+":"+s.Field(3).Comp(1).Text())
	}
	return m.First("MSA").Field(1).Text(), m.First("MSA").Field(2).Text(), errs
}

// record returns the result for the first resource of typ.
func record(t testing.TB, s *Stored, typ string) *store.Record {
	t.Helper()
	if s == nil {
		t.Fatalf("nothing stored")
	}
	for _, r := range s.Results {
		if r.Record != nil && r.Record.Type == typ {
			return r.Record
		}
	}
	t.Fatalf("no %s stored", typ)
	return nil
}

// written reads the current version of the first resource of typ that
// the accepted message r writes (store reads wait until it is written).
func written(t testing.TB, st *store.Store, r *Reply, typ string) *store.Record {
	t.Helper()
	for _, w := range r.Writes {
		if typ2, id, _ := strings.Cut(w, "/"); typ2 == typ {
			rec, err := st.Read(typ, id)
			if err != nil {
				t.Fatalf("%s: %v", w, err)
			}
			return rec
		}
	}
	t.Fatalf("message writes no %s", typ)
	return nil
}

// field reads a top-level JSON field of a stored resource.
func field(t testing.TB, st *store.Store, typ, id, path string) string {
	t.Helper()
	rec, err := st.Read(typ, id)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(rec.JSON, &v); err != nil {
		t.Fatal(err)
	}
	var cur any = v
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			if len(c) == 0 {
				return ""
			}
			cur = c[0].(map[string]any)[p]
		}
	}
	s, _ := cur.(string)
	return s
}

func send(t testing.TB, in *Ingester, data []byte) *Reply {
	t.Helper()
	r, err := in.HL7v2(context.Background(), data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAdmitThenDischarge(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	r1 := send(t, in, ingesttest.Admit(1))
	if code, ctl, errs := ack(t, r1.ACK); code != "AA" || ctl != "A01-1" || errs != nil {
		t.Fatalf("A01 ACK %s %s %v", code, ctl, errs)
	}
	p1, e1 := written(t, st, r1, "Patient"), written(t, st, r1, "Encounter")
	if e1.Version != 1 {
		t.Errorf("Encounter version %d after A01, want 1", e1.Version)
	}
	r2 := send(t, in, ingesttest.Discharge(1))
	if code, ctl, _ := ack(t, r2.ACK); code != "AA" || ctl != "A03-1" {
		t.Fatalf("A03 ACK %s %s", code, ctl)
	}
	p2, e2 := written(t, st, r2, "Patient"), written(t, st, r2, "Encounter")
	if p1.ID != p2.ID || e1.ID != e2.ID {
		t.Fatalf("A01 and A03 wrote different resources: %s/%s, %s/%s", p1.ID, p2.ID, e1.ID, e2.ID)
	}
	if got := field(t, st, "Encounter", e2.ID, "status"); got != "finished" {
		t.Errorf("Encounter status %q after A03", got)
	}
	if e2.Version != 2 {
		t.Errorf("Encounter version %d, want 2", e2.Version)
	}
	if !r1.SendACK || r1.AppACK != nil || r1.Resent {
		t.Errorf("original mode reply: %+v", r1)
	}
}

// TestResend: the same sender and control ID again gets the same ACK bytes
// (the clock moved on, so a rebuilt ACK would differ) and stores nothing.
func TestResend(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	first := send(t, in, ingesttest.Admit(1))
	before := changes(t, st)
	restamped := restamp(ingesttest.Admit(1))
	for _, data := range [][]byte{ingesttest.Admit(1), restamped, bytes.ReplaceAll(ingesttest.Admit(1), []byte("\r"), []byte("\r\n"))} {
		again := send(t, in, data)
		if !bytes.Equal(again.ACK, first.ACK) || !again.Resent || again.Writes != nil {
			t.Errorf("resend: ACK %q (resent %v), want the original %q", again.ACK, again.Resent, first.ACK)
		}
	}
	if after := changes(t, st); after != before {
		t.Errorf("resends stored %d new versions", after-before)
	}
	other := send(t, in, ingesttest.ADT{Event: "A01", N: 1, Control: "A01-1b"}.Bytes())
	if other.Resent {
		t.Error("a new control ID was taken for a resend")
	}
}

// restamp changes MSH-7 (date/time of message) of data, and nothing else.
func restamp(data []byte) []byte {
	msh, rest, _ := bytes.Cut(data, []byte("\r"))
	fields := bytes.Split(msh, []byte("|"))
	fields[6] = []byte("20991231235959+0100") // MSH-7: MSH-1 is the separator itself
	return append(append(bytes.Join(fields, []byte("|")), '\r'), rest...)
}

// TestControlIDReused: another message under a control ID already used by
// the same sender is refused (AR, ERR 205 at MSH-10), stored nowhere and
// logged with its control ID only; the true resend still gets the
// original ACK afterwards.
func TestControlIDReused(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	var logs bytes.Buffer
	in, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, in)
	first := send(t, in, ingesttest.Admit(1))
	before := changes(t, st)
	reused := send(t, in, ingesttest.ADT{Event: "A01", N: 1, Family: "CHANGED"}.Bytes())
	code, control, errs := ack(t, reused.ACK)
	if code != "AR" || control != "A01-1" || len(errs) != 1 || errs[0] != "E:205" || reused.Resent || reused.Writes != nil {
		t.Errorf("reused control ID: %s %s %v (resent %v, writes %v), want AR with ERR 205", code, control, errs, reused.Resent, reused.Writes)
	}
	if after := changes(t, st); after != before {
		t.Errorf("the refused message stored %d versions", after-before)
	}
	line := logs.String()
	if !strings.Contains(line, "control=A01-1") || strings.Contains(line, "CHANGED") {
		t.Errorf("log %q: want the control ID and no patient data", line)
	}
	if again := send(t, in, ingesttest.Admit(1)); !bytes.Equal(again.ACK, first.ACK) || !again.Resent {
		t.Errorf("the true resend after a refused reuse: %q, want the original ACK", again.ACK)
	}
	enhanced := send(t, in, ingesttest.ADT{Event: "A01", N: 1, Family: "CHANGED", Accept: "AL", App: "AL"}.Bytes())
	if code, _, _ := ack(t, enhanced.ACK); code != "CR" || enhanced.AppACK != nil || enhanced.SendAppACK {
		t.Errorf("enhanced mode: %s, app ACK %q, want CR and none", code, enhanced.AppACK)
	}
}

// TestResendConcurrent: the same message on two connections at once is
// stored once and both get the same ACK.
func TestResendConcurrent(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	const n = 8
	replies := make([]*Reply, n)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := in.HL7v2(context.Background(), ingesttest.Admit(3), nil)
			if err != nil {
				t.Error(err)
				return
			}
			replies[i] = r
		}()
	}
	wg.Wait()
	stored := 0
	for _, r := range replies {
		if r == nil {
			t.FailNow()
		}
		if !bytes.Equal(r.ACK, replies[0].ACK) {
			t.Errorf("ACKs differ: %q vs %q", r.ACK, replies[0].ACK)
		}
		if !r.Resent {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("%d of %d identical messages stored, want 1", stored, n)
	}
	if rec, err := st.Read("Patient", written(t, st, firstAccepted(replies), "Patient").ID); err != nil || rec.Version != 1 {
		t.Errorf("patient %v %v, want one version", rec, err)
	}
}

func firstAccepted(rs []*Reply) *Reply {
	for _, r := range rs {
		if !r.Resent {
			return r
		}
	}
	return &Reply{}
}

// TestOlderEventKept: an A08 whose event precedes the stored A03 does not
// overwrite the patient or the encounter; the message is still accepted,
// and its Provenance does not claim them.
func TestOlderEventKept(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	send(t, in, ingesttest.Admit(4))
	dis := send(t, in, ingesttest.Discharge(4))
	pat, enc := written(t, st, dis, "Patient"), written(t, st, dis, "Encounter")
	late := send(t, in, ingesttest.ADT{Event: "A08", N: 4, Family: "RENAMED",
		At: ingesttest.Base.Add(4*time.Minute + time.Hour)}.Bytes())
	code, _, errs := ack(t, late.ACK)
	if code != "AA" || len(errs) != 0 {
		t.Fatalf("older A08: ACK %s, ERR %v; want AA", code, errs)
	}
	if got := field(t, st, "Patient", pat.ID, "name.family"); got != "FAMILY4" {
		t.Errorf("older A08 overwrote the patient's name: %q", got)
	}
	if got := field(t, st, "Encounter", enc.ID, "status"); got != "finished" {
		t.Errorf("older A08 reopened the encounter: %q", got)
	}
	prov := written(t, st, late, "Provenance")
	if bytes.Contains(prov.JSON, []byte("Patient/"+pat.ID)) || bytes.Contains(prov.JSON, []byte("Encounter/"+enc.ID)) {
		t.Error("the older message's Provenance claims resources it did not write")
	}
	// A newer A08 still applies.
	send(t, in, ingesttest.ADT{Event: "A08", N: 4, Family: "RENAMED", Control: "A08-4b",
		At: ingesttest.Base.Add(48 * time.Hour)}.Bytes())
	if got := field(t, st, "Patient", pat.ID, "name.family"); got != "RENAMED" {
		t.Errorf("newer A08 not applied: %q", got)
	}
}

// TestMDMDoesNotReopenEncounter: a document notification after the
// discharge (newer, but its PV1 has no PV1-45) leaves the finished
// Encounter alone; one before the admission creates the Encounter, which
// the (older) ADT events still update.
func TestMDMDoesNotReopenEncounter(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	send(t, in, ingesttest.Admit(5))
	dis := send(t, in, ingesttest.Discharge(5))
	enc := written(t, st, dis, "Encounter")
	mdm := send(t, in, ingesttest.ADT{Event: "T02", N: 5, At: ingesttest.Base.Add(72 * time.Hour)}.Bytes())
	if code, _, _ := ack(t, mdm.ACK); code != "AA" {
		t.Fatalf("MDM ACK %s", code)
	}
	if got := field(t, st, "Encounter", enc.ID, "status"); got != "finished" {
		t.Errorf("MDM changed the finished encounter to %q", got)
	}
	written(t, st, mdm, "DocumentReference")

	mdmFirst := send(t, in, ingesttest.ADT{Event: "T02", N: 6, At: ingesttest.Base.Add(72 * time.Hour)}.Bytes())
	enc6 := written(t, st, mdmFirst, "Encounter")
	send(t, in, ingesttest.Discharge(6))
	if got := field(t, st, "Encounter", enc6.ID, "status"); got != "finished" {
		t.Errorf("A03 after an MDM left the encounter %q", got)
	}
}

// TestRefused: input that cannot be accepted gets AR/AE with ERR, and
// nothing is stored.
func TestRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, data string
		code       string
	}{
		{"not hl7", "hello, world", "AR"},
		{"bad delimiters", "MSH|^~\\", "AR"},
		{"unsupported type", "MSH|^~\\&|A|B|C|D|20260301||SIU^S12^SIU_S12|X1|P|2.5\rPID|1||1^^^H^PI\r", "AR"},
		{"no PID", "MSH|^~\\&|A|B|C|D|20260301||ADT^A01^ADT_A01|X2|P|2.5\rEVN||20260301\rPV1|1|I\r", "AR"},
		{"no patient identifier", "MSH|^~\\&|A|B|C|D|20260301||ADT^A01^ADT_A01|X4|P|2.5\rEVN||20260301\rPID|1||\rPV1|1|I\r", "AE"},
		{"enhanced mode", "MSH|^~\\&|A|B|C|D|20260301||SIU^S12^SIU_S12|X3|P|2.5|||AL|AL\r", "CR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			r := send(t, in, []byte(tc.data))
			code, _, errs := ack(t, r.ACK)
			if code != tc.code || len(errs) == 0 || r.Writes != nil || !r.SendACK {
				t.Errorf("ACK %s %v writes %v, want %s with ERR", code, errs, r.Writes, tc.code)
			}
			if n := changes(t, st); n != 0 {
				t.Errorf("%d versions stored", n)
			}
		})
	}
}

func TestEnhancedMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept, app      string
		sendACK, sendApp bool
	}{
		{"AL", "AL", true, true},
		{"AL", "NE", true, false},
		{"NE", "AL", false, true},
		{"ER", "SU", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.accept+"-"+tc.app, func(t *testing.T) {
			t.Parallel()
			in, _ := newTest(t)
			r := send(t, in, ingesttest.ADT{N: 9, Accept: tc.accept, App: tc.app}.Bytes())
			if code, ctl, _ := ack(t, r.ACK); code != "CA" || ctl != "A01-9" {
				t.Errorf("accept ACK %s %s, want CA", code, ctl)
			}
			if code, _, _ := ack(t, r.AppACK); code != "AA" {
				t.Errorf("application ACK %s, want AA", code)
			}
			if r.SendACK != tc.sendACK || r.SendAppACK != tc.sendApp {
				t.Errorf("send %v/%v, want %v/%v", r.SendACK, r.SendAppACK, tc.sendACK, tc.sendApp)
			}
		})
	}
}

func TestIncomingACKIgnored(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	r := send(t, in, []byte("MSH|^~\\&|A|B|C|D|20260301||ACK^A01^ACK|X9|P|2.5\rMSA|CA|Z1\r"))
	if r.ACK != nil || r.AppACK != nil || changes(t, st) != 0 {
		t.Errorf("an incoming ACK was answered or stored: %+v", r)
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	var asked []string
	_, err := in.HL7v2(context.Background(), ingesttest.Admit(1), func(types []string) error {
		asked = types
		return outcome.New(outcome.Forbidden, "no")
	})
	if outcome.KindOf(err) != outcome.Forbidden {
		t.Fatalf("err %v, want Forbidden", err)
	}
	if !strings.Contains(strings.Join(asked, ","), "Encounter") || changes(t, st) != 0 {
		t.Errorf("asked %v; stored %d", asked, changes(t, st))
	}
}

func TestClosedStoreIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	st.Close()
	if _, err := in.HL7v2(context.Background(), ingesttest.Admit(1), nil); outcome.KindOf(err) != outcome.Busy {
		t.Fatalf("err %v, want Busy (no ACK)", err)
	}
}

func TestACKRecordRoundTrip(t *testing.T) {
	t.Parallel()
	digest := [32]byte{1, 2, 3}
	for _, r := range []*Reply{{ACK: []byte("MSH|a\r")}, {ACK: []byte("MSH|a\r"), AppACK: []byte("MSH|b\r")}} {
		ack, app, d, err := decodeACKRecord(encodeACKRecord(r, digest))
		if err != nil || !bytes.Equal(ack, r.ACK) || !bytes.Equal(app, r.AppACK) || !bytes.Equal(d, digest[:]) {
			t.Errorf("round trip of %q/%q: %q/%q %x %v", r.ACK, r.AppACK, ack, app, d, err)
		}
	}
	// A version 1 record, written before digests were kept, is still read.
	ack, app, d, err := decodeACKRecord([]byte("\x01\x00\x00\x00\x06MSH|a\rMSH|b\r"))
	if err != nil || string(ack) != "MSH|a\r" || string(app) != "MSH|b\r" || d != nil {
		t.Errorf("version 1 record: %q/%q %x %v", ack, app, d, err)
	}
	for _, bad := range [][]byte{nil, {3, 0, 0, 0, 0}, {1, 0, 0, 0, 9, 'x'}, {1, 0, 0}, append([]byte{2}, digest[:]...)} {
		if _, _, _, err := decodeACKRecord(bad); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

// TestOldACKRecordStillResends: a message whose ACK record predates
// content digests (version 1) is answered as a resend, as it was.
func TestOldACKRecordStillResends(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	msg, err := er7.Parse(ingesttest.Admit(22))
	if err != nil {
		t.Fatal(err)
	}
	rec := []byte("\x01\x00\x00\x00\x06MSH|x\r")
	if _, err := st.Enqueue(context.Background(), encodeQueued(time.Now(), ingesttest.Admit(22)), &store.MessageACK{Key: *ackKey(msg), At: time.Now(), Record: rec}); err != nil {
		t.Fatal(err)
	}
	r := send(t, in, ingesttest.ADT{Event: "A01", N: 22, Family: "OTHER"}.Bytes())
	if !r.Resent || string(r.ACK) != "MSH|x\r" {
		t.Errorf("reply %q (resent %v), want the stored ACK", r.ACK, r.Resent)
	}
}

// TestRecover: messages acknowledged but not written before a stop (in the
// inbox only) are written by Start at the next start, mapped as they were
// when they arrived; one that no longer maps is set aside, not retried.
func TestRecover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "relais.db")
	st, err := store.Open(path, store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	arrived := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, data := range [][]byte{ingesttest.Admit(7), []byte("not HL7"), ingesttest.Discharge(7)} {
		if _, err := st.Enqueue(ctx, encodeQueued(arrived, data), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(path, store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs bytes.Buffer
	in, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if n, err := in.Start(ctx); n != 3 || err != nil {
		t.Fatalf("Start: %d %v", n, err)
	}
	// Before they are written (nothing is served meanwhile), the log
	// says why the start waits.
	if want := `msg="writing the HL7 v2 messages accepted before the last stop" messages=3`; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	q, err := search.Parse("Encounter", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil || len(hits) != 1 {
		t.Fatalf("encounters %v %v", hits, err)
	}
	if got := field(t, st, "Encounter", hits[0].ID, "status"); got != "finished" {
		t.Errorf("encounter %q after the recovered A01 and A03", got)
	}
	if hits[0].Version != 2 {
		t.Errorf("encounter version %d, want 2", hits[0].Version)
	}
	rep, err := in.Inbox()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Queued != 0 || len(rep.Failed) != 1 || rep.Failed[0].Seq != 2 || !rep.Failed[0].Received.Equal(arrived) || rep.Failed[0].Message != "unparsed" || rep.Failed[0].Maps || rep.Failed[0].Reason == "" {
		t.Errorf("inbox after Start: %+v, want the unparseable message alone set aside", rep)
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
}

// TestPlanAgainWhenEventTimesChanged: a queued message planned against
// event times that changed before its batch committed is decided again in
// the transaction: a newer event stored meanwhile keeps its data.
func TestPlanAgainWhenEventTimesChanged(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ctx := context.Background()
	admit := send(t, in, ingesttest.Admit(8))
	enc := written(t, st, admit, "Encounter")

	data := ingesttest.Discharge(8)
	at := time.Now()
	seq, err := st.Enqueue(ctx, encodeQueued(at, data), nil)
	if err != nil {
		t.Fatal(err)
	}
	it := &queued{seq: seq}
	in.remap(it, data, at)
	plans, _ := in.plan([]*queued{it}, nil)
	if plans[0] == nil {
		t.Fatal("the discharge was not planned")
	}
	// Meanwhile a newer event writes the encounter (not through the queue).
	res, err := testCodec.Decode(enc.JSON)
	if err != nil {
		t.Fatal(err)
	}
	newer := store.TxEntry{Method: "PUT", Type: "Encounter", ID: enc.ID, Resource: res, EventTime: it.header.EventTime.Add(time.Hour)}
	if _, err := st.TransactionWith(ctx, []store.TxEntry{newer}, store.TxOptions{}); err != nil {
		t.Fatal(err)
	}
	var older int
	err = st.ApplyQueued(ctx, []uint64{seq}, func(b *store.Batch) error {
		older, err = in.applyQueued(b, it, plans[0])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if older == 0 {
		t.Error("the planned decision was used although the event times changed")
	}
	if got := field(t, st, "Encounter", enc.ID, "status"); got == "finished" {
		t.Error("an older discharge overwrote the encounter")
	}
}

// TestAdmitWaitsForRoom: with a full backlog a sender waits until a batch
// leaves the queue, and gives up Busy when its request ends first.
func TestAdmitWaitsForRoom(t *testing.T) {
	t.Parallel()
	q := &queue{room: make(chan struct{}), items: make([]*queued, maxBacklog)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := q.admit(ctx); outcome.KindOf(err) != outcome.Busy {
		t.Fatalf("full backlog: %v, want Busy", err)
	}
	done := make(chan error, 1)
	go func() { done <- q.admit(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("admitted into a full backlog: %v", err)
	case <-time.After(30 * time.Millisecond):
	}
	q.mu.Lock()
	q.items = q.items[:maxBacklog-1]
	q.shrunk()
	q.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRejectedCanBeResent: a message acknowledged but then set aside
// (inboxfailed) loses its ACK record, so the sender's resend is stored
// rather than answered as a duplicate.
func TestRejectedCanBeResent(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ctx := context.Background()
	data := ingesttest.Admit(21)
	msg, err := er7.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ack := &store.MessageACK{Key: *ackKey(msg), At: time.Now(), Record: encodeACKRecord(&Reply{ACK: []byte("MSH|x\r")}, contentDigest(msg))}
	seq, err := st.Enqueue(ctx, encodeQueued(time.Now(), data), ack)
	if err != nil {
		t.Fatal(err)
	}
	it := &queued{seq: seq}
	in.remap(it, data, time.Now())
	it.entries = append(it.entries, it.entries[0]) // two writes of one resource: refused
	if err := in.q.write([]*queued{it}, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := in.Inbox(); err != nil || len(rep.Failed) != 1 {
		t.Fatalf("inbox %+v %v, want the message set aside", rep, err)
	}
	r := send(t, in, data)
	if r.Resent {
		t.Fatal("the resend of a message set aside was answered as a duplicate")
	}
	written(t, st, r, "Patient")
}

// TestQueueKeepsSequenceOrder: messages handed over out of order (they
// shared a commit) are written in the order of their inbox sequence.
func TestQueueKeepsSequenceOrder(t *testing.T) {
	t.Parallel()
	q := &queue{wake: make(chan struct{}, 1), room: make(chan struct{})}
	for _, seq := range []uint64{3, 1, 4, 2, 5} {
		q.add(&queued{seq: seq})
	}
	for i, it := range q.items {
		if it.seq != uint64(i+1) {
			t.Fatalf("queue order %v", q.items)
		}
	}
}

// TestPlanWhileBatchBeforeIsWritten: the queue plans a batch while the one
// before it is being written, carrying what that one planned: a discharge
// planned before its admission is written is current once the admission
// is (no planning again in the transaction), and is planned again, and
// written right, when the admission is set aside instead.
func TestPlanWhileBatchBeforeIsWritten(t *testing.T) {
	t.Parallel()
	for _, admitted := range []bool{true, false} {
		in, st := newTest(t)
		ctx := context.Background()
		var items []*queued
		for _, data := range [][]byte{ingesttest.Admit(9), ingesttest.Discharge(9)} {
			at := time.Now()
			seq, err := st.Enqueue(ctx, encodeQueued(at, data), nil)
			if err != nil {
				t.Fatal(err)
			}
			it := &queued{seq: seq}
			if err := in.remap(it, data, at); err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		admit, discharge := items[0], items[1]
		plansA, next := in.plan([]*queued{admit}, nil)
		plansB, _ := in.plan([]*queued{discharge}, next) // the admission not written yet
		if plansA[0] == nil || plansB[0] == nil {
			t.Fatal("not planned")
		}
		apply := func(it *queued, p *store.Planned, wantFresh bool) {
			t.Helper()
			err := st.ApplyQueued(ctx, []uint64{it.seq}, func(b *store.Batch) error {
				fresh, err := b.Fresh(p)
				if err != nil {
					return err
				}
				if fresh != wantFresh {
					t.Errorf("admitted %v: plan current %v, want %v", admitted, fresh, wantFresh)
				}
				_, err = in.applyQueued(b, it, p)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if admitted {
			apply(admit, plansA[0], true)
		} else if err := st.ApplyQueued(ctx, []uint64{admit.seq}, func(b *store.Batch) error { return reject(b, admit) }); err != nil {
			t.Fatal(err) // set aside, as a message that cannot be written is
		}
		apply(discharge, plansB[0], admitted)
		enc := discharge.entries[slices.IndexFunc(discharge.entries, func(e store.TxEntry) bool { return e.Type == "Encounter" })]
		rec, err := st.Read("Encounter", enc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]uint64{true: 2, false: 1}[admitted]; rec.Version != want {
			t.Errorf("admitted %v: Encounter version %d, want %d", admitted, rec.Version, want)
		}
		if got := field(t, st, "Encounter", enc.ID, "status"); got != "finished" {
			t.Errorf("admitted %v: Encounter status %q, want finished", admitted, got)
		}
	}
}

// TestTakeWaitsIdlyAfterAWrite: a queue lingering for more messages while
// the write before has finished waits on its timer, not in a loop on the
// finished write (not parallel: it reads the process's CPU time).
func TestTakeWaitsIdlyAfterAWrite(t *testing.T) {
	q := &queue{wake: make(chan struct{}, 1), stop: make(chan struct{}), room: make(chan struct{})}
	q.idle = sync.NewCond(&q.mu)
	done := make(chan struct{})
	close(done)
	q.writing = done // written, not waited for yet
	now := time.Now()
	q.items = []*queued{{seq: 1, at: now}}
	q.last = now
	q.accepting.Store(1) // a sender is on its way: linger
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	cpu0, t0 := fhirtest.CPUTime(), time.Now()
	if batch := q.take(timer); len(batch) != 1 {
		t.Fatalf("took %d messages", len(batch))
	}
	if waited, cpu := time.Since(t0), fhirtest.CPUTime()-cpu0; waited < applyLinger/2 || cpu > waited/3 {
		t.Errorf("lingered %v using %v of CPU: want about %v, idle", waited, cpu, applyLinger)
	}
}

// mappingFixture reads an HL7 v2 fixture of the mapping's test data.
func mappingFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "mappings", "hl7v2", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPersonEvents: the IHE PAM patient identity feed's A28 (add person)
// then A31 (update person) write one Patient, the A31 changing her address
// and her general practitioner, and no Encounter, even when the A31's PV1
// names a visit (the visit events own encounters).
func TestPersonEvents(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	fixture := func(name string) []byte { return mappingFixture(t, name) }
	r1 := send(t, in, fixture("pam-fr-a28.hl7"))
	if code, ctl, errs := ack(t, r1.ACK); code != "AA" || ctl != "PAM0028" || errs != nil {
		t.Fatalf("A28 ACK %s %s %v", code, ctl, errs)
	}
	p1 := written(t, st, r1, "Patient")
	gp1 := field(t, st, "Patient", p1.ID, "generalPractitioner.reference")
	a31 := fixture("pam-fr-a31.hl7")
	// the visit a sender may put in an A31 anyway
	a31 = bytes.Replace(a31, []byte("PV1|1|N\r"), []byte("PV1|1|I|CARDIO^101^1||||||||||||||||88001^^^HOPITAL&1.2.250.1.999.1.1&ISO^AN\r"), 1)
	r2 := send(t, in, a31)
	if code, ctl, errs := ack(t, r2.ACK); code != "AA" || ctl != "PAM0031" || errs != nil {
		t.Fatalf("A31 ACK %s %s %v", code, ctl, errs)
	}
	p2 := written(t, st, r2, "Patient")
	if p2.ID != p1.ID || p2.Version != 2 {
		t.Fatalf("A31 wrote Patient/%s version %d, want Patient/%s version 2", p2.ID, p2.Version, p1.ID)
	}
	if gp2 := field(t, st, "Patient", p2.ID, "generalPractitioner.reference"); gp2 == gp1 || !strings.HasPrefix(gp2, "Practitioner/") {
		t.Errorf("general practitioner %q after the A31, %q before", gp2, gp1)
	}
	if pc := field(t, st, "Patient", p2.ID, "address.postalCode"); pc != "59800" {
		t.Errorf("postal code %q after the A31 (59000 before)", pc)
	}
	for _, r := range []*Reply{r1, r2} {
		for _, w := range r.Writes {
			if strings.HasPrefix(w, "Encounter/") {
				t.Errorf("a person event wrote %s", w)
			}
		}
	}
	err := st.View(func(r *store.Snapshot) error {
		hits, err := r.Search(&search.Query{Type: "Encounter"}, nil)
		if len(hits) != 0 {
			t.Errorf("%d Encounters stored", len(hits))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStayEvents: the IHE PAM France movements of a stay between its
// admission and its discharge set the Encounter's status: a leave of
// absence (A21) puts it on leave, the return (A22) back in progress, a
// change of attending doctor (A54) keeps it in progress with the new
// doctor; a pre-admission (A05) or a pending admission (A14) is planned
// and its cancellation (A38, A27) cancels it.
func TestStayEvents(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	fixture := func(name string) []byte { return mappingFixture(t, name) }
	// as is b sent again as event ev, under another control ID, its time
	// (MSH-7, EVN-2) moved from one instant to another
	as := func(b []byte, from, ev, control, was, at string) []byte {
		b = bytes.Replace(b, []byte("^"+from+"^"), []byte("^"+ev+"^"), 1)
		b = bytes.Replace(b, []byte("|PAM00"), []byte("|"+control+"-PAM00"), 1)
		return bytes.ReplaceAll(b, []byte(was), []byte(at))
	}
	var enc string
	status := func(r *Reply) string {
		t.Helper()
		if code, _, errs := ack(t, r.ACK); code != "AA" || errs != nil {
			t.Fatalf("ACK %s %v", code, errs)
		}
		e := written(t, st, r, "Encounter")
		enc = e.ID
		return field(t, st, "Encounter", e.ID, "status")
	}
	doctor := func() string { return field(t, st, "Encounter", enc, "participant.individual.reference") }
	if got := status(send(t, in, fixture("pam-fr-a01.hl7"))); got != "in-progress" {
		t.Errorf("after A01: %s", got)
	}
	before := doctor()
	a21 := fixture("pam-fr-a21.hl7")
	if got := status(send(t, in, a21)); got != "onleave" {
		t.Errorf("after A21: %s", got)
	}
	if got := status(send(t, in, as(a21, "A21", "A22", "R", "20240106140000+0100", "20240107100000+0100"))); got != "in-progress" {
		t.Errorf("after A22: %s", got)
	}
	if got := status(send(t, in, as(fixture("pam-fr-a54.hl7"), "A54", "A54", "D", "20240104110000+0100", "20240108100000+0100"))); got != "in-progress" {
		t.Errorf("after A54: %s", got)
	}
	if after := doctor(); after == before || after == "" {
		t.Errorf("attending doctor %q after A54, %q before", after, before)
	}
	a05 := fixture("pam-fr-a05.hl7")
	if got := status(send(t, in, a05)); got != "planned" {
		t.Errorf("after A05: %s", got)
	}
	if got := status(send(t, in, as(a05, "A05", "A38", "C", "20240301090000+0100", "20240302090000+0100"))); got != "cancelled" {
		t.Errorf("after A38: %s", got)
	}
	// the pending admission (HL7 v2.5 section 3.3.14) and its cancellation
	// (3.3.27), another stay
	a14 := bytes.ReplaceAll(a05, []byte("^VN"), []byte("9^VN"))
	if got := status(send(t, in, as(a14, "A05", "A14", "P", "20240301090000+0100", "20240303090000+0100"))); got != "planned" {
		t.Errorf("after A14: %s", got)
	}
	if got := status(send(t, in, as(a14, "A05", "A27", "Q", "20240301090000+0100", "20240304090000+0100"))); got != "cancelled" {
		t.Errorf("after A27: %s", got)
	}
}

// TestUpdateKeepsDischarge: an A08 whose PV1 lacks the discharge (PV1-45),
// sent after the A03, updates the stay and leaves it finished, with its
// end; an A13 (cancel discharge) does reopen it. Sent right behind the
// A03 (written in the same batch, or planned before it was), the same.
func TestUpdateKeepsDischarge(t *testing.T) {
	t.Parallel()
	for _, backToBack := range []bool{false, true} {
		in, st := newTest(t)
		send(t, in, ingesttest.Admit(1))
		a03 := ingesttest.Discharge(1)
		a08 := ingesttest.ADT{Event: "A08", N: 1, At: ingesttest.Base.Add(48 * time.Hour), Family: "RENAMED"}.Bytes()
		var r *Reply
		if backToBack {
			if _, err := in.HL7v2(context.Background(), a03, nil); err != nil {
				t.Fatal(err)
			}
			r = send(t, in, a08)
		} else {
			send(t, in, a03)
			r = send(t, in, a08)
		}
		e := written(t, st, r, "Encounter")
		if got := field(t, st, "Encounter", e.ID, "status"); got != "finished" {
			t.Errorf("back to back %v: the stay is %s after an A08 without PV1-45", backToBack, got)
		}
		if end := field(t, st, "Encounter", e.ID, "period.end"); end == "" {
			t.Errorf("back to back %v: the stay lost its end", backToBack)
		}
		p := written(t, st, r, "Patient")
		if got := field(t, st, "Patient", p.ID, "name.family"); got != "RENAMED" {
			t.Errorf("back to back %v: the A08's patient update was not applied: %q", backToBack, got)
		}
		a13 := ingesttest.ADT{Event: "A13", N: 1, At: ingesttest.Base.Add(72 * time.Hour)}.Bytes()
		r = send(t, in, a13)
		if got := field(t, st, "Encounter", written(t, st, r, "Encounter").ID, "status"); got != "in-progress" {
			t.Errorf("back to back %v: the stay is %s after an A13", backToBack, got)
		}
	}
}

// TestNIAReplacedByNIR: a patient stored with her INS-NIA, then sent with
// the NIA and the NIR that replaced it (IHE PAM France section 4.4.1, an
// A31), has the NIR as her only official INS: the NIA is kept, old.
func TestNIAReplacedByNIR(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	const nia = "~190001234567812^^^ASIP-SANTE-INS-NIA&1.2.250.1.213.1.4.9&ISO^INS"
	const nir = "~290017512345699^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS"
	msg := func(control, ids string) []byte {
		return []byte("MSH|^~\\&|GAM|CHU|RELAIS|RELAIS|20261201100000+0100||ADT^A31^ADT_A05|" + control + "|P|2.5^FRA^2.10\r" +
			"EVN||20261201100000+0100\r" +
			"PID|1||IPP-9^^^CHU&1.2.250.1.999.7&ISO^PI" + ids + "||MARTIN^ZOE^^^^^L||19700101|F|||||||||||||||||||||N||VALI\r" +
			"PV1|1|N\r")
	}
	var r *Reply
	for _, m := range [][]byte{msg("N1", nia), msg("N2", nia+nir)} {
		r = send(t, in, m)
		if code, _, errs := ack(t, r.ACK); code != "AA" {
			t.Fatalf("ACK %s %v", code, errs)
		}
	}
	js := string(written(t, st, r, "Patient").JSON)
	for _, want := range []string{
		`{"system":"urn:oid:1.2.250.1.213.1.4.9","type":{"coding":[{"code":"INS-NIA","system":"https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"}]},"use":"old"`,
		`{"system":"urn:oid:1.2.250.1.213.1.4.8","type":{"coding":[{"code":"INS-NIR","system":"https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"}]},"use":"official"`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("the Patient lacks %s: %s", want, js)
		}
	}
}

// TestSummaryNamesTheSystemError: what the queue logs when it cannot
// write a message names the failed commit and the system's error ("no
// space left on device"), where it said "database commit failed" alone,
// or "internal error"; a mapping error is still logged by its reason.
func TestSummaryNamesTheSystemError(t *testing.T) {
	t.Parallel()
	full := &fs.PathError{Op: "write", Path: "/var/lib/relais/relais.db", Err: syscall.ENOSPC}
	if got, want := summary(outcome.Wrap(outcome.Internal, "database commit failed", full)), "database commit failed: no space left on device"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got, want := summary(fmt.Errorf("apply: %w", full)), "internal error: no space left on device"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}
