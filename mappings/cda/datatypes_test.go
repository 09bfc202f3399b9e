package cda

import (
	"fmt"
	"testing"
	"time"
)

// TestTimestampZones reads a timestamp at every offset a TS can carry and
// checks the instant and the FHIR zone name, which come from a table for
// quarter-hour offsets.
func TestTimestampZones(t *testing.T) {
	t.Parallel()
	for _, sign := range []string{"+", "-"} {
		for h := 0; h <= 14; h++ {
			for m := 0; m <= 59; m++ {
				zone := fmt.Sprintf("%s%02d%02d", sign, h, m)
				v, ok := parseTS("20200102030405"+zone, time.UTC)
				if !ok {
					t.Fatalf("%s: not read", zone)
				}
				off := (h*3600 + m*60) * map[string]int{"+": 1, "-": -1}[sign]
				want := time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("", off))
				if !v.t.Equal(want) {
					t.Errorf("%s: %v, want %v", zone, v.t, want)
				}
				name := zone[:3] + ":" + zone[3:]
				if off == 0 {
					name = "Z"
				}
				if got := v.tz(); got != name {
					t.Errorf("%s: zone %q, want %q", zone, got, name)
				}
				if d := v.date(); d.ValueUs != time.Date(2020, 1, 2, 0, 0, 0, 0, time.UTC).UnixMicro() {
					t.Errorf("%s: date %d", zone, d.ValueUs)
				}
			}
		}
	}
}
