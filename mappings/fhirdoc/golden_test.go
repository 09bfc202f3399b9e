package fhirdoc

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// goldenCases are the documents whose mapping is kept: this package's
// testdata and the R4 example document.
func goldenCases(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	return append(files, fatherExample)
}

func caseName(file string) string { return strings.TrimSuffix(filepath.Base(file), ".json") }

// TestGolden converts each case to testdata/golden/<case>.json.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, file := range goldenCases(t) {
		t.Run(caseName(file), func(t *testing.T) {
			t.Parallel()
			res, err := Convert(load(t, file), opts())
			if err != nil {
				t.Fatal(err)
			}
			got, err := testCodec.EncodeIndent(res.Bundle)
			if err != nil {
				t.Fatal(err)
			}
			fhirtest.Golden(t, filepath.Join("testdata", "golden", caseName(file)+".json"), append(got, '\n'), *update)
		})
	}
}

// TestValidates runs the independent FHIR validator over every resource
// the cases map to, when RELAIS_VALIDATE is set (make test sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	dir := t.TempDir()
	for _, file := range goldenCases(t) {
		res, err := Convert(load(t, file), opts())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out, err := testCodec.EncodeIndent(res.Bundle)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fhirtest.RunValidator(t, dir)
}
