package directory

import (
	"slices"
	"strings"
	"testing"

	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

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
			if got := RolesOf(m, nil); !slices.Equal(got, tt.want) {
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

// An Annuaire Santé PractitionerRole (AsPractitionerRoleProfile) codes the
// practitioner's situation (TRE_R21 fonction, TRE_R22 genre d'activité,
// TRE_R23 mode d'exercice); the profession and the specialties are the
// Practitioner's qualifications (AsPractitionerProfile: exercicePro,
// savoirFaire).
func TestRolesOfQualification(t *testing.T) {
	t.Parallel()
	const g15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
	const r38 = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
	const situation = `"code":[{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction","code":"FON-AU"}]},` +
		`{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R22-GenreActivite/FHIR/TRE-R22-GenreActivite","code":"GENR01"}]}]`
	qual := func(codings ...string) string {
		out := `{"resourceType":"Practitioner","qualification":[`
		for i, c := range codings {
			if i > 0 {
				out += ","
			}
			sys, code, _ := strings.Cut(c, "|")
			out += `{"code":{"coding":[{"system":"` + sys + `","code":"` + code + `"}]}}`
		}
		return out + "]}"
	}
	tests := []struct {
		name, role, practitioner string
		want                     []Role
	}{
		{"nurse", `{"resourceType":"PractitionerRole",` + situation + `}`, qual(g15 + "|60"), []Role{Nurse}},
		{"gp", `{"resourceType":"PractitionerRole",` + situation + `}`, qual(g15+"|10", r38+"|SM54"), []Role{GP}},
		{"physician alone is no gp", `{"resourceType":"PractitionerRole",` + situation + `}`, qual(g15 + "|10"), nil},
		{"physiotherapist", `{"resourceType":"PractitionerRole",` + situation + `}`, qual(g15 + "|70"), []Role{Physiotherapist}},
		{"own physician code states no role", `{"resourceType":"PractitionerRole","code":[{"coding":[{"system":"` + g15 + `","code":"10"}]}]}`, qual(g15+"|10", r38+"|SM54"), []Role{GP}},
		{"own code first", `{"resourceType":"PractitionerRole","code":[{"coding":[{"system":"` + g15 + `","code":"60"}]}]}`, qual(g15 + "|70"), []Role{Nurse}},
		{"g15 by oid", `{"resourceType":"PractitionerRole",` + situation + `}`, qual("urn:oid:1.2.250.1.71.1.2.7|60"), []Role{Nurse}},
		{"r38 by oid", `{"resourceType":"PractitionerRole",` + situation + `}`, qual(g15+"|10", "urn:oid:1.2.250.1.213.2.28|SM54"), []Role{GP}},
		{"g15 as its FHIR file", `{"resourceType":"PractitionerRole","code":[{"coding":[{"system":"` + g15 + `/TRE_G15-ProfessionSante-FHIR.json","code":"60"}]}]}`, "", []Role{Nurse}},
		{"no practitioner", `{"resourceType":"PractitionerRole",` + situation + `}`, "", nil},
		{"a service reads no practitioner", `{"resourceType":"HealthcareService","type":[{"coding":[{"system":"urn:other","code":"x"}]}]}`, qual(g15 + "|60"), nil},
	}
	c := codec.MustNew()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := c.Decode([]byte(tt.role))
			if err != nil {
				t.Fatal(err)
			}
			var pr *prpb.Practitioner
			if tt.practitioner != "" {
				p, err := c.Decode([]byte(tt.practitioner))
				if err != nil {
					t.Fatal(err)
				}
				pr = p.(*prpb.Practitioner)
			}
			if got := RolesOf(m, pr); !slices.Equal(got, tt.want) {
				t.Errorf("RolesOf = %v, want %v", got, tt.want)
			}
		})
	}
}
