package routing

import (
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// TestAgeAt: a year is counted on the birthday, whether or not a leap
// year lies between, in the zone the birth date is written in.
func TestAgeAt(t *testing.T) {
	date := func(s, zone string) *dtpb.Date {
		loc, _ := time.LoadLocation(zone)
		d, _ := time.ParseInLocation("2006-01-02", s, loc)
		return &dtpb.Date{ValueUs: d.UnixMicro(), Timezone: zone, Precision: dtpb.Date_DAY}
	}
	at := func(s string) time.Time { d, _ := time.Parse(time.RFC3339, s); return d }
	for _, c := range []struct {
		born, zone, at string
		want           int
	}{
		{"1948-12-05", "UTC", "2023-12-05T10:00:00Z", 75}, // born in a leap year, on the birthday
		{"1948-12-05", "UTC", "2023-12-04T10:00:00Z", 74},
		{"1951-12-05", "UTC", "2026-12-05T10:00:00Z", 75},
		{"1950-03-01", "UTC", "2024-02-29T10:00:00Z", 73}, // a leap day before the birthday
		{"1952-02-29", "UTC", "2027-02-28T10:00:00Z", 74},
		{"1952-02-29", "UTC", "2027-03-01T10:00:00Z", 75},
		{"1951-12-05", "Europe/Paris", "2026-12-04T23:30:00Z", 75}, // already the 5th in Paris
	} {
		if got := ageAt(date(c.born, c.zone), at(c.at)); got != c.want {
			t.Errorf("born %s (%s), at %s: %d, want %d", c.born, c.zone, c.at, got, c.want)
		}
	}
}
