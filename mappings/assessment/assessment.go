// Package assessment maps social-care assessments to FHIR R4: the French
// national autonomy grid AGGIR and the shared needs assessment of
// MAIA/DAC case management.
//
// # Inputs
//
// Convert detects the kind of its input:
//
//   - AGGIR JSON, {"type": "aggir", ...}, described by schema/aggir.schema.json:
//     the variables coded A, B or C, or their sub-variables
//     ("subvariables": {"toilette": {"haut": "A", "bas": "B"}});
//   - a FHIR QuestionnaireResponse answering the ANS TDDUI AGGIR questionnaire
//     (TDDUIAGGIRQuestionnaire): ICF-coded items answered qf0, qf2 or qf4 for
//     A, B or C, or by the four adverbs (spontanément, totalement,
//     correctement, habituellement);
//   - the needs-assessment form, {"type": "needs-assessment", ...}, described by
//     schema/needs-assessment.schema.json (example beside it).
//
// Every input is validated first; a rejected input gives an *outcome.Error
// of kind Invalid whose issues name the fields ("variables.transferts",
// "needs[2].priority").
//
// # Outputs
//
// An AGGIR grid gives an Observation coded TA_ASIP MED-346 "Perte
// d'autonomie" whose value is the GIR (MED-339 to MED-344) computed by
// package aggir, with one component per variable and sub-variable and one
// for the rank; the QuestionnaireResponse (built from the JSON with
// questionnaire AGGIRQuestionnaire, or the TDDUI one as received); the
// Patient and the assessor Practitioner. All are labelled FUNC.
//
// A needs assessment gives Observations labelled SOC (living situation,
// each informal carer, housing, each income support) and one ServiceRequest
// per need, coded in NeedSystem with a ServiceCategorySystem category that
// the directory's HealthcareService.category uses too, based on
// Options.CarePlan when the gateway knows the patient's plan.
//
// Resource ids are derived with bundle.ID from the identifiers in the
// input, so a resent assessment updates the same resources.
package assessment

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/mappings/bundle"
)

// Version of the mappings, recorded in the Provenance.
const Version = "1"

// Kind is the kind of an assessment input.
type Kind int

// The input kinds.
const (
	KindUnknown Kind = iota
	KindAGGIR        // AGGIR JSON
	KindQuestionnaireResponse
	KindNeeds // needs-assessment JSON
)

func (k Kind) String() string {
	return [...]string{"unknown", "aggir", "questionnaire-response", "needs-assessment"}[k]
}

// Options parameterise a conversion.
type Options struct {
	// Now gives the time the conversion is recorded at (Provenance.recorded,
	// Observation.issued). Default time.Now.
	Now func() time.Time
	// CarePlan is "CarePlan/<id>", the patient's existing plan when the
	// gateway knows one: ServiceRequests are then basedOn it.
	CarePlan string
	// Codec parses QuestionnaireResponse input. Default: one shared codec
	// built on first use.
	Codec *codec.Codec
}

var defaultCodec = sync.OnceValues(codec.New)

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) codec() (*codec.Codec, error) {
	if o.Codec != nil {
		return o.Codec, nil
	}
	return defaultCodec()
}

func (o Options) carePlan() (string, error) {
	if o.CarePlan == "" {
		return "", nil
	}
	id, ok := strings.CutPrefix(o.CarePlan, "CarePlan/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("assessment: Options.CarePlan %q is not CarePlan/<id>", o.CarePlan)
	}
	return o.CarePlan, nil
}

// Detect tells the kind of input from its "type" (aggir, needs-assessment)
// or "resourceType" (QuestionnaireResponse).
func Detect(input []byte) (Kind, error) {
	input = codec.WithoutBOM(input)
	var head struct {
		Type         *string `json:"type"`
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(input, &head); err != nil {
		return KindUnknown, invalidJSON(err)
	}
	switch {
	case head.ResourceType != nil && *head.ResourceType == "QuestionnaireResponse":
		return KindQuestionnaireResponse, nil
	case head.ResourceType != nil:
		return KindUnknown, invalid("unsupported resource type",
			issue("resourceType", fmt.Sprintf("%q is not accepted; send a QuestionnaireResponse", *head.ResourceType)))
	case head.Type == nil:
		return KindUnknown, invalid("unknown assessment kind",
			issue("type", `required: "aggir" or "needs-assessment" (or send a FHIR QuestionnaireResponse)`))
	case *head.Type == "aggir":
		return KindAGGIR, nil
	case *head.Type == "needs-assessment":
		return KindNeeds, nil
	}
	return KindUnknown, invalid("unknown assessment kind",
		issue("type", fmt.Sprintf(`%q is not "aggir" or "needs-assessment"`, *head.Type)))
}

// Convert maps any accepted assessment input to a transaction Bundle.
func Convert(input []byte, opts Options) (*bundle.Result, error) {
	k, err := Detect(input)
	if err != nil {
		return nil, err
	}
	if k == KindNeeds {
		return ConvertNeeds(input, opts)
	}
	return ConvertAGGIR(input, opts)
}

// ConvertAGGIR maps an AGGIR grid, as AGGIR JSON or as a TDDUI-style
// QuestionnaireResponse, and rejects any other input.
func ConvertAGGIR(input []byte, opts Options) (*bundle.Result, error) {
	input = codec.WithoutBOM(input)
	k, err := Detect(input)
	if err != nil {
		return nil, err
	}
	var a *aggirAssessment
	switch k {
	case KindAGGIR:
		a, err = parseAGGIRJSON(input)
	case KindQuestionnaireResponse:
		a, err = parseTDDUI(input, opts)
	default:
		return nil, invalid("not an AGGIR grid", issue("type", `want "aggir" or a QuestionnaireResponse`))
	}
	if err != nil {
		return nil, err
	}
	return a.bundle(input, opts)
}

// ConvertNeeds maps a needs-assessment form and rejects any other input.
func ConvertNeeds(input []byte, opts Options) (*bundle.Result, error) {
	input = codec.WithoutBOM(input)
	k, err := Detect(input)
	if err != nil {
		return nil, err
	}
	if k != KindNeeds {
		return nil, invalid("not a needs assessment", issue("type", `want "needs-assessment"`))
	}
	n, err := parseNeeds(input)
	if err != nil {
		return nil, err
	}
	return n.bundle(input, opts)
}
