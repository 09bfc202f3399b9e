package routing

import (
	"slices"
	"strings"

	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/code_system_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
)

// Routing explains every choice it makes, and the text it writes (R4
// Annotation.text, CodeableConcept.text) is English: FHIR's
// human-readable fallback. So that a reader in another language (the
// console in French) says the same in hers, every explanation is also
// coded, in the code system RoutingStatus:
//
//   - a Task's statusReason and businessStatus carry a coding of
//     RoutingStatus beside their text (permit-required, no-answer,
//     not-delivered, recipient-left, no-candidate, re-route and the codes
//     of a withdrawn plan);
//   - an explanation in steps (the Task's first note, routing's account
//     of why its owner was asked; each progress note of a CarePlan
//     activity; a status reason with particulars: how long a recipient
//     had to answer, why she left the directory) carries one extension
//     ExtExplanation per step, in order, each a complex extension of
//     code (valueCoding, RoutingStatus), who (valueReference, repeated:
//     the recipients and Tasks the step names, in order), consent
//     (valueReference, repeated: the patient's Consents it names),
//     category (valueCoding of the data-category code system, repeated),
//     role (valueCoding of pathways.RoleSystem, repeated) and detail
//     (valueString, repeated: its particulars, codes and numbers, never
//     words).
//
// Each code names a sentence (CodeSystem concept definition) whose
// arguments are, in order, the step's who, its consents, its categories,
// its roles and its details. The codes of statusReason and businessStatus
// codings take none: a status reason with particulars says them in its
// steps.

// ExtExplanation is a step of routing's explanation, on an Annotation
// (Task.note, CarePlan.activity.progress) or a CodeableConcept
// (Task.statusReason).
const ExtExplanation = pathways.Base + "/StructureDefinition/routing-explanation"

// Step is one step of an explanation, coded (ExtExplanation).
type Step struct {
	Code       string          // in RoutingStatus
	Who        []string        // "Type/id": recipients and Tasks, in order
	Consents   []string        // "Consent/id"
	Categories []category.Code // data categories
	Roles      []string        // pathway roles (pathways.RoleSystem)
	Detail     []string        // codes and numbers
}

// Codes of RoutingStatus for explanations (see codeTable for each one's
// sentence). The directory's reasons (directory.Reason codes) are codes
// of RoutingStatus too.
const (
	// status reasons
	PermitRequiredCode = "permit-required"
	NoAnswerCode       = "no-answer"
	NotDeliveredCode   = "not-delivered"
	RemovedCode        = "removed"
)

// code table: each code of RoutingStatus, its display and its sentence
// (%s the step's arguments in order).
var codeTable = []struct{ code, display, definition string }{
	// businessStatus and statusReason
	{"no-candidate", "No candidate", "no candidate: nobody in the directory could take the Task"},
	{RecipientLeft, "Recipient left the directory", "its recipient left the directory"},
	{ReRoute, "Re-route", "cancelled by its requester to ask the next candidate"},
	{DischargeCancelled, "Discharge cancelled", dischargeCancelled.text},
	{Superseded, "Superseded", superseded.text},
	{NotGoingHome, "Not going home", notGoingHome.text},
	{PatientDeceased, "Patient deceased", patientDeceased.text},
	{DiagnosisWithdrawn, "Diagnosis withdrawn", diagnosisWithdrawn.text},
	{PermitRequiredCode, "Permit required", PermitRequired},
	{NoAnswerCode, "No answer", "no answer in time"},
	{NotDeliveredCode, "Not delivered", notDelivered},
	{"no-answer-within", "No answer within", "no answer within %s"},
	{RemovedCode, "Removed from the directory", "%s: removed from the directory"},
	// how a recipient was chosen
	{"general-practitioner", "General practitioner", "the patient's general practitioner (Patient.generalPractitioner): %s"},
	{"general-practitioner-role", "GP's directory role", "in her role in the directory: %s"},
	{"care-team", "Care team", "%s is in the patient's care team with this role"},
	{"first-candidate", "First candidate", "first candidate of the directory: %s"},
	{"directory-candidate", "Directory candidate", "%s is a candidate of the directory for role %s"},
	{directory.ReasonCoversCommune, "Covers the commune", "%s covers the patient's commune %s"},
	{directory.ReasonCoversDepartement, "Covers the département", "%s covers the patient's département %s"},
	{directory.ReasonCoversRegion, "Covers the région", "%s covers the patient's région %s"},
	{directory.ReasonCoversPostalCode, "Covers the postal code", "%s covers the patient's Belgian postal code %s"},
	{"load", "Load", "%s holds %s open Tasks of %s"},
	{"no-candidate-for-role", "No candidate for the role", "no candidate in the directory for role %s"},
	{"unknown-commune", "Unknown commune", "the patient's address names no known commune"},
	{"hospital-follows-up", "Hospital follows up", "the discharging organisation follows up"},
	{"no-role", "No role", "the action names no role"},
	{"waiting-permit", "Waiting for a permit", "waiting for the patient's explicit permit"},
	{"narrow-permit", "Narrow permit", "the patient's permit (%s) does not cover %s"},
	{"objected", "Objection", "the patient objected: %s"},
	{"chosen-by-hand", "Chosen by hand", "%s, chosen by hand"},
	{"not-a-candidate", "Not a candidate", "%s, chosen by hand: not among the directory's candidates for role %s"},
	{"not-proposed", "Not proposed", "%s, chosen by hand: the directory would not propose her for role %s"},
	{"reassigned", "Re-assigned", "re-assigned by %s"},
	{"reassigned-by-requester", "Re-assigned by its requester", "re-assigned by its requester"},
	{"reassigned-from", "Re-assigned from", "instead of %s"},
	{"after-rejected", "After a refusal", "after %s was rejected"},
	{"after-rerouted", "After a re-route", "after %s was re-routed by its requester"},
	{"after-cancelled", "After a cancellation", "after %s was cancelled"},
	// why a candidate was skipped
	{"objection", "Objection", "%s: the patient objected (%s)"},
	{"refused-before", "Refused before", "%s: refused this request before"},
	{"no-answer-before", "No answer before", "%s: did not answer this request in time"},
	{"unreachable-before", "Unreachable before", "%s: could not be reached for this request"},
	{"left-before", "Left before", "%s: left the directory"},
	{"taken-off-before", "Taken off before", "%s: was taken off this request before"},
	{directory.ReasonInactive, "Inactive", "%s: inactive"},
	{directory.ReasonInactivePractitioner, "Inactive Practitioner", "%s: inactive (its Practitioner)"},
	{directory.ReasonInactiveOrganization, "Inactive Organization", "%s: inactive (its Organization)"},
	{directory.ReasonPeriodEnded, "Period ended", "%s: its period ended (PractitionerRole.period)"},
	{directory.ReasonLanguage, "Language", "%s: speaks %s, not %s"},
	{directory.ReasonOutsidePeriod, "Outside its period", "%s: outside its period (PractitionerRole.period)"},
	{directory.ReasonNotAvailable, "Not available", "%s: notAvailable throughout the window"},
	{directory.ReasonOutsideHours, "Outside its hours", "%s: outside its availableTime throughout the window"},
	{directory.ReasonAtCapacity, "At capacity", "%s: at capacity, %s open Tasks of %s"},
	{directory.ReasonOutOfTerritory, "Out of territory", "%s: out of territory, covers %s"},
	{directory.ReasonNoTerritory, "No territory", "%s: declares no territory"},
	// the moves of a Task, in its plan's progress
	{"task-reassigned", "Task re-assigned", "%s re-assigned from %s to %s"},
	{"task-requested", "Task requested", "%s requested of %s"},
	{"task-held", "Task held for a permit", "%s on-hold for %s"},
	{"task-cancelled", "Task cancelled", "%s cancelled, asked of %s"},
	{"task-received", "Task received", "%s received by %s"},
	{"task-accepted", "Task accepted", "%s accepted by %s"},
	{"task-rejected", "Task rejected", "%s rejected by %s"},
	{"task-ready", "Task ready", "%s ready by %s"},
	{"task-in-progress", "Task in progress", "%s in-progress by %s"},
	{"task-on-hold", "Task on hold", "%s on-hold by %s"},
	{"task-completed", "Task completed", "%s completed by %s"},
	{"task-failed", "Task failed", "%s failed by %s"},
	{"task-entered-in-error", "Task entered in error", "%s entered-in-error by %s"},
	{"task-draft", "Task draft", "%s draft by %s"},
	{"reason", "Reason", "(%s)"},
}

// Codes lists the codes of RoutingStatus.
func Codes() []string {
	out := make([]string, len(codeTable))
	for i, c := range codeTable {
		out[i] = c.code
	}
	return out
}

// CodeSystemID is the id under which the gateway stores CodeSystem().
const CodeSystemID = "routing-status"

// CodeSystem returns RoutingStatus as an R4 CodeSystem, for the gateway to
// store and serve: each code's display, and its sentence as definition.
// A new value on each call: callers may stamp it.
func CodeSystem() *cspb.CodeSystem {
	cs := &cspb.CodeSystem{
		Id:      &dtpb.Id{Value: CodeSystemID},
		Url:     &dtpb.Uri{Value: RoutingStatus},
		Version: &dtpb.String{Value: codeSystemVersion},
		Name:    &dtpb.String{Value: "RelaisRoutingStatus"},
		Title:   &dtpb.String{Value: "Relais routing status and explanations"},
		Status:  &cspb.CodeSystem_StatusCode{Value: cdpb.PublicationStatusCode_ACTIVE},
		Description: &dtpb.Markdown{Value: "Why routing asked whom: the statusReason and businessStatus of routing Tasks, " +
			"and the steps of routing's explanations (extension " + ExtExplanation + ": code, who, consent, category, role, detail). " +
			"Each definition is the step's sentence in English, %s its arguments in that order."},
		CaseSensitive: &dtpb.Boolean{Value: true},
		Content:       &cspb.CodeSystem_ContentCode{Value: cdpb.CodeSystemContentModeCode_COMPLETE},
		Count:         &dtpb.UnsignedInt{Value: uint32(len(codeTable))},
	}
	for _, c := range codeTable {
		cs.Concept = append(cs.Concept, &cspb.CodeSystem_ConceptDefinition{
			Code: &dtpb.Code{Value: c.code}, Display: &dtpb.String{Value: c.display}, Definition: &dtpb.String{Value: c.definition},
		})
	}
	return cs
}

// codeSystemVersion changes with codeTable: the gateway stores a new
// version when it does.
const codeSystemVersion = "2"

// coding is code of RoutingStatus, with its display.
func coding(code string) *dtpb.Coding {
	c := &dtpb.Coding{System: &dtpb.Uri{Value: RoutingStatus}, Code: &dtpb.Code{Value: code}}
	if i := slices.IndexFunc(codeTable, func(e struct{ code, display, definition string }) bool { return e.code == code }); i >= 0 {
		c.Display = &dtpb.String{Value: codeTable[i].display}
	}
	return c
}

// reasonOf is a statusReason: code of RoutingStatus, its English text and
// the steps that give its particulars.
func reasonOf(code, text string, steps ...Step) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{coding(code)}, Text: &dtpb.String{Value: text}, Extension: extensions(steps)}
}

// hasCode reports whether c carries one of the codes want of RoutingStatus.
func hasCode(c *dtpb.CodeableConcept, want ...string) bool {
	return slices.ContainsFunc(c.GetCoding(), func(cd *dtpb.Coding) bool {
		return cd.GetSystem().GetValue() == RoutingStatus && slices.Contains(want, cd.GetCode().GetValue())
	})
}

// why is an explanation: its English text and its steps.
type why struct {
	text  string
	steps []Step
}

// say is a one-step explanation.
func say(text string, st Step) why { return why{text, []Step{st}} }

// then is w followed by o, their texts joined by sep.
func (w why) then(sep string, o why) why {
	if o.text == "" && len(o.steps) == 0 {
		return w
	}
	if w.text == "" {
		sep = ""
	}
	return why{w.text + sep + o.text, append(slices.Clip(w.steps), o.steps...)}
}

// note is w as an Annotation: its text and its steps.
func (w why) note() *dtpb.Annotation {
	return &dtpb.Annotation{Text: &dtpb.Markdown{Value: w.text}, Extension: extensions(w.steps)}
}

// reason is why a candidate is skipped: its English and its step, which
// names her first.
type reason struct {
	text string
	step Step
}

// of is r about ref: "ref (text)" and its step.
func (r reason) of(ref string) why {
	st := r.step
	st.Who = append([]string{ref}, st.Who...)
	return say(ref+" ("+r.text+")", st)
}

// directoryReason is the directory's reason as a reason, without its
// resource (which of names).
func directoryReason(r directory.Reason) reason {
	return reason{r.Why, Step{Code: r.Code, Detail: r.Detail}}
}

// kept is why the directory keeps ref, as the steps of her choice: the
// division of the patient's place she covers and, when she states a
// capacity, her load.
func kept(r directory.Reason) []Step {
	if r.Code == "" {
		return nil
	}
	out := []Step{{Code: r.Code, Who: []string{r.Ref}, Detail: r.Detail[:min(1, len(r.Detail))]}}
	if len(r.Detail) == 3 {
		out = append(out, Step{Code: "load", Who: []string{r.Ref}, Detail: r.Detail[1:]})
	}
	return out
}

// extensions are steps as ExtExplanation extensions.
func extensions(steps []Step) []*dtpb.Extension {
	var out []*dtpb.Extension
	for _, st := range steps {
		e := &dtpb.Extension{Url: &dtpb.Uri{Value: ExtExplanation}}
		sub := func(url string, v *dtpb.Extension_ValueX) {
			e.Extension = append(e.Extension, &dtpb.Extension{Url: &dtpb.Uri{Value: url}, Value: v})
		}
		ref := func(s string) *dtpb.Extension_ValueX {
			r := &dtpb.Reference{}
			resource.SetRefString(r, s)
			return &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Reference{Reference: r}}
		}
		codingOf := func(system, code string) *dtpb.Extension_ValueX {
			return &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{
				System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: code}}}}
		}
		sub("code", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: coding(st.Code)}})
		for _, w := range st.Who {
			sub("who", ref(w))
		}
		for _, c := range st.Consents {
			sub("consent", ref(c))
		}
		for _, c := range st.Categories {
			sub("category", codingOf(category.System, string(c)))
		}
		for _, r := range st.Roles {
			sub("role", codingOf(pathways.RoleSystem, r))
		}
		for _, d := range st.Detail {
			sub("detail", &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: d}}})
		}
		out = append(out, e)
	}
	return out
}

// Explanation reads the steps of an explanation (ExtExplanation) among
// exts, in order; nil when there are none.
func Explanation(exts []*dtpb.Extension) []Step {
	var out []Step
	for _, e := range exts {
		if e.GetUrl().GetValue() != ExtExplanation {
			continue
		}
		var st Step
		for _, s := range e.GetExtension() {
			v := s.GetValue()
			switch s.GetUrl().GetValue() {
			case "code":
				if v.GetCoding().GetSystem().GetValue() == RoutingStatus {
					st.Code = v.GetCoding().GetCode().GetValue()
				}
			case "who":
				st.Who = append(st.Who, resource.RefString(v.GetReference()))
			case "consent":
				st.Consents = append(st.Consents, resource.RefString(v.GetReference()))
			case "category":
				st.Categories = append(st.Categories, category.Code(v.GetCoding().GetCode().GetValue()))
			case "role":
				st.Roles = append(st.Roles, v.GetCoding().GetCode().GetValue())
			case "detail":
				st.Detail = append(st.Detail, v.GetStringValue().GetValue())
			}
		}
		if st.Code != "" {
			out = append(out, st)
		}
	}
	return out
}

// reasonSteps are the steps that say a status reason: its code of
// RoutingStatus, then its own steps (its particulars); without a code,
// its text as written (a refusal in its owner's words).
func reasonSteps(r *dtpb.CodeableConcept) []Step {
	code := ReasonCode(r)
	if code == "" {
		if t := r.GetText().GetValue(); t != "" {
			return []Step{{Code: "reason", Detail: []string{t}}}
		}
		return nil
	}
	return append([]Step{{Code: code}}, Explanation(r.GetExtension())...)
}

// ReasonCode is the code of RoutingStatus a statusReason or businessStatus
// carries, "" when none.
func ReasonCode(c *dtpb.CodeableConcept) string {
	for _, cd := range c.GetCoding() {
		if cd.GetSystem().GetValue() == RoutingStatus {
			return cd.GetCode().GetValue()
		}
	}
	return ""
}

// joinRefs is refs joined as routing's English text lists them.
func joinRefs(refs []string) string { return strings.Join(refs, ", ") }
