package bundle

import "strings"

// texts keeps the short strings a Builder makes (references, ids, warning
// paths) in shared buffers rather than one allocation each. A buffer is only
// ever appended to, so the strings already taken from it never change; a
// full one is left to the strings that use it and a new one started.
type texts struct{ b strings.Builder }

// room makes sure n more bytes fit in the current buffer.
func (t *texts) room(n int) {
	if t.b.Cap()-t.b.Len() < n {
		t.b = strings.Builder{}
		t.b.Grow(max(n, 1024))
	}
}

// join returns a+sep+b.
func (t *texts) join(a, sep, b string) string {
	t.room(len(a) + len(sep) + len(b))
	start := t.b.Len()
	t.b.WriteString(a)
	t.b.WriteString(sep)
	t.b.WriteString(b)
	return t.b.String()[start:]
}

// of returns p as a string.
func (t *texts) of(p []byte) string {
	t.room(len(p))
	start := t.b.Len()
	t.b.Write(p)
	return t.b.String()[start:]
}
