package mllp_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// TestCancelledDischargeOverMLLP: the corpus discharge of a patient living
// in Lille, sent over MLLP to a store routing follows, is routed; the same
// stay's A13 (cancel discharge), sent after, cancels every Task of the
// plan with the reason discharge-cancelled, in the transaction that writes
// it.
func TestCancelledDischargeOverMLLP(t *testing.T) {
	t.Parallel()
	m := loadCorpusMessage(t, corpusA03)
	livesInLille(t, m)
	e := newEnv(t, envOptions{})
	followWithPlanner(t, e.store)
	c := e.dialN(1)[0]
	a03 := m.message(1)
	if err := c.deliver(a03, m.controlID(1)); err != nil {
		t.Fatal(err)
	}
	e.ingest.Sync()
	tasks := taskStatuses(t, e.store)
	if len(tasks) == 0 {
		t.Fatal("the discharge was not routed")
	}
	for id, s := range tasks {
		if s != "requested" && s != "on-hold" {
			t.Fatalf("Task/%s %s after the discharge", id, s)
		}
	}
	// The A13: the same stay, a later event, another control ID.
	a13 := bytes.Replace(a03, []byte("|ADT^A03^ADT_A03|"), []byte("|ADT^A13^ADT_A01|"), 1)
	a13 = bytes.Replace(a13, []byte("|"+m.controlID(1)+"|"), []byte("|"+m.controlID(1)+"-A13|"), 1)
	a13 = bytes.Replace(a13, []byte("|198908181126+0215|"), []byte("|198908191126+0215|"), 1)
	a13 = bytes.Replace(a13, []byte("EVN|A01|20290801070624+0115|"), []byte("EVN|A13|20290802070624+0115|"), 1)
	if !bytes.Contains(a13, []byte("ADT^A13")) || !bytes.Contains(a13, []byte("EVN|A13|2029080207")) {
		t.Fatal("the A13 was not made")
	}
	if err := c.deliver(a13, m.controlID(1)+"-A13"); err != nil {
		t.Fatal(err)
	}
	e.ingest.Sync()
	for id, s := range taskStatuses(t, e.store) {
		if s != "cancelled discharge-cancelled" {
			t.Errorf("Task/%s %s after the A13", id, s)
		}
	}
}

// taskStatuses maps each routing Task to its status and status reason code.
func taskStatuses(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(r *store.Snapshot) error {
		hits, err := r.Search(&search.Query{Type: "Task"}, nil)
		if err != nil {
			return err
		}
		for _, h := range hits {
			if !strings.HasPrefix(h.ID, "route-") {
				continue
			}
			rec, err := r.Read("Task", h.ID)
			if err != nil {
				return err
			}
			var v struct {
				Status       string
				StatusReason struct{ Coding []struct{ Code string } }
			}
			if err := json.Unmarshal(rec.JSON, &v); err != nil {
				return err
			}
			out[h.ID] = v.Status
			if len(v.StatusReason.Coding) > 0 {
				out[h.ID] += " " + v.StatusReason.Coding[0].Code
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
