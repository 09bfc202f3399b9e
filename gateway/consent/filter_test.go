package consent

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/category"
)

// factIndex serves ResourceFacts of Patient/p1 as store index values.
type factIndex struct{ f ResourceFacts }

func (x factIndex) Tokens(param string) []string {
	switch param {
	case "_security":
		var out []string
		for _, c := range x.f.Categories {
			out = append(out, category.System+"|"+string(c))
		}
		for _, l := range x.f.Labels {
			out = append(out, l.System+"|"+l.Code)
		}
		return out
	case "code":
		return x.f.Codes
	}
	return nil
}

func (x factIndex) Refs(param string) []string {
	if param == "patient" {
		return []string{"Patient/p1"}
	}
	return x.f.Related
}

func (x factIndex) Dates(string) [][2]int64 {
	if x.f.Date.IsZero() {
		return nil
	}
	us := x.f.Date.UnixMicro()
	return [][2]int64{{us, us + 1}}
}

// TestFilterAgreesWithDecide runs every case of the decision table through
// the search filter (specialized rule trees, facts from index values) and
// requires the same answer as Decide.
func TestFilterAgreesWithDecide(t *testing.T) {
	t.Parallel()
	n := 0
	for _, tc := range decideCases() {
		if !tc.filterable() {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.engine(t)
			req := Request{Actor: tc.actor, Purpose: tc.purpose, Action: tc.action}
			f := e.NewFilter(context.Background(), req)
			typ, id, _ := strings.Cut(tc.res.Ref, "/")
			got := f.Allow(nil, typ, id, factIndex{tc.res})
			if f.Err() != nil {
				t.Fatal(f.Err())
			}
			if got != tc.want {
				t.Errorf("filter allows %v, Decide permits %v", got, tc.want)
			}
		})
	}
	if n < 60 {
		t.Errorf("only %d cases compared", n)
	}
}

// TestFilterReuseAgreesWithDecide passes many resources through one filter
// per case, twice, so that the per-request verdict cache and the reused
// fact buffers are hit, and requires Decide's answer for every one.
func TestFilterReuseAgreesWithDecide(t *testing.T) {
	t.Parallel()
	all := []ResourceFacts{obs, obs2, oldObs, undated, result, order, task, theirs, theirOrder, med, para, pat, gir, social, qr, odd, psy, hiv, restr, normal}
	for _, tc := range decideCases() {
		if !tc.filterable() {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := tc.engine(t)
			req := Request{Actor: tc.actor, Purpose: tc.purpose, Action: tc.action}
			f := e.NewFilter(context.Background(), req)
			res := append(append(append([]ResourceFacts{}, all...), tc.res), all...)
			for _, r := range append(res, tc.res) {
				if r.Ref == "" {
					continue
				}
				typ, id, _ := strings.Cut(r.Ref, "/")
				got := f.Allow(nil, typ, id, factIndex{r})
				if f.Err() != nil {
					t.Fatal(f.Err())
				}
				dr := req
				dr.Patient, dr.Resource = "Patient/p1", r
				d, err := e.Decide(context.Background(), dr)
				if err != nil {
					t.Fatal(err)
				}
				if got != d.Permit {
					t.Errorf("%s: filter allows %v, Decide permits %v", r.Ref, got, d.Permit)
				}
			}
		})
	}
}
