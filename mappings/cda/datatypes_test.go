package cda

import (
	"fmt"
	"strings"
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

// TestHumanNameParts: a birth name (BR) and a used name (SP, a spouse's)
// are an official and a usual name, not one family "BÉNARD CŒURDEROY"; a
// spouse's family name alone is the name (C-CDA's examples).
func TestHumanNameParts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ xml, want string }{
		{`<name><given>Anne</given><family qualifier="BR">BÉNARD</family><family qualifier="SP">CŒURDEROY</family></name>`,
			"OFFICIAL BÉNARD [Anne]; USUAL CŒURDEROY [Anne]"},
		{`<name use="L"><given>Eve</given><family qualifier="SP">Betterhalf</family></name>`, "OFFICIAL Betterhalf [Eve]"},
		{`<name><given qualifier="BR">JEAN PAUL</given><given qualifier="CL">Paul</given><family qualifier="BR">MARTIN</family></name>`,
			"OFFICIAL MARTIN [JEAN PAUL]; USUAL  [Paul]"},
	} {
		tr, err := parseXML([]byte(`<r xmlns="urn:hl7-org:v3">` + c.xml + `</r>`))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range humanName(el{tr, 0}.child("name")) {
			var given []string
			for _, g := range n.GetGiven() {
				given = append(given, g.GetValue())
			}
			got = append(got, fmt.Sprintf("%v %s %v", n.GetUse().GetValue(), n.GetFamily().GetValue(), given))
		}
		if s := strings.Join(got, "; "); s != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.xml, s, c.want)
		}
	}
}
