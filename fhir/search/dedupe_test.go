package search

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
)

// TestExtractManyValues extracts a Provenance naming 60,000 targets (what a
// CDA document of as many entries gives), a few of them twice: each is
// indexed once, and the work stays linear. Comparing each value with the
// ones kept before it took minutes of CPU for such a document.
func TestExtractManyValues(t *testing.T) {
	const n = 60000
	var b strings.Builder
	b.WriteString(`{"resourceType":"Provenance","id":"p","recorded":"2027-01-20T10:00:00Z","agent":[{"who":{"reference":"Device/d"}}],"target":[`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"reference":"Observation/o%d"},`, i)
	}
	b.WriteString(`{"reference":"Observation/o7"},{"reference":"Observation/o59999"}]}`)
	m, err := codec.MustNew().Decode([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	start := cpuTime(t)
	vs := Extract(m)
	used := cpuTime(t) - start
	targets := 0
	for _, v := range vs {
		if v.Param == "target" {
			targets++
		}
	}
	if targets != n {
		t.Errorf("%d target values, want %d (each once)", targets, n)
	}
	if !has(vs, "target", Reference, "Observation/o59999") {
		t.Error("the last target is not indexed")
	}
	if used > 2*time.Second {
		t.Errorf("extracting %d references took %v of CPU", n, used)
	}
}

// cpuTime is the CPU time the test process has used: unlike the time
// elapsed, it hardly depends on what else the machine runs.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
