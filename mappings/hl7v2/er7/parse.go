package er7

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

var bom = []byte{0xEF, 0xBB, 0xBF}

// Parse reads one HL7 v2 message. Segments may end in CR, LF or CRLF; blank
// lines are ignored; a leading UTF-8 byte-order mark is skipped. The text is
// converted to UTF-8 from the MSH-18 character set; with MSH-18 empty or
// ASCII, non-ASCII input is read as UTF-8 when it is valid UTF-8 and as ISO
// 8859-1 otherwise.
//
// Errors are *Error. Parse never panics.
func Parse(data []byte) (*Message, error) {
	base := 0
	if bytes.HasPrefix(data, bom) {
		base = len(bom)
	}
	in := data[base:]
	p := &parser{in: in, base: base}
	if err := p.header(); err != nil {
		return nil, err
	}
	if err := p.segments(); err != nil {
		return nil, err
	}
	m := &Message{Delims: p.d, Segments: p.segs, Charset: p.d.charset}
	if err := checkHeader(m); err != nil {
		return nil, err
	}
	return m, nil
}

type parser struct {
	in   []byte
	base int // offset of in within the caller's data
	d    Delimiters
	text string // in as a string, when no conversion is needed
	segs []*Segment
}

// header reads the delimiters and the character set from MSH.
func (p *parser) header() error {
	in := p.in
	msh := Location{Segment: "MSH", Seq: 1}
	if len(bytes.TrimSpace(in)) == 0 {
		return errAt(Location{}, p.base, SegmentSequenceError, "empty message")
	}
	if !bytes.HasPrefix(in, []byte("MSH")) {
		return errAt(Location{Seq: 1}, p.base, SegmentSequenceError, "message does not start with an MSH segment")
	}
	end := segmentEnd(in, 0)
	if end < 8 {
		msh.Field = 2
		return errAt(msh, p.base+3, RequiredFieldMissing, "MSH too short for its encoding characters")
	}
	d, err := readDelimiters(in[3:end])
	if err != nil {
		msh.Field = 2
		if err == errFieldSep {
			msh.Field = 1
		}
		return errAt(msh, p.base+3, DataTypeError, err.Error())
	}
	p.d = d
	cs, err := p.charset(in[:end])
	if err != nil {
		return err
	}
	p.d.charset = cs
	if cs == ASCII || cs == UTF8 {
		p.text = string(in)
	}
	return nil
}

type parseErr string

func (e parseErr) Error() string { return string(e) }

const errFieldSep = parseErr("invalid field separator")

// readDelimiters reads MSH-1 and MSH-2 from b, which starts at MSH-1.
func readDelimiters(b []byte) (Delimiters, error) {
	if len(b) < 5 {
		return Delimiters{}, parseErr("MSH too short for its encoding characters")
	}
	fs := b[0]
	if !delimiterOK(fs) {
		return Delimiters{}, errFieldSep
	}
	enc := b[1:]
	if i := bytes.IndexByte(enc, fs); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) < 4 || len(enc) > 5 {
		return Delimiters{}, parseErr("MSH-2 must hold 4 or 5 encoding characters")
	}
	d := Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	for i, c := range enc {
		if !delimiterOK(c) || c == fs || bytes.IndexByte(enc[:i], c) >= 0 {
			return Delimiters{}, parseErr("invalid or repeated encoding character in MSH-2")
		}
	}
	return d, nil
}

// delimiterOK: printable ASCII punctuation only.
func delimiterOK(c byte) bool {
	return c > ' ' && c < 0x7F && !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z')
}

// charset reads MSH-18 and decides how the input's bytes are decoded.
func (p *parser) charset(msh []byte) (Charset, error) {
	name := nthBytes(msh, p.d.Field, 17) // MSH-18 is the 17th piece after "MSH"
	if i := bytes.IndexByte(name, p.d.Repetition); i >= 0 {
		name = name[:i] // the first repetition is the message's default set
	}
	cs, ok := charsetByName(string(name))
	if !ok {
		off := bytes.Index(msh, name)
		return 0, errAt(Location{Segment: "MSH", Seq: 1, Field: 18}, p.base+off, TableValueNotFound, "unsupported character set in MSH-18")
	}
	if isASCII(p.in) {
		return cs, nil
	}
	if cs == ASCII {
		if utf8.Valid(p.in) {
			return UTF8, nil
		}
		return Latin1, nil
	}
	return cs, nil
}

// segments splits the input into segments and fields. The segments of a
// message and the offsets of its fields are each allocated once, sized by
// counting terminators and field separators (all ASCII, so their number
// does not change when the text is converted to UTF-8).
func (p *parser) segments() error {
	in := p.in
	segs := make([]Segment, 0, bytes.Count(in, []byte{'\r'})+bytes.Count(in, []byte{'\n'})+1)
	p.segs = make([]*Segment, 0, cap(segs))
	seps := make([]int, 0, bytes.Count(in, []byte{p.d.Field}))
	var seqBuf [16]seqCount // a message has few distinct segment IDs
	seqs := seqCounter(seqBuf[:0])
	for pos := 0; pos < len(in); {
		end := segmentEnd(in, pos)
		raw := in[pos:end]
		start := pos
		pos = skipTerminator(in, end)
		if isBlank(raw) {
			continue
		}
		segs = append(segs, Segment{})
		seg := &segs[len(segs)-1]
		var err error
		if seqs, err = p.segment(seg, raw, start, seqs); err != nil {
			return err
		}
		if seg.Name == "MSH" && seg.Seq > 1 {
			return errAt(Location{Segment: "MSH", Seq: seg.Seq}, p.base+start, SegmentSequenceError, "more than one MSH segment (batches are not supported)")
		}
		from := len(seps)
		seg.text, seps = p.split(seps, raw, start)
		seg.seps = seps[from:len(seps):len(seps)]
		p.segs = append(p.segs, seg)
	}
	return nil
}

// seqCounter numbers the occurrences of each segment ID. A message has few
// distinct IDs, so a list beats a map.
type seqCounter []seqCount

type seqCount struct {
	name string
	n    int
}

// next returns c with the occurrence of name counted, and its number.
// It returns c rather than appending through a pointer, so that a counter
// backed by an array of the caller's stays off the heap.
func (c seqCounter) next(name string) (seqCounter, int) {
	for i := range c {
		if e := &c[i]; e.name == name {
			e.n++
			return c, e.n
		}
	}
	return append(c, seqCount{name, 1}), 1
}

// segment checks one segment's ID, encoding and escape sequences, and fills
// in seg but for its fields. It returns seqs with seg counted.
func (p *parser) segment(seg *Segment, raw []byte, start int, seqs seqCounter) (seqCounter, error) {
	off := p.base + start
	first := len(p.segs) == 0
	if len(raw) < 3 || !segmentID(raw[:3]) || (len(raw) > 3 && raw[3] != p.d.Field) {
		return seqs, errAt(Location{Seq: len(p.segs) + 1}, off, SegmentSequenceError, "invalid segment ID: expected 3 upper-case letters or digits then the field separator")
	}
	var name string
	if p.text != "" {
		name = p.text[start : start+3] // no copy
	} else {
		name = string(raw[:3])
	}
	if first && name != "MSH" {
		return seqs, errAt(Location{Segment: name, Seq: 1}, off, SegmentSequenceError, "message does not start with an MSH segment")
	}
	var seq int
	seqs, seq = seqs.next(name)
	*seg = Segment{Name: name, Seq: seq, Offset: off, d: p.d}
	if p.d.charset == UTF8 && !utf8.Valid(raw) {
		i := firstInvalidUTF8(raw)
		return seqs, p.fieldErr(seg, raw, i, DataTypeError, "invalid UTF-8")
	}
	from := 4
	if name == "MSH" {
		from = 4 + bytes.IndexByte(raw[4:], p.d.Field) + 1 // after MSH-2
		if from <= 4 {
			return seqs, nil
		}
	}
	if from >= len(raw) || bytes.IndexByte(raw[from:], p.d.Escape) < 0 {
		return seqs, nil // most segments: no escape sequence to check
	}
	for i := from; i < len(raw); {
		j := bytes.IndexByte(raw[i:], p.d.Field)
		if j < 0 {
			j = len(raw) - i
		}
		if k, reason, ok := checkEscapes(raw[i:i+j], p.d); !ok {
			return seqs, p.fieldErr(seg, raw, i+k, DataTypeError, reason)
		}
		i += j + 1
	}
	return seqs, nil
}

// fieldErr builds an error located at byte i of a segment's raw text.
func (p *parser) fieldErr(seg *Segment, raw []byte, i int, c Condition, reason string) *Error {
	loc := Location{Segment: seg.Name, Seq: seg.Seq, Field: bytes.Count(raw[:i], []byte{p.d.Field})}
	if seg.Name == "MSH" {
		loc.Field++
	}
	// Narrow down to repetition and component within the field.
	fstart := bytes.LastIndexByte(raw[:i], p.d.Field) + 1
	in := raw[fstart:i]
	if r := bytes.LastIndexByte(in, p.d.Repetition); r >= 0 {
		loc.Rep = bytes.Count(in, []byte{p.d.Repetition}) + 1
		in = in[r+1:]
	}
	loc.Component = bytes.Count(in, []byte{p.d.Component}) + 1
	return errAt(loc, seg.Offset+i, c, reason)
}

// split returns a segment's text in UTF-8 and appends the offsets of its
// field separators to seps.
func (p *parser) split(seps []int, raw []byte, start int) (string, []int) {
	var s string
	if p.text != "" {
		s = p.text[start : start+len(raw)]
	} else {
		s = p.d.charset.toUTF8(raw)
	}
	for i := 0; ; i++ {
		j := strings.IndexByte(s[i:], p.d.Field)
		if j < 0 {
			return s, seps
		}
		i += j
		seps = append(seps, i)
	}
}

// checkHeader requires what an acknowledgement needs: MSH-9, MSH-10, MSH-12.
func checkHeader(m *Message) error {
	msh := m.MSH()
	for _, f := range []int{9, 10, 12} {
		if msh.Field(f).Comp(1).Empty() {
			return errAt(msh.Loc(f), -1, RequiredFieldMissing, "required MSH field is empty")
		}
	}
	return nil
}

func segmentEnd(b []byte, from int) int {
	rest := b[from:]
	i := bytes.IndexByte(rest, '\r')
	if i < 0 {
		i = len(rest)
	}
	if j := bytes.IndexByte(rest[:i], '\n'); j >= 0 {
		i = j
	}
	return from + i
}

func skipTerminator(b []byte, end int) int {
	if end < len(b) && b[end] == '\r' && end+1 < len(b) && b[end+1] == '\n' {
		return end + 2
	}
	return end + 1
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func segmentID(b []byte) bool {
	if !(b[0] >= 'A' && b[0] <= 'Z') {
		return false
	}
	for _, c := range b[1:] {
		if !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// nthBytes returns the i-th (0-based) piece of b split at sep.
func nthBytes(b []byte, sep byte, i int) []byte {
	for ; i > 0; i-- {
		j := bytes.IndexByte(b, sep)
		if j < 0 {
			return nil
		}
		b = b[j+1:]
	}
	if j := bytes.IndexByte(b, sep); j >= 0 {
		return b[:j]
	}
	return b
}
