package auth

import (
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/fhirtest"
)

// reportCPU adds a cpu-ns/op metric: on a machine shared with other work,
// wall-clock ns/op counts the time spent waiting for a core, CPU time not.
func reportCPU(b *testing.B, start time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(fhirtest.CPUTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
