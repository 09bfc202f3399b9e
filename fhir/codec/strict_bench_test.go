package codec_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/strictjson"
)

// benchDoc is the corpus's largest Bundle.
const benchDoc = "r4-Bundle-father.json"

// BenchmarkStrict runs, on the same document, the strict check alone, the
// parse without it and Decode (both), so that one run gives the figures
// and the check's share of the parse.
func BenchmarkStrict(b *testing.B) {
	c := codec.MustNew()
	data, err := os.ReadFile(filepath.Join("../../../shared/corpus/fhir", benchDoc))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Check", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		defer reportCPU(b, fhirtest.CPUTime())
		for b.Loop() {
			if err := strictjson.Check(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		defer reportCPU(b, fhirtest.CPUTime())
		for b.Loop() {
			if _, err := c.DecodeUnchecked(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		defer reportCPU(b, fhirtest.CPUTime())
		for b.Loop() {
			if _, err := c.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Ratio alternates the two in each iteration, so that a change of
	// load on the machine affects both alike; it gives the check's share
	// of the parse in wall time and in CPU time (which, on a shared
	// machine, leaves out the waits for a core).
	b.Run("Ratio", func(b *testing.B) {
		var check, parse, checkCPU, parseCPU time.Duration
		for b.Loop() {
			c0 := fhirtest.CPUTime()
			t0 := time.Now()
			if err := strictjson.Check(data); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			c1 := fhirtest.CPUTime()
			t2 := time.Now()
			if _, err := c.DecodeUnchecked(data); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			c2 := fhirtest.CPUTime()
			check, checkCPU = check+t1.Sub(t0), checkCPU+c1-c0
			parse, parseCPU = parse+t3.Sub(t2), parseCPU+c2-c1
		}
		b.ReportMetric(100*float64(check)/float64(parse), "check/parse-%")
		b.ReportMetric(100*float64(checkCPU)/float64(parseCPU), "check/parse-cpu-%")
	})
}

// reportCPU reports the process's CPU time per iteration since start.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(fhirtest.CPUTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
