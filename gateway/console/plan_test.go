package console

import (
	"testing"

	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/codec"
)

// TestTaskFlags: what the plan flags, read from Tasks as routing writes
// them (README, "Pathways").
func TestTaskFlags(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	task := func(extra string) *tpb.Task {
		m, err := c.Decode([]byte(`{"resourceType":"Task","id":"t","intent":"order",` + extra + `}`))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*tpb.Task)
	}
	dir := &directory{by: map[string]party{}}
	tests := []struct {
		name                                        string
		json                                        string
		waiting, noCandidate, timedOut, undelivered bool
		open                                        bool
	}{
		{"waiting for a permit", `"status":"on-hold","statusReason":{"text":"the patient's explicit permit is required"}`, true, false, false, false, true},
		{"no candidate, coded", `"status":"requested","businessStatus":{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/routing-status","code":"no-candidate"}]}`, false, true, false, false, true},
		{"no candidate, text", `"status":"requested","businessStatus":{"text":"no candidate"}`, false, true, false, false, true},
		{"timed out", `"status":"cancelled","statusReason":{"text":"no answer within 24h0m0s"}`, false, false, true, false, false},
		{"undelivered", `"status":"requested","businessStatus":{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/delivery-status","code":"undelivered"}]}`, false, false, false, true, true},
		{"completed", `"status":"completed"`, false, false, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := taskOf(en, task(tc.json), dir)
			if v.Waiting != tc.waiting || v.NoCandidate != tc.noCandidate || v.TimedOut != tc.timedOut || v.Undelivered != tc.undelivered || v.Open != tc.open {
				t.Errorf("got %+v", v)
			}
		})
	}
}
