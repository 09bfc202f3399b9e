package routing_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
)

// BenchmarkRouteStay plans and writes the routing of distinct
// heart-failure stays (6 actions: a CarePlan, 6 ServiceRequests, 6 Tasks,
// each recipient chosen and consent decided), one after another as the
// router does, in world's store, each of another patient living in Lille
// whose GP is world's: a stay of the same patient would make each
// decision read the Tasks of all the stays before it (her care circle), as
// no patient has thousands. Its cpu-µs/stay compares with the
// cpu-µs/msg of ingesting the realistic A03 (gateway/mllp
// BenchmarkMLLPGrowth): routing must add at most a fifth of it.
func BenchmarkRouteStay(b *testing.B) {
	pl, st := world(b)
	ctx := context.Background()
	var entries []store.TxEntry
	for i := 0; i < b.N; i++ {
		for _, js := range []string{
			fmt.Sprintf(`{"resourceType":"Patient","id":"bp%d","birthDate":"1942-03-15","address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}],"generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`, i),
			fmt.Sprintf(`{"resourceType":"Encounter","id":"b%d","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/bp%d"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-03-05T10:00:00Z"}}`, i, i),
			fmt.Sprintf(`{"resourceType":"Condition","id":"bc%d","subject":{"reference":"Patient/bp%d"},"encounter":{"reference":"Encounter/b%d"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I50.9"}]}}`, i, i, i),
		} {
			m, err := testCodec.Decode([]byte(js))
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
		}
	}
	if _, err := st.Transaction(ctx, entries); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := fhirtest.CPUTime()
	for i := 0; i < b.N; i++ {
		plan, err := pl.Plan(ctx, fmt.Sprintf("b%d", i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pl.Write(ctx, plan); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((fhirtest.CPUTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/stay")
}
