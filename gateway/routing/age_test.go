package routing

import (
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/mappings/terminology"
)

// TestAgeAt: a year is counted on the birthday, whether or not a leap
// year lies between, in the zone the birth date is written in.
func TestAgeAt(t *testing.T) {
	date := func(s, zone string) *dtpb.Date {
		loc, _ := time.LoadLocation(zone)
		d, _ := time.ParseInLocation("2006-01-02", s, loc)
		return &dtpb.Date{ValueUs: d.UnixMicro(), Timezone: zone, Precision: dtpb.Date_DAY}
	}
	at := func(s string) time.Time { d, _ := time.Parse(time.RFC3339, s); return d }
	for _, c := range []struct {
		born, zone, at string
		want           int
	}{
		{"1948-12-05", "UTC", "2023-12-05T10:00:00Z", 75}, // born in a leap year, on the birthday
		{"1948-12-05", "UTC", "2023-12-04T10:00:00Z", 74},
		{"1951-12-05", "UTC", "2026-12-05T10:00:00Z", 75},
		{"1950-03-01", "UTC", "2024-02-29T10:00:00Z", 73}, // a leap day before the birthday
		{"1952-02-29", "UTC", "2027-02-28T10:00:00Z", 74},
		{"1952-02-29", "UTC", "2027-03-01T10:00:00Z", 75},
		{"1951-12-05", "Europe/Paris", "2026-12-04T23:30:00Z", 75}, // already the 5th in Paris
		{"1951-12-07", "UTC", "2026-12-07T00:30:00+01:00", 75},     // the 7th where she was discharged
		{"1951-12-07", "UTC", "2026-12-06T23:30:00-04:00", 74},     // still the 6th in Guadeloupe
	} {
		if got := ageAt(date(c.born, c.zone), at(c.at)); got != c.want {
			t.Errorf("born %s (%s), at %s: %d, want %d", c.born, c.zone, c.at, got, c.want)
		}
	}
}

// TestDeliveryAndProcedures: a delivery is ICD-10 O80–O84 or Z37, or a
// delivery procedure in CCAM, ICD-10-PCS or SNOMED CT; a CCAM or
// ICD-10-PCS criterion matches the codes it begins, named by URI or OID.
func TestDeliveryAndProcedures(t *testing.T) {
	const ccamOID = "urn:oid:1.2.250.1.213.2.5"
	for _, c := range []struct {
		codes, procs []string
		want         bool
	}{
		{[]string{"O80"}, nil, true},
		{[]string{"O82.0"}, nil, true},
		{[]string{"O84.1"}, nil, true},
		{[]string{"Z37.0"}, nil, true},
		{[]string{"O85"}, nil, false},   // puerperal sepsis
		{[]string{"O88.2"}, nil, false}, // obstetric embolism
		{[]string{"O60"}, nil, false},
		{nil, []string{terminology.Canonical(ccamOID) + "|JQGD010"}, true},
		{nil, []string{terminology.ICD10PCS + "|10D00Z1"}, true},
		{nil, []string{terminology.SNOMED + "|11466000"}, true},
		{nil, []string{terminology.CCAM + "|NEKA020"}, false},
	} {
		if got := delivered(&stay{codes: c.codes, procedures: c.procs}); got != c.want {
			t.Errorf("codes %v, procedures %v: delivered %v, want %v", c.codes, c.procs, got, c.want)
		}
	}
	for _, c := range []struct {
		proc, system, code string
		want               bool
	}{
		{terminology.Canonical(ccamOID) + "|NEKA020", terminology.CCAM, "NEKA", true},
		{terminology.ICD10PCS + "|0SR9019", terminology.ICD10PCS, "0SR9", true},
		{terminology.ICD10PCS + "|0SRB019", terminology.ICD10PCS, "0SR9", false},
		{terminology.SNOMED + "|52734007", terminology.SNOMED, "52734007", true},
		{terminology.SNOMED + "|527340071", terminology.SNOMED, "52734007", false}, // a concept, not a prefix
		{terminology.CCAM + "|NEKA020", terminology.ICD10PCS, "NEKA", false},
	} {
		if got := procedureIs(c.proc, c.system, c.code); got != c.want {
			t.Errorf("%s against %s|%s: %v, want %v", c.proc, c.system, c.code, got, c.want)
		}
	}
}
