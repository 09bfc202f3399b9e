package directory

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCandidatesAvailableInWindow: a candidate is available when some
// time of the action's window falls inside her availableTime and her
// period and outside her notAvailable periods; availableTime hours are
// the local time of the patient's place (Place.Location), overseas too.
func TestCandidatesAvailableInWindow(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	d := New(st, testCodec)
	const g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	dep := func(code string) string {
		return `"extension":[{"url":"` + ExtTerritorialDivision + `","extension":[{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"code":"2"}]}},{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"code":"` + code + `"}]}}]}]`
	}
	nurse := func(id, org, more string) string {
		return `{"resourceType":"PractitionerRole","id":"` + id + `","organization":{"reference":"Organization/` + org + `"},"code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]` + more + `}`
	}
	mornings := `,"availableTime":[{"daysOfWeek":["mon","tue","wed","thu","fri"],"availableStartTime":"08:00:00","availableEndTime":"12:00:00"}]`
	nd := strings.Join([]string{
		`{"resourceType":"Organization","id":"nord",` + dep("59") + `}`,
		`{"resourceType":"Organization","id":"reunion",` + dep("974") + `}`,
		nurse("weekday-mornings", "nord", mornings),
		nurse("away-a-week", "nord", `,"notAvailable":[{"description":"congés","during":{"start":"2026-12-05T00:00:00+01:00","end":"2026-12-12T00:00:00+01:00"}}]`),
		nurse("role-ended", "nord", `,"period":{"start":"2010-01-01T00:00:00+01:00","end":"2025-06-30T00:00:00+02:00"}`),
		nurse("reunion-mornings", "reunion", mornings),
	}, "\n")
	if _, err := Import(context.Background(), st, testCodec, strings.NewReader(nd), nil); err != nil {
		t.Fatal(err)
	}
	c := communes(t)
	lille := c.PlaceOf(patient(t, `{"postalCode":"59000","city":"Lille"}`))
	stDenis := c.PlaceOf(patient(t, `{"postalCode":"97400","city":"Saint-Denis"}`))
	if got := stDenis.Location().String(); got != "Indian/Reunion" {
		t.Fatalf("La Réunion's zone: %s", got)
	}
	if got := lille.Location().String(); got != "Europe/Paris" {
		t.Fatalf("Lille's zone: %s", got)
	}
	at := func(s string, p Place) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.In(p.Location())
	}
	for _, c := range []struct {
		name    string
		q       Query
		want    []string
		skipped map[string]string
	}{
		// Saturday 5 December 2026, 19:00 in Lille: the weekday nurse is
		// kept for a visit within 48 h (Monday morning is in it), the one
		// away all week is not, nor the one whose role ended.
		{"saturday evening, 48 h", Query{Role: Nurse, Place: lille, At: at("2026-12-05T18:00:00Z", lille), Until: at("2026-12-07T18:00:00Z", lille)},
			[]string{"PractitionerRole/weekday-mornings"}, map[string]string{
				"PractitionerRole/away-a-week": "notAvailable throughout the window",
				"PractitionerRole/role-ended":  "outside its period"}},
		// The same visit within 24 h: Sunday has no hours.
		{"saturday evening, 24 h", Query{Role: Nurse, Place: lille, At: at("2026-12-05T18:00:00Z", lille), Until: at("2026-12-06T18:00:00Z", lille)},
			nil, map[string]string{"PractitionerRole/weekday-mornings": "outside its availableTime"}},
		// Within 8 days, the nurse back from her week away is kept.
		{"a week and a day", Query{Role: Nurse, Place: lille, At: at("2026-12-05T18:00:00Z", lille), Until: at("2026-12-13T18:00:00Z", lille)},
			[]string{"PractitionerRole/away-a-week", "PractitionerRole/weekday-mornings"}, nil},
		// Monday 14 December 08:30 in Lille is 07:30 UTC: inside her
		// morning hours, which are Lille's, not UTC's.
		{"at 08:30 in Lille", Query{Role: Nurse, Place: lille, At: at("2026-12-14T07:30:00Z", lille)},
			[]string{"PractitionerRole/away-a-week", "PractitionerRole/weekday-mornings"}, nil},
		{"at 12:30 in Lille", Query{Role: Nurse, Place: lille, At: at("2026-12-14T11:30:00Z", lille)},
			[]string{"PractitionerRole/away-a-week"}, map[string]string{"PractitionerRole/weekday-mornings": "outside its availableTime"}},
		// 10:00 in Saint-Denis de La Réunion is 06:00 UTC.
		{"at 10:00 in La Réunion", Query{Role: Nurse, Place: stDenis, At: at("2026-12-07T06:00:00Z", stDenis)},
			[]string{"PractitionerRole/reunion-mornings"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ex, err := d.Candidates(context.Background(), c.q)
			if err != nil {
				t.Fatal(err)
			}
			var refs []string
			for _, k := range got {
				refs = append(refs, k.Ref)
			}
			if !slices.Equal(refs, c.want) {
				t.Errorf("candidates %v, want %v (%+v)", refs, c.want, ex)
			}
			for ref, why := range c.skipped {
				i := slices.IndexFunc(ex.Skipped, func(r Reason) bool { return r.Ref == ref })
				if i < 0 || !strings.Contains(ex.Skipped[i].Why, why) {
					t.Errorf("%s not skipped for %q: %+v", ref, why, ex.Skipped)
				}
			}
		})
	}
}
