package assessment

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/mappings/bundle"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

var testCodec = codec.MustNew()

// testOptions fixes the clock; a case whose name contains "careplan" gets
// the patient's CarePlan.
func testOptions(name string) Options {
	o := Options{Now: func() time.Time { return time.Date(2026, 3, 6, 8, 0, 0, 0, time.UTC) }, Codec: testCodec}
	if strings.Contains(name, "careplan") {
		o.CarePlan = "CarePlan/cp-martin-1"
	}
	return o
}

func cases(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases in %s: %v", dir, err)
	}
	return files
}

func caseName(file string) string { return strings.TrimSuffix(filepath.Base(file), ".json") }

// convertFile converts one case and renders the Bundle, or for a rejected
// input the OperationOutcome the gateway would answer with.
func convertFile(t testing.TB, file string) (out []byte, res *bundle.Result, err error) {
	t.Helper()
	in, rerr := os.ReadFile(file)
	if rerr != nil {
		t.Fatal(rerr)
	}
	res, err = Convert(in, testOptions(caseName(file)))
	if err != nil {
		out, rerr = testCodec.EncodeIndent(outcome.FromError(err, ""))
	} else {
		out, rerr = testCodec.EncodeIndent(res.Bundle)
	}
	if rerr != nil {
		t.Fatal(rerr)
	}
	return append(out, '\n'), res, err
}

// TestGolden converts testdata/<case>.json to testdata/golden/<case>.json.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, file := range cases(t, "testdata") {
		t.Run(caseName(file), func(t *testing.T) {
			t.Parallel()
			got, _, err := convertFile(t, file)
			if err != nil {
				t.Fatalf("rejected: %v\n%s", err, got)
			}
			fhirtest.Golden(t, filepath.Join("testdata", "golden", caseName(file)+".json"), got, *update)
		})
	}
}

// TestGoldenInvalid checks that every rejected input names the fields at
// fault, and keeps the OperationOutcome in testdata/golden/invalid-<case>.json.
func TestGoldenInvalid(t *testing.T) {
	t.Parallel()
	wantPaths := map[string][]string{
		"aggir-bad-date":              {"date"},
		"aggir-bad-modality":          {"variables.toilette"},
		"aggir-missing-transferts":    {"variables.transferts"},
		"aggir-subvariable-missing":   {"subvariables.habillage.moyen"},
		"aggir-subvariables-disagree": {"variables.toilette"},
		"needs-empty":                 {"needs"},
		"needs-several-errors":        {"needs[0].colour", "needs[1].priority", "patient.identifier"},
		"not-json":                    {"$"},
		"tddui-bad-qualifier":         {"QuestionnaireResponse.item.where(linkId='se-laver').answer"},
		"tddui-missing-item":          {"QuestionnaireResponse.item.where(linkId='position-corps')"},
		"tddui-no-patient":            {"QuestionnaireResponse.subject"},
		"tddui-qrs1":                  {"QuestionnaireResponse.item.where(linkId='resultat-eval')"},
		"unknown-type":                {"type"},
	}
	files := cases(t, filepath.Join("testdata", "invalid"))
	if len(files) != len(wantPaths) {
		t.Errorf("%d invalid cases, %d expectations", len(files), len(wantPaths))
	}
	for _, file := range files {
		name := caseName(file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, _, err := convertFile(t, file)
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid {
				t.Fatalf("want *outcome.Error of kind Invalid, got %v", err)
			}
			var paths []string
			for _, is := range oe.Issues {
				paths = append(paths, is.Path)
			}
			for _, p := range wantPaths[name] {
				if !slices.Contains(paths, p) {
					t.Errorf("issues %v do not name %s", paths, p)
				}
			}
			fhirtest.Golden(t, filepath.Join("testdata", "golden", "invalid-"+name+".json"), got, *update)
		})
	}
}

// TestValidates writes every Bundle produced to a directory and runs the
// independent FHIR validator over it when RELAIS_VALIDATE is set (make test
// sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	dir := t.TempDir()
	for _, file := range cases(t, "testdata") {
		out, _, err := convertFile(t, file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fhirtest.RunValidator(t, dir)
}

// TestByteOrderMark: each input saved with a UTF-8 byte order mark (as
// editors on Windows save it) converts, by each entry point, to what it
// converts to without one.
func TestByteOrderMark(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	for _, f := range files {
		in := read(t, f)
		kind, kerr := Detect(in)
		bomKind, bomErr := Detect(append([]byte(codec.ByteOrderMark), in...))
		if kind != bomKind || (kerr == nil) != (bomErr == nil) {
			t.Errorf("%s: Detect %v, %v; with a byte order mark %v, %v", f, kind, kerr, bomKind, bomErr)
		}
		convert := map[string]func([]byte, Options) (*bundle.Result, error){"Convert": Convert, "ConvertAGGIR": ConvertAGGIR, "ConvertNeeds": ConvertNeeds}
		for name, fn := range convert {
			opts := testOptions(caseName(f))
			plain, perr := fn(in, opts)
			bom, berr := fn(append([]byte(codec.ByteOrderMark), in...), opts)
			if (perr == nil) != (berr == nil) {
				t.Errorf("%s: %s %v; with a byte order mark %v", f, name, perr, berr)
				continue
			}
			if perr != nil {
				continue
			}
			a, _ := testCodec.Encode(plain.Bundle)
			b, _ := testCodec.Encode(bom.Bundle)
			if !bytes.Equal(a, b) {
				t.Errorf("%s: %s gives another Bundle with a byte order mark", f, name)
			}
		}
	}
}
