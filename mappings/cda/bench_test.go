package cda

import (
	"github.com/relais-health/relais/fhir/fhirtest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/mappings/bundle"
)

func loadCorpus(b testing.TB) (docs [][]byte, bytes int64) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.xml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("corpus: %v", err)
	}
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, d)
		bytes += int64(len(d))
	}
	return docs, bytes
}

// benchCodec prints Bundles as the gateway does.
var benchCodec = codec.MustNew()

func benchCorpus(b *testing.B, encode func(*testing.B, *bundle.Result)) {
	docs, size := loadCorpus(b)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := fhirtest.CPUTime()
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			res, err := Convert(d, Options{})
			if err != nil {
				b.Fatal(err)
			}
			encode(b, res)
		}
	}
	n := float64(b.N * len(docs))
	b.ReportMetric(n/b.Elapsed().Seconds(), "docs/s")
	// The machine is shared: CPU time (user+system, GC included) tells what
	// the code costs when it has a core to itself.
	b.ReportMetric(n/(fhirtest.CPUTime()-cpu0).Seconds(), "docs/cpu-s")
}

// BenchmarkCorpus converts every corpus document and prints its Bundle:
// the mapping's throughput figure (the npm converter does about 130 docs/s here).
func BenchmarkCorpus(b *testing.B) {
	benchCorpus(b, func(b *testing.B, r *bundle.Result) {
		if _, err := benchCodec.Encode(r.Bundle); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCorpusParallel is BenchmarkCorpus with documents converted
// concurrently on every core, as the gateway converts concurrent requests.
func BenchmarkCorpusParallel(b *testing.B) {
	docs, size := loadCorpus(b)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, d := range docs {
				res, err := Convert(d, Options{})
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := benchCodec.Encode(res.Bundle); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N*len(docs))/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkCorpusConvertOnly leaves printing out.
func BenchmarkCorpusConvertOnly(b *testing.B) { benchCorpus(b, func(*testing.B, *bundle.Result) {}) }

const largeDoc = corpusDir + "/sampleccdas-vitera-large-ccd.xml"

// BenchmarkLarge converts and prints the 855 kB document; see -benchmem.
func BenchmarkLarge(b *testing.B) {
	d, err := os.ReadFile(largeDoc)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res, err := Convert(d, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := benchCodec.Encode(res.Bundle); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargeDocumentMemory bounds what converting and printing the largest
// corpus document allocates: a small multiple of its size (the output
// itself holds the document in base64, plus every resource).
func TestLargeDocumentMemory(t *testing.T) {
	d, err := os.ReadFile(largeDoc)
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		res, err := Convert(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := benchCodec.Encode(res.Bundle); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm descriptor caches
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	const ceiling = 16 // times the input size
	if limit := uint64(ceiling * len(d)); allocated > limit {
		t.Errorf("converting %d bytes allocated %d bytes, more than %d× the input", len(d), allocated, ceiling)
	}
	t.Logf("%d kB in, %d kB allocated (%.1f×)", len(d)>>10, allocated>>10, float64(allocated)/float64(len(d)))
}

// BenchmarkCorpusEncodeOnly prints the Bundles of every corpus document,
// converted once beforehand.
func BenchmarkCorpusEncodeOnly(b *testing.B) {
	docs, _ := loadCorpus(b)
	var bundles []*bundle.Result
	var size int64
	for _, d := range docs {
		res, err := Convert(d, Options{})
		if err != nil {
			b.Fatal(err)
		}
		out, err := benchCodec.Encode(res.Bundle)
		if err != nil {
			b.Fatal(err)
		}
		bundles = append(bundles, res)
		size += int64(len(out))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range bundles {
			if _, err := benchCodec.Encode(r.Bundle); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(docs))/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkCorpusParse reads every corpus document into its tree, the
// first step of Convert.
func BenchmarkCorpusParse(b *testing.B) {
	docs, size := loadCorpus(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			t, err := parseXML(d)
			if err != nil {
				b.Fatal(err)
			}
			t.release()
		}
	}
}
