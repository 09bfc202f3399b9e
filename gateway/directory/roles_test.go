package directory

import (
	"slices"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
)

func TestRolesOf(t *testing.T) {
	t.Parallel()
	const g15 = `"system":"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"`
	const r38 = `"system":"https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"`
	const r85 = `"system":"https://mos.esante.gouv.fr/NOS/TRE_R85-RolePriseCharge/FHIR/TRE-R85-RolePriseCharge"`
	const r94 = `"system":"https://mos.esante.gouv.fr/NOS/TRE_R94-ProfessionSocial/FHIR/TRE-R94-ProfessionSocial"`
	tests := []struct {
		name, json string
		want       []Role
	}{
		{"gp", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"10"}]}],"specialty":[{"coding":[{` + r38 + `,"code":"SM54"}]}]}`, []Role{GP}},
		{"qualified gp", `{"resourceType":"PractitionerRole","specialty":[{"coding":[{` + r38 + `,"code":"SM26"}]}]}`, []Role{GP}},
		{"physician alone is no gp", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"10"}]}]}`, nil},
		{"nurse", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"60"}]}]}`, []Role{Nurse}},
		{"pharmacist", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"21"}]}]}`, []Role{Pharmacist}},
		{"midwife", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"50"}]}]}`, []Role{Midwife}},
		{"physio", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"70"}]}]}`, []Role{Physiotherapist}},
		{"speech", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + g15 + `,"code":"91"}]}]}`, []Role{SpeechTherapist}},
		{"cardiologist", `{"resourceType":"PractitionerRole","specialty":[{"coding":[{` + r38 + `,"code":"SM04"}]}]}`, []Role{Cardiologist}},
		{"pulmonologist", `{"resourceType":"PractitionerRole","specialty":[{"coding":[{` + r38 + `,"code":"SM41"}]}]}`, []Role{Pulmonologist}},
		{"neurologist", `{"resourceType":"PractitionerRole","specialty":[{"coding":[{` + r38 + `,"code":"SM32"}]}]}`, []Role{Neurologist}},
		{"geriatrician", `{"resourceType":"PractitionerRole","specialty":[{"coding":[{` + r38 + `,"code":"SM18"}]}]}`, []Role{Geriatrician}},
		{"case manager", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + r85 + `,"code":"309"}]}]}`, []Role{CaseManager}},
		{"apa team service", `{"resourceType":"HealthcareService","type":[{"coding":[{` + r85 + `,"code":"310"}]}]}`, []Role{APATeam}},
		{"social worker", `{"resourceType":"PractitionerRole","code":[{"coding":[{` + r94 + `,"code":"41"}]}]}`, []Role{SocialWorker}},
		{"home help service", `{"resourceType":"HealthcareService","type":[{"coding":[{` + r85 + `,"code":"372"}]}]}`, []Role{HomeHelp}},
		{"two roles, sorted", `{"resourceType":"HealthcareService","type":[{"coding":[{` + r85 + `,"code":"372"},{` + g15 + `,"code":"60"}]}]}`, []Role{HomeHelp, Nurse}},
		{"wrong system", `{"resourceType":"PractitionerRole","code":[{"coding":[{"system":"urn:other","code":"60"}]}]}`, nil},
		{"not a directory role type", `{"resourceType":"Organization","name":"x"}`, nil},
	}
	c := codec.MustNew()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := c.Decode([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := RolesOf(m); !slices.Equal(got, tt.want) {
				t.Errorf("RolesOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// Every role of the pathways has at least one code.
func TestRoleCodesCoverEveryRole(t *testing.T) {
	t.Parallel()
	have := map[Role]bool{}
	for _, rc := range RoleCodes {
		if rc.System == "" || rc.Code == "" || rc.Display == "" {
			t.Errorf("incomplete row %+v", rc)
		}
		have[rc.Role] = true
	}
	for _, r := range []Role{GP, Pharmacist, Midwife, Nurse, Physiotherapist, SpeechTherapist, Cardiologist,
		Pulmonologist, Neurologist, RehabPhysician, Geriatrician, Paediatrician, CaseManager, APATeam, SocialWorker, HomeHelp} {
		if !have[r] {
			t.Errorf("role %s has no code", r)
		}
	}
}
