package fhirjson

import (
	"encoding/base64"
	"math"
	"net/url"
	"strconv"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxStringSize is FHIR's 1 MB limit on strings, which fhirvalidate enforces.
const maxStringSize = 1024 * 1024

// primitive reads the JSON value of a primitive into m, with the checks of
// jsonformat's parsePrimitiveType and fhirvalidate's validatePrimitives.
func (p *parser) primitive(m protoreflect.Message, mi *msgInfo) error {
	switch mi.prim {
	case pBool:
		switch {
		case p.literal("true"):
			m.Set(mi.value, protoreflect.ValueOfBool(true))
		case p.literal("false"):
			m.Set(mi.value, protoreflect.ValueOfBool(false))
		default:
			return declined("not a boolean")
		}
		return p.endValue()
	case pInt, pPositiveInt, pUnsignedInt, pDecimal:
		return p.numeric(m, mi)
	case pUnsupported:
		return declined("unsupported primitive")
	}
	s, escaped, err := p.str()
	if err != nil {
		return err
	}
	if s == "" {
		return declined("empty string")
	}
	if len(s) > maxStringSize {
		return declined("string too long")
	}
	switch mi.prim {
	case pString:
		if escaped && hasControl(s) {
			return declined("control character") // jsonpbhelper.ValidateString
		}
	case pText, pStringCode:
	case pURI:
		if !validURI(s) {
			return declined("invalid URI")
		}
	case pCode:
		if !validCode(s) {
			return declined("invalid code")
		}
	case pID:
		if !validID(s) {
			return declined("invalid id")
		}
	case pRegex:
		if !mi.regex.MatchString(s) {
			return declined("invalid oid or uuid")
		}
	case pEnumCode:
		n, ok := enumNumber(mi, s)
		if !ok {
			return declined("unknown code")
		}
		m.Set(mi.value, protoreflect.ValueOfEnum(n))
		return nil
	case pBase64:
		return setBase64(m, mi, s, escaped)
	case pDate, pDateTime, pInstant:
		return setDateTime(m, mi, s)
	case pTime:
		return setTime(m, mi, s)
	}
	m.Set(mi.value, protoreflect.ValueOfString(s))
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
func (p *parser) numeric(m protoreflect.Message, mi *msgInfo) error {
	c := p.peek()
	if c != '-' && (c < '0' || c > '9') {
		return declined("not a number")
	}
	s, err := p.number()
	if err != nil {
		return err
	}
	if err := p.endValue(); err != nil {
		return err
	}
	if mi.prim == pDecimal {
		m.Set(mi.value, protoreflect.ValueOfString(s))
		return nil
	}
	if len(s) > 11 || (len(s) > 1 && s[0] == '0') || s == "-0" {
		return declined("integer form")
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-') {
			return declined("integer form")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return declined("integer form")
	}
	switch mi.prim {
	case pInt:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return declined("integer out of range")
		}
		m.Set(mi.value, protoreflect.ValueOfInt32(int32(n)))
	case pPositiveInt, pUnsignedInt:
		lo := int64(0)
		if mi.prim == pPositiveInt {
			lo = 1
		}
		if n < lo || n > math.MaxInt32 {
			return declined("integer out of range")
		}
		m.Set(mi.value, protoreflect.ValueOfUint32(uint32(n)))
	}
	return nil
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

// validURI is fhirvalidate's check: url.Parse succeeds.
func validURI(s string) bool {
	_, err := url.Parse(s)
	return err == nil
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

// setBase64 mirrors parseBinary: the raw string text, standard base64.
// Texts with spaces (kept by jsonformat as a separator/stride extension)
// or escapes are declined.
func setBase64(m protoreflect.Message, mi *msgInfo, s string, escaped bool) error {
	if escaped {
		return declined("base64 with escapes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return declined("base64 character")
		}
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return declined("invalid base64")
	}
	m.Set(mi.value, protoreflect.ValueOfBytes(b))
	return nil
}

// setDateTime reads Date, DateTime and Instant as jsonformat's
// parseDateFromStr, parseDateTimeFromStr and parseInstant do. The forms:
// YYYY, YYYY-MM and YYYY-MM-DD (not Instant) at midnight UTC, the time
// zone for values without one; YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm) (not
// Date), whose zone is kept as "Z" for Z and as ±hh:mm otherwise ("-00:00"
// reads as "+00:00"), with precision SECOND, MILLISECOND for 1–3 fraction
// digits and MICROSECOND beyond.
func setDateTime(m protoreflect.Message, mi *msgInfo, s string) error {
	year, month, day, rest, prec, ok := parseDate(s, mi)
	if !ok {
		return declined("invalid date")
	}
	if rest == "" {
		if mi.prim == pInstant || prec < 0 {
			return declined("instant without time")
		}
		t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		setTimeFields(m, mi, t.Unix()*1e6, "UTC", prec)
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
	setTimeFields(m, mi, unix*1e6+int64(nanos/1000), tz, prec)
	return nil
}

func setTimeFields(m protoreflect.Message, mi *msgInfo, us int64, tz string, prec protoreflect.EnumNumber) {
	m.Set(mi.valueUs, protoreflect.ValueOfInt64(us))
	if mi.tz != nil {
		m.Set(mi.tz, protoreflect.ValueOfString(tz))
	}
	m.Set(mi.prec, protoreflect.ValueOfEnum(prec))
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

// setTime reads a time of day hh:mm:ss[.f] as jsonpbhelper.ParseTime does.
func setTime(m protoreflect.Message, mi *msgInfo, s string) error {
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
	m.Set(mi.valueUs, protoreflect.ValueOfInt64(int64(secs)*1e6+int64(nanos/1000)))
	m.Set(mi.prec, protoreflect.ValueOfEnum(prec))
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
