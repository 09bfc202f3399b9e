package directory

import (
	"math"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// ExtOpenTaskCapacity is the project's extension on PractitionerRole and
// HealthcareService stating how many open routing Tasks (owned by it, in
// status requested, received, accepted, ready or in-progress, as the
// store counts them: store.Snapshot.OpenTasks) it takes at once. Its
// value is an unsignedInt: 0 is allowed and means it takes none for now,
// without leaving the directory (active false) or stating hours
// (notAvailable). A positiveInt is read the same, for a writer that
// thought 0 meaningless. Absent, or with another value type, it is no
// constraint. With several, the smallest holds.
const ExtOpenTaskCapacity = "https://relais-health.github.io/fhir/StructureDefinition/open-task-capacity"

// noCapacity is an entry's capacity when it states none.
const noCapacity = -1

// capacityOf returns the capacity the extensions state, or noCapacity.
func capacityOf(exts []*dtpb.Extension) int64 {
	c := int64(noCapacity)
	for _, e := range exts {
		if e.GetUrl().GetValue() != ExtOpenTaskCapacity {
			continue
		}
		var n int64
		switch v := e.GetValue().GetChoice().(type) {
		case *dtpb.Extension_ValueX_UnsignedInt:
			n = int64(v.UnsignedInt.GetValue())
		case *dtpb.Extension_ValueX_PositiveInt:
			n = int64(v.PositiveInt.GetValue())
		default:
			continue
		}
		n = min(n, math.MaxInt32) // beyond, as good as none; keeps byLoad's products in range
		if c == noCapacity || n < c {
			c = n
		}
	}
	return c
}
