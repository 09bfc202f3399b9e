package directory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// resources reads input with eachResource and returns what it passed on.
func resources(input string) ([]string, error) {
	var out []string
	err := eachResource(strings.NewReader(input), func(raw []byte, _ string) error {
		out = append(out, string(raw))
		return nil
	})
	return out, err
}

const (
	roleA = `{"resourceType":"PractitionerRole","id":"a"}`
	roleB = `{"resourceType":"PractitionerRole","id":"b"}`
)

// TestEachResourceForms: the forms an export comes in, and what is refused
// whole.
func TestEachResourceForms(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"ndjson", roleA + "\n" + roleB + "\n", []string{roleA, roleB}, ""},
		{"ndjson crlf and blank lines", roleA + "\r\n\r\n" + roleB, []string{roleA, roleB}, ""},
		{"ndjson with a byte order mark", "\xef\xbb\xbf" + roleA + "\n", []string{roleA}, ""},
		{"bundle with a byte order mark", "\xef\xbb\xbf{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":" + roleA + "}]}", []string{roleA}, ""},
		{"bundle on one line", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + roleA + `},{"resource":` + roleB + `}]}`, []string{roleA, roleB}, ""},
		{"bundle pretty", "{\n  \"resourceType\": \"Bundle\",\n  \"entry\": [\n    {\"fullUrl\": \"urn:uuid:1\", \"resource\": " + roleA + "},\n    {\"resource\": " + roleB + "}\n  ]\n}\n", []string{roleA, roleB}, ""},
		{"entries before resourceType", "{\n\"entry\":[{\"resource\":" + roleA + "}],\n\"resourceType\":\"Bundle\"}", []string{roleA}, ""},
		{"entries without resource, null entry", `{"resourceType":"Bundle","entry":[{"request":{"method":"GET"}},{"resource":null},{"resource":` + roleB + `}]}`, []string{roleB}, ""},
		{"entry null", `{"resourceType":"Bundle","entry":null}`, nil, ""},
		{"searchset page with its OperationOutcome", `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"https://ror.example/fhir/PractitionerRole/a","resource":` + roleA + `,"search":{"mode":"match"}},` +
			`{"resource":{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":"page 1 of 3"}]},"search":{"mode":"outcome"}}]}`, []string{roleA}, ""},
		{"no entries", `{"resourceType":"Bundle","type":"collection"}`, nil, ""},
		{"a single resource pretty-printed", "{\n\"resourceType\":\"Practitioner\",\n\"id\":\"p\"\n}", nil, "neither a Bundle nor NDJSON"},
		{"not a Bundle, entries first", "{\n\"entry\":[{\"resource\":" + roleA + "}],\n\"resourceType\":\"List\"}", nil, "neither a Bundle nor NDJSON"},
		{"not JSON", "MSH|^~\\&|", nil, "not JSON"},
		{"empty", " \n", nil, "empty input"},
		{"content after the Bundle", `{"resourceType":"Bundle","entry":[]}` + "\n" + `{"resourceType":"Bundle","entry":[]}`, nil, "content after the Bundle"},
	} {
		got, err := resources(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// TestEachResourceTruncatedBundle: the entries read before the file breaks
// off are passed on, and the error says where it broke off.
func TestEachResourceTruncatedBundle(t *testing.T) {
	t.Parallel()
	in := "{\"resourceType\":\"Bundle\",\"entry\":[\n{\"resource\":" + roleA + "},\n{\"resource\":" + roleB + "},\n{\"resource\":{\"resourceType\":\"Pract"
	got, err := resources(in)
	if err == nil || !strings.Contains(err.Error(), "after 2 entries") {
		t.Fatalf("err %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("passed on %q", got)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestEachResourceStreamsBundles: a large Bundle's first resource is passed
// on after a small part of the file is read, not after all of it.
func TestEachResourceStreamsBundles(t *testing.T) {
	t.Parallel()
	for _, sep := range []string{"\n", ""} { // pretty, and on one line
		var b bytes.Buffer
		b.WriteString("{" + sep + "\"resourceType\": \"Bundle\"," + sep + "\"type\": \"collection\"," + sep + "\"entry\": [" + sep)
		const n = 50000 // about 10 MB, ten times the reader's buffer
		for i := range n {
			if i > 0 {
				b.WriteString("," + sep)
			}
			fmt.Fprintf(&b, `{"resource":{"resourceType":"PractitionerRole","id":"r%d","active":true,"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante","code":"60"}]}]}}`, i)
		}
		b.WriteString(sep + "]" + sep + "}" + sep)
		total := b.Len()
		cr := &countingReader{r: &b}
		readAtFirst, count := -1, 0
		err := eachResource(cr, func([]byte, string) error {
			if readAtFirst < 0 {
				readAtFirst = cr.n
			}
			count++
			return nil
		})
		if err != nil || count != n {
			t.Fatalf("separator %q: %d resources, %v", sep, count, err)
		}
		if readAtFirst > total/4 {
			t.Errorf("separator %q: first resource passed on after %d of %d bytes were read", sep, readAtFirst, total)
		}
	}
}

// TestEachResourceStopsOnCallbackError: an error of fn (a batch that could
// not be written) ends the reading with that error.
func TestEachResourceStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	for _, in := range []string{roleA + "\n" + roleB, `{"resourceType":"Bundle","entry":[{"resource":` + roleA + `},{"resource":` + roleB + `}]}`} {
		calls := 0
		err := eachResource(strings.NewReader(in), func([]byte, string) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("%.30s…: %d calls, %v", in, calls, err)
		}
	}
}

// FuzzEachResource: any input is either read or refused with an error,
// never a panic; what is passed on is each a JSON value taken from the
// input, and NDJSON of whole objects is passed on line by line.
func FuzzEachResource(f *testing.F) {
	for _, s := range []string{
		roleA + "\n" + roleB + "\n",
		`{"resourceType":"Bundle","entry":[{"resource":` + roleA + `}]}`,
		"{\n\"entry\":[{\"resource\":" + roleA + "}],\n\"resourceType\":\"Bundle\"}",
		`{"resourceType":"Bundle","entry":null}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Pract`,
		"{\n}",
		`{"a":[1,{"b":"c"}],"resourceType":"Bundle"}` + "\n",
		"  \t\n{\"resourceType\":\"Organization\"}\r\n",
		"\xef\xbb\xbf" + roleA,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		_ = eachResource(bytes.NewReader(in), func(raw []byte, _ string) error {
			if len(raw) == 0 {
				t.Fatalf("empty resource passed on from %q", in)
			}
			return nil
		})
	})
}
