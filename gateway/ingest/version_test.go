package ingest

import (
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/ingest/ingesttest"
)

// TestLaterVersionOfTheSet: CDA R2 sections 4.2.1.7 and 4.2.1.8: the
// versions of a document share its setId and are numbered by
// versionNumber, a higher one replacing a lower. A hospital whose system
// sends the corrected letter as version 2 of the set without a
// relatedDocument, or version 3 naming a version 2 that never came, has
// replaced version 1 all the same: what only version 1 stated is
// withdrawn. Version 1 arriving after the version that replaces it
// changes nothing; the same version sent again withdraws nothing.
func TestLaterVersionOfTheSet(t *testing.T) {
	t.Parallel()
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	v2 := ingesttest.Liaison("LDL-V2", 2, "20260306100000+0100", "", false, "J44.1")
	v3 := ingesttest.Liaison("LDL-V3", 3, "20260307100000+0100", "LDL-V2", false, "J44.1")
	withdrawn := map[string]string{"I50.0": "/entered-in-error", "J44.1": "active/"}
	for _, c := range []struct {
		name string
		docs [][]byte
		want map[string]string
	}{
		{"version 2 without RPLC", [][]byte{v1, v2}, withdrawn},
		{"version 3 replacing a version 2 never received", [][]byte{v1, v3}, withdrawn},
		{"version 1 after version 2", [][]byte{v2, v1}, withdrawn},
		{"version 1 twice", [][]byte{v1, v1}, map[string]string{"I50.0": "active/"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, st := newTest(t)
			for _, d := range c.docs {
				postCDA(t, in, d)
			}
			got := statuses(t, st, "Condition")
			for code, w := range c.want {
				if got[code] != w {
					t.Errorf("Condition %s is %q, want %q (%v)", code, got[code], w, got)
				}
			}
			docs := statuses(t, st, "DocumentReference")
			for ident, s := range docs {
				if strings.Contains(ident, "LDL-V1") && s != "current " && len(c.want) == 1 {
					t.Errorf("version 1 sent twice is %q", s)
				}
				if strings.Contains(ident, "LDL-V1") && s != "superseded " && len(c.want) == 2 {
					t.Errorf("version 1's DocumentReference is %q, want superseded (%v)", s, docs)
				}
			}
			for id, s := range statuses(t, st, "MedicationRequest") {
				if w := map[bool]string{true: "entered-in-error", false: "completed"}[len(c.want) == 2]; s != w {
					t.Errorf("MedicationRequest/%s only version 1 states is %q, want %q", id, s, w)
				}
			}
		})
	}
}
