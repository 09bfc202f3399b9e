package directory

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	hspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/healthcare_service_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"google.golang.org/protobuf/proto"
)

// Territorial division extension of the ANS ROR IG (RORTerritorialDivision,
// on HealthcareService and Organization): where a service or an
// organisation works. Its sub-extensions are typeTerritorialDivision
// (CodeableConcept from JDV_J223-TypeDivisionTerritoriale-ROR, whose codes
// come from TRE_R201) and codeTerritorialDivision (CodeableConcept: an
// INSEE COG commune code, a département or a région code).
const (
	ExtTerritorialDivision = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division"
	subType                = "typeTerritorialDivision"
	subCode                = "codeTerritorialDivision"
)

// Level is a JDV_J223 type of territorial division.
type Level int

// JDV_J223 / TRE_R201 codes.
const (
	LevelRegion      Level = 1
	LevelDepartement Level = 2
	LevelCommune     Level = 3
)

func (l Level) String() string {
	switch l {
	case LevelRegion:
		return "région"
	case LevelDepartement:
		return "département"
	case LevelCommune:
		return "commune"
	}
	return "unknown"
}

// Territory is one division a resource covers. A Belgian service (COSERDO
// map) gives its communes by postal code: a 4-digit code at commune level
// is read as a Belgian postal code, since INSEE commune codes have 5
// characters.
type Territory struct {
	Level Level
	Code  string
}

// covers is the Reason code of a candidate kept for covering t.
func (t Territory) covers() string {
	switch {
	case t.Level == LevelCommune && len(t.Code) == 4:
		return ReasonCoversPostalCode
	case t.Level == LevelCommune:
		return ReasonCoversCommune
	case t.Level == LevelDepartement:
		return ReasonCoversDepartement
	}
	return ReasonCoversRegion
}

// key is the territory's key in the index: "c:75056", "d:2A", "r:84",
// "be:7500".
func (t Territory) key() string {
	switch {
	case t.Level == LevelCommune && len(t.Code) == 4:
		return "be:" + t.Code
	case t.Level == LevelCommune:
		return "c:" + t.Code
	case t.Level == LevelDepartement:
		return "d:" + t.Code
	case t.Level == LevelRegion:
		return "r:" + t.Code
	}
	return ""
}

func (t Territory) String() string {
	if t.Level == LevelCommune && len(t.Code) == 4 {
		return "Belgian postal code " + t.Code
	}
	return t.Level.String() + " " + t.Code
}

// TerritoriesOf returns the territorial divisions of a HealthcareService
// or an Organization; nil for other resources or when it declares none.
// A division whose type or code is missing or unknown is ignored: it
// cannot widen where a resource is taken to work.
func TerritoriesOf(res proto.Message) []Territory {
	var exts []*dtpb.Extension
	switch r := res.(type) {
	case *hspb.HealthcareService:
		exts = r.GetExtension()
	case *orgpb.Organization:
		exts = r.GetExtension()
	default:
		return nil
	}
	var out []Territory
	for _, e := range exts {
		if e.GetUrl().GetValue() != ExtTerritorialDivision {
			continue
		}
		if t, ok := territoryOf(e); ok {
			out = append(out, t)
		}
	}
	return out
}

func territoryOf(e *dtpb.Extension) (Territory, bool) {
	var t Territory
	for _, s := range e.GetExtension() {
		c := firstCode(s.GetValue())
		switch s.GetUrl().GetValue() {
		case subType:
			switch c {
			case "1":
				t.Level = LevelRegion
			case "2":
				t.Level = LevelDepartement
			case "3":
				t.Level = LevelCommune
			}
		case subCode:
			t.Code = strings.TrimSpace(c)
		}
	}
	return t, t.Level != 0 && t.Code != ""
}

// firstCode is the code of a CodeableConcept, Coding, code or string value.
func firstCode(v *dtpb.Extension_ValueX) string {
	if cc := v.GetCodeableConcept(); cc != nil {
		for _, c := range cc.GetCoding() {
			if c.GetCode().GetValue() != "" {
				return c.GetCode().GetValue()
			}
		}
	}
	if c := v.GetCoding(); c != nil {
		return c.GetCode().GetValue()
	}
	if c := v.GetCode(); c != nil {
		return c.GetValue()
	}
	return v.GetStringValue().GetValue()
}
