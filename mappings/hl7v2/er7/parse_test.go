package er7

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// corpusDirs hold valid messages: the shared public corpus and the
// fixtures written for this package. brokenDir holds malformed ones; all
// of them seed FuzzParse.
var (
	corpusDirs = []string{"../../../../shared/corpus/hl7v2", "../testdata"}
	brokenDir  = "../testdata/broken"
)

func corpus(t testing.TB) map[string][]byte { return readDirs(t, corpusDirs...) }

func readDirs(t testing.TB, dirs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.hl7"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = b
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d messages found in %v", len(out), dirs)
	}
	return out
}

func mustParse(t *testing.T, s string) *Message {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestParseCorpus(t *testing.T) {
	t.Parallel()
	for name, data := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if code, _, _ := m.Type(); code == "" {
				t.Error("no message type")
			}
			// Encoding and parsing again gives the same segments and fields.
			again, err := Parse(Encode(m))
			if err != nil {
				t.Fatalf("Parse(Encode): %v", err)
			}
			if !sameMessage(m, again) {
				t.Error("Parse(Encode(m)) differs from m")
			}
		})
	}
}

func sameMessage(a, b *Message) bool {
	if len(a.Segments) != len(b.Segments) || a.Delims != b.Delims {
		return false
	}
	for i, s := range a.Segments {
		o := b.Segments[i]
		if s.Name != o.Name || s.Seq != o.Seq || s.Len() != o.Len() {
			return false
		}
		for f := 1; f <= s.Len(); f++ {
			if s.Field(f).Raw() != o.Field(f).Raw() {
				return false
			}
		}
	}
	return true
}

func TestStructure(t *testing.T) {
	t.Parallel()
	m := mustParse(t, "MSH|^~\\&|APP|FAC|||20240101||ADT^A01^ADT_A01|C1|P|2.5\r"+
		"PID|1||A1^^^AUTH&1.2.3&ISO^PI~B2^^^OTHER^MR||DOE^JOHN^Q~SMITH&VAN^J||19700101|M\n"+
		"OBX|1\r\nOBX|2|ST|||x&y^z\r\n\r\nZPI|custom|\r")
	pid := m.First("PID")
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"MSH-1", m.MSH().Field(1).String(), "|"},
		{"MSH-2", m.MSH().Field(2).String(), "^~\\&"},
		{"MSH-9.2", m.MSH().Field(9).Comp(2).String(), "A01"},
		{"PID-3 first rep id", pid.Field(3).Comp(1).String(), "A1"},
		{"PID-3[2].1", pid.Field(3).Rep(1).Comp(1).String(), "B2"},
		{"PID-3.4.2", pid.Field(3).Comp(4).Sub(2).String(), "1.2.3"},
		{"PID-5[2].1.2", pid.Field(5).Rep(1).Comp(1).Sub(2).String(), "VAN"},
		{"PID-5.3", pid.Field(5).Comp(3).String(), "Q"},
		{"PID-8 text", pid.Field(8).Text(), "M"},
		{"past the end", pid.Field(99).Comp(3).Sub(2).String(), ""},
		{"OBX(2)-5.1.2", m.All("OBX")[1].Field(5).Comp(1).Sub(2).String(), "y"},
		{"Z-segment", m.First("ZPI").Field(1).String(), "custom"},
		{"missing segment", m.First("PV1").Field(19).Comp(1).String(), ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if n := len(m.Segments); n != 5 {
		t.Errorf("%d segments, want 5 (blank line skipped)", n)
	}
	if got := m.All("OBX")[1].Seq; got != 2 {
		t.Errorf("second OBX has Seq %d", got)
	}
	if got := len(pid.Field(3).Reps()); got != 2 {
		t.Errorf("PID-3 has %d repetitions", got)
	}
	if m.Enhanced() {
		t.Error("original mode message reported as enhanced")
	}
}

func TestEscapes(t *testing.T) {
	t.Parallel()
	tests := []struct{ raw, want string }{
		{`A\F\B`, "A|B"},
		{`A\S\B\T\C\R\D\E\E`, `A^B&C~D\E`},
		{`line1\.br\line2`, "line1\nline2"},
		{`\H\bold\N\ text`, "bold text"},
		{`\XC3A9\t\XE9\`, "ét\u00e9"}, // UTF-8 bytes, then a lone Latin-1 byte
		{`keep \Zfoo\ and \.sp\ and \C2842\`, `keep \Zfoo\ and \.sp\ and \C2842\`},
		{`\P\`, `\P\`}, // no truncation character declared
		{`""`, ""},
	}
	for _, tt := range tests {
		m := mustParse(t, "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.5\rNTE|1||"+tt.raw+"\r")
		if got := m.First("NTE").Field(3).String(); got != tt.want {
			t.Errorf("%s decodes to %q, want %q", tt.raw, got, tt.want)
		}
	}
	d := DefaultDelimiters()
	if got := Escape("a|b^c&d~e\\f\r\ng", d); got != `a\F\b\S\c\T\d\R\e\E\f\.br\g` {
		t.Errorf("Escape = %q", got)
	}
	trunc := mustParse(t, "MSH|^~\\&#|A|B|||1||ADT^A01|1|P|2.7\rNTE|1||a\\P\\b\r")
	if got := trunc.First("NTE").Field(3).String(); got != "a#b" {
		t.Errorf("\\P\\ with truncation character = %q", got)
	}
}

func TestCharsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		charset Charset
		name    string // PID-5 decoded
	}{
		{"charset-8859-1.hl7", Latin1, "LEFÈVRE^JOSÉ^FRANÇOIS"},
		{"charset-8859-15.hl7", Latin9, "ŒUVRE^ŽELJKO^€"},
		{"charset-utf8.hl7", UTF8, "LEFÈVRE^José^山田"},
		{"charset-undeclared-latin1.hl7", Latin1, "LEFÈVRE^JOSÉ"},
		{"escapes.hl7", UTF8, "O'BRIEN&CO^ANNE^MARIE^é"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join("../testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Charset != tt.charset {
				t.Errorf("charset %s, want %s", m.Charset.Name(), tt.charset.Name())
			}
			if got := m.First("PID").Field(5).String(); got != tt.name {
				t.Errorf("PID-5 = %q, want %q", got, tt.name)
			}
			if !bytes.Equal(Encode(m), bytes.ReplaceAll(bytes.TrimPrefix(data, bom), []byte("\r\n"), []byte("\r"))) {
				t.Error("Encode does not give the input back in its character set")
			}
		})
	}
}

// TestParseErrors: each broken message gives one precise error.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	const msh = "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.5"
	tests := []struct {
		name   string
		in     string
		loc    string
		offset int
		cond   Condition
		reason string
	}{
		{"empty", " \r\n", "segment", 0, SegmentSequenceError, "empty message"},
		{"no MSH", "PID|1\r", "segment", 0, SegmentSequenceError, "message does not start with an MSH segment"},
		{"BOM then no MSH", "\uFEFFEVN|1\r", "segment", 3, SegmentSequenceError, "message does not start"},
		{"short MSH", "MSH|^~\r", "MSH-2", 3, RequiredFieldMissing, "too short"},
		{"alphanumeric separator", "MSHX^~\\&|A\r", "MSH-1", 3, DataTypeError, "invalid field separator"},
		{"repeated encoding char", "MSH|^^\\&|A|B\r", "MSH-2", 3, DataTypeError, "repeated encoding character"},
		{"three encoding chars", "MSH|^~\\|A|B\r", "MSH-2", 3, DataTypeError, "4 or 5"},
		{"bad segment ID", msh + "\rpid|1\r", "segment(2)", 34, SegmentSequenceError, "invalid segment ID"},
		{"segment ID too long", msh + "\rPIDX|1\r", "segment(2)", 34, SegmentSequenceError, "invalid segment ID"},
		{"second MSH", msh + "\r" + msh + "\r", "MSH(2)", 34, SegmentSequenceError, "more than one MSH"},
		{"unterminated escape", msh + "\rPID|1||X^^^Y~A^B\\F|\r", "PID-3[2].2", 50, DataTypeError, "unterminated escape"},
		{"escape across component", msh + "\rNTE|1||a\\b^c\\\r", "NTE-3.1", 42, DataTypeError, "unterminated escape"},
		{"odd hex", msh + "\rNTE|1||\\XABC\\\r", "NTE-3.1", 41, DataTypeError, `\X\`},
		{"non-hex", msh + "\rNTE|1||\\XZZ\\\r", "NTE-3.1", 41, DataTypeError, `\X\`},
		{"unknown charset", "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.5||||||ISO IR87\r", "MSH-18", 39, TableValueNotFound, "character set"},
		{"invalid UTF-8", "MSH|^~\\&|A|B|||1||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||x|\xff\r", "PID-4.1", 62, DataTypeError, "invalid UTF-8"},
		{"no message type", "MSH|^~\\&|A|B|||1|||1|P|2.5\r", "MSH-9", -1, RequiredFieldMissing, "required"},
		{"no control id", "MSH|^~\\&|A|B|||1||ADT^A01||P|2.5\r", "MSH-10", -1, RequiredFieldMissing, "required"},
		{"no version", "MSH|^~\\&|A|B|||1||ADT^A01|1|P\r", "MSH-12", -1, RequiredFieldMissing, "required"},
		{"escape in MSH-3", "MSH|^~\\&|A\\|B|||1||ADT^A01|1|P|2.5\r", "MSH-3.1", 10, DataTypeError, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse([]byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, %v; want an *Error", m, err)
			}
			if e.Loc.String() != tt.loc || e.Offset != tt.offset || e.Condition != tt.cond || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("got %s (loc %s, offset %d, condition %d), want loc %s offset %d condition %d reason ~%q",
					e, e.Loc, e.Offset, e.Condition, tt.loc, tt.offset, tt.cond, tt.reason)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, data := range readDirs(f, append(corpusDirs, brokenDir)...) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T", err)
			}
			_ = Nack(data, err)
			return
		}
		for _, s := range m.Segments {
			for i := 1; i <= s.Len(); i++ {
				for _, r := range s.Field(i).Reps() {
					_ = r.Comp(2).Sub(2).String()
					_ = r.String()
				}
				if f := s.Field(i); f.Comp(2) != f.Rep(0).Comp(2) || f.Sub(1) != f.Rep(0).Comp(1).Sub(1) {
					t.Fatalf("%s-%d: a field's components differ from its first repetition's", s.Name, i)
				}
			}
		}
		again, err := Parse(Encode(m))
		if err != nil || !sameMessage(m, again) {
			t.Fatalf("round trip: %v", err)
		}
		_ = AckFor(m, nil)
	})
}

func BenchmarkParse(b *testing.B) {
	msgs := corpus(b)
	b.Run("ms-ADT-A01-01", func(b *testing.B) {
		data := msgs["ms-ADT-A01-01.hl7"]
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("corpus", func(b *testing.B) {
		var all [][]byte
		for _, d := range msgs {
			all = append(all, d)
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range all {
				if _, err := Parse(d); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(all)), "ns/msg")
	})
}

// TestRepetitions: Repetitions yields what Reps returns, for every field of
// the corpus and at every level.
func TestRepetitions(t *testing.T) {
	t.Parallel()
	eachField(t, func(at string, f Value) {
		for _, v := range []Value{f, f.Rep(0), f.Comp(1), f.Sub(1), {}} {
			var got []Value
			for r := range v.Repetitions() {
				got = append(got, r)
			}
			if want := v.Reps(); !slices.Equal(got, want) {
				t.Fatalf("%s: Repetitions gives %v, Reps %v", at, got, want)
			}
		}
	})
}

// eachField calls fn with every field of every corpus message that parses,
// and where it is ("file SEG-n").
func eachField(t *testing.T, fn func(at string, f Value)) {
	for name, data := range corpus(t) {
		m, err := Parse(data)
		if err != nil {
			continue
		}
		for _, s := range m.Segments {
			for i := 1; i <= s.Len(); i++ {
				fn(fmt.Sprintf("%s %s-%d", name, s.Name, i), s.Field(i))
			}
		}
	}
}

// TestFieldComps: the components of a field are those of its first
// repetition, which Comp finds without splitting the field first.
func TestFieldComps(t *testing.T) {
	t.Parallel()
	eachField(t, func(at string, f Value) {
		for c := -1; c <= 12; c++ {
			if got, want := f.Comp(c), f.Rep(0).Comp(c); got != want {
				t.Fatalf("%s: Comp(%d) gives %q, the first repetition's %q", at, c, got.Raw(), want.Raw())
			}
			if got, want := f.Comp(c).Sub(2), f.Rep(0).Comp(c).Sub(2); got != want {
				t.Fatalf("%s: Comp(%d).Sub(2) gives %q, want %q", at, c, got.Raw(), want.Raw())
			}
		}
	})
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||a^b~c^d^e|^x~y|~z^w\r")
	pid := m.First("PID")
	for _, tc := range []struct {
		field, comp int
		want        string
	}{{3, 1, "a"}, {3, 2, "b"}, {3, 3, ""}, {4, 1, ""}, {4, 2, "x"}, {4, 3, ""}, {5, 1, ""}, {5, 2, ""}} {
		if got := pid.Field(tc.field).Comp(tc.comp).Raw(); got != tc.want {
			t.Errorf("PID-%d.%d = %q, want %q", tc.field, tc.comp, got, tc.want)
		}
	}
}
