package cda

import (
	"errors"
	"strings"
	"testing"
)

func TestParseXMLRefuses(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"doctype", `<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`, errDTD},
		{"external entity", `<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>`, errDTD},
		{"undeclared entity", `<x>&nbsp;</x>`, errEntity},
		{"entity in attribute", `<x a="&ext;"/>`, errEntity},
		{"mismatched end tag", `<x><y></x></y>`, errMismatch},
		{"unclosed", `<x><y>`, errUnclosed},
		{"two roots", `<x/><y/>`, errTrailing},
		{"text after root", `<x/>hello`, errTrailing},
		{"unbound prefix", `<p:x/>`, errBadPrefix},
		{"no root", `<?xml version="1.0"?><!-- only a comment -->`, errNoRoot},
		{"too deep", deep, errTooDeep},
		{"bad char ref", `<x>&#0;</x>`, errEntity},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC"?><x/>`, errEncoding},
		{"attribute without quotes", `<x a=1/>`, errNotXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseXML([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Errorf("parseXML(%q) error = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseXMLReads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string // want: text of /root/b
	}{
		{"entities and char refs", `<r xmlns="urn:hl7-org:v3"><b>a &lt;&amp;&gt; &#233;&#x20AC;</b></r>`, "a <&> é€"},
		{"cdata", `<r xmlns="urn:hl7-org:v3"><b><![CDATA[x < 60]]> ok</b></r>`, "x < 60 ok"},
		{"prefixed namespace", `<c:r xmlns:c="urn:hl7-org:v3"><c:b>v</c:b></c:r>`, "v"},
		{"default namespace redefined", `<r xmlns="urn:hl7-org:v3"><x xmlns="urn:other"><b>no</b></x><b>yes</b></r>`, "yes"},
		{"bom and declaration", "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><r xmlns=\"urn:hl7-org:v3\"><b>bom</b></r>", "bom"},
		{"latin1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r xmlns=\"urn:hl7-org:v3\"><b>caf\xe9</b></r>", "café"},
		{"utf16", utf16LE(`<r xmlns="urn:hl7-org:v3"><b>seize</b></r>`), "seize"},
		{"comments and PIs", `<?xml-stylesheet href="x"?><r xmlns="urn:hl7-org:v3"><!-- c --><b>p<?pi x?>q</b></r>`, "pq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr, err := parseXML([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := (el{tr, 0}).child("b").text(); got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
		})
	}
}

func utf16LE(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return string(b)
}

func TestXSITypeAndNullFlavor(t *testing.T) {
	t.Parallel()
	tr, err := parseXML([]byte(`<r xmlns="urn:hl7-org:v3" xmlns:x="http://www.w3.org/2001/XMLSchema-instance">
		<value x:type="v3:PQ" value="1"/><code nullFlavor="UNK"/><id nullFlavor="NI" root="1.2.3"/></r>`))
	if err != nil {
		t.Fatal(err)
	}
	r := el{tr, 0}
	if got := r.child("value").xsiType(); got != "PQ" {
		t.Errorf("xsiType = %q", got)
	}
	if !r.child("code").null() {
		t.Error("code with nullFlavor is not null")
	}
	if r.child("id").null() {
		t.Error("id with a root is null")
	}
	if got := r.child("value").xpath(); got != "/r/value" {
		t.Errorf("xpath = %q", got)
	}
}

func TestXPath(t *testing.T) {
	t.Parallel()
	tr, err := parseXML([]byte(`<r xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc"><a/><b/><a><c/><sdtc:d/><sdtc:d/></a></r>`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	el{tr, 0}.each("", func(e el) {
		got = append(got, e.xpath())
		e.each("", func(f el) { got = append(got, f.xpath()) })
	})
	want := []string{"/r/a[1]", "/r/b", "/r/a[2]", "/r/a[2]/c", "/r/a[2]/sdtc:d[1]", "/r/a[2]/sdtc:d[2]"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
	if (el{}).xpath() != "" {
		t.Error("absent element has an xpath")
	}
}
