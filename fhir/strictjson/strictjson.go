// Package strictjson refuses JSON that encoding/json and jsonformat would
// accept but silently alter: duplicate object keys (the last one wins) and
// lone UTF-16 surrogate escapes (read as U+FFFD), as well as strings that
// are not valid UTF-8. RFC 8259 §4 says the names in an object SHOULD be
// unique and FHIR R4 JSON (json.html) forbids repeating a property; RFC
// 8259 §7 and §8.1 require escapes to denote Unicode characters and the
// text to be UTF-8.
//
// Check reads the input once, left to right, without building any value,
// so it can run before every parse of a request body. Object keys are
// compared after unescaping ("a" and "\u0061" are the same key, RFC 8259
// §8.3).
//
// # Caveats
//
// Errors name the element path of the problem (key names and array
// indices, which are structure) but never a value. Key names come from the
// caller's input: they go in the issues only, never in the summary that is
// logged.
package strictjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relais-health/relais/fhir/outcome"
)

// maxDepth bounds nesting (objects and arrays together) so hostile input
// cannot exhaust the stack. It is far above what the codec accepts (64
// element-path steps, each at most an object and an array), so Check
// refuses nothing for its depth that the codec would accept.
const maxDepth = 256

// smallObject is the number of keys up to which duplicates are found by a
// linear search; larger objects (rare in FHIR) get a map.
const smallObject = 16

// shortString is the length up to which a string is scanned word by word
// before the vector search takes over.
const shortString = 64

// For tests on eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Path limits in error texts.
const (
	maxKeyLen  = 64
	maxPathLen = 256
)

// reason classifies a refusal; each has a static, PHI-free summary.
type reason int

const (
	rNone reason = iota
	rSyntax
	rDuplicate
	rSurrogate
	rUTF8
	rDepth
)

var summaries = [...]string{
	rSyntax:    "invalid JSON",
	rDuplicate: "duplicate key in a JSON object",
	rSurrogate: "lone UTF-16 surrogate escape in a JSON string",
	rUTF8:      "invalid UTF-8 in a JSON string",
	rDepth:     "JSON nested too deeply",
}

// Check validates b as one JSON value (RFC 8259) with unique keys in every
// object, no lone surrogate escapes and valid UTF-8 in every string. A
// refusal is an *outcome.Error of kind Invalid whose issue gives the
// element path (for example Observation.code) and the byte offset.
func Check(b []byte) error {
	_, err := check(b)
	if err != nil {
		return err
	}
	return nil
}

// check is Check with the reason, for tests.
func check(b []byte) (reason, *outcome.Error) {
	s := scanner{b: b, frames: make([]frame, 0, 16), keys: make([]span, 0, 64)}
	s.ws()
	if s.i == len(b) {
		s.fail(rSyntax, "empty input")
	} else if s.value(0) {
		s.ws()
		if s.i != len(b) {
			s.fail(rSyntax, "data after the JSON value")
		}
	}
	return s.reason, s.err
}

// scanner is a cursor over the input. Its frames (one per open object or
// array) exist for the error path and the key sets; keys holds the keys of
// the open small objects, innermost last. Frames and keys hold offsets,
// not slices, so that the garbage collector has nothing to scan or guard
// in them.
type scanner struct {
	b []byte
	i int

	frames    []frame
	keys      []span
	unescaped []byte                // keys that had escapes, unescaped
	sets      []map[string]struct{} // key sets of the open large objects
	rootType  []byte                // the root object's resourceType, once seen

	reason reason
	err    *outcome.Error
}

// span locates a key in the input, or in scanner.unescaped if esc.
type span struct {
	start, end int
	esc        bool
}

type frame struct {
	array   bool
	index   int  // array: the element being read
	hasKey  bool // object: key is set
	key     span // object: the key whose value is being read
	keyBase int  // object: its first key in scanner.keys
	set     int  // object past smallObject keys: 1 + its index in scanner.sets
}

func (s *scanner) text(k span) []byte {
	if k.esc {
		return s.unescaped[k.start:k.end]
	}
	return s.b[k.start:k.end]
}

// ws skips white space (RFC 8259 §2).
func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) {
		switch b[i] {
		case ' ':
			// Indentation comes in runs of spaces.
			if i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:]) == 0x2020202020202020 {
				i += 8
			} else {
				i++
			}
		case '\n', '\r', '\t':
			i++
		default:
			s.i = i
			return
		}
	}
	s.i = i
}

// value reads one value at s.i; it reports false after a failure.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return s.fail(rSyntax, "unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth + 1)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return s.fail(rSyntax, "unexpected character")
}

func (s *scanner) object(depth int) bool {
	if depth > maxDepth {
		return s.fail(rDepth, "nesting deeper than "+strconv.Itoa(maxDepth))
	}
	s.i++ // '{'
	f := len(s.frames)
	s.frames = append(s.frames, frame{keyBase: len(s.keys)})
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		s.pop(f)
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.fail(rSyntax, "expected a key")
		}
		if !s.key(f) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.fail(rSyntax, "expected ':'")
		}
		s.i++
		s.ws()
		start := s.i
		if !s.value(depth) {
			return false
		}
		if f == 0 && s.b[start] == '"' && string(s.text(s.frames[0].key)) == "resourceType" {
			s.rootType = s.b[start+1 : s.i-1]
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail(rSyntax, "unexpected end of input")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			s.pop(f)
			return true
		default:
			return s.fail(rSyntax, "expected ',' or '}'")
		}
	}
}

// key reads a key and adds it to frame f's set, refusing a duplicate.
func (s *scanner) key(f int) bool {
	s.frames[f].hasKey = false // an error in the key is at the object
	start := s.i
	escaped, ok := s.str()
	if !ok {
		return false
	}
	k := span{start: start + 1, end: s.i - 1}
	if escaped {
		var u string
		if err := json.Unmarshal(s.b[start:s.i], &u); err != nil {
			// str has validated the string, so this cannot happen.
			return s.fail(rSyntax, "invalid key")
		}
		k = span{start: len(s.unescaped), end: len(s.unescaped) + len(u), esc: true}
		s.unescaped = append(s.unescaped, u...)
	}
	text := s.text(k)
	fr := &s.frames[f]
	if fr.set != 0 {
		set := s.sets[fr.set-1]
		if _, dup := set[string(text)]; dup {
			return s.duplicate(f, text)
		}
		set[string(text)] = struct{}{}
		fr.key, fr.hasKey = k, true
		return true
	}
	for _, prev := range s.keys[fr.keyBase:] {
		if prev.end-prev.start == len(text) && string(s.text(prev)) == string(text) {
			return s.duplicate(f, text)
		}
	}
	s.keys = append(s.keys, k)
	fr.key, fr.hasKey = k, true
	if n := len(s.keys) - fr.keyBase; n > smallObject {
		s.toSet(fr)
	}
	return true
}

// toSet moves the keys of the object of fr into a map, reusing one left by
// an earlier large object at the same place in the stack of sets.
func (s *scanner) toSet(fr *frame) {
	var set map[string]struct{}
	if n := len(s.sets); n < cap(s.sets) && s.sets[:n+1][n] != nil {
		set = s.sets[:n+1][n]
		clear(set)
	} else {
		set = make(map[string]struct{}, 4*smallObject)
	}
	for _, k := range s.keys[fr.keyBase:] {
		set[string(s.text(k))] = struct{}{}
	}
	s.sets = append(s.sets, set)
	fr.set = len(s.sets)
	s.keys = s.keys[:fr.keyBase]
}

func (s *scanner) pop(f int) {
	fr := &s.frames[f]
	s.keys = s.keys[:fr.keyBase]
	if fr.set != 0 {
		s.sets = s.sets[:fr.set-1]
	}
	s.frames = s.frames[:f]
}

func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		return s.fail(rDepth, "nesting deeper than "+strconv.Itoa(maxDepth))
	}
	s.i++ // '['
	f := len(s.frames)
	s.frames = append(s.frames, frame{array: true, keyBase: len(s.keys)})
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		s.pop(f)
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.fail(rSyntax, "unexpected end of input")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
			s.frames[f].index++
		case ']':
			s.i++
			s.pop(f)
			return true
		default:
			return s.fail(rSyntax, "expected ',' or ']'")
		}
	}
}

// str reads the string at s.i (its opening quote) and leaves s.i after the
// closing quote. It reports whether the string has escapes.
//
// FHIR documents are mostly string content (a narrative div alone may be
// most of a Bundle), so the string scan is what keeps Check cheap next to
// a parse: the next quote and backslash are found with bytes.IndexByte
// (vector instructions), and the run between is checked sixteen bytes at
// a time. Each position is remembered until passed, so a string with many
// escapes is still read in linear time.
func (s *scanner) str() (escaped, ok bool) {
	b := s.b
	i := s.i + 1
	// Most strings are short (keys, codes, ids, references), and are
	// ended sooner by testing each word of eight bytes for a quote, a
	// backslash, a control character or a non-ASCII byte (the classic
	// SWAR tests: a zero byte after an XOR, a byte below 0x20, the high
	// bit) than by the vector search, which pays off on long strings.
	for n := min(len(b), i+shortString); i < n; i++ {
		if i+8 <= n {
			x := binary.LittleEndian.Uint64(b[i:])
			q, bs := x^(ones*'"'), x^(ones*'\\')
			if ((q-ones)&^q|(bs-ones)&^bs|(x-ones*0x20)|x)&highs == 0 {
				i += 7
				continue
			}
		}
		c := b[i]
		if c == '"' {
			s.i = i + 1
			return false, true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
	}
	quote, bslash := -1, -1 // next '"' and '\\' at or after i; len(b) if none
	for {
		if quote < i {
			quote = len(b)
			if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
				quote = i + q
			}
			bslash = -1
		}
		if bslash < i {
			bslash = quote // no backslash before the quote
			if k := bytes.IndexByte(b[i:quote], '\\'); k >= 0 {
				bslash = i + k
			}
		}
		end := min(quote, bslash)
		if j, r := run(b[:end], i); r != rNone {
			s.i = j
			if r == rUTF8 {
				return false, s.fail(r, "invalid UTF-8")
			}
			return false, s.fail(r, "control character in a string")
		}
		i = end
		switch {
		case i >= len(b):
			s.i = i
			return false, s.fail(rSyntax, "unterminated string")
		case i == quote:
			s.i = i + 1
			return escaped, true
		}
		n, r := escape(b[i:])
		if r != rNone {
			s.i = i
			return false, s.fail(r, "invalid escape")
		}
		escaped = true
		i += n
	}
}

// run checks that b[i:] holds no control character (RFC 8259 §7: they
// must be escaped) and is valid UTF-8 (§8.1); on failure it returns the
// offending position. Sixteen bytes with none below 0x20 or above 0x7f
// are skipped at once (a borrow may flag a byte after a true
// match, never before one).
func run(b []byte, i int) (int, reason) {
	for i < len(b) {
		if i+16 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			y := binary.LittleEndian.Uint64(b[i+8:])
			if ((x-ones*0x20)|x|(y-ones*0x20)|y)&highs == 0 {
				i += 16
				continue
			}
		}
		switch c := b[i]; {
		case c < 0x20:
			return i, rSyntax
		case c < 0x80:
			i++
		default:
			// DecodeRune refuses overlong forms and UTF-8-encoded
			// surrogates, as RFC 3629 §3 requires.
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return i, rUTF8
			}
			i += n
		}
	}
	return i, rNone
}

// escape reads the escape at the start of e (a backslash) and returns its
// length. A \u escape of a high surrogate must be followed by one of a low
// surrogate, and a low surrogate must follow a high one (RFC 8259 §7).
func escape(e []byte) (int, reason) {
	if len(e) < 2 {
		return 0, rSyntax
	}
	switch e[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, rNone
	case 'u':
	default:
		return 0, rSyntax
	}
	r, valid := hex4(e[2:])
	switch {
	case !valid:
		return 0, rSyntax
	case r < 0xD800 || r > 0xDFFF:
		return 6, rNone
	case r >= 0xDC00:
		return 0, rSurrogate // low surrogate first
	}
	if len(e) < 12 || e[6] != '\\' || e[7] != 'u' {
		return 0, rSurrogate
	}
	lo, valid := hex4(e[8:])
	if !valid {
		return 0, rSyntax
	}
	if lo < 0xDC00 || lo > 0xDFFF {
		return 0, rSurrogate
	}
	return 12, rNone
}

func hex4(h []byte) (rune, bool) {
	if len(h) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range h[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number as RFC 8259 §6 defines it: no leading zeros, no
// leading '+', digits on both sides of a decimal point.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		s.i = i
		return s.fail(rSyntax, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			s.i = j
			return s.fail(rSyntax, "invalid number")
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			s.i = j
			return s.fail(rSyntax, "invalid number")
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail(rSyntax, "invalid literal")
	}
	s.i += len(lit)
	return true
}

// duplicate refuses key k, repeated in the object of frame f.
func (s *scanner) duplicate(f int, k []byte) bool {
	s.frames = s.frames[:f]
	at := s.path()
	text := "duplicate key " + quoteKey(k) + " in a JSON object"
	if at != "" {
		text += " at " + at
	}
	s.reason = rDuplicate
	s.err = outcome.New(outcome.Invalid, summaries[rDuplicate],
		outcome.Issue{Severity: outcome.SevError, Path: at, Text: text})
	return false
}

// fail records the first failure, at s.i, and returns false.
func (s *scanner) fail(r reason, detail string) bool {
	if s.err != nil {
		return false
	}
	at := s.path()
	text := summaries[r] + " (" + detail + ") at offset " + strconv.Itoa(s.i)
	if at != "" {
		text += ", in " + at
	}
	s.reason = r
	s.err = outcome.New(outcome.Invalid, summaries[r],
		outcome.Issue{Severity: outcome.SevError, Path: at, Text: text})
	return false
}

// path is the element path of the open frames, FHIRPath style
// (Bundle.entry[0].resource.code): key names and indices, never values.
// The root object's resourceType starts it when it has been read and is a
// plain name.
func (s *scanner) path() string {
	var p strings.Builder
	if isName(s.rootType) {
		p.Write(s.rootType)
	}
	for _, fr := range s.frames {
		if p.Len() > maxPathLen {
			p.WriteString("...")
			break
		}
		switch {
		case fr.array:
			p.WriteString("[" + strconv.Itoa(fr.index) + "]")
		case fr.hasKey:
			if p.Len() > 0 {
				p.WriteByte('.')
			}
			if k := s.text(fr.key); isName(k) {
				p.Write(k)
			} else {
				p.WriteString(quoteKey(k))
			}
		}
	}
	return p.String()
}

// isName reports whether k is a FHIR element or type name: ASCII letters,
// digits and '_' (as in "_given"), not too long.
func isName(k []byte) bool {
	if len(k) == 0 || len(k) > maxKeyLen {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// quoteKey quotes a key name for an error text, cut to maxKeyLen bytes.
func quoteKey(k []byte) string {
	if len(k) > maxKeyLen {
		k = k[:maxKeyLen]
		for len(k) > 0 && !utf8.Valid(k) {
			k = k[:len(k)-1]
		}
		return strconv.Quote(string(k)) + "..."
	}
	return strconv.Quote(string(k))
}
