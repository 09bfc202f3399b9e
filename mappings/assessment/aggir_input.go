package assessment

import (
	"encoding/json"
	"fmt"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/mappings/assessment/aggir"
)

// otherVariables are recorded but not scored: the two discriminant
// variables the law weighs at 0 and the seven illustrative ones, in the
// grid's order.
var otherVariables = []struct{ key, label string }{
	{"deplacement_exterieur", "Déplacements à l'extérieur"},
	{"alerter", "Alerter (communication à distance)"},
	{"gestion", "Gestion"},
	{"cuisine", "Cuisine"},
	{"menage", "Ménage"},
	{"transports", "Transports"},
	{"achats", "Achats"},
	{"suivi_traitement", "Suivi du traitement"},
	{"activites_temps_libre", "Activités du temps libre"},
}

// subLabels names the sub-variables for people.
var subLabels = map[string]string{
	"communication": "communication", "comportement": "comportement",
	"temps": "dans le temps", "espace": "dans l'espace",
	"haut": "haut", "moyen": "moyen", "bas": "bas",
	"se_servir": "se servir", "manger": "manger",
	"urinaire": "urinaire", "fecale": "fécale",
}

// aggirAssessment is one AGGIR grid, whatever its input form.
type aggirAssessment struct {
	key      []string // parts identifying the assessment, for ids
	date     *dtpb.DateTime
	patient  person
	assessor *person
	given    map[string]aggir.Modality            // variables as given (JSON keys)
	subs     map[string]map[string]aggir.Modality // sub-variables as given
	grid     aggir.Grid                           // the eight scored variables
	result   aggir.Result
	// qr is the QuestionnaireResponse received (TDDUI input); nil for JSON.
	qr        *qrpb.QuestionnaireResponse
	senderGIR int // the GIR the sender computed, when it sent one
}

type aggirJSON struct {
	Identifier   *identifier                  `json:"identifier"`
	Date         string                       `json:"date"`
	Patient      person                       `json:"patient"`
	Assessor     *person                      `json:"assessor"`
	Variables    map[string]string            `json:"variables"`
	Subvariables map[string]map[string]string `json:"subvariables"`
}

// parseAGGIRJSON validates the input against schema/aggir.schema.json, then
// resolves the eight scored variables and computes the GIR.
func parseAGGIRJSON(input []byte) (*aggirAssessment, error) {
	if err := validate(aggirSchema, input); err != nil {
		return nil, err
	}
	var in aggirJSON
	if err := json.Unmarshal(input, &in); err != nil {
		return nil, invalidJSON(err) // unreachable after schema validation
	}
	date, err := parseDateTime(in.Date)
	if err != nil {
		return nil, invalid("invalid date", issue("date", err.Error()))
	}
	a := &aggirAssessment{
		date: date, patient: in.Patient, assessor: in.Assessor,
		given: map[string]aggir.Modality{}, subs: map[string]map[string]aggir.Modality{},
	}
	if in.Identifier != nil {
		a.key = []string{"id", in.Identifier.System, in.Identifier.Value}
	} else {
		a.key = []string{"patient", in.Patient.Identifier.System, in.Patient.Identifier.Value, dateString(date)}
	}
	for k, v := range in.Variables {
		a.given[k], _ = aggir.ParseModality(v) // the schema allows only A, B, C
	}
	for k, m := range in.Subvariables {
		a.subs[k] = map[string]aggir.Modality{}
		for s, v := range m {
			a.subs[k][s], _ = aggir.ParseModality(v)
		}
	}
	if err := a.resolve(jsonPaths{}); err != nil {
		return nil, err
	}
	return a, nil
}

// paths names, in issues, where a variable or sub-variable sits in the input.
type paths interface {
	variable(name string) string
	sub(variable, sub string) string // sub "" names the sub-variables as a whole
}

// jsonPaths locates variables in AGGIR JSON.
type jsonPaths struct{}

func (jsonPaths) variable(name string) string { return "variables." + name }
func (jsonPaths) sub(variable, sub string) string {
	if sub == "" {
		return "subvariables." + variable
	}
	return "subvariables." + variable + "." + sub
}

// resolve fills the grid from the variables and sub-variables given, checks
// that the two agree, and computes the GIR.
func (a *aggirAssessment) resolve(at paths) error {
	var issues []outcome.Issue
	for v := aggir.Variable(0); v < aggir.NumVariables; v++ {
		m, is := a.resolveOne(v, at)
		issues = append(issues, is...)
		a.grid[v] = m
	}
	if len(issues) > 0 {
		return invalid("incomplete or inconsistent AGGIR grid", issues...)
	}
	res, err := aggir.Compute(a.grid)
	if err != nil {
		return fmt.Errorf("aggir: %w", err) // unreachable: every variable resolved
	}
	a.result = res
	return nil
}

func (a *aggirAssessment) resolveOne(v aggir.Variable, at paths) (aggir.Modality, []outcome.Issue) {
	direct, hasDirect := a.given[v.Name()]
	subs, hasSubs := a.subs[v.Name()]
	if !hasSubs {
		if !hasDirect {
			text := fmt.Sprintf("%s is required (A, B or C)", v.Label())
			if aggir.Subvariables(v) != nil {
				text += ", directly or through " + at.sub(v.Name(), "")
			}
			return 0, []outcome.Issue{issue(at.variable(v.Name()), text)}
		}
		return direct, nil
	}
	var ms []aggir.Modality
	for _, name := range aggir.Subvariables(v) {
		m, ok := subs[name]
		if !ok {
			return 0, []outcome.Issue{issue(at.sub(v.Name(), name), "required sub-variable is missing")}
		}
		ms = append(ms, m)
	}
	combined, err := aggir.Combine(v, ms...)
	if err != nil {
		return 0, []outcome.Issue{issue(at.sub(v.Name(), ""), err.Error())}
	}
	if hasDirect && direct != combined {
		return 0, []outcome.Issue{issue(at.variable(v.Name()), fmt.Sprintf(
			"%s is %s but its sub-variables combine to %s", v.Label(), direct, combined))}
	}
	return combined, nil
}
