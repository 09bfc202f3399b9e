package consent

import (
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
)

// TestNamesActor: a Consent names its would-be author when an actor is
// her or what she acts for, or a role or Group she falls under, at any
// depth; an actor naming someone else, or a role she does not hold, does
// not.
func TestNamesActor(t *testing.T) {
	refs := []string{"PractitionerRole/officer", "Organization/chu"}
	roles := []string{RoleSystem + "|" + RoleConsentAdministrator}
	actor := func(ref, roleSystem, role string) string {
		a := `{"role":{"coding":[{"system":"` + roleSystem + `","code":"` + role + `"}]}`
		if ref != "" {
			a += `,"reference":{"reference":"` + ref + `"}`
		}
		return a + `}`
	}
	const ircp = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	for _, c := range []struct {
		name, provision string
		want            bool
	}{
		{"her role", `{"actor":[` + actor("PractitionerRole/officer", ircp, "IRCP") + `]}`, true},
		{"her organisation, nested", `{"type":"deny","actor":[` + actor("PractitionerRole/gp", ircp, "IRCP") + `],"provision":[{"type":"permit","actor":[` + actor("Organization/chu", ircp, "IRCP") + `]}]}`, true},
		{"a Group by her role", `{"actor":[` + actor("Group/anyone", RoleSystem, RoleConsentAdministrator) + `]}`, true},
		{"a Group by no role", `{"actor":[` + actor("Group/anyone", ircp, "IRCP") + `]}`, true},
		{"someone else", `{"actor":[` + actor("PractitionerRole/physio", ircp, "IRCP") + `]}`, false},
		{"a role she does not hold", `{"actor":[` + actor("Group/social-workers", "https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial", "SW") + `]}`, false},
	} {
		m, err := testCodec.Decode([]byte(`{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"provision":` + c.provision + `}`))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := NamesActor(m.(*cpb.Consent), refs, roles); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
