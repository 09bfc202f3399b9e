package consent

import (
	"context"
	"strings"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

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
		if tc.system || tc.reason != "" || tc.patient != "" || tc.res.Type == "" || tc.action == "delete" {
			continue
		}
		n++
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := world()
			var cs []*cpb.Consent
			for _, js := range tc.consents {
				cs = append(cs, parseConsent(t, js))
			}
			m.set("Patient/p1", cs...)
			e := newEngine(t, m, testNow)
			req := Request{Actor: tc.actor, Purpose: tc.purpose, Action: tc.action}
			f := e.NewFilter(context.Background(), req)
			typ, id, _ := strings.Cut(tc.res.Ref, "/")
			got := f.Allow(typ, id, factIndex{tc.res})
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
