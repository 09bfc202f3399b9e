// Package codeccheck holds one test: everything the mappings produce from
// their golden inputs prints through fhir/codec exactly as jsonformat
// prints it. It lives apart because fhir/codec must not import the
// mappings.
package codeccheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/codec/codectest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/assessment"
	"github.com/relais-health/relais/mappings/cda"
	"github.com/relais-health/relais/mappings/hl7v2"
)

const corpus = "../../../../shared/corpus"

var now = func() time.Time { return time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC) }

// converter turns one input file into what the gateway would print: a
// Bundle, or an OperationOutcome for a refused input (nil, nil: refused
// without one).
type converter func(t *testing.T, name string, in []byte) proto.Message

func TestMappingsEncodeAsJSONFormat(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	k := codectest.MustNew(c)
	sources := []struct {
		name     string
		patterns []string
		min      int // inputs expected, so a moved directory does not pass silently
		convert  converter
	}{
		{"cda", []string{corpus + "/ccda/*.xml", "../../cda/testdata/*.xml"}, 33, convertCDA},
		{"hl7v2", []string{corpus + "/hl7v2/*.hl7", "../../hl7v2/testdata/*.hl7"}, 50, convertHL7v2},
		{"assessment", []string{"../../assessment/testdata/*.json", "../../assessment/testdata/invalid/*.json"}, 20, convertAssessment(c)},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			var files []string
			for _, p := range src.patterns {
				m, err := filepath.Glob(p)
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, m...)
			}
			if len(files) < src.min {
				t.Fatalf("%d inputs, want at least %d", len(files), src.min)
			}
			total, direct := 0, 0
			for _, f := range files {
				in, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out := src.convert(t, filepath.Base(f), in)
				if out == nil {
					continue
				}
				for i, r := range codectest.Resources(out) {
					ok, err := k.Check(r)
					if err != nil {
						t.Errorf("%s resource %d (%s): %v", filepath.Base(f), i, resource.Type(r), err)
					}
					total++
					if ok {
						direct++
					}
				}
			}
			t.Logf("%d inputs, %d resources, %d printed by the direct printer alone", len(files), total, direct)
			if direct*10 < total*9 {
				t.Errorf("only %d of %d resources printed without jsonformat", direct, total)
			}
		})
	}
}

func convertCDA(t *testing.T, name string, in []byte) proto.Message {
	res, err := cda.Convert(in, cda.Options{Now: now})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Bundle
}

// convertHL7v2 converts a message; the messages the mapping refuses (the
// golden test's skip list) have no Bundle.
func convertHL7v2(t *testing.T, name string, in []byte) proto.Message {
	res, err := hl7v2.Convert(in, hl7v2.Options{Now: now})
	if err != nil {
		t.Logf("%s: refused: %v", name, err)
		return nil
	}
	return res.Bundle
}

// convertAssessment converts a case as the golden tests do; an invalid case
// gives the OperationOutcome the gateway answers with.
func convertAssessment(c *codec.Codec) converter {
	return func(t *testing.T, name string, in []byte) proto.Message {
		opts := assessment.Options{Now: now, Codec: c}
		if strings.Contains(name, "careplan") {
			opts.CarePlan = "CarePlan/cp-martin-1"
		}
		res, err := assessment.Convert(in, opts)
		var oe *outcome.Error
		switch {
		case errors.As(err, &oe):
			return outcome.FromError(err, "")
		case err != nil:
			t.Fatalf("%s: %v", name, err)
		}
		return res.Bundle
	}
}
