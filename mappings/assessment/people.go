package assessment

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"

	"github.com/relais-health/relais/mappings/bundle"
)

// identifier is a (system, value) pair, as the JSON inputs give it.
type identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

func (id identifier) fhir() *dtpb.Identifier {
	return &dtpb.Identifier{System: &dtpb.Uri{Value: id.System}, Value: &dtpb.String{Value: id.Value}}
}

// person is the patient or the assessor of an assessment.
type person struct {
	Identifier identifier `json:"identifier"`
	Family     string     `json:"family"`
	Given      string     `json:"given"`
	BirthDate  string     `json:"birthDate"`
	Gender     string     `json:"gender"`
}

func (p *person) name() []*dtpb.HumanName {
	if p.Family == "" && p.Given == "" {
		return nil
	}
	n := &dtpb.HumanName{}
	if p.Family != "" {
		n.Family = str(p.Family)
	}
	for _, g := range strings.Fields(p.Given) {
		n.Given = append(n.Given, str(g))
	}
	return []*dtpb.HumanName{n}
}

// patientID and practitionerID derive the resource ids from the identifier,
// so that every mapping of the same person lands on the same resource.
func patientID(id identifier) string      { return bundle.ID("patient", id.System, id.Value) }
func practitionerID(id identifier) string { return bundle.ID("practitioner", id.System, id.Value) }

var genders = map[string]cpb.AdministrativeGenderCode_Value{
	"male": cpb.AdministrativeGenderCode_MALE, "female": cpb.AdministrativeGenderCode_FEMALE,
	"other": cpb.AdministrativeGenderCode_OTHER, "unknown": cpb.AdministrativeGenderCode_UNKNOWN,
}

// patient builds the Patient. country, when set, becomes address.country
// (routing matches territories on it).
func (p *person) patient(country string) *ppb.Patient {
	pat := &ppb.Patient{
		Id:         &dtpb.Id{Value: patientID(p.Identifier)},
		Identifier: []*dtpb.Identifier{p.Identifier.fhir()},
		Name:       p.name(),
	}
	if d, err := parseDate(p.BirthDate); err == nil && p.BirthDate != "" {
		pat.BirthDate = d
	}
	if g, ok := genders[p.Gender]; ok {
		pat.Gender = &ppb.Patient_GenderCode{Value: g}
	}
	if country != "" {
		pat.Address = []*dtpb.Address{{Country: str(country)}}
	}
	return pat
}

func (p *person) practitioner() *prpb.Practitioner {
	return &prpb.Practitioner{
		Id:         &dtpb.Id{Value: practitionerID(p.Identifier)},
		Identifier: []*dtpb.Identifier{p.Identifier.fhir()},
		Name:       p.name(),
	}
}
