package hl7v2

import (
	"github.com/relais-health/relais/fhir/fhirtest"
	"testing"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// adtSet returns the ADT messages of the corpus and the fixtures that the
// mapping accepts: the representative set the mapping's throughput target
// (≥ 25,000 ADT messages/s on one core) is measured on.
func adtSet(b *testing.B) [][]byte {
	b.Helper()
	var out [][]byte
	for _, s := range samples(b) {
		if _, skip := skipped[s.name]; skip {
			continue
		}
		data := read(b, s.path)
		msg, err := er7.Parse(data)
		if err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
		if code, _, _ := msg.Type(); code == "ADT" {
			out = append(out, data)
		}
	}
	if len(out) < 20 {
		b.Fatalf("only %d ADT messages", len(out))
	}
	return out
}

// BenchmarkADTThroughput measures the mapping's throughput: er7.Parse plus
// ConvertMessage to FHIR protos (no JSON), over the ADT set, as messages per
// second. Run it on one core:
//
//	go test -run '^$' -bench ADTThroughput -benchmem -cpu 1 ./mappings/hl7v2
//
// On a machine shared with other work, wall-clock figures include the time
// spent waiting for a core; cpu-ns/msg (this process's user + system time,
// garbage collection included) does not.
func BenchmarkADTThroughput(b *testing.B) {
	set := adtSet(b)
	opts := testOptions()
	b.ReportAllocs()
	cpu := fhirtest.CPUTime()
	for b.Loop() {
		for _, data := range set {
			msg, err := er7.Parse(data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ConvertMessage(msg, data, opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu = fhirtest.CPUTime() - cpu
	n := float64(b.N * len(set))
	b.ReportMetric(n/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/msg")
}
