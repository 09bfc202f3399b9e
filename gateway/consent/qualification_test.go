package consent

import (
	"testing"

	"github.com/relais-health/relais/mappings/terminology"
)

// TestClassifyByQualification: a PractitionerRole coded as the Annuaire
// Santé codes it (TRE_R21 fonction, TRE_R22 genre d'activité: no
// profession) is classified by its Practitioner's qualifications
// (AsPractitionerProfile, exercicePro: TRE_G15); a role whose own codes
// state a profession, a social role or a Relais role is classified by
// them alone.
func TestClassifyByQualification(t *testing.T) {
	t.Parallel()
	const (
		fonction = "https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction|FON-AU"
		genre    = "https://mos.esante.gouv.fr/NOS/TRE_R22-GenreActivite/FHIR/TRE-R22-GenreActivite|GENR01"
		nurse    = terminology.TREG15 + "|60"
		social   = terminology.TRER94 + "|41"
	)
	p := FrenchLaw()
	for _, c := range []struct {
		name         string
		roles, quals []string
		policy       string
		health       bool
	}{
		{"annuaire nurse", []string{fonction, genre}, []string{nurse}, PolicyOutsideTeam, true},
		{"annuaire nurse, profession by OID", []string{fonction}, []string{"urn:oid:1.2.250.1.71.1.2.7|60"}, PolicyOutsideTeam, true},
		{"annuaire social worker", []string{fonction}, []string{social}, PolicyNonHealth, false},
		{"no qualification", []string{fonction}, nil, PolicyUnclassified, false},
		{"own profession first", []string{nurse}, []string{social}, PolicyOutsideTeam, true},
		{"own social role first", []string{terminology.TRER85 + "|330"}, []string{nurse}, PolicyNonHealth, false},
		{"a discharge coordinator stays one", []string{RoleSystem + "|" + RoleDischargeCoordinator}, []string{nurse}, PolicyUnclassified, false},
		{"own profession as its FHIR file", []string{terminology.TREG15 + "/TRE_G15-ProfessionSante-FHIR.json|60"}, nil, PolicyOutsideTeam, true},
	} {
		a := &Actor{Known: true, Active: true, Roles: c.roles, Qualifications: c.quals}
		if st := p.classify(a, false); st.policy != c.policy || st.health != c.health {
			t.Errorf("%s: %+v, want %s (health %v)", c.name, st, c.policy, c.health)
		}
	}
}
