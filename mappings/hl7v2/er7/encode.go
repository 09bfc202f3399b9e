package er7

import "strings"

// Encode writes m back in ER7: segments ended by CR, fields as they were
// read (still escaped), in m's character set. Parse(Encode(m)) gives m again.
func Encode(m *Message) []byte {
	w := writer{d: m.Delims}
	for _, s := range m.Segments {
		w.b.WriteString(s.text) // fields as they were read
		w.b.WriteByte('\r')
	}
	return m.Charset.fromUTF8(w.String())
}

// writer builds ER7 text from already-encoded fields.
type writer struct {
	d Delimiters
	b strings.Builder
}

// segment writes one segment.
func (w *writer) segment(name string, fields ...string) {
	w.b.WriteString(name)
	for _, f := range fields {
		w.b.WriteByte(w.d.Field)
		w.b.WriteString(f)
	}
	w.b.WriteByte('\r')
}

func (w *writer) String() string { return w.b.String() }

// trimEmpty drops trailing empty strings.
func trimEmpty(s []string) []string {
	for len(s) > 0 && s[len(s)-1] == "" {
		s = s[:len(s)-1]
	}
	return s
}

// Join escapes each part and joins them with sep (a component or
// subcomponent separator of d), dropping trailing empty parts.
func (d Delimiters) Join(sep byte, parts ...string) string {
	parts = trimEmpty(parts)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(Escape(p, d))
	}
	return b.String()
}
