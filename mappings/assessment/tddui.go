package assessment

import (
	"fmt"
	"slices"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	qrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/questionnaire_response_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/assessment/aggir"
)

// tdduiItems maps the linkIds of the ANS TDDUI AGGIR PA SSIAD questionnaire
// (TDDUIAGGIRQuestionnaire, v2.3.0) to AGGIR variables and sub-variables.
// The IG publishes no such table: it is read from the items' ICF codes and
// their order, which follows the grid (haut before bas, se servir before
// manger, urinaire before fécale).
var tdduiItems = map[string]struct{ variable, sub string }{
	"fonction-pensee":               {"coherence", ""},             // b160 thought functions
	"fonction-orientation":          {"orientation", ""},           // b114 orientation functions
	"se-laver":                      {"toilette", "haut"},          // d5100 washing body parts
	"prendre-soin":                  {"toilette", "bas"},           // d520 caring for body parts
	"mettre-vetement":               {"habillage", "haut"},         // d5400 putting on clothes
	"motricite-fine":                {"habillage", "moyen"},        // d440 fine hand use (fastening)
	"mettre-chaussure":              {"habillage", "bas"},          // d5402 putting on footwear
	"manger":                        {"alimentation", "se_servir"}, // d550 eating (cutting, opening)
	"passage-aliment":               {"alimentation", "manger"},    // b5105 swallowing
	"assurer-regulation-miction":    {"elimination", "urinaire"},   // d5300 regulating urination
	"assurer-regulation-defecation": {"elimination", "fecale"},     // d5301 regulating defecation
	"position-corps":                {"transferts", ""},            // d410 changing basic body position
	"deplacer-maison":               {"deplacement_interieur", ""}, // d4600 moving around within the home
	"deplacer-dehors":               {"deplacement_exterieur", ""}, // d4602 moving around outside
	"appareil-communication":        {"alerter", ""},               // d3608 communication devices
}

// tdduiQualifiers are the ICF qualifiers TDDUI answers with.
var tdduiQualifiers = map[string]aggir.Modality{"qf0": aggir.A, "qf2": aggir.B, "qf4": aggir.C}

// The adverbs of the guide de remplissage, as TDDUI sub-item linkId suffixes.
var adverbs = []string{"-spont", "-tot", "-correct", "-habit"}

const tdduiResultItem = "resultat-eval"

func qrPath(linkID string) string {
	return fmt.Sprintf("QuestionnaireResponse.item.where(linkId='%s')", linkID)
}

// parseTDDUI reads a QuestionnaireResponse answering the TDDUI AGGIR
// questionnaire.
func parseTDDUI(input []byte, opts Options) (*aggirAssessment, error) {
	c, err := opts.codec()
	if err != nil {
		return nil, err
	}
	m, err := c.Decode(input)
	if err != nil {
		return nil, err
	}
	qr, ok := m.(*qrpb.QuestionnaireResponse)
	if !ok {
		return nil, invalid("not a QuestionnaireResponse", issue("resourceType", "want QuestionnaireResponse"))
	}
	if q := qr.GetQuestionnaire().GetValue(); strings.Split(q, "|")[0] != TDDUIAGGIRQuestionnaire {
		return nil, invalid("unsupported questionnaire", issue("QuestionnaireResponse.questionnaire",
			fmt.Sprintf("want %s, got %q", TDDUIAGGIRQuestionnaire, q)))
	}
	a := &aggirAssessment{qr: qr, given: map[string]aggir.Modality{}, subs: map[string]map[string]aggir.Modality{}}
	var issues []outcome.Issue
	a.patient, issues = tdduiPatient(qr)
	a.assessor = tdduiAssessor(qr)
	if qr.GetAuthored() == nil {
		issues = append(issues, issue("QuestionnaireResponse.authored", "the assessment date is required"))
	}
	if len(issues) > 0 {
		return nil, invalid("incomplete QuestionnaireResponse", issues...)
	}
	a.date = qr.GetAuthored()
	a.key = tdduiKey(qr, a.patient, a.date)
	if err := a.readItems(qr.GetItem()); err != nil {
		return nil, err
	}
	if err := a.resolve(tdduiPaths{}); err != nil {
		return nil, err
	}
	return a, nil
}

func tdduiKey(qr *qrpb.QuestionnaireResponse, p person, date *dtpb.DateTime) []string {
	if id := qr.GetIdentifier(); id.GetValue().GetValue() != "" {
		return []string{"id", id.GetSystem().GetValue(), id.GetValue().GetValue()}
	}
	return []string{"patient", p.Identifier.System, p.Identifier.Value, dateString(date)}
}

// readItems walks the items at any depth, reading every TDDUI AGGIR item and
// the sender's GIR.
func (a *aggirAssessment) readItems(items []*qrpb.QuestionnaireResponse_Item) error {
	var issues []outcome.Issue
	var walk func([]*qrpb.QuestionnaireResponse_Item)
	walk = func(items []*qrpb.QuestionnaireResponse_Item) {
		for _, it := range items {
			id := it.GetLinkId().GetValue()
			if id == tdduiResultItem {
				a.senderGIR = girOfCode(firstCoding(it).GetCode().GetValue())
			}
			if len(it.GetAnswer()) > 0 && len(it.GetItem()) > 0 {
				issues = append(issues, issue(qrPath(id), "qrs-1: nested items go beneath the answer, not beside it"))
			}
			if target, ok := tdduiItems[id]; ok {
				m, err := itemModality(it)
				if err != nil {
					issues = append(issues, issue(qrPath(id)+".answer", err.Error()))
				} else {
					a.set(target.variable, target.sub, m)
				}
			}
			walk(it.GetItem())
			for _, ans := range it.GetAnswer() {
				walk(ans.GetItem())
			}
		}
	}
	walk(items)
	if len(issues) > 0 {
		return invalid("invalid AGGIR answers", issues...)
	}
	return nil
}

func (a *aggirAssessment) set(variable, sub string, m aggir.Modality) {
	if sub == "" {
		a.given[variable] = m
		return
	}
	if a.subs[variable] == nil {
		a.subs[variable] = map[string]aggir.Modality{}
	}
	a.subs[variable][sub] = m
}

func firstCoding(it *qrpb.QuestionnaireResponse_Item) *dtpb.Coding {
	for _, ans := range it.GetAnswer() {
		if c := ans.GetValue().GetCoding(); c != nil {
			return c
		}
	}
	return nil
}

// itemModality reads an item's qualifier (qf0, qf2, qf4) or, failing that,
// its four adverbs: all true A, all false C, otherwise B.
func itemModality(it *qrpb.QuestionnaireResponse_Item) (aggir.Modality, error) {
	if c := firstCoding(it); c != nil {
		if sys := c.GetSystem().GetValue(); sys != "" && sys != ICF {
			return 0, fmt.Errorf("qualifier system %q is not %s", sys, ICF)
		}
		m, ok := tdduiQualifiers[c.GetCode().GetValue()]
		if !ok {
			return 0, fmt.Errorf("qualifier %q is not qf0, qf2 or qf4", c.GetCode().GetValue())
		}
		return m, nil
	}
	return adverbModality(it)
}

func adverbModality(it *qrpb.QuestionnaireResponse_Item) (aggir.Modality, error) {
	yes, seen := 0, 0
	for _, sub := range it.GetItem() {
		id := sub.GetLinkId().GetValue()
		for _, suffix := range adverbs {
			if !strings.HasSuffix(id, suffix) {
				continue
			}
			for _, ans := range sub.GetAnswer() {
				if bv := ans.GetValue().GetBoolean(); bv != nil {
					seen++
					if bv.GetValue() {
						yes++
					}
				}
			}
		}
	}
	switch {
	case seen != len(adverbs):
		return 0, fmt.Errorf("no qualifier (qf0, qf2, qf4) and %d of the 4 adverbs answered", seen)
	case yes == len(adverbs):
		return aggir.A, nil
	case yes == 0:
		return aggir.C, nil
	}
	return aggir.B, nil
}

// tdduiPaths locates variables among the TDDUI items.
type tdduiPaths struct{}

func (tdduiPaths) variable(name string) string { return tdduiItemPath(name, "") }
func (tdduiPaths) sub(variable, sub string) string {
	return tdduiItemPath(variable, sub)
}

// tdduiItemPath names the item(s) holding a variable, or one sub-variable.
func tdduiItemPath(variable, sub string) string {
	var ids []string
	for id, t := range tdduiItems {
		if t.variable == variable && (sub == "" || t.sub == sub) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return "QuestionnaireResponse.item"
	}
	slices.Sort(ids)
	return qrPath(strings.Join(ids, "' or linkId='"))
}

// tdduiPatient finds the patient: a contained Patient the subject points to,
// or the subject's logical identifier.
func tdduiPatient(qr *qrpb.QuestionnaireResponse) (person, []outcome.Issue) {
	subj := qr.GetSubject()
	if frag := subj.GetFragment().GetValue(); frag != "" {
		if p, ok := containedResource(qr, frag).(*ppb.Patient); ok {
			if per, ok := patientPerson(p); ok {
				return per, nil
			}
		}
	}
	if id, ok := identifierOf(subj.GetIdentifier()); ok {
		return person{Identifier: id, Family: subj.GetDisplay().GetValue()}, nil
	}
	return person{}, []outcome.Issue{issue("QuestionnaireResponse.subject",
		"the patient must be given by subject.identifier or a contained Patient with an identifier")}
}

// tdduiAssessor finds the assessor in author, then source: a contained
// Practitioner or a logical identifier. It is optional.
func tdduiAssessor(qr *qrpb.QuestionnaireResponse) *person {
	for _, r := range []*dtpb.Reference{qr.GetAuthor(), qr.GetSource()} {
		if frag := r.GetFragment().GetValue(); frag != "" {
			if p, ok := containedResource(qr, frag).(*prpb.Practitioner); ok && len(p.GetIdentifier()) > 0 {
				if id, ok := identifierOf(p.GetIdentifier()[0]); ok {
					per := person{Identifier: id}
					nameInto(&per, p.GetName())
					return &per
				}
			}
		}
		if id, ok := identifierOf(r.GetIdentifier()); ok {
			return &person{Identifier: id}
		}
	}
	return nil
}

func containedResource(qr *qrpb.QuestionnaireResponse, id string) proto.Message {
	for _, c := range qr.GetContained() {
		cr := &bcrpb.ContainedResource{}
		if c.UnmarshalTo(cr) != nil {
			continue
		}
		if res := resource.Unwrap(cr); res != nil && resource.ID(res) == id {
			return res
		}
	}
	return nil
}

func identifierOf(id *dtpb.Identifier) (identifier, bool) {
	out := identifier{System: id.GetSystem().GetValue(), Value: id.GetValue().GetValue()}
	return out, out.System != "" && out.Value != ""
}

func patientPerson(p *ppb.Patient) (person, bool) {
	for _, id := range p.GetIdentifier() {
		if out, ok := identifierOf(id); ok {
			per := person{Identifier: out}
			nameInto(&per, p.GetName())
			if bd := p.GetBirthDate(); bd != nil && bd.GetPrecision() == dtpb.Date_DAY {
				per.BirthDate = time.UnixMicro(bd.GetValueUs()).UTC().Format(time.DateOnly)
			}
			if g := p.GetGender().GetValue(); g != 0 {
				per.Gender = strings.ToLower(strings.ReplaceAll(g.String(), "_", "-"))
			}
			return per, true
		}
	}
	return person{}, false
}

func nameInto(p *person, names []*dtpb.HumanName) {
	if len(names) == 0 {
		return
	}
	p.Family = names[0].GetFamily().GetValue()
	var given []string
	for _, g := range names[0].GetGiven() {
		given = append(given, g.GetValue())
	}
	p.Given = strings.Join(given, " ")
}

// receivedQR is the QuestionnaireResponse as received, given our id, its
// contained patient and assessor replaced by references to the resources
// put in the Bundle, and stripped of references that cannot resolve here.
func (a *aggirAssessment) receivedQR(patRef, prRef string) *qrpb.QuestionnaireResponse {
	qr := proto.Clone(a.qr).(*qrpb.QuestionnaireResponse)
	qr.Id = &dtpb.Id{Value: a.id("questionnaire-response")}
	qr.Meta, qr.Contained, qr.Text = nil, nil, nil
	qr.Subject = ref(patRef)
	qr.Author, qr.Source = nil, nil
	if prRef != "" {
		qr.Author = ref(prRef)
	}
	qr.Encounter, qr.BasedOn, qr.PartOf = nil, nil, nil
	return qr
}
