package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"testing"

	"github.com/relais-health/relais/fhir/search"
)

// TestDateSearchAgreesWithRanges: every date comparator, on values of
// every precision (instants to years, and open or closed periods), finds
// exactly the resources one of whose values the comparator accepts.
func TestDateSearchAgreesWithRanges(t *testing.T) {
	s := openTest(t)
	rng := rand.New(rand.NewPCG(4, 2))
	stamp := func() string {
		y, mo, d := 2020+rng.IntN(3), 1+rng.IntN(12), 1+rng.IntN(28)
		h, mi, sec, us := rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000000)
		switch rng.IntN(6) {
		case 0:
			return fmt.Sprintf("%d", y)
		case 1:
			return fmt.Sprintf("%d-%02d", y, mo)
		case 2:
			return fmt.Sprintf("%d-%02d-%02d", y, mo, d)
		case 3:
			return fmt.Sprintf("%d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, sec)
		case 4:
			return fmt.Sprintf("%d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, us/1000)
		}
		return fmt.Sprintf("%d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, mo, d, h, mi, sec, us)
	}
	values := map[string][]search.Value{}
	for i := range 300 {
		id := fmt.Sprintf("o%d", i)
		var effective string
		switch rng.IntN(3) {
		case 0:
			effective = `"effectiveDateTime":"` + stamp() + `"`
		case 1:
			effective = `"effectiveInstant":"` + stamp()[:4] + `-01-01T00:00:00.` + fmt.Sprintf("%06d", rng.IntN(1000000)) + `Z"`
		default:
			a, b := stamp(), stamp()
			switch {
			case rng.IntN(3) == 0:
				effective = `"effectivePeriod":{"start":"` + a + `"}`
			case a < b:
				effective = `"effectivePeriod":{"start":"` + a + `","end":"` + b + `"}`
			default:
				effective = `"effectivePeriod":{"end":"` + b + `"}`
			}
		}
		res := decode(t, `{"resourceType":"Observation","id":"`+id+`","status":"final","code":{"text":"x"},`+effective+`}`)
		rec, _, err := s.Update(context.Background(), res, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range search.Extract(decode(t, string(rec.JSON))) {
			if v.Param == "date" {
				values[id] = append(values[id], v)
			}
		}
	}
	found := 0
	for range 400 {
		raw := []string{"eq", "lt", "le", "gt", "ge", "sa", "eb"}[rng.IntN(7)] + stamp()
		q, err := search.Parse("Observation", url.Values{"date": {raw}}, true)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		c := q.Clauses[0].Conds[0]
		var want []string
		for id, vs := range values {
			if slices.ContainsFunc(vs, func(v search.Value) bool { return c.Matches(v.Start, v.End) }) {
				want = append(want, id)
			}
		}
		hits, err := s.Search(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.ID)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("date=%s: %d hits, want %d\ngot  %v\nwant %v", raw, len(got), len(want), got, want)
		}
		found += len(got)
	}
	if found < 400*30 {
		t.Errorf("%d hits in all: the queries hardly match anything", found)
	}
}
