package fhirjson

import (
	"encoding/base64"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxStringSize is FHIR's 1 MB limit on strings, which fhirvalidate enforces.
const maxStringSize = 1024 * 1024

// primValue is a parsed primitive value, before it goes into a message.
type primValue struct {
	s    string                  // string types, decimals
	b    []byte                  // base64Binary
	n    int64                   // boolean (0, 1), integers, value_us of times
	tz   string                  // time zone of Date, DateTime, Instant
	enum protoreflect.EnumNumber // precision of times, value of enum codes
}

// readPrimitive reads the JSON value of a primitive, with the checks of
// jsonformat's parsePrimitiveType and fhirvalidate's validatePrimitives.
func (p *parser) readPrimitive(mi *msgInfo) (primValue, error) {
	var v primValue
	switch mi.prim {
	case pBool:
		switch {
		case p.literal("true"):
			v.n = 1
		case p.literal("false"):
		default:
			return v, declined("not a boolean")
		}
		return v, p.endValue()
	case pInt, pPositiveInt, pUnsignedInt, pDecimal:
		return p.numeric(mi)
	case pUnsupported:
		return v, declined("unsupported primitive")
	}
	s, escaped, err := p.str()
	if err != nil {
		return v, err
	}
	if s == "" {
		return v, declined("empty string")
	}
	if len(s) > maxStringSize {
		return v, declined("string too long")
	}
	v.s = s
	switch mi.prim {
	case pString:
		if escaped && hasControl(s) {
			return v, declined("control character") // jsonpbhelper.ValidateString
		}
	case pText, pStringCode:
	case pURI:
		if !validURI(s) {
			return v, declined("invalid URI")
		}
	case pCode:
		if !validCode(s) {
			return v, declined("invalid code")
		}
	case pID:
		if !validID(s) {
			return v, declined("invalid id")
		}
	case pRegex:
		if !mi.regex.MatchString(s) {
			return v, declined("invalid oid or uuid")
		}
	case pEnumCode:
		n, ok := enumNumber(mi, s)
		if !ok {
			return v, declined("unknown code")
		}
		v.enum = n
	case pBase64:
		v.b, err = base64Value(s, escaped)
	case pDate, pDateTime, pInstant:
		err = dateTimeValue(&v, mi, s)
	case pTime:
		err = timeValue(&v, mi, s)
	}
	return v, err
}

// newPrimitive returns a new primitive message holding v: a concrete
// datatypes message where there is one (no reflection), else through
// protoreflect.
func (mi *msgInfo) newPrimitive(v primValue) protoreflect.Message {
	if mi.ctor != nil {
		return mi.ctor(v)
	}
	m := mi.typ.New()
	mi.setPrimitive(m, v)
	return m
}

// setPrimitive writes v into m, which may already hold an id or extensions
// from "_x".
func (mi *msgInfo) setPrimitive(m protoreflect.Message, v primValue) {
	switch mi.prim {
	case pBool:
		m.Set(mi.value, protoreflect.ValueOfBool(v.n != 0))
	case pInt:
		m.Set(mi.value, protoreflect.ValueOfInt32(int32(v.n)))
	case pPositiveInt, pUnsignedInt:
		m.Set(mi.value, protoreflect.ValueOfUint32(uint32(v.n)))
	case pBase64:
		m.Set(mi.value, protoreflect.ValueOfBytes(v.b))
	case pEnumCode:
		m.Set(mi.value, protoreflect.ValueOfEnum(v.enum))
	case pDate, pDateTime, pInstant, pTime:
		m.Set(mi.valueUs, protoreflect.ValueOfInt64(v.n))
		if mi.tz != nil {
			m.Set(mi.tz, protoreflect.ValueOfString(v.tz))
		}
		m.Set(mi.prec, protoreflect.ValueOfEnum(v.enum))
	default:
		m.Set(mi.value, protoreflect.ValueOfString(v.s))
	}
}

// primitiveCtor returns a constructor of the concrete R4 datatypes message
// for a primitive type, or nil.
func primitiveCtor(name protoreflect.FullName) func(primValue) protoreflect.Message {
	switch name {
	case "google.fhir.r4.core.String":
		return func(v primValue) protoreflect.Message { return (&dtpb.String{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Code":
		return func(v primValue) protoreflect.Message { return (&dtpb.Code{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Id":
		return func(v primValue) protoreflect.Message { return (&dtpb.Id{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Uri":
		return func(v primValue) protoreflect.Message { return (&dtpb.Uri{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Url":
		return func(v primValue) protoreflect.Message { return (&dtpb.Url{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Canonical":
		return func(v primValue) protoreflect.Message { return (&dtpb.Canonical{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Markdown":
		return func(v primValue) protoreflect.Message { return (&dtpb.Markdown{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Xhtml":
		return func(v primValue) protoreflect.Message { return (&dtpb.Xhtml{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Decimal":
		return func(v primValue) protoreflect.Message { return (&dtpb.Decimal{Value: v.s}).ProtoReflect() }
	case "google.fhir.r4.core.Boolean":
		return func(v primValue) protoreflect.Message { return (&dtpb.Boolean{Value: v.n != 0}).ProtoReflect() }
	case "google.fhir.r4.core.Integer":
		return func(v primValue) protoreflect.Message { return (&dtpb.Integer{Value: int32(v.n)}).ProtoReflect() }
	case "google.fhir.r4.core.PositiveInt":
		return func(v primValue) protoreflect.Message { return (&dtpb.PositiveInt{Value: uint32(v.n)}).ProtoReflect() }
	case "google.fhir.r4.core.UnsignedInt":
		return func(v primValue) protoreflect.Message { return (&dtpb.UnsignedInt{Value: uint32(v.n)}).ProtoReflect() }
	case "google.fhir.r4.core.Date":
		return func(v primValue) protoreflect.Message {
			return (&dtpb.Date{ValueUs: v.n, Timezone: v.tz, Precision: dtpb.Date_Precision(v.enum)}).ProtoReflect()
		}
	case "google.fhir.r4.core.DateTime":
		return func(v primValue) protoreflect.Message {
			return (&dtpb.DateTime{ValueUs: v.n, Timezone: v.tz, Precision: dtpb.DateTime_Precision(v.enum)}).ProtoReflect()
		}
	case "google.fhir.r4.core.Instant":
		return func(v primValue) protoreflect.Message {
			return (&dtpb.Instant{ValueUs: v.n, Timezone: v.tz, Precision: dtpb.Instant_Precision(v.enum)}).ProtoReflect()
		}
	}
	return nil
}

// endValue checks that a literal is not glued to what follows ("truex").
func (p *parser) endValue() error {
	switch p.peek() {
	case ',', '}', ']', ' ', '\t', '\n', '\r', 0:
		return nil
	}
	return declined("bad literal")
}

// numeric reads integers and decimals. jsonformat keeps a decimal's text;
// integers must be plain (no sign on positives, no fraction or exponent)
// and within FHIR's ranges.
func (p *parser) numeric(mi *msgInfo) (primValue, error) {
	var v primValue
	c := p.peek()
	if c != '-' && (c < '0' || c > '9') {
		return v, declined("not a number")
	}
	s, err := p.number()
	if err != nil {
		return v, err
	}
	if err := p.endValue(); err != nil {
		return v, err
	}
	if mi.prim == pDecimal {
		// json-iterator rejects numbers beyond float64's range (1e309),
		// though FHIR's decimal grammar and jsonformat keep the text.
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return v, declined("decimal out of float64 range")
		}
		v.s = s
		return v, nil
	}
	if len(s) > 11 || (len(s) > 1 && s[0] == '0') || s == "-0" {
		return v, declined("integer form")
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-') {
			return v, declined("integer form")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return v, declined("integer form")
	}
	lo := int64(math.MinInt32)
	switch mi.prim {
	case pPositiveInt:
		lo = 1
	case pUnsignedInt:
		lo = 0
	}
	if n < lo || n > math.MaxInt32 {
		return v, declined("integer out of range")
	}
	v.n = n
	return v, nil
}

// hasControl reports the characters jsonpbhelper.ValidateString rejects:
// C0 controls other than tab, line feed and carriage return.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// validURI is fhirvalidate's check: url.Parse succeeds. Two common forms
// are known to parse without calling it: "urn:" without '%' or control
// bytes (an opaque URL), and "http(s)://" with a host of letters, digits,
// dots and hyphens (no port, no user) and a path, query and fragment of
// plain printable ASCII without '%'.
func validURI(s string) bool {
	if plainURI(s) {
		return true
	}
	_, err := url.Parse(s)
	return err == nil
}

func plainURI(s string) bool {
	var rest string
	switch {
	case strings.HasPrefix(s, "urn:"):
		for i := 4; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c >= 0x7f || c == '%' {
				return false
			}
		}
		return true
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
	default:
		return false
	}
	i := 0
	for ; i < len(rest); i++ {
		c := rest[i]
		if c == '/' || c == '?' || c == '#' {
			break
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	for ; i < len(rest); i++ {
		c := rest[i]
		if c < 0x21 || c >= 0x7f || c == '%' || c == '@' || c == '[' || c == ']' {
			return false
		}
	}
	return true
}

// validCode is the Code value_regex [^\s]+(\s[^\s]+)*, where \s is
// [\t\n\f\r ]: no white space at either end, none doubled.
func validCode(s string) bool {
	prevSpace := true // no space at the start
	for i := 0; i < len(s); i++ {
		sp := isRegexSpace(s[i])
		if sp && prevSpace {
			return false
		}
		prevSpace = sp
	}
	return !prevSpace
}

func isRegexSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// validID is the Id value_regex [A-Za-z0-9\-\.]{1,64}.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// enumNumber maps a code to its enum value as jsonpbhelper.UnmarshalCode
// does: upper-cased with '-' as '_', an enum name other than the zero
// value; else a value whose fhir_original_code is the code. Non-ASCII
// codes are declined (strings.ToUpper's Unicode rules are not mirrored).
func enumNumber(mi *msgInfo, s string) (protoreflect.EnumNumber, bool) {
	var buf [64]byte
	if len(s) > len(buf) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return 0, false
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		buf[i] = c
	}
	if n, ok := mi.enumNames[string(buf[:len(s)])]; ok {
		return n, true
	}
	n, ok := mi.enumCodes[s]
	return n, ok
}

// base64Value mirrors parseBinary: the raw string text, standard base64.
// Texts with spaces (kept by jsonformat as a separator/stride extension)
// or escapes are declined.
func base64Value(s string, escaped bool) ([]byte, error) {
	if escaped {
		return nil, declined("base64 with escapes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return nil, declined("base64 character")
		}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, declined("invalid base64")
	}
	return b, nil
}

// dateTimeValue reads Date, DateTime and Instant as jsonformat's
// parseDateFromStr, parseDateTimeFromStr and parseInstant do. The forms:
// YYYY, YYYY-MM and YYYY-MM-DD (not Instant) at midnight UTC, the time
// zone for values without one; YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm) (not
// Date), whose zone is kept as "Z" for Z and as ±hh:mm otherwise ("-00:00"
// reads as "+00:00"), with precision SECOND, MILLISECOND for 1–3 fraction
// digits and MICROSECOND beyond.
func dateTimeValue(v *primValue, mi *msgInfo, s string) error {
	year, month, day, rest, prec, ok := parseDate(s, mi)
	if !ok {
		return declined("invalid date")
	}
	if rest == "" {
		if mi.prim == pInstant || prec < 0 {
			return declined("instant without time")
		}
		t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		v.n, v.tz, v.enum = t.Unix()*1e6, "UTC", prec
		return nil
	}
	if mi.prim == pDate || rest[0] != 'T' {
		return declined("invalid date")
	}
	secs, nanos, ndig, zone, ok := parseClock(rest[1:])
	if !ok || zone == "" {
		return declined("invalid time")
	}
	offset, tz, ok := parseZone(zone)
	if !ok {
		return declined("invalid zone")
	}
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	unix := t.Unix() + int64(secs) - int64(offset)
	prec = mi.precSec
	switch {
	case ndig > 3:
		prec = mi.precMicro
	case ndig > 0:
		prec = mi.precMill
	}
	if prec < 0 {
		return declined("precision")
	}
	// jsonpbhelper.GetTimestampUsec drops the fraction of times whose Unix
	// seconds would overflow in nanoseconds (before 1678).
	us := unix * 1e6
	if unix > math.MinInt64/int64(time.Second) {
		us += int64(nanos / 1000)
	}
	v.n, v.tz, v.enum = us, tz, prec
	return nil
}

// parseDate reads the date part: a four-digit year (not 0000, declined for
// simplicity), then optionally -MM and -DD, with a real calendar day. rest
// is what follows the day.
func parseDate(s string, mi *msgInfo) (year, month, day int, rest string, prec protoreflect.EnumNumber, ok bool) {
	if len(s) < 4 {
		return
	}
	year, ok = atoiN(s[:4])
	if !ok || year == 0 {
		return 0, 0, 0, "", 0, false
	}
	month, day, prec = 1, 1, mi.precYear
	if len(s) == 4 {
		return year, month, day, "", prec, true
	}
	if len(s) < 7 || s[4] != '-' {
		return 0, 0, 0, "", 0, false
	}
	month, ok = atoiN(s[5:7])
	if !ok || month < 1 || month > 12 {
		return 0, 0, 0, "", 0, false
	}
	if len(s) == 7 {
		return year, month, day, "", mi.precMonth, true
	}
	if len(s) < 10 || s[7] != '-' {
		return 0, 0, 0, "", 0, false
	}
	day, ok = atoiN(s[8:10])
	if !ok || day < 1 || day > daysIn(year, month) {
		return 0, 0, 0, "", 0, false
	}
	return year, month, day, s[10:], mi.precDay, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseClock reads hh:mm:ss[.f] (f of 1 to 9 digits) and returns the
// seconds since midnight, the fraction in nanoseconds, its digit count and
// the text after it.
func parseClock(s string) (secs, nanos, ndig int, rest string, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, "", false
	}
	h, ok1 := atoiN(s[0:2])
	mi, ok2 := atoiN(s[3:5])
	sec, ok3 := atoiN(s[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return 0, 0, 0, "", false
	}
	s = s[8:]
	if len(s) > 0 && s[0] == '.' {
		i := 1
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		ndig = i - 1
		if ndig == 0 || ndig > 9 {
			return 0, 0, 0, "", false
		}
		nanos, _ = atoiN(s[1:i])
		for k := ndig; k < 9; k++ {
			nanos *= 10
		}
		s = s[i:]
	}
	return h*3600 + mi*60 + sec, nanos, ndig, s, true
}

// parseZone reads Z or ±hh:mm within the FHIR range (00:00 to 13:59, 14:00).
func parseZone(z string) (offset int, tz string, ok bool) {
	if z == "Z" {
		return 0, "Z", true // jsonpbhelper.UTC
	}
	if len(z) != 6 || (z[0] != '+' && z[0] != '-') || z[3] != ':' {
		return 0, "", false
	}
	h, ok1 := atoiN(z[1:3])
	m, ok2 := atoiN(z[4:6])
	if !ok1 || !ok2 || m > 59 || h > 14 || (h == 14 && m != 0) {
		return 0, "", false
	}
	offset = h*3600 + m*60
	if z[0] == '-' {
		offset = -offset
	}
	if offset == 0 {
		return 0, "+00:00", true
	}
	return offset, z, true
}

// timeValue reads a time of day hh:mm:ss[.f] as jsonpbhelper.ParseTime does.
func timeValue(v *primValue, mi *msgInfo, s string) error {
	secs, nanos, ndig, rest, ok := parseClock(s)
	if !ok || rest != "" {
		return declined("invalid time")
	}
	prec := mi.precSec
	switch {
	case ndig > 3:
		prec = mi.precMicro
	case ndig > 0:
		prec = mi.precMill
	}
	if prec < 0 {
		return declined("precision")
	}
	v.n, v.enum = int64(secs)*1e6+int64(nanos/1000), prec
	return nil
}

// atoiN parses a short run of ASCII digits.
func atoiN(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
