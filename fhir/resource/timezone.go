package resource

import (
	"strconv"
	"time"
)

// Location resolves a google/fhir date-time Timezone field: "Z", "UTC",
// "+01:00" or an IANA name; empty or unknown zones are UTC.
func Location(tz string) *time.Location {
	switch tz {
	case "", "Z", "UTC":
		return time.UTC
	}
	if len(tz) == 6 && (tz[0] == '+' || tz[0] == '-') && tz[3] == ':' {
		h, err1 := strconv.Atoi(tz[1:3])
		m, err2 := strconv.Atoi(tz[4:6])
		if err1 == nil && err2 == nil {
			off := (h*60 + m) * 60
			if tz[0] == '-' {
				off = -off
			}
			return time.FixedZone(tz, off)
		}
	}
	if l, err := time.LoadLocation(tz); err == nil {
		return l
	}
	return time.UTC
}
