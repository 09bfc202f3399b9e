package mllp_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// corpusA03 is the realistic discharge message of the growth benchmarks: an
// HL7 v2.8 ADT^A03 of 8.6 KB that maps to 28 resources, the source Binary,
// the OperationOutcome of what was not mapped and the Provenance among them.
const corpusA03 = "../../../shared/corpus/hl7v2/ms-ADT-A03-01.hl7"

// corpusMessage makes distinct messages out of one corpus message. Message n
// differs from it only in MSH-10 (the control ID), in the ID of PID-3's
// first repetition (the identifier the Patient's id comes from), in the
// family name of PID-5 (distinct people: thousands of patients do not share
// one name, birth date and sex, which identity matching lists as probable
// duplicates) and in the ID of PV1-19 (the visit number the Encounter's id
// comes from): each is the original value followed by "-n". Everything else is the file's bytes,
// its segments ended by CR as MLLP carries them (the corpus keeps the
// separators of its source: LF for ms-ADT-A03-01).
type corpusMessage struct {
	segs [][]byte // without their terminators
	size int      // of the message with CRs
	// cut[i] are where message n inserts "-n" in segs[i], in order.
	cut [][]int
	// original MSH-10, PID-3.1 and PV1-19.1.
	control, patient, visit string
}

// The fields corpusMessage rewrites, by segment and position after
// splitting the segment at the field separator (MSH-n is position n-1:
// MSH-1 is the separator itself).
var corpusEdits = []struct {
	seg string
	pos int
}{{"MSH", 9}, {"PID", 3}, {"PID", 5}, {"PV1", 19}}

func loadCorpusMessage(tb testing.TB, path string) *corpusMessage {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	m := &corpusMessage{}
	for _, s := range bytes.FieldsFunc(data, func(r rune) bool { return r == '\r' || r == '\n' }) {
		m.segs = append(m.segs, s)
		m.size += len(s) + 1
		m.cut = append(m.cut, nil)
	}
	if len(m.segs) == 0 || len(m.segs[0]) < 8 || string(m.segs[0][:3]) != "MSH" {
		tb.Fatalf("%s: does not start with MSH", path)
	}
	// MSH-1 is the field separator, MSH-2 the component, repetition,
	// escape and subcomponent separators.
	msh := m.segs[0]
	fsep, stop := msh[3], []byte{msh[3], msh[4], msh[5], msh[7]}
	var values []string
	for _, ed := range corpusEdits {
		i := slices.IndexFunc(m.segs, func(s []byte) bool {
			return len(s) > 3 && string(s[:3]) == ed.seg && s[3] == fsep
		})
		if i < 0 {
			tb.Fatalf("%s: no %s segment", path, ed.seg)
		}
		start, ok := fieldStart(m.segs[i], fsep, ed.pos)
		end := start
		for ok && end < len(m.segs[i]) && bytes.IndexByte(stop, m.segs[i][end]) < 0 {
			end++
		}
		if !ok || end == start || slices.Contains(m.cut[i], end) {
			tb.Fatalf("%s: %s field %d has no first component to rewrite", path, ed.seg, ed.pos)
		}
		m.cut[i] = append(m.cut[i], end)
		slices.Sort(m.cut[i])
		values = append(values, string(m.segs[i][start:end]))
	}
	m.control, m.patient, m.visit = values[0], values[1], values[3]
	return m
}

// fieldStart returns where the field at position pos of seg starts.
func fieldStart(seg []byte, fsep byte, pos int) (int, bool) {
	start := 0
	for range pos {
		i := bytes.IndexByte(seg[start:], fsep)
		if i < 0 {
			return 0, false
		}
		start += i + 1
	}
	return start, true
}

// message returns message n.
func (m *corpusMessage) message(n int) []byte {
	suffix := "-" + strconv.Itoa(n)
	out := make([]byte, 0, m.size+3*len(suffix))
	for i, s := range m.segs {
		prev := 0
		for _, c := range m.cut[i] {
			out = append(append(out, s[prev:c]...), suffix...)
			prev = c
		}
		out = append(out, s[prev:]...)
		out = append(out, '\r')
	}
	return out
}

// controlID is MSH-10 of message n: what its ACK's MSA-2 echoes.
func (m *corpusMessage) controlID(n int) string { return m.control + "-" + strconv.Itoa(n) }

// TestCorpusMessages: generated messages are the corpus message but for
// the three rewritten values, and two of them are two Patients and two
// Encounters, each acknowledged AA.
func TestCorpusMessages(t *testing.T) {
	t.Parallel()
	m := loadCorpusMessage(t, corpusA03)
	if m.control != "MSG00001" || m.patient != "PATID1234" || m.visit != "40007716" {
		t.Fatalf("rewrites MSH-10 %q, PID-3.1 %q, PV1-19.1 %q", m.control, m.patient, m.visit)
	}
	orig, err := os.ReadFile(corpusA03)
	if err != nil {
		t.Fatal(err)
	}
	orig = bytes.ReplaceAll(bytes.TrimRight(orig, "\r\n"), []byte("\n"), []byte("\r"))
	ns := []int{7001, 7002} // "-700" is nowhere in the file
	for _, n := range ns {
		msg := m.message(n)
		suffix := []byte("-" + strconv.Itoa(n))
		if c := bytes.Count(msg, suffix); c != 4 {
			t.Errorf("message %d: %d rewritten values, want 4", n, c)
		}
		if rest := bytes.TrimSuffix(bytes.ReplaceAll(msg, suffix, nil), []byte("\r")); !bytes.Equal(rest, orig) {
			t.Errorf("message %d differs from the corpus message beyond its rewritten values", n)
		}
	}
	e := newEnv(t, envOptions{})
	c := e.dial()
	for _, n := range ns {
		if err := c.deliver(m.message(n), m.controlID(n)); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
	}
	for _, typ := range []string{"Patient", "Encounter"} {
		value := map[string]string{"Patient": m.patient, "Encounter": m.visit}[typ]
		var ids []string
		for _, n := range ns {
			q, err := search.Parse(typ, url.Values{"identifier": {value + "-" + strconv.Itoa(n)}}, true)
			if err != nil {
				t.Fatal(err)
			}
			hits, err := e.store.Search(q, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 {
				t.Fatalf("message %d: %d %s resources, want 1", n, len(hits), typ)
			}
			ids = append(ids, hits[0].ID)
		}
		if ids[0] == ids[1] {
			t.Errorf("both messages wrote %s/%s", typ, ids[0])
		}
	}
}

// deliver sends msg and reads its ACK, which must be AA for control ID
// ctl. Unlike send it only returns errors, so that any goroutine may call it.
func (c *client) deliver(msg []byte, ctl string) error {
	frame := make([]byte, 0, len(msg)+3)
	frame = append(append(append(frame, 0x0b), msg...), 0x1c, 0x0d)
	if _, err := c.nc.Write(frame); err != nil {
		return err
	}
	ack, err := c.read()
	if err != nil {
		return err
	}
	m, err := er7.Parse(ack)
	if err != nil {
		return fmt.Errorf("ACK does not parse: %w", err)
	}
	if code, got := m.First("MSA").Field(1).Text(), m.First("MSA").Field(2).Text(); code != "AA" || got != ctl {
		return fmt.Errorf("ACK %s %s, want AA %s", code, got, ctl)
	}
	return nil
}

// sendAll sends messages from..to-1 of m, each connection its share in
// order (connection i sends from+i, from+i+len(conns), ...), each waiting
// for its ACK.
func sendAll(tb testing.TB, m *corpusMessage, conns []*client, from, to int) {
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := from + i; n < to; n += len(conns) {
				if err := c.deliver(m.message(n), m.controlID(n)); err != nil {
					tb.Errorf("message %d: %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func (e *env) dialN(n int) []*client {
	conns := make([]*client, n)
	for i := range conns {
		conns[i] = e.dial()
	}
	return conns
}

// envInt reads a positive count from the environment, def when unset.
func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// growthWindow is what one window of the growth benchmark measured.
type growthWindow struct {
	from, n          int
	elapsed          time.Duration
	cpu              time.Duration // of the whole process, senders included
	pages            int64
	applied, batches uint64
	fileSize         int64 // at the window's end
}

func (w growthWindow) rate() float64 { return float64(w.n) / w.elapsed.Seconds() }

func (w growthWindow) pagesPerMsg() float64 { return float64(w.pages) / float64(w.n) }

// growthWindowSize is how many messages one row of the growth table covers.
const growthWindowSize = 2000

// BenchmarkMLLPGrowth is the write cost of a database that grows: the
// corpus discharge message (8.6 KB, 28 resources), distinct per message,
// sent over 4 connections each waiting for its ACK (durable: fsync on), to
// a fresh store, 20,000 messages (RELAIS_GROWTH_MSGS). Each window of 2,000
// messages ends once they are all written (ingest.Sync), so its time
// counts their writing. A table logs each window's messages/s, bbolt page
// writes per message, CPU per message, messages per apply transaction and
// the file's size; at the end the file is compared with the compact JSON
// of every stored version, what _history serves. One iteration is the
// whole run. The garbage collector runs with the server's setting. Run it
// with -v to see the whole table (benchmark logs are cut at 10 lines).
//
//	RELAIS_GROWTH_MSGS=6000 go test -run '^$' -bench MLLPGrowth -benchtime 1x -timeout 60m -v ./gateway/mllp
func BenchmarkMLLPGrowth(b *testing.B) {
	total := envInt(b, "RELAIS_GROWTH_MSGS", 20000)
	serverGC(b)
	m := loadCorpusMessage(b, corpusA03)
	for range b.N {
		b.StopTimer()
		e := newEnv(b, envOptions{sync: true})
		conns := e.dialN(4)
		b.StartTimer()
		windows := e.growth(b, m, conns, total)
		b.StopTimer()
		if b.Failed() {
			return
		}
		e.reportGrowth(b, windows)
		b.StartTimer()
	}
}

// growth sends messages 0..total-1 window by window.
func (e *env) growth(b *testing.B, m *corpusMessage, conns []*client, total int) []growthWindow {
	var windows []growthWindow
	for from := 0; from < total && !b.Failed(); from += growthWindowSize {
		to := min(from+growthWindowSize, total)
		st0, cpu0, t0 := e.store.Stats(), fhirtest.CPUTime(), time.Now()
		sendAll(b, m, conns, from, to)
		e.ingest.Sync()
		elapsed, cpu, st := time.Since(t0), fhirtest.CPUTime()-cpu0, e.store.Stats()
		windows = append(windows, growthWindow{
			from: from, n: to - from, elapsed: elapsed, cpu: cpu,
			pages:   st.PagesWritten - st0.PagesWritten,
			applied: st.Applied - st0.Applied, batches: st.Batches - st0.Batches,
			fileSize: st.FileSize,
		})
	}
	return windows
}

// reportGrowth reports the metrics, the first and last windows' rates and
// their ratio, the highest page writes per message and the file against
// the JSON it stores, and logs the sizes, then the table. Benchmark logs
// are cut after 10 lines unless go test runs with -v.
func (e *env) reportGrowth(b *testing.B, windows []growthWindow) {
	maxPages := 0.0
	for _, w := range windows {
		maxPages = max(maxPages, w.pagesPerMsg())
	}
	first, last := windows[0], windows[len(windows)-1]
	b.ReportMetric(first.rate(), "first-msgs/s")
	b.ReportMetric(last.rate(), "last-msgs/s")
	b.ReportMetric(last.rate()/first.rate(), "last/first")
	b.ReportMetric(maxPages, "max-pwrites/msg")

	t0 := time.Now()
	versions, js := storedJSON(b, e.store)
	file, dir := e.store.Stats().FileSize, dirSize(b, e.dir)
	b.ReportMetric(float64(file)/float64(js), "file/json")
	b.Logf("%d versions, %.1f MiB of compact JSON (read in %v); file %.1f MiB (%.2f×), data directory %.1f MiB (%.2f×)",
		versions, float64(js)/(1<<20), time.Since(t0).Round(time.Millisecond),
		float64(file)/(1<<20), float64(file)/float64(js), float64(dir)/(1<<20), float64(dir)/float64(js))
	b.Logf("%-13s %8s %8s %11s %12s %10s %9s", "messages", "seconds", "msgs/s", "pwrites/msg", "cpu-µs/msg", "msgs/apply", "file MiB")
	for _, w := range windows {
		b.Logf("%6d-%-6d %8.1f %8.0f %11.1f %12.0f %10.1f %9.1f", w.from, w.from+w.n-1, w.elapsed.Seconds(), w.rate(),
			w.pagesPerMsg(), float64(w.cpu.Microseconds())/float64(w.n), float64(w.applied)/float64(max(w.batches, 1)),
			float64(w.fileSize)/(1<<20))
	}
}

// storedJSON pages through the system history, as GET /_history does,
// and counts the versions and their JSON bytes: what the file stores at
// the least.
func storedJSON(tb testing.TB, s *store.Store) (versions int, size int64) {
	o := store.HistoryOptions{Count: 1000}
	for {
		h, err := s.TypeHistory("", o)
		if err != nil {
			tb.Fatal(err)
		}
		for _, rec := range h.Records {
			versions++
			size += int64(len(rec.JSON))
		}
		if h.Next == 0 {
			return versions, size
		}
		o.Before = h.Next
	}
}

// dirSize is the size of the files under dir.
func dirSize(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkMLLPAckLatency is the ACK latency under a steady offered load:
// 300 messages/s (RELAIS_LATENCY_RATE) of the corpus discharge message,
// distinct per message, for 20 s (RELAIS_LATENCY_SECONDS), on a store
// that first gets 5,000 of them (RELAIS_LATENCY_PRELOAD) over 4
// connections. Reports the p50, p99 and highest latency, from the time
// each message was due to the receipt of its ACK, and logs them per
// 5-second slice.
//
// The load is an open loop: message i is due at start + i/rate whatever
// happened to the ones before, and its latency counts from then, so a
// stall of the server is not hidden by the sender waiting for it. Each
// connection carries one message at a time, as HL7 senders do: a message
// goes on an idle connection, or on a new one when all are waiting for
// their ACK (4 to start with, at most 512; the metric conns is how many
// it took). Pipelining on 4 connections instead would add to each message
// the time of the ones ahead of it on its connection (the server answers
// a connection in order): that measures the sender's queue, not the
// server.
//
//	RELAIS_LATENCY_SECONDS=10 go test -run '^$' -bench MLLPAckLatency -benchtime 1x ./gateway/mllp
func BenchmarkMLLPAckLatency(b *testing.B) {
	rate := envInt(b, "RELAIS_LATENCY_RATE", 300)
	d := time.Duration(envInt(b, "RELAIS_LATENCY_SECONDS", 20)) * time.Second
	preload := envInt(b, "RELAIS_LATENCY_PRELOAD", 5000)
	serverGC(b)
	m := loadCorpusMessage(b, corpusA03)
	for range b.N {
		b.StopTimer()
		e := newEnv(b, envOptions{sync: true})
		sendAll(b, m, e.dialN(4), 0, preload)
		e.ingest.Sync()
		st0 := e.store.Stats()
		b.StartTimer()
		r := e.openLoop(m, preload, rate, d)
		e.ingest.Sync()
		b.StopTimer()
		if b.Failed() {
			return
		}
		st := e.store.Stats()
		r.report(b)
		b.ReportMetric(float64(st.PagesWritten-st0.PagesWritten)/float64(len(r.lat)), "pwrites/msg")
		b.ReportMetric(float64(st.Applied-st0.Applied)/float64(max(st.Batches-st0.Batches, 1)), "msgs/apply")
		b.StartTimer()
	}
}

// loopResult is what an open loop measured: message i was due at i×period
// after the start and acknowledged lat[i] later.
type loopResult struct {
	period time.Duration
	lat    []time.Duration
	late   time.Duration // the most a send started after it was due
	conns  int
}

// maxLoopConns bounds the connections of an open loop, below the server's
// default MaxConns.
const maxLoopConns = 512

// openLoop sends messages from, from+1, ... of m, one every 1/rate s for d,
// and waits for every ACK.
func (e *env) openLoop(m *corpusMessage, from, rate int, d time.Duration) *loopResult {
	r := &loopResult{period: time.Second / time.Duration(rate)}
	n := int(d / r.period)
	r.lat = make([]time.Duration, n)
	late := make([]time.Duration, n)
	idle := make(chan *client, n)
	for _, c := range e.dialN(4) {
		idle <- c
	}
	r.conns = 4
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		msg, ctl := m.message(from+i), m.controlID(from+i)
		due := start.Add(time.Duration(i) * r.period)
		time.Sleep(time.Until(due))
		var c *client
		select {
		case c = <-idle:
		default:
			if r.conns < maxLoopConns {
				c = e.dial()
				r.conns++
			} else {
				c = <-idle // the send starts late: r.late tells
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			late[i] = time.Since(due)
			if err := c.deliver(msg, ctl); err != nil {
				e.t.Errorf("message %d: %v", from+i, err)
				return // the connection is not reused
			}
			r.lat[i] = time.Since(due)
			idle <- c
		}()
	}
	wg.Wait()
	r.late = slices.Max(late)
	return r
}

// report logs the latencies per 5-second slice and reports those of the
// whole run.
func (r *loopResult) report(b *testing.B) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slice := int(5 * time.Second / r.period)
	b.Logf("%-9s %8s %8s %8s", "seconds", "p50 ms", "p99 ms", "max ms")
	for i := 0; i < len(r.lat); i += slice {
		p := percentiles(r.lat[i:min(i+slice, len(r.lat))])
		b.Logf("%3.0f-%-5.0f %8.1f %8.1f %8.1f", (time.Duration(i) * r.period).Seconds(),
			(time.Duration(min(i+slice, len(r.lat))) * r.period).Seconds(), ms(p.p50), ms(p.p99), ms(p.max))
	}
	p := percentiles(r.lat)
	b.Logf("%d messages at %.0f/s on %d connections; sends started at most %.1f ms late",
		len(r.lat), float64(time.Second)/float64(r.period), r.conns, ms(r.late))
	b.ReportMetric(ms(p.p50), "p50-ms")
	b.ReportMetric(ms(p.p99), "p99-ms")
	b.ReportMetric(ms(p.max), "max-ms")
	b.ReportMetric(float64(r.conns), "conns")
}

type latencies struct{ p50, p99, max time.Duration }

// percentiles of lat, nearest rank.
func percentiles(lat []time.Duration) latencies {
	s := slices.Clone(lat)
	slices.Sort(s)
	rank := func(q float64) time.Duration { return s[max(int(math.Ceil(q*float64(len(s))))-1, 0)] }
	return latencies{p50: rank(0.50), p99: rank(0.99), max: s[len(s)-1]}
}
