package delivery

import (
	"net/url"
	"testing"
)

// TestCriteriaRefuseChains: a criteria with a chained parameter is
// refused: criteria are matched against the written resource alone
// (search.Query.Match), which cannot follow a chain, so that such a
// Subscription would never be notified.
func TestCriteriaRefuseChains(t *testing.T) {
	t.Parallel()
	for _, v := range []url.Values{
		{"patient.identifier": {"urn:oid:1.2.250.1.213.1.4.10|248039912345678"}},
		{"subject:Patient._id": {"p1"}},
	} {
		if err := (&subscription{typ: "Observation"}).plan(v); err == nil {
			t.Errorf("criteria %v accepted", v)
		}
	}
	if err := (&subscription{typ: "Observation"}).plan(url.Values{"patient": {"p1"}}); err != nil {
		t.Errorf("criteria patient=p1: %v", err)
	}
}

// TestCriteriaRefuseViews: _summary and _elements in a criteria are
// refused, as the other result parameters are: a notification carries
// what its payload content says, so that a view asked for would be left
// unapplied.
func TestCriteriaRefuseViews(t *testing.T) {
	t.Parallel()
	for _, v := range []url.Values{
		{"patient": {"p1"}, "_summary": {"true"}},
		{"patient": {"p1"}, "_elements": {"status"}},
	} {
		if err := (&subscription{typ: "Observation"}).plan(v); err == nil {
			t.Errorf("criteria %v accepted", v)
		}
	}
}
