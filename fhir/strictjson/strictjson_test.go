package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relais-health/relais/fhir/outcome"
)

const corpus = "../../../shared/corpus/fhir"

func TestCheckAccepts(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`, `[]`, `0`, `-0.5e+10`, `1E-2`, `"x"`, `true`, `false`, `null`, " \t\r\n{ } ",
		`{"a":1,"b":[1,2,{"a":2}],"c":{"a":3}}`,
		`"\ud83d\ude00"`,            // a valid surrogate pair
		`"\uD83D\uDE00 \u00e9"`,     // upper-case hex
		`"\"\\\/\b\f\n\r\t"`,        // every short escape
		`{"a":{"b":1},"b":{"a":1}}`, // same keys in different objects
		`[{"a":1},{"a":2}]`,         // same keys in sibling objects
		`"é€𝄞"`,                     // multi-byte UTF-8
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":{"a":1,"b":2}}`,
	} {
		if r, err := check([]byte(in)); err != nil {
			t.Errorf("%s: refused (%d): %v", in, r, err)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	many := `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"q":19}`
	tests := []struct {
		name, in string
		reason   reason
		path     string
	}{
		{"lone high surrogate", `{"resourceType":"Patient","name":[{"family":"\ud800"}]}`, rSurrogate, "Patient.name[0].family"},
		{"lone low surrogate", `"\udc00"`, rSurrogate, ""},
		{"high then not low", `"\ud800\u0041"`, rSurrogate, ""},
		{"high then high", `"\ud800\ud800"`, rSurrogate, ""},
		{"high at end", `"\ud83d"`, rSurrogate, ""},
		{"reversed pair", `"\ude00\ud83d"`, rSurrogate, ""},
		{"surrogate in a key", `{"\udfff":1}`, rSurrogate, ""},
		{"duplicate at top level", `{"resourceType":"Observation","status":"final","status":"final"}`, rDuplicate, "Observation"},
		{"duplicate nested", `{"resourceType":"Observation","code":{"text":"a","text":"b"}}`, rDuplicate, "Observation.code"},
		{"duplicate in an array of objects", `{"resourceType":"Bundle","entry":[{"fullUrl":"a"},{"resource":{"resourceType":"Patient","id":"p","id":"q"}}]}`, rDuplicate, "Bundle.entry[1].resource"},
		{"duplicate after unescaping", `{"id":1,"\u0069d":2}`, rDuplicate, ""},
		{"duplicate in a large object", many, rDuplicate, ""},
		{"duplicate resourceType", `{"resourceType":"Patient","resourceType":"Patient"}`, rDuplicate, "Patient"},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"id\":\"a\xffb\"}", rUTF8, "Patient.id"},
		{"truncated UTF-8", "\"\xc3\"", rUTF8, ""},
		{"overlong UTF-8", "\"\xc0\xaf\"", rUTF8, ""},
		{"UTF-8 encoded surrogate", "\"\xed\xa0\x80\"", rUTF8, ""},
		{"invalid UTF-8 in a key", "{\"a\xfe\":1}", rUTF8, ""},
		{"empty", ``, rSyntax, ""},
		{"blank", "  ", rSyntax, ""},
		{"unterminated object", `{"a":1`, rSyntax, "a"},
		{"trailing comma", `[1,]`, rSyntax, "[1]"},
		{"trailing data", `{} {}`, rSyntax, ""},
		{"unquoted key", `{a:1}`, rSyntax, ""},
		{"single quotes", `'a'`, rSyntax, ""},
		{"leading zero", `01`, rSyntax, ""},
		{"leading plus", `+1`, rSyntax, ""},
		{"bare point", `1.`, rSyntax, ""},
		{"bare exponent", `1e`, rSyntax, ""},
		{"NaN", `NaN`, rSyntax, ""},
		{"bad literal", `tru`, rSyntax, ""},
		{"raw control character", "\"a\tb\"", rSyntax, ""},
		{"bad escape", `"\x"`, rSyntax, ""},
		{"short unicode escape", `"\u12"`, rSyntax, ""},
		{"unterminated string", `"abc`, rSyntax, ""},
		{"too deep", strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), rDepth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, oe := check([]byte(tt.in))
			if r != tt.reason {
				t.Fatalf("reason %d, want %d (%v)", r, tt.reason, oe)
			}
			err := Check([]byte(tt.in))
			if !errors.Is(err, outcome.ErrInvalid) {
				t.Fatalf("Check: %v, want an Invalid outcome error", err)
			}
			if len(oe.Issues) != 1 {
				t.Fatalf("issues: %+v", oe.Issues)
			}
			if !strings.HasPrefix(oe.Issues[0].Path, tt.path) {
				t.Errorf("path %q, want %q", oe.Issues[0].Path, tt.path)
			}
		})
	}
}

// TestCheckPHIFree checks that neither the summary nor the issue quotes a
// value of the document.
func TestCheckPHIFree(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"resourceType":"Patient","name":[{"family":"Dupont\ud800"}]}`,
		"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Dupont\xff\"}]}",
		`{"resourceType":"Patient","name":[{"family":"Dupont","family":"Dupont"}]}`,
		`{"resourceType":"Patient","name":[{"family":"Dupont" "given"}]}`,
	} {
		_, oe := check([]byte(in))
		if oe == nil {
			t.Fatalf("%s: accepted", in)
		}
		for _, s := range []string{oe.Summary, oe.Error(), oe.Issues[0].Text, oe.Issues[0].Path} {
			if strings.Contains(s, "Dupont") {
				t.Errorf("error text quotes a value: %q", s)
			}
		}
		if !strings.HasPrefix(oe.Issues[0].Path, "Patient.name[0]") {
			t.Errorf("path %q", oe.Issues[0].Path)
		}
	}
}

func TestCheckKeyQuoting(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 500)
	_, oe := check([]byte(`{"` + long + `":{"a":1,"a":2}}`))
	if oe == nil {
		t.Fatal("accepted")
	}
	if n := len(oe.Issues[0].Text); n > 2*maxKeyLen+100 {
		t.Errorf("issue text of %d bytes: the key is not cut", n)
	}
}

func TestCheckCorpus(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	if len(files) == 0 {
		t.Fatalf("no corpus in %s", corpus)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

// FuzzCheck compares Check with encoding/json.Valid: Check accepts only
// what json.Valid accepts, and refuses what json.Valid accepts only for one
// of its own reasons, each confirmed independently. The seeds are short:
// the fuzzer minimises every new input it finds, which on a corpus file of
// several kilobytes stalls it; TestCheckCorpus covers the corpus.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"family":"x","given":["a","b"]}],"active":true,"multipleBirthInteger":2}`,
		`{"a":{"a":1,"a":2}}`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, "\"\xff\"", `[1.5e-3,-0,null,false]`,
		`{"\u0061":1,"a":2}`, `[[[[]]]]`, `{"a":[{"b":1},{"b":1,"b":2}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, oe := check(b)
		valid := json.Valid(b)
		switch {
		case oe == nil && !valid:
			t.Fatalf("accepted what encoding/json refuses")
		case oe == nil || !valid:
			return
		}
		switch r {
		case rDuplicate:
			if !hasDuplicate(b) {
				t.Fatalf("duplicate reported, none found: %v", oe)
			}
		case rUTF8:
			if utf8.Valid(b) {
				t.Fatalf("invalid UTF-8 reported in valid UTF-8: %v", oe)
			}
		case rSurrogate:
			if !bytes.Contains(bytes.ToLower(b), []byte(`\ud`)) {
				t.Fatalf("surrogate reported, no surrogate escape: %v", oe)
			}
		case rDepth:
			if bytes.Count(b, []byte("["))+bytes.Count(b, []byte("{")) <= maxDepth {
				t.Fatalf("depth reported on shallow input: %v", oe)
			}
		default:
			t.Fatalf("refused what encoding/json accepts: %v", oe)
		}
	})
}

// hasDuplicate is a slow reference: it walks the tokens of valid JSON and
// reports a repeated key in any object.
func hasDuplicate(b []byte) bool {
	d := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*obj
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, expect: true})
				continue
			case '[':
				stack = append(stack, &obj{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.keys != nil && top.expect {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		// A value ended: the next token of the enclosing object is a key.
		if len(stack) > 0 && stack[len(stack)-1].keys != nil {
			stack[len(stack)-1].expect = true
		}
	}
}

func BenchmarkCheckBundle(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(corpus, "r4-Bundle-father.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(data); err != nil {
			b.Fatal(err)
		}
	}
}
