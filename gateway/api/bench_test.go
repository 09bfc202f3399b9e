package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/server"

	"github.com/gorilla/mux"
	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/fhirtest"
)

// The loopback benchmarks drive a real HTTP server over TCP with 64
// keep-alive connections (RunParallel with 32 goroutines per CPU on this
// 2-CPU machine), client and server in one process. The bare benchmark is
// the ceiling the issue compares against: gorilla/mux serving one bbolt
// value, nothing else.

const conns = 64

func loopbackClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

// hammer GETs url from conns goroutines and reports requests/s.
func hammer(b *testing.B, url, authz string) {
	c := loopbackClient()
	var failures atomic.Int64
	b.SetParallelism(max(1, conns/ncpu()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		for pb.Next() {
			res, err := c.Do(req)
			if err != nil {
				failures.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				failures.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d failed requests", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func ncpu() int { return runtime.GOMAXPROCS(0) }

// BenchmarkLoopbackBareMuxBolt is the ceiling: a bare mux handler writing a
// value read from bbolt.
// serverRuntime runs a loopback benchmark with the garbage collector
// target relais serve runs with (--gc-percent), restored afterwards.
func serverRuntime(b *testing.B) {
	old := debug.SetGCPercent(server.DefaultGCPercent)
	b.Cleanup(func() { debug.SetGCPercent(old) })
}

func BenchmarkLoopbackBareMuxBolt(b *testing.B) {
	serverRuntime(b)
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := []byte(strings.Repeat("x", 700))
	_ = db.Update(func(tx *bolt.Tx) error {
		bk, _ := tx.CreateBucket([]byte("r"))
		return bk.Put([]byte("Patient/1"), value)
	})
	r := mux.NewRouter()
	r.HandleFunc("/fhir/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		var out []byte
		_ = db.View(func(tx *bolt.Tx) error {
			out = append(out, tx.Bucket([]byte("r")).Get([]byte(v["type"]+"/"+v["id"]))...)
			return nil
		})
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(out)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	hammer(b, srv.URL+"/fhir/Patient/1", "")
}

// BenchmarkLoopbackRead is an authenticated FHIR read by id through the
// whole API: routing, token check, scope check, store read, response.
func BenchmarkLoopbackRead(b *testing.B) {
	serverRuntime(b)
	e := newEnv(b, 0)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Dupont","given":["Jeanne"]}],"birthDate":"1942-03-15","address":[{"city":"Lille","postalCode":"59000"}]}`)
	hammer(b, e.url+"/fhir/Patient/p1", "Bearer "+e.token)
}

// BenchmarkLoopbackCreate5KB creates 5 KB CarePlans from 16 concurrent
// clients with fsync on.
func BenchmarkLoopbackCreate5KB(b *testing.B) {
	serverRuntime(b)
	e := newEnvSync(b)
	body := carePlanJSON()
	c := loopbackClient()
	var failures atomic.Int64
	b.SetParallelism(max(1, 16/ncpu()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", e.url+"/fhir/CarePlan", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.token)
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Prefer", "return=minimal")
			res, err := c.Do(req)
			if err != nil || res.StatusCode != 201 {
				failures.Add(1)
			}
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	})
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d failed creates", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	st := e.store.Stats()
	b.ReportMetric(float64(st.Writes)/float64(max(1, st.Commits)), "writes/commit")
}

func carePlanJSON() string {
	var acts []string
	for i := 0; i < 24; i++ {
		acts = append(acts, fmt.Sprintf(`{"detail":{"kind":"ServiceRequest","code":{"coding":[{"system":"http://snomed.info/sct","code":"2290080%02d","display":"Home nursing visit number %d"}]},"status":"scheduled","description":"Wound care and anticoagulant check, visit %d"}}`, i, i, i))
	}
	return `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[` + strings.Join(acts, ",") + `]}`
}

// BenchmarkLoopbackSearch20of100k searches 20 of 100,000 stored
// Observations over HTTP, one request at a time, and reports latency
// percentiles.
func BenchmarkLoopbackSearch20of100k(b *testing.B) {
	serverRuntime(b)
	e := newEnv(b, 0)
	fhirtest.LoadObservations(b, e.store, 100_000)
	c := loopbackClient()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequestWithContext(context.Background(), "GET",
			fmt.Sprintf("%s/fhir/Observation?patient=p%d&_sort=date", e.url, i%5000), nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		t0 := time.Now()
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 || !strings.Contains(string(body), `"total":20`) {
			b.Fatalf("search = %d %.200s", res.StatusCode, body)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[int(0.99*float64(len(lat)-1))].Microseconds()), "p99-µs")
}
