package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"net/url"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

var benchCodec = codec.MustNew()

func decode(tb testing.TB, js string) proto.Message {
	tb.Helper()
	m, err := benchCodec.Decode([]byte(js))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func query(tb testing.TB, typ, raw string) *search.Query {
	tb.Helper()
	v, _ := url.ParseQuery(raw)
	q, err := search.Parse(typ, v, true)
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

// carePlan5KB is a CarePlan of about 5 KB of JSON, the size of the store's
// write figure.
func carePlan5KB(tb testing.TB) proto.Message {
	tb.Helper()
	acts := ""
	for i := 0; i < 24; i++ {
		if i > 0 {
			acts += ","
		}
		acts += fmt.Sprintf(`{"detail":{"kind":"ServiceRequest","code":{"coding":[{"system":"http://snomed.info/sct","code":"2290080%02d","display":"Home nursing visit number %d"}]},"status":"scheduled","description":"Wound care and anticoagulant check, visit %d"}}`, i, i, i)
	}
	return decode(tb, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[`+acts+`]}`)
}

func openBench(b *testing.B, noSync bool) *store.Store {
	b.Helper()
	s, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{Codec: benchCodec, NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkRead(b *testing.B) {
	s := openBench(b, true)
	rec, err := s.Create(context.Background(), carePlan5KB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Read("CarePlan", rec.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkCreate5KB16 creates 5 KB resources from 16 concurrent writers
// with fsync on, as relais serve writes.
func BenchmarkCreate5KB16(b *testing.B) {
	benchCreates(b, openBench(b, false))
}

// benchCreates creates 5 KB resources in s from 16 concurrent writers and
// reports what each commit cost: the writes it carried, bbolt's page writes
// and the bytes the process wrote (/proc/self/io, where there is one).
func benchCreates(b *testing.B, s *store.Store) {
	res := carePlan5KB(b)
	before, written := s.Stats(), writeBytes()
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Create(context.Background(), proto.Clone(res)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	after := s.Stats()
	commits := float64(max(1, after.Commits-before.Commits))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	b.ReportMetric(float64(after.Writes-before.Writes)/commits, "writes/commit")
	b.ReportMetric(float64(after.PagesWritten-before.PagesWritten)/commits, "pwrites/commit")
	if written >= 0 {
		b.ReportMetric(float64(writeBytes()-written)/1024/commits, "KB-written/commit")
	}
}

// writeBytes is the bytes this process has sent to storage (write_bytes in
// /proc/self/io), or -1 where that is not known.
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// BenchmarkSearch20of100k searches 20 of 100,000 stored Observations by
// patient and reports latency percentiles.
func BenchmarkSearch20of100k(b *testing.B) {
	s := openBench(b, true)
	fhirtest.LoadObservations(b, s, 100_000)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := query(b, "Observation", fmt.Sprintf("patient=p%d&_sort=date", i%5000))
		t0 := time.Now()
		hits, err := s.Search(q, nil)
		lat = append(lat, time.Since(t0))
		if err != nil || len(hits) != 20 {
			b.Fatalf("%d hits, %v", len(hits), err)
		}
	}
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkAppendAudit appends a read's audit entry (its disclosure and
// its decision, audit.ReadEvent) per call from 64 goroutines with fsync on, as 64
// connections of consent-filtered reads do, and reports the CPU each
// costs. Its IDs are shaped as the consent engine's: IDs that sort at
// random instead (without the leading second) cost about half as much
// again at 300,000 entries, and more as the log grows.
func BenchmarkAppendAudit(b *testing.B) {
	s := openBench(b, false)
	var seq atomic.Int64
	cpu0 := fhirtest.CPUTime()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			// shaped as the consent engine's: the second, then a
			// permuted sequence (random here)
			id := strconv.FormatInt(time.Now().Unix(), 36) + "-" + strconv.FormatUint(rand.Uint64(), 36)
			d := audit.Decision{ID: id, Time: time.Now(), Patient: fmt.Sprintf("Patient/p%d", n%500),
				Actor: fmt.Sprintf("PractitionerRole/r%d", n%50), Permit: true, Policy: "care-team", Purpose: "TREAT", Token: "jti-" + id}
			if err := s.AppendAudit(ctx, audit.ReadEvent(&d, audit.SubRead, "Observation/o1")); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((fhirtest.CPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
