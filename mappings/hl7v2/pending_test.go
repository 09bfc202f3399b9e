package hl7v2

import (
	"testing"

	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
)

// expectedDischarge returns the Encounter's expected-discharge value, "" if
// it has none.
func expectedDischarge(e *encpb.Encounter) string {
	for _, x := range e.GetExtension() {
		if x.GetUrl().GetValue() == ExpectedDischargeURL {
			return x.GetValue().GetDateTime().String()
		}
	}
	return ""
}

// TestPendingDischarge: the A16 of a stay updates the A01's Encounter,
// still in progress, with PV2-9 as its expected discharge; the A25 that
// cancels it gives the same Encounter without one.
func TestPendingDischarge(t *testing.T) {
	t.Parallel()
	admit := convert(t, "testdata/pam-fr-a01.hl7", testOptions())
	pending := convert(t, "testdata/pam-fr-a16.hl7", testOptions())
	cancel := convert(t, "testdata/pam-fr-a25.hl7", testOptions())
	if pending.Header.Encounter != admit.Header.Encounter || cancel.Header.Encounter != admit.Header.Encounter {
		t.Fatalf("encounters differ: A01 %s, A16 %s, A25 %s", admit.Header.Encounter, pending.Header.Encounter, cancel.Header.Encounter)
	}
	for _, tc := range []struct {
		name     string
		c        *Converted
		expected bool
	}{{"A01", admit, false}, {"A16", pending, true}, {"A25", cancel, false}} {
		e := one[*encpb.Encounter](t, tc.c)
		if got := e.GetStatus().GetValue().String(); got != "IN_PROGRESS" {
			t.Errorf("%s: status %s, want IN_PROGRESS", tc.name, got)
		}
		if e.GetPeriod().GetEnd() != nil {
			t.Errorf("%s: the stay has an end", tc.name)
		}
		got := expectedDischarge(e)
		if tc.expected && got == "" || !tc.expected && got != "" {
			t.Errorf("%s: expected discharge %q, want one: %v", tc.name, got, tc.expected)
		}
	}
	e := one[*encpb.Encounter](t, pending)
	for _, x := range e.GetExtension() {
		if x.GetUrl().GetValue() != ExpectedDischargeURL {
			continue
		}
		dt := x.GetValue().GetDateTime()
		// PV2-9 = 20240106140000+0100
		if dt.GetValueUs() != 1704546000000000 || dt.GetTimezone() != "+01:00" {
			t.Errorf("expected discharge %v, want 2024-01-06T14:00:00+01:00", dt)
		}
	}
}
