package cda

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// CDA narrative blocks (StrucDocText, CDA R2 §4.3.5) are rendered as the
// limited XHTML FHIR allows in Narrative.div
// (https://hl7.org/fhir/R4/narrative.html#xhtml): content becomes span,
// paragraph p, list ul/ol, item li, tables keep their structure; styleCode
// and multimedia are dropped. Mixed content is kept in document order.

const xhtmlOpen = `<div xmlns="http://www.w3.org/1999/xhtml">`

// narrative renders a section's text element. nil when it has no visible
// content (FHIR txt-2 requires some).
func narrative(text el) *dtpb.Narrative {
	if !text.ok() {
		return nil
	}
	var b strings.Builder
	b.Grow(len(xhtmlOpen) + len("</div>") + renderedSize(text))
	b.WriteString(xhtmlOpen)
	renderChildren(&b, text)
	b.WriteString("</div>")
	div := b.String()
	if !hasVisibleText(div) {
		return nil
	}
	return &dtpb.Narrative{
		Status: &dtpb.Narrative_StatusCode{Value: cpb.NarrativeStatusCode_ADDITIONAL},
		Div:    &dtpb.Xhtml{Value: div},
	}
}

// textNarrative wraps plain text as a generated narrative.
func textNarrative(s string, status cpb.NarrativeStatusCode_Value) *dtpb.Narrative {
	var b strings.Builder
	b.WriteString(xhtmlOpen)
	escapeText(&b, s)
	b.WriteString("</div>")
	return &dtpb.Narrative{Status: &dtpb.Narrative_StatusCode{Value: status}, Div: &dtpb.Xhtml{Value: b.String()}}
}

// renderedSize guesses the size of e's children rendered as XHTML, so that
// the builder is allocated once: their text, a little more for escapes,
// and a pair of tags per element.
func renderedSize(e el) int {
	n := 0
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		if nd := &e.t.nodes[c]; nd.isText {
			n += len(nd.name) + len(nd.name)/16
		} else {
			n += 2*len(nd.name) + 8 + renderedSize(el{e.t, c})
		}
	}
	return n
}

func hasVisibleText(div string) bool {
	inTag := false
	for i := len(xhtmlOpen); i < len(div); i++ {
		switch c := div[i]; {
		case c == '<':
			inTag = true
		case c == '>':
			inTag = false
		case !inTag && c != ' ' && c != '\n' && c != '\t' && c != '\r':
			return true
		}
	}
	return false
}

func renderChildren(b *strings.Builder, e el) {
	for c := e.n().first; c >= 0; c = e.t.nodes[c].next {
		n := &e.t.nodes[c]
		if n.isText {
			escapeText(b, n.name)
			continue
		}
		renderElement(b, el{e.t, c})
	}
}

// htmlName gives the XHTML element for a narrative element ("" to render
// only its children).
func htmlName(e el) string {
	if !e.isCDA() {
		return ""
	}
	switch n := e.name(); n {
	case "content", "footnote":
		return "span"
	case "paragraph":
		return "p"
	case "item":
		return "li"
	case "list":
		if strings.EqualFold(e.attr("listType"), "ordered") {
			return "ol"
		}
		return "ul"
	case "footnoteRef":
		return "sup"
	case "table", "thead", "tbody", "tfoot", "tr", "th", "td", "col", "colgroup", "sub", "sup", "br", "caption":
		return n
	}
	return ""
}

func renderElement(b *strings.Builder, e el) {
	switch e.name() {
	case "renderMultiMedia":
		return
	case "linkHtml":
		renderLink(b, e)
		return
	case "caption":
		if p := e.parent().name(); p != "table" {
			// Captions of lists and paragraphs: a bold span in place.
			b.WriteString("<b>")
			renderChildren(b, e)
			b.WriteString("</b> ")
			return
		}
	case "list":
		renderList(b, e)
		return
	}
	tag := htmlName(e)
	if tag == "" {
		renderChildren(b, e)
		return
	}
	if tag == "br" {
		b.WriteString("<br/>")
		return
	}
	b.WriteByte('<')
	b.WriteString(tag)
	writeAttrs(b, e)
	b.WriteByte('>')
	renderChildren(b, e)
	b.WriteString("</")
	b.WriteString(tag)
	b.WriteByte('>')
}

// renderList puts a list caption before the list: XHTML lists hold only li.
func renderList(b *strings.Builder, e el) {
	if cap := e.child("caption"); cap.ok() {
		b.WriteString("<p><b>")
		renderChildren(b, cap)
		b.WriteString("</b></p>")
	}
	tag := htmlName(e)
	b.WriteByte('<')
	b.WriteString(tag)
	writeAttrs(b, e)
	b.WriteByte('>')
	items := 0
	e.each("item", func(it el) {
		items++
		renderElement(b, it)
	})
	if items == 0 {
		b.WriteString("<li></li>")
	}
	b.WriteString("</")
	b.WriteString(tag)
	b.WriteByte('>')
}

func renderLink(b *strings.Builder, e el) {
	href := strings.TrimSpace(e.attr("href"))
	if !strings.HasPrefix(href, "http://") && !strings.HasPrefix(href, "https://") && !strings.HasPrefix(href, "#") {
		b.WriteString("<span>")
		renderChildren(b, e)
		b.WriteString("</span>")
		return
	}
	b.WriteString(`<a href="`)
	escapeAttr(b, href)
	b.WriteString(`">`)
	renderChildren(b, e)
	b.WriteString("</a>")
}

// writeAttrs keeps the narrative ID (as id, when it is a valid XML name) and
// table spans.
func writeAttrs(b *strings.Builder, e el) {
	if id := e.attr("ID"); validXMLID(id) {
		b.WriteString(` id="`)
		escapeAttr(b, id)
		b.WriteByte('"')
	}
	for _, a := range [...]string{"colspan", "rowspan"} {
		if v := e.attr(a); allDigits(v) {
			b.WriteString(" " + a + `="` + v + `"`)
		}
	}
}

func validXMLID(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// escapeText escapes XHTML text content (& < >).
func escapeText(b *strings.Builder, s string) { escapeXML(b, s, '>', "&gt;") }

// escapeAttr escapes a double-quoted XHTML attribute value (& < ").
func escapeAttr(b *strings.Builder, s string) { escapeXML(b, s, '"', "&quot;") }

// escapeXML writes s with & and < escaped, plus one more character (> in
// text, " in attributes) replaced by rep.
func escapeXML(b *strings.Builder, s string, extra byte, rep string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case '&':
			r = "&amp;"
		case '<':
			r = "&lt;"
		case extra:
			r = rep
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	b.WriteString(s[last:])
}
