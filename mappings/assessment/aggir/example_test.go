package aggir_test

import (
	"fmt"

	"github.com/relais-health/relais/mappings/assessment/aggir"
)

func ExampleCompute() {
	// Everything A except transferts B: GIR 5. With transferts C it would be
	// GIR 6, as the law's group H prescribes.
	g := aggir.Grid{aggir.A, aggir.A, aggir.A, aggir.A, aggir.A, aggir.A, aggir.B, aggir.A}
	r, _ := aggir.Compute(g)
	fmt.Println(r.GIR, r.Rank, r.Group)
	// Output: 5 12 H
}
