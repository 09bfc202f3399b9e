package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
)

// BenchmarkAuditSearch100k searches the audit log over HTTP with a system
// token, as an auditor does, on a log grown to 100,000 entries (reads by
// 50 roles about 500 patients): each patient has 200 entries, each role
// 2,000; a page is the newest 20 matches. Every case is index-driven.
func BenchmarkAuditSearch100k(b *testing.B) {
	e := newEnv(b, 0)
	at := time.Now().Add(-100000 * time.Second)
	for from := 0; from < 100000; from += 5000 {
		events := make([]audit.Event, 0, 5000)
		for i := from; i < from+5000; i++ {
			d := audit.Decision{ID: fmt.Sprint("d", i), Time: at.Add(time.Duration(i) * time.Second), Patient: fmt.Sprintf("Patient/p%d", i%500),
				Actor: fmt.Sprintf("PractitionerRole/r%d", i%50), Permit: true, Policy: "care-team", Purpose: "TREAT", Token: fmt.Sprint("jti-", i)}
			events = append(events, audit.ReadEvent(&d, audit.SubRead, "Observation/o1"))
		}
		if err := e.store.AppendAudit(context.Background(), events...); err != nil {
			b.Fatal(err)
		}
	}
	// Move the appended entries from the journal into bbolt, untimed.
	if r := e.do("GET", "/fhir/AuditEvent?_count=1", ""); r.status != 200 {
		b.Fatalf("%d %s", r.status, r.body)
	}
	for _, c := range []struct{ name, query string }{
		{"patient", "patient=Patient/p7&_count=20"},
		// the same through the index ranges of six agent types
		{"agent-id", "agent=r7&_count=20"},
		{"patient-or-date", "patient=p7,p8&date=ge" + at.Add(50000*time.Second).UTC().Format(time.RFC3339) + "&_count=20"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if r := e.do("GET", "/fhir/AuditEvent?"+c.query, ""); r.status != 200 {
					b.Fatalf("%d %s", r.status, r.body)
				}
			}
		})
	}
}
