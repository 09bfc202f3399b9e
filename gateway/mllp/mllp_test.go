package mllp_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/gateway/devcert"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/mllp"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// dischargeCount is how many stays TestDischarges sends: 2,000 (1,000 with
// -short), or RELAIS_MLLP_N. The full 10,000 run in
// BenchmarkDischarges10k (make bench), with fsync on.
func dischargeCount(t *testing.T) int {
	if s := os.Getenv("RELAIS_MLLP_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if testing.Short() {
		return 1000
	}
	return 2000
}

// TestDischarges sends, over real TCP on 8 connections, an admission then a
// discharge for each of n distinct stays, checks every ACK (AA, MSA-2
// echoing the control ID), then every stored Encounter: one per stay,
// finished, with its discharge time.
func TestDischarges(t *testing.T) {
	t.Parallel()
	n := dischargeCount(t)
	e := newEnv(t, envOptions{sync: os.Getenv("RELAIS_MLLP_SYNC") != ""})
	elapsed := e.discharges(t, 0, n, 8)
	t.Logf("%d messages on 8 connections in %v: %.0f messages/s; store %+v", 2*n, elapsed.Round(time.Millisecond),
		float64(2*n)/elapsed.Seconds(), e.store.Stats())
	if !t.Failed() {
		e.checkEncounters(t, n)
	}
}

// discharges sends A01 then A03 for stays from..from+n-1 on conns
// connections, each waiting for every ACK and checking it.
func (e *env) discharges(tb testing.TB, from, n, conns int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := e.dial()
			for i := from + c; i < from+n; i += conns {
				for _, ev := range []string{"A01", "A03"} {
					cl.send(ingesttest.ADT{Event: ev, N: i}.Bytes())
					ack, err := cl.read()
					if err != nil {
						tb.Errorf("stay %d %s: %v", i, ev, err)
						return
					}
					if code, ctl := msa(tb, ack); code != "AA" || ctl != fmt.Sprintf("%s-%d", ev, i) {
						tb.Errorf("stay %d %s: ACK %s %s", i, ev, code, ctl)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// checkEncounters: exactly one Encounter per stay 0..n-1, all finished.
func (e *env) checkEncounters(t testing.TB, n int) {
	q, err := search.Parse("Encounter", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.store.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != n {
		t.Errorf("%d Encounters stored, want %d", len(hits), n)
	}
	seen := make([]bool, n)
	for _, h := range hits {
		rec, err := e.store.Read("Encounter", h.ID)
		if err != nil {
			t.Fatal(err)
		}
		var enc struct {
			Status     string
			Period     struct{ Start, End string }
			Identifier []struct{ Value string }
		}
		if err := json.Unmarshal(rec.JSON, &enc); err != nil {
			t.Fatal(err)
		}
		visit := -1
		if len(enc.Identifier) > 0 && strings.HasPrefix(enc.Identifier[0].Value, "V") {
			visit, _ = strconv.Atoi(enc.Identifier[0].Value[1:])
		}
		switch {
		case visit < 0 || visit >= n:
			t.Errorf("Encounter %s: unexpected visit number %q", h.ID, enc.Identifier)
		case seen[visit]:
			t.Errorf("visit %d stored twice", visit)
		case enc.Status != "finished" || enc.Period.End == "":
			t.Errorf("visit %d: status %q, end %q", visit, enc.Status, enc.Period.End)
		}
		if visit >= 0 && visit < n {
			seen[visit] = true
		}
	}
}

func TestResend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send(ingesttest.Admit(1))
	first := c.mustRead()
	e.ingest.Sync()
	before := e.store.Stats().Writes
	time.Sleep(1100 * time.Millisecond) // a rebuilt ACK would carry another MSH-7
	c.send(ingesttest.Admit(1))
	if again := c.mustRead(); !bytes.Equal(again, first) {
		t.Errorf("resend ACK differs:\n%q\n%q", first, again)
	}
	if after := e.store.Stats().Writes; after != before {
		t.Errorf("the resend wrote %d times", after-before)
	}
}

// TestControlIDReused: another message under a used control ID gets an AR
// with ERR 205 over MLLP, writes nothing, and leaves the connection open.
func TestControlIDReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send(ingesttest.Admit(1))
	first := c.mustRead()
	e.ingest.Sync()
	before := e.store.Stats().Writes
	c.send(ingesttest.ADT{Event: "A01", N: 1, Family: "OTHER"}.Bytes())
	reply := c.mustRead()
	m, err := er7.Parse(reply)
	if err != nil {
		t.Fatal(err)
	}
	if code := m.First("MSA").Field(1).Text(); code != "AR" || m.First("ERR").Field(3).Comp(1).Text() != "205" {
		t.Errorf("reused control ID: %q, want AR with ERR 205", reply)
	}
	c.send(ingesttest.Admit(1))
	if again := c.mustRead(); !bytes.Equal(again, first) {
		t.Errorf("the true resend after it: %q, want the original %q", again, first)
	}
	if after := e.store.Stats().Writes; after != before {
		t.Errorf("%d writes, want none", after-before)
	}
}

// TestOlderEvent: an A08 older than the stored discharge is acknowledged and
// does not overwrite the newer data.
func TestOlderEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	for _, m := range [][]byte{
		ingesttest.Admit(2),
		ingesttest.Discharge(2),
		ingesttest.ADT{Event: "A08", N: 2, Family: "RENAMED", At: ingesttest.Base.Add(2*time.Minute + time.Hour)}.Bytes(),
	} {
		c.send(m)
		if code, _ := msa(t, c.mustRead()); code != "AA" {
			t.Fatalf("ACK %s", code)
		}
	}
	q, _ := search.Parse("Patient", url.Values{"family": {"RENAMED"}}, true)
	if hits, _ := e.store.Search(q, nil); len(hits) != 0 {
		t.Error("the older A08 renamed the patient")
	}
	q, _ = search.Parse("Encounter", url.Values{"status": {"finished"}}, true)
	if hits, _ := e.store.Search(q, nil); len(hits) != 1 {
		t.Errorf("%d finished encounters, want 1", len(hits))
	}
}

// TestFraming: garbage, cut-short frames and oversized frames never kill
// the connection or the listener.
func TestFraming(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: mllp.Config{MaxMessage: 8 << 10}})
	c := e.dial()
	expect := func(want string) {
		t.Helper()
		code, ctl := msa(t, c.mustRead())
		if code+" "+ctl != want {
			t.Errorf("ACK %s %s, want %s", code, ctl, want)
		}
	}
	c.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // garbage outside a frame
	c.send(ingesttest.Admit(1))
	expect("AA A01-1")
	c.write(append([]byte{0x0b}, ingesttest.Admit(2)[:40]...)) // cut short by the next frame
	c.send(ingesttest.Admit(3))
	expect("AA A01-3")
	c.send(append(ingesttest.ADT{N: 4, Control: "BIG"}.Bytes(), bytes.Repeat([]byte("NTE|1||x\r"), 2000)...))
	expect("AR BIG")
	c.send([]byte("not hl7 at all"))
	expect("AR ")
	c.send(ingesttest.Admit(5))
	expect("AA A01-5")
	// FS without the CR still ends a frame.
	c.write(append(append([]byte{0x0b}, ingesttest.Admit(6)...), 0x1c))
	expect("AA A01-6")
	// A new connection works too.
	c2 := e.dial()
	c2.send(ingesttest.Admit(7))
	if code, _ := msa(t, c2.mustRead()); code != "AA" {
		t.Errorf("second connection: %s", code)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{cfg: mllp.Config{IdleTimeout: 1500 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}})
	idle := e.dial()
	slow := e.dial()
	slow.write(append([]byte{0x0b}, ingesttest.Admit(1)[:30]...)) // then nothing
	if !idle.closed(6 * time.Second) {
		t.Error("idle connection not closed")
	}
	if !slow.closed(3 * time.Second) {
		t.Error("slow sender not cut off")
	}
	// A connection that keeps sending within the idle timeout stays.
	busy := e.dial()
	for i := 0; i < 3; i++ {
		time.Sleep(100 * time.Millisecond)
		busy.send(ingesttest.Admit(10 + i))
		if code, _ := msa(t, busy.mustRead()); code != "AA" {
			t.Fatalf("ACK %s", code)
		}
	}
}

func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := devcert.Generate(dir); err != nil {
		t.Fatal(err)
	}
	srvTLS, err := devcert.ServerTLS(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{cfg: mllp.Config{TLS: srvTLS, ReadTimeout: 2 * time.Second}})
	withCert, err := devcert.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.dialTLS(withCert)
	if err != nil {
		t.Fatal(err)
	}
	c.send(ingesttest.Admit(1))
	if code, _ := msa(t, c.mustRead()); code != "AA" {
		t.Errorf("ACK %s", code)
	}
	pool, err := devcert.CAPool(dir)
	if err != nil {
		t.Fatal(err)
	}
	noCert := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if c, err := e.dialTLS(noCert); err == nil {
		// TLS 1.3 reports the missing certificate on the first read.
		c.send(ingesttest.Admit(2))
		if _, err := c.read(); err == nil {
			t.Error("a client without a certificate got an ACK")
		}
	}
}

// TestEnhancedMode: accept and application ACKs as MSH-15/16 ask; the
// sender's own ACK is not answered.
func TestEnhancedMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send(ingesttest.ADT{N: 1, Accept: "AL", App: "AL"}.Bytes())
	if code, _ := msa(t, c.mustRead()); code != "CA" {
		t.Errorf("accept ACK %s", code)
	}
	if code, _ := msa(t, c.mustRead()); code != "AA" {
		t.Errorf("application ACK %s", code)
	}
	c.send([]byte("MSH|^~\\&|SENDAPP|HOPITAL|RELAIS|RELAIS|20260301||ACK^A01^ACK|Z1|P|2.5\rMSA|CA|X\r"))
	c.send(ingesttest.ADT{N: 2, Accept: "AL", App: "NE"}.Bytes())
	if code, ctl := msa(t, c.mustRead()); code != "CA" || ctl != "A01-2" {
		t.Errorf("next reply %s %s, want CA A01-2 (the sender's ACK must not be answered)", code, ctl)
	}
	c.send(ingesttest.ADT{N: 3, Accept: "NE", App: "AL"}.Bytes())
	if code, ctl := msa(t, c.mustRead()); code != "AA" || ctl != "A01-3" {
		t.Errorf("reply %s %s, want only the application ACK", code, ctl)
	}
}

// TestShutdown: ending the context closes idle connections at once and
// Serve returns.
func TestShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := e.dial()
	c.send(ingesttest.Admit(1))
	c.mustRead()
	done := make(chan error, 1)
	go func() { done <- e.stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if !c.closed(time.Second) {
		t.Error("connection left open")
	}
}

// TestLogsAndStats: the opening and closing of each connection (remote
// address, TLS or not) and the ACK codes sent for each message are logged,
// never the message's content; Stats counts the ACKs written, by code.
func TestLogsAndStats(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	e := newEnv(t, envOptions{cfg: mllp.Config{MaxMessage: 8 << 10,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	c := e.dial()
	c.send(ingesttest.Admit(1))
	c.mustRead()
	c.send(ingesttest.ADT{N: 2, Accept: "AL", App: "AL"}.Bytes())
	c.mustRead()
	c.mustRead()
	c.send(append(ingesttest.ADT{N: 3, Control: "BIG"}.Bytes(), bytes.Repeat([]byte("NTE|1||x\r"), 2000)...))
	c.mustRead()
	c.send([]byte("not hl7 at all"))
	c.mustRead()
	c.nc.Close()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "mllp connection closed"); {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection was not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}

	want := map[er7.AckCode]uint64{er7.AA: 2, er7.AE: 0, er7.AR: 2, er7.CA: 1, er7.CE: 0, er7.CR: 0}
	if got := e.srv.Stats().ACKs; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats().ACKs = %v, want %v", got, want)
	}
	out := logs.String()
	for _, w := range []string{
		`msg="mllp connection opened" remote=127.0.0.1:`, "tls=false",
		`msg="mllp message" remote=127.0.0.1:`, " ack=AA ", " ack=CA,AA ", " ack=AR",
		`msg="mllp connection closed" remote=127.0.0.1:`, "messages=4", `reason="closed by the sender"`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
	for _, phi := range []string{"CLAIRE", "LILAS", "P0000001", "A01-1", "0320000000"} {
		if strings.Contains(out, phi) {
			t.Errorf("log contains message content %q:\n%s", phi, out)
		}
	}
}

// lockedBuffer collects log output from concurrent connections.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
