package hl7v2

import (
	"strconv"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// dtm is an HL7 DTM/TS value: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ].
type dtm struct {
	t    time.Time
	prec dtpb.DateTime_Precision
}

// parseDTM reads an HL7 date-time; values without an offset are read in
// zone. ok is false for anything malformed. zones (possibly nil) keeps the
// zones of offsets already met.
func parseDTM(s string, zone *time.Location, zones *zoneCache) (dtm, bool) {
	s = strings.TrimSpace(s)
	body, off, hasOff := splitOffset(s)
	frac := ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		body, frac = body[:i], body[i+1:]
	}
	if !digits(body) || !digits(frac) || len(frac) > 4 {
		return dtm{}, false
	}
	var n [6]int
	n[1], n[2] = 1, 1
	prec := dtpb.DateTime_YEAR
	switch len(body) {
	case 4:
	case 6:
		prec = dtpb.DateTime_MONTH
	case 8:
		prec = dtpb.DateTime_DAY
	case 10, 12, 14:
		prec = dtpb.DateTime_SECOND
	default:
		return dtm{}, false
	}
	n[0], _ = strconv.Atoi(body[:4])
	for i := 1; 4+2*i <= len(body); i++ {
		n[i], _ = strconv.Atoi(body[2+2*i : 4+2*i])
	}
	if frac != "" && len(body) != 14 {
		return dtm{}, false
	}
	loc := zone
	if hasOff {
		loc = zones.fixed(off)
	} else if prec <= dtpb.DateTime_DAY {
		loc = time.UTC // a date is a calendar day wherever it is read
	}
	nsec := 0
	if frac != "" {
		f, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		nsec = f
		prec = dtpb.DateTime_MILLISECOND
		if len(frac) > 3 {
			prec = dtpb.DateTime_MICROSECOND
		}
	}
	t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], nsec, loc)
	if t.Month() != time.Month(n[1]) || t.Day() != n[2] || t.Hour() != n[3] || t.Minute() != n[4] || t.Second() != n[5] {
		return dtm{}, false // 20240231, 2460, ...
	}
	return dtm{t: t, prec: prec}, true
}

// splitOffset separates a trailing +HHMM/-HHMM offset.
func splitOffset(s string) (string, int, bool) {
	i := strings.LastIndexAny(s, "+-")
	if i < 0 || len(s)-i != 5 || !digits(s[i+1:]) {
		return s, 0, false
	}
	h, _ := strconv.Atoi(s[i+1 : i+3])
	m, _ := strconv.Atoi(s[i+3:])
	if h > 14 || m > 59 {
		return s, 0, false
	}
	off := h*3600 + m*60
	if s[i] == '-' {
		off = -off
	}
	return s[:i], off, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// tz renders t's offset the way google/fhir stores it: "Z" or "+hh:mm".
func tz(t time.Time) string {
	_, off := t.Zone()
	if off == 0 {
		return "Z"
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return string(sign) + two(off/3600) + ":" + two(off%3600/60)
}

func two(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// zoneCache keeps the last fixed zone made and the last offset rendered: a
// message's date-times nearly all have the same offset.
type zoneCache struct {
	off   int
	loc   *time.Location
	tzOff int
	tz    string
}

// fixed is time.FixedZone("", off).
func (z *zoneCache) fixed(off int) *time.Location {
	if z == nil {
		return time.FixedZone("", off)
	}
	if z.loc == nil || z.off != off {
		z.off, z.loc = off, time.FixedZone("", off)
	}
	return z.loc
}

// tzOf is tz(t).
func (z *zoneCache) tzOf(t time.Time) string {
	_, off := t.Zone()
	if off == 0 {
		return "Z"
	}
	if z.tz == "" || z.tzOff != off {
		z.tzOff, z.tz = off, tz(t)
	}
	return z.tz
}

func (c *conv) dateTime(d dtm) *dtpb.DateTime {
	p := c.a.dateTimes.new()
	p.ValueUs, p.Timezone, p.Precision = d.t.UnixMicro(), c.zones.tzOf(d.t), d.prec
	return p
}

// date keeps the calendar day only.
func (d dtm) date() *dtpb.Date {
	day := time.Date(d.t.Year(), d.t.Month(), d.t.Day(), 0, 0, 0, 0, time.UTC)
	p := dtpb.Date_DAY
	switch d.prec {
	case dtpb.DateTime_YEAR:
		p = dtpb.Date_YEAR
	case dtpb.DateTime_MONTH:
		p = dtpb.Date_MONTH
	}
	return &dtpb.Date{ValueUs: day.UnixMicro(), Timezone: "Z", Precision: p}
}

// instant needs a time of day; dates are not instants.
func (d dtm) instant() *dtpb.Instant {
	if d.prec <= dtpb.DateTime_DAY {
		return nil
	}
	p := dtpb.Instant_SECOND
	switch d.prec {
	case dtpb.DateTime_MILLISECOND:
		p = dtpb.Instant_MILLISECOND
	case dtpb.DateTime_MICROSECOND:
		p = dtpb.Instant_MICROSECOND
	}
	return &dtpb.Instant{ValueUs: d.t.UnixMicro(), Timezone: tz(d.t), Precision: p}
}
