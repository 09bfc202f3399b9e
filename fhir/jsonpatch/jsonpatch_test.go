package jsonpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// rfcExamples are the examples of RFC 6902 Appendix A, in its order. want
// is the resulting document, or empty when the RFC says the patch fails
// (then kind is the error's kind).
var rfcExamples = []struct {
	name, doc, patch, want string
	kind                   outcome.Kind
}{
	{"A.1 adding an object member", `{"foo":"bar"}`,
		`[{"op":"add","path":"/baz","value":"qux"}]`,
		`{"baz":"qux","foo":"bar"}`, 0},
	{"A.2 adding an array element", `{"foo":["bar","baz"]}`,
		`[{"op":"add","path":"/foo/1","value":"qux"}]`,
		`{"foo":["bar","qux","baz"]}`, 0},
	{"A.3 removing an object member", `{"baz":"qux","foo":"bar"}`,
		`[{"op":"remove","path":"/baz"}]`,
		`{"foo":"bar"}`, 0},
	{"A.4 removing an array element", `{"foo":["bar","qux","baz"]}`,
		`[{"op":"remove","path":"/foo/1"}]`,
		`{"foo":["bar","baz"]}`, 0},
	{"A.5 replacing a value", `{"baz":"qux","foo":"bar"}`,
		`[{"op":"replace","path":"/baz","value":"boo"}]`,
		`{"baz":"boo","foo":"bar"}`, 0},
	{"A.6 moving a value", `{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}`,
		`[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]`,
		`{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}`, 0},
	{"A.7 moving an array element", `{"foo":["all","grass","cows","eat"]}`,
		`[{"op":"move","from":"/foo/1","path":"/foo/3"}]`,
		`{"foo":["all","cows","eat","grass"]}`, 0},
	{"A.8 testing a value: success", `{"baz":"qux","foo":["a",2,"c"]}`,
		`[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]`,
		`{"baz":"qux","foo":["a",2,"c"]}`, 0},
	{"A.9 testing a value: error", `{"baz":"qux"}`,
		`[{"op":"test","path":"/baz","value":"bar"}]`,
		``, outcome.Unprocessable},
	{"A.10 adding a nested member object", `{"foo":"bar"}`,
		`[{"op":"add","path":"/child","value":{"grandchild":{}}}]`,
		`{"foo":"bar","child":{"grandchild":{}}}`, 0},
	{"A.11 ignoring unrecognized elements", `{"foo":"bar"}`,
		`[{"op":"add","path":"/baz","value":"qux","xyz":123}]`,
		`{"foo":"bar","baz":"qux"}`, 0},
	{"A.12 adding to a nonexistent target", `{"foo":"bar"}`,
		`[{"op":"add","path":"/baz/bat","value":"qux"}]`,
		``, outcome.Unprocessable},
	{"A.13 invalid JSON Patch document", `{"foo":"bar"}`,
		`[{"op":"add","path":"/baz","value":"qux","op":"remove"}]`,
		``, outcome.Invalid},
	{"A.14 ~ escape ordering", `{"/":9,"~1":10}`,
		`[{"op":"test","path":"/~01","value":10}]`,
		`{"/":9,"~1":10}`, 0},
	{"A.15 comparing strings and numbers", `{"/":9,"~1":10}`,
		`[{"op":"test","path":"/~01","value":"10"}]`,
		``, outcome.Unprocessable},
	{"A.16 adding an array value", `{"foo":["bar"]}`,
		`[{"op":"add","path":"/foo/-","value":["abc","def"]}]`,
		`{"foo":["bar",["abc","def"]]}`, 0},
}

func TestApplyRFCExamples(t *testing.T) {
	t.Parallel()
	for _, tt := range rfcExamples {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, tt.doc, tt.patch, tt.want, tt.kind)
		})
	}
}

// check applies patch to doc and compares the result with want (as JSON
// values), or the error's kind with kind when want is empty.
func check(t *testing.T, doc, patch, want string, kind outcome.Kind) {
	t.Helper()
	got, err := Apply([]byte(doc), []byte(patch))
	if want == "" {
		if err == nil {
			t.Fatalf("applied: %s", got)
		}
		if got != nil {
			t.Errorf("a document came back with the error")
		}
		if k := outcome.KindOf(err); k != kind {
			t.Fatalf("kind %v (status %d), want status %d: %v", k, k.Status(), kind.Status(), err)
		}
		return
	}
	if err != nil {
		t.Fatalf("error: %v %+v", err, err.(*outcome.Error).Issues)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("result is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestApplyEdgeCases(t *testing.T) {
	t.Parallel()
	const I, U = outcome.Invalid, outcome.Unprocessable
	tests := []struct {
		name, doc, patch, want string
		kind                   outcome.Kind
	}{
		// The document as a whole (RFC 6901 §5: "" is the whole document).
		{"replace the document", `{"a":1}`, `[{"op":"replace","path":"","value":[1]}]`, `[1]`, 0},
		{"add the document", `{"a":1}`, `[{"op":"add","path":"","value":{"b":2}}]`, `{"b":2}`, 0},
		{"test the document", `{"a":[1,{"b":null}]}`, `[{"op":"test","path":"","value":{"a":[1,{"b":null}]}}]`, `{"a":[1,{"b":null}]}`, 0},
		{"remove the document", `{"a":1}`, `[{"op":"remove","path":""}]`, ``, U},
		// Pointers.
		{"empty key", `{"":1}`, `[{"op":"replace","path":"/","value":2}]`, `{"":2}`, 0},
		{"~0 and ~1", `{"a/b":1,"m~n":2}`, `[{"op":"remove","path":"/a~1b"},{"op":"remove","path":"/m~0n"}]`, `{}`, 0},
		{"no leading slash", `{"a":1}`, `[{"op":"remove","path":"a"}]`, ``, I},
		{"bad tilde", `{"a":1}`, `[{"op":"remove","path":"/a~2"}]`, ``, I},
		{"tilde at end", `{"a":1}`, `[{"op":"remove","path":"/a~"}]`, ``, I},
		{"pointer too deep", `{}`, `[{"op":"add","path":"` + strings.Repeat("/a", maxPointerDepth+1) + `","value":1}]`, ``, I},
		{"pointer at the depth limit", `{}`, `[{"op":"test","path":"` + strings.Repeat("/a", maxPointerDepth) + `","value":1}]`, ``, U},
		// Arrays.
		{"append with -", `[1]`, `[{"op":"add","path":"/-","value":2}]`, `[1,2]`, 0},
		{"append at the length", `[1]`, `[{"op":"add","path":"/1","value":2}]`, `[1,2]`, 0},
		{"add past the end", `[1]`, `[{"op":"add","path":"/2","value":2}]`, ``, U},
		{"leading zero", `[1,2]`, `[{"op":"replace","path":"/01","value":3}]`, ``, U},
		{"negative index", `[1,2]`, `[{"op":"remove","path":"/-1"}]`, ``, U},
		{"remove -", `[1,2]`, `[{"op":"remove","path":"/-"}]`, ``, U},
		{"replace at the length", `[1,2]`, `[{"op":"replace","path":"/2","value":3}]`, ``, U},
		{"huge index", `[1]`, `[{"op":"add","path":"/99999999999999999999","value":3}]`, ``, U},
		{"index into an object", `{"0":1}`, `[{"op":"replace","path":"/0","value":2}]`, `{"0":2}`, 0},
		{"child of a scalar", `{"a":1}`, `[{"op":"add","path":"/a/b","value":2}]`, ``, U},
		// Values.
		{"add replaces a member", `{"a":1}`, `[{"op":"add","path":"/a","value":2}]`, `{"a":2}`, 0},
		{"null value", `{"a":1}`, `[{"op":"replace","path":"/a","value":null}]`, `{"a":null}`, 0},
		{"missing value", `{"a":1}`, `[{"op":"replace","path":"/a"}]`, ``, I},
		{"remove missing member", `{"a":1}`, `[{"op":"remove","path":"/b"}]`, ``, U},
		{"replace missing member", `{"a":1}`, `[{"op":"replace","path":"/b","value":1}]`, ``, U},
		// move and copy.
		{"move into own child", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a/b/c"}]`, ``, I},
		{"move onto itself", `{"a":{"b":1}}`, `[{"op":"move","from":"/a","path":"/a"}]`, `{"a":{"b":1}}`, 0},
		{"move onto itself, missing", `{}`, `[{"op":"move","from":"/a","path":"/a"}]`, ``, U},
		{"move to a parent", `{"a":{"b":{"c":1}}}`, `[{"op":"move","from":"/a/b","path":"/a"}]`, `{"a":{"c":1}}`, 0},
		{"move from missing", `{"a":1}`, `[{"op":"move","from":"/b","path":"/c"}]`, ``, U},
		{"copy is deep", `{"a":{"b":1}}`, `[{"op":"copy","from":"/a","path":"/c"},{"op":"replace","path":"/c/b","value":2}]`, `{"a":{"b":1},"c":{"b":2}}`, 0},
		{"copy without from", `{"a":1}`, `[{"op":"copy","path":"/c"}]`, ``, I},
		{"from not a string", `{"a":1}`, `[{"op":"move","from":1,"path":"/c"}]`, ``, I},
		// test (RFC 6902 §4.6).
		{"numbers equal by value", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0e0}]`, `{"a":1}`, 0},
		{"numbers: 100 is 1e2", `[100,-0,0.00120]`, `[{"op":"test","path":"","value":[1e2,0,12e-4]}]`, `[100,-0,0.00120]`, 0},
		{"numbers differ", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0000000000000000001}]`, ``, U},
		{"objects in any order", `{"a":{"x":1,"y":2}}`, `[{"op":"test","path":"/a","value":{"y":2,"x":1}}]`, `{"a":{"x":1,"y":2}}`, 0},
		{"arrays in order", `{"a":[1,2]}`, `[{"op":"test","path":"/a","value":[2,1]}]`, ``, U},
		{"null is not false", `{"a":null}`, `[{"op":"test","path":"/a","value":false}]`, ``, U},
		{"test missing path", `{}`, `[{"op":"test","path":"/a","value":null}]`, ``, U},
		// The patch document.
		{"not an array", `{}`, `{"op":"add","path":"/a","value":1}`, ``, I},
		{"not JSON", `{}`, `[{"op":`, ``, I},
		{"operation not an object", `{}`, `[1]`, ``, I},
		{"operation null", `{}`, `[null]`, ``, I},
		{"unknown op", `{}`, `[{"op":"merge","path":"/a"}]`, ``, I},
		{"op not a string", `{}`, `[{"op":1,"path":"/a"}]`, ``, I},
		{"missing op", `{}`, `[{"path":"/a","value":1}]`, ``, I},
		{"missing path", `{}`, `[{"op":"add","value":1}]`, ``, I},
		{"null path", `{}`, `[{"op":"add","path":null,"value":1}]`, ``, I},
		{"empty patch", `{"a":1}`, `[]`, `{"a":1}`, 0},
		{"malformed after failing", `{}`, `[{"op":"remove","path":"/x"},{"op":"nope"}]`, ``, I},
		{"lone surrogate in a value", `{}`, `[{"op":"add","path":"/a","value":"\ud800"}]`, ``, I},
		// The document.
		{"document not JSON", `{"a":`, `[]`, ``, I},
		{"document with a repeated key", `{"a":1,"a":2}`, `[]`, ``, I},
		// Atomicity: a failure after a success leaves nothing.
		{"atomic", `{"a":1}`, `[{"op":"replace","path":"/a","value":2},{"op":"test","path":"/a","value":3}]`, ``, U},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, tt.doc, tt.patch, tt.want, tt.kind)
		})
	}
}

// TestApplyPreserves: members keep their order, numbers their text, and
// strings are escaped only where RFC 8259 requires it.
func TestApplyPreserves(t *testing.T) {
	t.Parallel()
	doc := `{ "resourceType": "Observation", "valueQuantity": {"value": 12345678901234567890.123456789e-3, "unit": "<mg> & co"},
		"note": [{"text": "a\"b\\c\n\u0001é😀"}], "id": "x" }`
	got, err := Apply([]byte(doc), []byte(`[{"op":"replace","path":"/id","value":"y"}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Observation","valueQuantity":{"value":12345678901234567890.123456789e-3,"unit":"<mg> & co"},` +
		`"note":[{"text":"a\"b\\c\n\u0001é😀"}],"id":"y"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestApplyErrorsPHIFree: errors name the operation, never its path or a
// value, and the document given to Apply is left alone.
func TestApplyErrorsPHIFree(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"name":[{"family":"Dupont"}]}`)
	orig := string(doc)
	for _, patch := range []string{
		`[{"op":"test","path":"/name/0/family","value":"Durand"}]`,
		`[{"op":"replace","path":"/name/0/Dupont","value":"Durand"}]`,
		`[{"op":"remove","path":"/name/0/family"},{"op":"add","path":"/Dupont/x","value":"Durand"}]`,
		`[{"op":"add","path":"Dupont","value":"Durand"}]`,
		`[{"op":"Dupont","path":"/a"}]`,
	} {
		_, err := Apply(doc, []byte(patch))
		var oe *outcome.Error
		if !errors.As(err, &oe) {
			t.Fatalf("%s: %v", patch, err)
		}
		texts := []string{oe.Error()}
		for _, is := range oe.Issues {
			texts = append(texts, is.Text, is.Path)
		}
		for _, s := range texts {
			if strings.Contains(s, "Dupont") || strings.Contains(s, "Durand") || strings.Contains(s, "family") {
				t.Errorf("%s: error text quotes the patch or document: %q", patch, s)
			}
		}
		if !strings.Contains(oe.Issues[0].Text, "operation ") {
			t.Errorf("%s: the issue does not name the operation: %q", patch, oe.Issues[0].Text)
		}
	}
	if string(doc) != orig {
		t.Errorf("Apply modified its input")
	}
}

func TestApplyLimits(t *testing.T) {
	t.Parallel()
	op := `{"op":"test","path":"","value":{}}`
	ops := strings.Repeat(op+",", maxOperations-1) + op
	if _, err := Apply([]byte(`{}`), []byte("["+ops+"]")); err != nil {
		t.Errorf("%d operations: %v", maxOperations, err)
	}
	_, err := Apply([]byte(`{}`), []byte("["+ops+","+op+"]"))
	if outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("%d operations: %v, want Invalid", maxOperations+1, err)
	}
	// Each copy doubles the array: the budget stops it long before the
	// memory runs out.
	double := `{"op":"copy","from":"/a","path":"/a/-"}`
	patch := "[" + strings.Repeat(double+",", 63) + double + "]"
	_, err = Apply([]byte(`{"a":[1,2,3,4,5,6,7,8]}`), []byte(patch))
	if outcome.KindOf(err) != outcome.Unprocessable {
		t.Errorf("exponential copies: %v, want Unprocessable", err)
	}
}

func FuzzApply(f *testing.F) {
	for _, tt := range rfcExamples {
		f.Add([]byte(tt.doc), []byte(tt.patch))
	}
	f.Add([]byte(`{"a":{"b":[1,2]}}`), []byte(`[{"op":"copy","from":"/a","path":"/a/b/-"},{"op":"move","from":"/a/b/0","path":"/c"}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := Apply(doc, patch)
		if err != nil {
			if k := outcome.KindOf(err); k != outcome.Invalid && k != outcome.Unprocessable {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("result is not JSON: %s", out)
		}
	})
}

func ExampleApply() {
	doc := []byte(`{"resourceType":"Patient","id":"p1","active":false}`)
	patch := []byte(`[{"op":"test","path":"/active","value":false},{"op":"replace","path":"/active","value":true}]`)
	out, err := Apply(doc, patch)
	fmt.Println(string(out), err)
	// Output: {"resourceType":"Patient","id":"p1","active":true} <nil>
}
