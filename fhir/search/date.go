package search

import (
	"strings"
	"time"
)

// dateLayouts are the FHIR date and dateTime forms a search value may take,
// each with the length of time its precision denotes.
var dateLayouts = []struct {
	layout string
	span   func(time.Time) time.Time
}{
	{"2006-01-02T15:04:05.999999999Z07:00", nil}, // span from the fraction's digits
	{"2006-01-02T15:04:05.999999999", nil},
	{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"2006-01-02T15:04", func(t time.Time) time.Time { return t.Add(time.Minute) }},
	{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
	{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
}

// ParseDate parses a FHIR search date value into the half-open range it
// denotes, in Unix microseconds. Values without a zone are read as UTC.
func ParseDate(v string) (start, end int64, err error) {
	for _, l := range dateLayouts {
		t, perr := time.Parse(l.layout, v)
		if perr != nil {
			continue
		}
		var e time.Time
		if l.span != nil {
			e = l.span(t)
		} else {
			e = t.Add(fractionSpan(v))
		}
		return t.UnixMicro(), e.UnixMicro(), nil
	}
	return 0, 0, invalid("%q is not a FHIR date", v)
}

// fractionSpan is the precision of a time with seconds: 1s without a
// fraction, else one unit of its last digit (at least 1µs).
func fractionSpan(v string) time.Duration {
	i := strings.IndexByte(v, '.')
	if i < 0 {
		return time.Second
	}
	digits := 0
	for _, r := range v[i+1:] {
		if r < '0' || r > '9' {
			break
		}
		digits++
	}
	d := time.Second
	for ; digits > 0 && d > time.Microsecond; digits-- {
		d /= 10
	}
	return d
}
