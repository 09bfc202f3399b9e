package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/store"
)

// The benchmarks run the path users take: a store that fsyncs, Tasks
// written through store transactions (the Follower enqueues their events
// in the same commit), a consent decision recorded for a practitioner
// owner (the GP of the Tasks' patient) before every attempt, id-only
// notifications POSTed to local httptest receivers. Receivers, writers and
// the server share the machine's cores.

// benchReceiver counts notifications and records, per focus, when the
// first one arrived.
type benchReceiver struct {
	*httptest.Server
	n       atomic.Int64
	mu      sync.Mutex
	arrived map[string]time.Time
}

var focusMark = []byte(`"focus","valueReference":{"reference":"`)

func newBenchReceiver(tb testing.TB) *benchReceiver {
	br := &benchReceiver{arrived: map[string]time.Time{}}
	br.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		if i := bytes.Index(body, focusMark); i >= 0 {
			rest := body[i+len(focusMark):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				br.mu.Lock()
				if _, ok := br.arrived[string(rest[:j])]; !ok {
					br.arrived[string(rest[:j])] = now
				}
				br.mu.Unlock()
				br.n.Add(1)
			}
		}
	}))
	tb.Cleanup(br.Close)
	return br
}

func (br *benchReceiver) at(focus string) (time.Time, bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	t, ok := br.arrived[focus]
	return t, ok
}

// benchSubscribe creates Subscriptions sub-0… to the receivers, owned by
// the GP, on the nurse's Tasks, and waits until each is active.
func benchSubscribe(e *env, prefix string, urls []string) []string {
	ids := make([]string, len(urls))
	for i, u := range urls {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		e.subscribe(ids[i], "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", u, ContentIDOnly, "")
	}
	e.waitFor("the handshakes", func() bool {
		for _, id := range ids {
			if s, _ := e.subStatus(id); s != "active" {
				return false
			}
		}
		return true
	})
	return ids
}

func benchTask(e *env, id string) time.Time {
	m, err := testCodec.Decode([]byte(`{"resourceType":"Task","id":"` + id + `","status":"requested","intent":"order","for":{"reference":"Patient/p1"},"owner":{"reference":"PractitionerRole/nurse"}}`))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Transaction(context.Background(), []store.TxEntry{{Method: "PUT", Type: "Task", ID: id, Resource: m}}); err != nil {
		e.t.Fatal(err)
	}
	return time.Now()
}

// BenchmarkThroughput: notifications per second, with 16 Subscriptions
// each notified of every Task; b.N is the number of notifications.
func BenchmarkThroughput(b *testing.B) {
	const subs = 64
	e := newEnvSync(b, true, nil)
	rc := newBenchReceiver(b)
	urls := make([]string, subs)
	for i := range urls {
		urls[i] = rc.URL
	}
	benchSubscribe(e, "tp", urls)
	writes := (b.N + subs - 1) / subs
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(writes); i = next.Add(1) {
				benchTask(e, fmt.Sprintf("tp%d", i))
			}
		}()
	}
	wg.Wait()
	want := int64(writes * subs)
	for rc.n.Load() < want {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "notifications/s")
	e.close()
}

// latencies returns the commit-to-delivery times of the Tasks committed
// at the times in committed, as seen by rc.
func latencies(tb testing.TB, rc *benchReceiver, committed map[string]time.Time) []time.Duration {
	deadline := time.Now().Add(30 * time.Second)
	var out []time.Duration
	for id, c := range committed {
		for {
			at, ok := rc.at("Task/" + id)
			if ok {
				out = append(out, max(at.Sub(c), 0))
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("Task/%s never delivered", id)
			}
			time.Sleep(time.Millisecond)
		}
	}
	slices.Sort(out)
	return out
}

func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))].Microseconds()) / 1000
}

// paced writes n Tasks named prefix0… at rate a second, and returns when
// each was committed (its Transaction returned).
func paced(e *env, prefix string, n int, rate float64) map[string]time.Time {
	out := make(map[string]time.Time, n)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		id := fmt.Sprintf("%s%d", prefix, i)
		out[id] = benchTask(e, id)
	}
	return out
}

// BenchmarkLatency200: Tasks written at 200 a second, each notified to one
// Subscription: commit-to-delivery latency, p50 and p99. b.N is the
// number of Tasks (use -benchtime=1000x: 5 s).
func BenchmarkLatency200(b *testing.B) {
	e := newEnvSync(b, true, nil)
	rc := newBenchReceiver(b)
	benchSubscribe(e, "lat", []string{rc.URL})
	b.ResetTimer()
	committed := paced(e, "lat", b.N, 200)
	ds := latencies(b, rc, committed)
	b.StopTimer()
	b.ReportMetric(pct(ds, 0.5), "p50-ms")
	b.ReportMetric(pct(ds, 0.99), "p99-ms")
	b.ReportMetric(pct(ds, 1), "max-ms")
	e.close()
}

// BenchmarkDeadAmongLive: 100 live Subscriptions, each with its own
// receiver, notified of Tasks written at 10 a second (1,000 notifications
// a second); first alone, then with a dead Subscription among them whose
// endpoint accepts connections and never answers (each attempt waits for
// the 2 s timeout). The live ones' p99 commit-to-delivery latency, without
// and with the dead one, in the same run. b.N is the number of Tasks per
// phase (use -benchtime=30x).
func BenchmarkDeadAmongLive(b *testing.B) {
	e := newEnvSync(b, true, func(c *Config) { c.Timeout = 2 * time.Second })
	live := make([]*benchReceiver, 100)
	urls := make([]string, len(live))
	for i := range live {
		live[i] = newBenchReceiver(b)
		urls[i] = live[i].URL
	}
	benchSubscribe(e, "live", urls)
	phase := func(prefix string) []time.Duration {
		committed := paced(e, prefix, b.N, 10)
		var all []time.Duration
		for _, rc := range live {
			all = append(all, latencies(b, rc, committed)...)
		}
		slices.Sort(all)
		return all
	}
	b.ResetTimer()
	without := phase("a")

	// A dead endpoint: it accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	e.subscribe("dead", "PractitionerRole/gp", "Task?owner=PractitionerRole/nurse", "http://"+ln.Addr().String()+"/", ContentIDOnly, "")
	e.waitFor("the dead handshake to fail", func() bool { s, _ := e.subStatus("dead"); return s == "error" })
	with := phase("b")
	b.StopTimer()
	if c := e.counts("dead"); c.Last == 0 || c.Delivered != 0 {
		b.Fatalf("the dead Subscription: %+v", c)
	}
	b.ReportMetric(pct(without, 0.99), "p99-ms-without-dead")
	b.ReportMetric(pct(with, 0.99), "p99-ms-with-dead")
	b.ReportMetric(pct(with, 0.5), "p50-ms-with-dead")
	e.close()
}
