package codec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
)

const corpus = "../../../shared/corpus/fhir"

func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join(corpus, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", corpus, err)
	}
	return files
}

func TestRoundTripCorpus(t *testing.T) {
	c := MustNew()
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Decode(b)
			if err != nil {
				t.Fatalf("decode: %v %+v", err, err.(*outcome.Error).Issues)
			}
			out, err := c.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := c.Decode(out)
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			out2, _ := c.Encode(m2)
			if string(out) != string(out2) {
				t.Errorf("encoding is not stable")
			}
			if resource.ID(m) == "" {
				t.Errorf("lost id")
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	c := MustNew()
	tests := []struct {
		name, in, path string
	}{
		{"not json", `{`, ""},
		{"array", `[]`, ""},
		{"no resourceType", `{"id":"x"}`, "resourceType"},
		{"unknown type", `{"resourceType":"Spaceship"}`, "resourceType"},
		{"bad date", `{"resourceType":"Patient","birthDate":"1990-13-45"}`, "Patient.birthDate"},
		{"unknown field", `{"resourceType":"Patient","colour":"blue"}`, ""},
		{"missing required", `{"resourceType":"Observation","code":{"text":"x"}}`, `"status"`},
		{"bad code", `{"resourceType":"Patient","gender":"robot"}`, "Patient.gender"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode([]byte(tt.in))
			var oe *outcome.Error
			if !errors.As(err, &oe) || oe.Kind != outcome.Invalid {
				t.Fatalf("want Invalid outcome error, got %v", err)
			}
			if len(oe.Issues) == 0 {
				t.Fatal("no issues")
			}
			if tt.path == "" {
				return
			}
			for _, is := range oe.Issues {
				if strings.Contains(is.Path+" "+is.Text, tt.path) {
					return
				}
			}
			t.Errorf("no issue names %s: %+v", tt.path, oe.Issues)
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"r4-Patient-example.json", "r4-CarePlan-f001.json", "r4-Consent-consent-example-notThem.json", "r4-Bundle-bundle-transaction.json"} {
		b, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceType":"Patient","birthDate":"1990-13-45"}`))
	c := MustNew()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := c.Decode(b)
		if err != nil {
			if outcome.KindOf(err) != outcome.Invalid {
				t.Fatalf("decode error of kind %v: %v", outcome.KindOf(err), err)
			}
			return
		}
		if _, err := c.Encode(m); err != nil {
			t.Fatalf("decoded resource does not encode: %v", err)
		}
	})
}

func BenchmarkDecodeCarePlan(b *testing.B) {
	c := MustNew()
	data, _ := os.ReadFile(filepath.Join(corpus, "r4-CarePlan-f001.json"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCarePlanJSONFormat decodes the same CarePlan with
// jsonformat only, the path Decode takes when the direct decoder declines.
func BenchmarkDecodeCarePlanJSONFormat(b *testing.B) {
	c := MustNew()
	data, _ := os.ReadFile(filepath.Join(corpus, "r4-CarePlan-f001.json"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decodeJSONFormat(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCorpus decodes all 94 corpus files per iteration.
func BenchmarkDecodeCorpus(b *testing.B) {
	benchmarkCorpus(b, (*Codec).Decode)
}

// BenchmarkDecodeCorpusJSONFormat is BenchmarkDecodeCorpus through jsonformat only.
func BenchmarkDecodeCorpusJSONFormat(b *testing.B) {
	benchmarkCorpus(b, (*Codec).decodeJSONFormat)
}

func benchmarkCorpus(b *testing.B, decode func(*Codec, []byte) (proto.Message, error)) {
	c := MustNew()
	var files [][]byte
	n := 0
	for _, f := range corpusFiles(b) {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
		n += len(data)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range files {
			if _, err := decode(c, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEncodeCarePlan(b *testing.B) {
	c := MustNew()
	data, _ := os.ReadFile(filepath.Join(corpus, "r4-CarePlan-f001.json"))
	m, _ := c.Decode(data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeCarePlanJSONFormat prints the same CarePlan with
// jsonformat's Marshaller, the reference Encode replaces.
func BenchmarkEncodeCarePlanJSONFormat(b *testing.B) {
	c := MustNew()
	data, _ := os.ReadFile(filepath.Join(corpus, "r4-CarePlan-f001.json"))
	m, _ := c.Decode(data)
	mar, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mar.MarshalResource(proto.Clone(m)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeIndentCarePlan is Encode plus indentation.
func BenchmarkEncodeIndentCarePlan(b *testing.B) {
	c := MustNew()
	data, _ := os.ReadFile(filepath.Join(corpus, "r4-CarePlan-f001.json"))
	m, _ := c.Decode(data)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.EncodeIndent(m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeByteOrderMark: a resource saved with a UTF-8 byte order mark
// before it decodes as it does without one (RFC 8259 section 8.1); one
// anywhere else is still refused.
func TestDecodeByteOrderMark(t *testing.T) {
	c := MustNew()
	js := `{"resourceType":"Patient","id":"p1","name":[{"family":"Dupont"}]}`
	plain, err := c.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := c.Decode([]byte(ByteOrderMark + js))
	if err != nil {
		t.Fatalf("with a byte order mark: %v", err)
	}
	a, _ := c.Encode(plain)
	b, _ := c.Encode(bom)
	if string(a) != string(b) {
		t.Errorf("decoded with a byte order mark: %s, without: %s", b, a)
	}
	if _, err := c.Decode([]byte(" " + ByteOrderMark + js)); err == nil {
		t.Error("a byte order mark after white space was accepted")
	}
}
