package resource

import (
	"strconv"
	"sync"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
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

// DateTimeEnd is the end (exclusive, in microseconds) of the range a
// dateTime denotes at its precision, in its own zone: "2016-01-01" ends at
// midnight the next day, "2016" at the next new year (R4 datatypes.html
// #dateTime: a value is the whole period its precision names).
func DateTimeEnd(d *dtpb.DateTime) int64 {
	t := time.UnixMicro(d.GetValueUs()).In(Location(d.GetTimezone()))
	switch d.GetPrecision() {
	case dtpb.DateTime_YEAR:
		t = t.AddDate(1, 0, 0)
	case dtpb.DateTime_MONTH:
		t = t.AddDate(0, 1, 0)
	case dtpb.DateTime_DAY:
		t = t.AddDate(0, 0, 1)
	case dtpb.DateTime_SECOND:
		t = t.Add(time.Second)
	case dtpb.DateTime_MILLISECOND:
		t = t.Add(time.Millisecond)
	default:
		t = t.Add(time.Microsecond)
	}
	return t.UnixMicro()
}
