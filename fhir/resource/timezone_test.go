package resource

import (
	"testing"
	"time"
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
