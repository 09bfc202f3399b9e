package resource

import (
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

func TestLocation(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	for tz, want := range map[string]int{"": 0, "Z": 0, "UTC": 0, "+01:00": 3600, "-05:30": -19800,
		"+ab:cd": 0, "Nowhere/Else": 0} {
		if _, off := at.In(Location(tz)).Zone(); off != want {
			t.Errorf("Location(%q): offset %d, want %d", tz, off, want)
		}
	}
}

func TestDateTimeEnd(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("+01:00", 3600)
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, paris).UnixMicro()
	for _, c := range []struct {
		prec dtpb.DateTime_Precision
		want time.Time
	}{
		{dtpb.DateTime_YEAR, time.Date(2026, 3, 1, 0, 0, 0, 0, paris).AddDate(1, 0, 0)},
		{dtpb.DateTime_MONTH, time.Date(2026, 4, 1, 0, 0, 0, 0, paris)},
		{dtpb.DateTime_DAY, time.Date(2026, 3, 2, 0, 0, 0, 0, paris)},
		{dtpb.DateTime_SECOND, time.Date(2026, 3, 1, 0, 0, 1, 0, paris)},
		{dtpb.DateTime_MICROSECOND, time.Date(2026, 3, 1, 0, 0, 0, 1000, paris)},
	} {
		if got := DateTimeEnd(&dtpb.DateTime{ValueUs: at, Timezone: "+01:00", Precision: c.prec}); got != c.want.UnixMicro() {
			t.Errorf("%v: %v, want %v", c.prec, time.UnixMicro(got).In(paris), c.want)
		}
	}
}
