package resource

import (
	"strconv"
	"sync"
	"time"
)

// Location resolves a google/fhir date-time Timezone field: "Z", "UTC",
// "+01:00" or an IANA name; empty or unknown zones are UTC. IANA names are
// read from the host's zone database, else from the one embedded by a
// package that imports time/tzdata.
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
	if l, ok := zones.Load(tz); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	zones.Store(tz, l) // only names the zone database has: a bounded set
	return l
}

// zones are the IANA zones Location loaded, by name: time.LoadLocation
// reads and parses a zone's data at every call.
var zones sync.Map
