package hl7v2

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current mapping")

// The shared public corpus (see ../shared/corpus/SOURCES.md) and the
// fixtures written for this package from the specifications.
const (
	sharedCorpus = "../../../shared/corpus/hl7v2"
	fixtures     = "testdata"
	goldenDir    = "testdata/golden"
)

// skipped lists corpus messages without a golden Bundle and why. Each is
// still converted, and must be refused with a rejecting *er7.Error.
var skipped = map[string]string{}

// testOptions make the output reproducible.
func testOptions() Options {
	return Options{Now: func() time.Time { return time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC) }}
}

type sample struct{ name, path string }

// samples lists every message with a golden file or a skip entry.
func samples(t testing.TB) []sample {
	t.Helper()
	var out []sample
	for _, dir := range []string{sharedCorpus, fixtures} {
		files, err := filepath.Glob(filepath.Join(dir, "*.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			out = append(out, sample{filepath.Base(f), f})
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d sample messages; is %s there?", len(out), sharedCorpus)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	t.Parallel()
	cd := codec.MustNew()
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			conv, err := Convert(read(t, s.path), testOptions())
			if why, ok := skipped[s.name]; ok {
				var e *er7.Error
				if !errors.As(err, &e) || !e.Condition.Rejects() {
					t.Fatalf("skipped message converted or not rejected: %v", err)
				}
				t.Skip(why)
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			got, err := cd.EncodeIndent(conv.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Golden(t, filepath.Join(goldenDir, strings.TrimSuffix(s.name, ".hl7")+".json"), got, *update)
		})
	}
}

// TestValidates runs the independent FHIR validator over every Bundle the
// mapping produces when RELAIS_VALIDATE is set (make test sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	dir := t.TempDir()
	cd := codec.MustNew()
	n := 0
	write := func(name string, conv *Converted) {
		out, err := cd.EncodeIndent(conv.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), out, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for _, s := range samples(t) {
		if _, skip := skipped[s.name]; skip {
			continue
		}
		conv, err := Convert(read(t, s.path), testOptions())
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		write(s.name, conv)
	}
	// And the Bundle that merges an embedded CDA document's resources.
	opts := testOptions()
	opts.EmbeddedCDA = stubCDA
	conv, err := Convert(read(t, "testdata/mdm-t02-cda.hl7"), opts)
	if err != nil {
		t.Fatal(err)
	}
	write("mdm-t02-cda-merged", conv)
	t.Logf("%d Bundles written", n)
	fhirtest.RunValidator(t, dir)
}
