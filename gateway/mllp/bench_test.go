package mllp_test

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/gateway/server"
)

// BenchmarkMLLP is the end-to-end ingestion figure: messages (A01 then A03 of
// distinct stays) sent over 4 MLLP connections, each waiting for its ACK,
// which comes only after the message is in the fsync'd inbox. The time
// includes writing every message's resources (the last batches are waited
// for). Reports messages/s, the CPU time and bbolt page writes per message,
// and how many messages each apply transaction wrote. The garbage collector
// runs with the server's setting (server.DefaultGCPercent).
//
//	go test -run '^$' -bench MLLP -benchtime 4000x ./gateway/mllp
func BenchmarkMLLP(b *testing.B) {
	serverGC(b)
	e := newEnv(b, envOptions{sync: true})
	e.discharges(b, 1<<30, 64, 4) // warm up: connections, codec, file
	stays := max(b.N/2, 4)
	e.ingest.Sync()
	cpu := fhirtest.CPUTime()
	pages, st0 := pwrites(e), e.store.Stats()
	b.ResetTimer()
	start := time.Now()
	e.discharges(b, 0, stays, 4)
	e.ingest.Sync()
	elapsed := time.Since(start)
	b.StopTimer()
	msgs := float64(2 * stays)
	b.ReportMetric(msgs/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64((fhirtest.CPUTime()-cpu).Microseconds())/msgs, "cpu-µs/msg")
	st := e.store.Stats()
	b.ReportMetric(float64(st.Applied-st0.Applied)/float64(st.Batches-st0.Batches), "msgs/apply")
	b.ReportMetric(float64(pwrites(e)-pages)/msgs, "pwrites/msg")
}

// BenchmarkDischarges10k is the full discharge proof (TestDischarges runs
// 2,000 stays): 10,000 distinct stays, A01 then A03, on 8 connections with
// durable commits, then every ACK and every Encounter checked. Each
// iteration is the whole run, on a fresh store.
//
//	go test -run '^$' -bench Discharges10k -benchtime 1x ./gateway/mllp
func BenchmarkDischarges10k(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		e := newEnv(b, envOptions{sync: true})
		b.StartTimer()
		elapsed := e.discharges(b, 0, n, 8)
		b.ReportMetric(2*n/elapsed.Seconds(), "msgs/s")
		b.StopTimer()
		if !b.Failed() {
			e.checkEncounters(b, n)
		}
		b.StartTimer()
	}
}

// serverGC runs the garbage collector as `relais serve` does
// (server.DefaultGCPercent) until the benchmark ends.
func serverGC(b *testing.B) {
	old := debug.SetGCPercent(server.DefaultGCPercent)
	b.Cleanup(func() { debug.SetGCPercent(old) })
}

// pwrites counts bbolt's page writes so far: what a commit costs grows with
// the pages it dirties.
func pwrites(e *env) int64 {
	return e.store.Stats().PagesWritten
}
