package assessment

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// fuzzConvert checks that no input panics and that every rejection is an
// Invalid *outcome.Error.
func fuzzConvert(f *testing.F, seeds ...string) {
	for _, pattern := range seeds {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			f.Add(read(f, file))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		res, err := Convert(in, testOptions(""))
		if err != nil {
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid {
				t.Fatalf("rejection is not Invalid: %v", err)
			}
			return
		}
		if res == nil || res.Bundle == nil {
			t.Fatal("no Bundle and no error")
		}
	})
}

func FuzzAGGIR(f *testing.F) {
	fuzzConvert(f, "testdata/aggir-*.json", "testdata/invalid/aggir-*.json")
}

func FuzzQuestionnaireResponse(f *testing.F) {
	fuzzConvert(f, "testdata/tddui-*.json", "testdata/invalid/tddui-*.json")
}

func FuzzNeeds(f *testing.F) {
	fuzzConvert(f, "testdata/needs-*.json", "testdata/invalid/needs-*.json")
}
