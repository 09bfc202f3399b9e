package consent

import (
	"context"
	"slices"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
)

// TestObjectionIsADeny: a patient's objection (a deny provision that
// decides) and her narrow permit (one that applies but does not pass every
// category asked: CLIN and MED only when she ticks them, DESIGN.md
// "Consent model") both deny a request for more than the permit names,
// with a Consent behind; only the first is an objection, and the second
// says which of the categories asked it leaves out (routing removes a
// candidate she objected to, and asks one she gave a narrow permit).
func TestObjectionIsADeny(t *testing.T) {
	t.Parallel()
	// what a health action asks of a physiotherapist outside the care
	// team (R4 ServiceRequest, the action's data categories)
	asked := ResourceFacts{Type: "ServiceRequest", Categories: []category.Code{category.ADM, category.CLIN, category.MED, category.ORD, category.FUNC}}
	for _, tc := range []struct {
		name      string
		consents  []string
		objection bool
		uncovered []category.Code
	}{
		{name: "objection", consents: []string{c("c1", "OPTOUT", actor(physio))}, objection: true},
		{name: "objection to her clinical data", consents: []string{c("c1", "OPTOUT", actor(physio)+","+catClass("CLIN"))}, objection: true},
		{name: "narrow permit", consents: []string{c("c1", "OPTIN", actor(physio))}, uncovered: []category.Code{category.CLIN, category.MED}},
		{name: "permit with medication", consents: []string{c("c1", "OPTIN", actor(physio)+","+catClass("MED"))}, uncovered: []category.Code{category.CLIN}},
		{name: "narrow permit and an objection", consents: []string{c("c1", "OPTIN", actor(physio)), c("c2", "OPTOUT", actor(physio))}, objection: true},
		{name: "no Consent", consents: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := world()
			var cs []*cpb.Consent
			for _, js := range tc.consents {
				cs = append(cs, parseConsent(t, js))
			}
			m.set("Patient/p1", cs...)
			d, err := newEngine(t, m, testNow).Decide(context.Background(), Request{Patient: "Patient/p1", Actor: physio, Resource: asked})
			if err != nil {
				t.Fatal(err)
			}
			if d.Permit || d.Objection != tc.objection || !slices.Equal(d.Uncovered, tc.uncovered) {
				t.Errorf("permit %v, objection %v, uncovered %v (policy %q, basis %v); want deny, objection %v, uncovered %v",
					d.Permit, d.Objection, d.Uncovered, d.Policy, d.Basis, tc.objection, tc.uncovered)
			}
		})
	}
}
