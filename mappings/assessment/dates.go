package assessment

import (
	"fmt"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// parseDate reads a YYYY-MM-DD date. Dates carry no zone; they are held at
// UTC midnight so that they print back unchanged on every machine.
func parseDate(s string) (*dtpb.Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return nil, fmt.Errorf("not a date: %w", err)
	}
	return &dtpb.Date{ValueUs: t.UnixMicro(), Timezone: "UTC", Precision: dtpb.Date_DAY}, nil
}

// parseDateTime reads a date (day precision) or an RFC 3339 date-time.
func parseDateTime(s string) (*dtpb.DateTime, error) {
	if d, err := parseDate(s); err == nil {
		return &dtpb.DateTime{ValueUs: d.ValueUs, Timezone: d.Timezone, Precision: dtpb.DateTime_DAY}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("not a date or date-time: %w", err)
	}
	prec := dtpb.DateTime_SECOND
	if t.Nanosecond() != 0 {
		prec = dtpb.DateTime_MICROSECOND
	}
	return &dtpb.DateTime{ValueUs: t.UnixMicro(), Timezone: zoneOf(t), Precision: prec}, nil
}

// zoneOf renders t's offset as google/fhir expects it: "Z" or "+01:00".
func zoneOf(t time.Time) string {
	_, off := t.Zone()
	if off == 0 {
		return "Z"
	}
	return t.Format("-07:00")
}

// dateString renders a DateTime back to the date or date-time it came from,
// for ids: the same assessment date always gives the same id.
func dateString(d *dtpb.DateTime) string {
	t := time.UnixMicro(d.GetValueUs()).UTC()
	if d.GetPrecision() == dtpb.DateTime_DAY && d.GetTimezone() == "UTC" {
		return t.Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339Nano)
}
