package directory

import (
	"slices"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	hspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/healthcare_service_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/mappings/terminology"
)

// Role is a recipient role of the discharge pathways (DESIGN.md,
// Pathways).
type Role string

// The pathway roles.
const (
	GP              Role = "gp"
	Pharmacist      Role = "pharmacist"
	Midwife         Role = "midwife"
	Nurse           Role = "nurse"
	Physiotherapist Role = "physiotherapist"
	SpeechTherapist Role = "speech-therapist"
	Cardiologist    Role = "cardiologist"
	Pulmonologist   Role = "pulmonologist"
	Neurologist     Role = "neurologist"
	RehabPhysician  Role = "rehab-physician"
	Geriatrician    Role = "geriatrician"
	Paediatrician   Role = "paediatrician"
	CaseManager     Role = "case-manager"
	APATeam         Role = "apa-team"
	SocialWorker    Role = "social-worker"
	HomeHelp        Role = "home-help"
)

// TRE_R38 Spécialité ordinale (physicians' specialties, "SM" codes).
const TRER38 = terminology.TRER38

// RoleCode is one code that gives a role.
type RoleCode struct {
	Role    Role
	System  string
	Code    string
	Display string // the terminology's label, for the README and explanations
}

// RoleCodes is the table of the codes each role accepts, read from
// PractitionerRole.code and .specialty and HealthcareService.type and
// .specialty, and from the qualifications of a PractitionerRole's
// Practitioner when its own codes give no role (RolesOf). A physician (TRE_G15 10) is given a role by a specialty
// only: TRE_G15 10 alone makes no one a GP, since a hospital specialist
// is a physician too. Codes from TRE_R38 (version 20260928), TRE_G15,
// TRE_R85 (RolePriseCharge) and TRE_R94 (ProfessionSocial); deprecated
// R94 codes are kept since older directories still carry them.
var RoleCodes = []RoleCode{
	{GP, TRER38, "SM54", "Médecine générale (SM)"},
	{GP, TRER38, "SM53", "Spécialiste en Médecine générale (SM)"},
	{GP, TRER38, "SM26", "Qualifié en Médecine générale (SM)"},
	{Pharmacist, terminology.TREG15, "21", "Pharmacien"},
	{Midwife, terminology.TREG15, "50", "Sage-Femme"},
	{Nurse, terminology.TREG15, "60", "Infirmier"},
	{Physiotherapist, terminology.TREG15, "70", "Masseur-Kinésithérapeute"},
	{SpeechTherapist, terminology.TREG15, "91", "Orthophoniste"},
	{Cardiologist, TRER38, "SM04", "Cardiologie et Maladies vasculaires (SM)"},
	{Cardiologist, TRER38, "SM73", "Médecine cardiovasculaire (SM)"},
	{Cardiologist, TRER38, "SM79", "Méd cardiovasculaire opt card interventionnelle (SM)"},
	{Cardiologist, TRER38, "SM80", "Méd cardiovasculaire opt imagerie cardio d'expert (SM)"},
	{Cardiologist, TRER38, "SM81", "Méd cardiovasculaire opt rythmo inter stimu card (SM)"},
	{Pulmonologist, TRER38, "SM41", "Pneumologie (SM)"},
	{Pulmonologist, TRER38, "SM91", "Pneumologie option soins intensifs respiratoires (SM)"},
	{Neurologist, TRER38, "SM32", "Neurologie (SM)"},
	{Neurologist, TRER38, "SM84", "Neurologie opt trait interv ischémie céréb aigüe (SM)"},
	{RehabPhysician, TRER38, "SM29", "Médecine physique et de réadaptation (SM)"},
	{Geriatrician, TRER38, "SM18", "Gériatrie (SM)"},
	{Paediatrician, TRER38, "SM40", "Pédiatrie (SM)"},
	{CaseManager, terminology.TRER85, "309", "Gestionnaire de cas MAIA"},
	{CaseManager, terminology.TRER85, "330", "Coordonnateur de parcours"},
	{APATeam, terminology.TRER85, "310", "Equipe médico-sociale APA"},
	{SocialWorker, terminology.TRER94, "41", "Assistant de service social"},
	{SocialWorker, terminology.TRER85, "300", "Assistant de service social (PAERPA)"},
	{SocialWorker, terminology.TRER85, "304", "Assistant de service social (Expérimentation MAIA)"},
	{HomeHelp, terminology.TRER85, "302", "Aide et accompagnement à domicile (PAERPA)"},
	{HomeHelp, terminology.TRER85, "371", "Aide à domicile qualifié(e)"},
	{HomeHelp, terminology.TRER85, "372", "Aide à domicile"},
	{HomeHelp, terminology.TRER94, "42", "Auxiliaire de vie sociale (deprecated 2024)"},
	{HomeHelp, terminology.TRER94, "211", "Aide à domicile (deprecated 2019)"},
}

// roleByCode indexes RoleCodes by system|code; built once per Index.
func roleByCode() map[string]Role {
	m := make(map[string]Role, len(RoleCodes))
	for _, rc := range RoleCodes {
		m[rc.System+"|"+rc.Code] = rc.Role
	}
	return m
}

// RolesOf returns the pathway roles a PractitionerRole or a
// HealthcareService takes, sorted, without duplicates; nil for other
// resources. A PractitionerRole takes those of its own code and specialty;
// when these give none, those of the qualifications of practitioner, the
// Practitioner it refers to (nil: none). The Annuaire Santé
// (AsPractitionerProfile, qualification slices exercicePro and
// savoirFaire) and the ROR's later drafts state the profession (TRE_G15)
// and the specialties (TRE_R38, savoir-faire TRE_R39/R40) there, and keep
// PractitionerRole.code for the practitioner's situation in the structure
// (TRE_R21 fonction, TRE_R22 genre d'activité, TRE_R23 mode d'exercice).
func RolesOf(res proto.Message, practitioner *prpb.Practitioner) []Role {
	return rolesOf(res, practitioner, roleByCode())
}

func rolesOf(res proto.Message, practitioner *prpb.Practitioner, table map[string]Role) []Role {
	var out []Role
	switch r := res.(type) {
	case *prrpb.PractitionerRole:
		out = codedRoles(table, r.GetCode(), r.GetSpecialty())
		if len(out) == 0 {
			var ccs []*dtpb.CodeableConcept
			for _, q := range practitioner.GetQualification() {
				ccs = append(ccs, q.GetCode())
			}
			out = codedRoles(table, ccs)
		}
	case *hspb.HealthcareService:
		out = codedRoles(table, r.GetType(), r.GetSpecialty())
	}
	return out
}

// codedRoles returns the roles the codings of ccs give, sorted, without
// duplicates; a system is read by its canonical URI (an OID, or another
// form of a NOS terminology's URL: terminology.Canonical).
func codedRoles(table map[string]Role, ccs ...[]*dtpb.CodeableConcept) []Role {
	var out []Role
	for _, list := range ccs {
		for _, cc := range list {
			for _, c := range cc.GetCoding() {
				if role, ok := table[terminology.Canonical(c.GetSystem().GetValue())+"|"+c.GetCode().GetValue()]; ok {
					out = append(out, role)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
