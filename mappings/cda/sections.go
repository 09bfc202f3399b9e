package cda

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	comppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	vspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/valuesets_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/bundle"
)

// secKind is what a section holds, as far as the mapping cares: it decides
// the category of observations, whether medications are statements or
// requests, and whether a CarePlan gathers the section's requests.
type secKind int

const (
	secOther secKind = iota
	secResults
	secVitals
	secSocial
	secFunctional
	secMeds
	secDischargeMeds
	secPlan
	secGoals
)

// sectionKinds maps section LOINC codes (C-CDA R1.1/R2.1 and CI-SIS) to
// kinds.
var sectionKinds = map[string]secKind{
	"30954-2": secResults, // Relevant diagnostic tests and/or laboratory data; CI-SIS "Résultats"
	"8716-3":  secVitals,
	"29762-2": secSocial,
	"47420-5": secFunctional,
	"10190-7": secFunctional, // mental status
	"10160-0": secMeds,
	"29549-3": secMeds,          // medications administered
	"18610-6": secMeds,          // CI-SIS "Traitements administrés"
	"42346-7": secMeds,          // medications on admission (CI-SIS LDL-EES)
	"10183-2": secDischargeMeds, // hospital discharge medications; CI-SIS "Traitements à la sortie"
	"75311-1": secDischargeMeds,
	"18776-5": secPlan, // plan of treatment; CI-SIS "Suites à donner"
	"61146-7": secGoals,
}

func sectionKind(s el) secKind {
	if k, ok := sectionKinds[s.child("code").attr("code")]; ok {
		return k
	}
	switch {
	case s.hasTemplate("2.16.840.1.113883.10.20.22.2.3.1", "2.16.840.1.113883.10.20.22.2.3"):
		return secResults
	// IHE PaLM TF-3 (XD-LAB) Laboratory Specialty Section and Laboratory
	// Report Item Section, which the CI-SIS CR-BIO specialises: each
	// titled by its speciality's LOINC code (Biochimie 18719-5...).
	case s.hasTemplate("1.3.6.1.4.1.19376.1.3.3.2.1", "1.3.6.1.4.1.19376.1.3.3.2.2"):
		return secResults
	case s.hasTemplate("2.16.840.1.113883.10.20.22.2.4.1", "2.16.840.1.113883.10.20.22.2.4"):
		return secVitals
	case s.hasTemplate("2.16.840.1.113883.10.20.22.2.10", "2.16.840.1.113883.10.20.1.10", "1.3.6.1.4.1.19376.1.5.3.1.3.36"):
		return secPlan
	}
	return secOther
}

// section is one CDA section being mapped.
type section struct {
	e        el
	kind     secKind
	requests []*dtpb.Reference // ServiceRequests and MedicationRequests, for the CarePlan
}

func (c *conv) structuredBody(comp *comppb.Composition, body el) {
	body.each("component", func(cmp el) {
		if s := cmp.child("section"); s.ok() {
			comp.Section = append(comp.Section, c.section(s))
		}
	})
}

// section maps a section: its narrative is kept as the section text, each
// entry becomes resources the section references, subsections recurse, and
// a plan section also yields a CarePlan.
func (c *conv) section(s el) *comppb.Composition_Section {
	sec := &comppb.Composition_Section{
		Title: str(s.child("title").text()),
		Code:  c.concept(s.child("code")),
		Text:  narrative(s.child("text")),
	}
	ctx := &section{e: s, kind: sectionKind(s)}
	s.each("entry", func(e el) {
		sec.Entry = append(sec.Entry, c.entry(ctx, e)...)
	})
	s.each("component", func(cmp el) {
		if sub := cmp.child("section"); sub.ok() {
			sec.Section = append(sec.Section, c.section(sub))
		}
	})
	if ctx.kind == secPlan && len(ctx.requests) > 0 {
		sec.Entry = append(sec.Entry, c.carePlan(ctx, sec))
	}
	if len(sec.Entry) == 0 && len(sec.Section) == 0 {
		// cmp-1 wants text, entries or subsections; cmp-2 allows an empty
		// reason only without entries.
		if sec.Text == nil {
			sec.Text = textNarrative("No information.", cpb.NarrativeStatusCode_EMPTY)
		}
		if s.attr("nullFlavor") != "" || s.child("text").null() {
			sec.EmptyReason = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{
				System: uri(listEmptyReason), Code: &dtpb.Code{Value: "unavailable"}}}}
		}
	}
	return sec
}

// carePlan gathers a plan section's requests (and the document's goals)
// into one CarePlan for the patient.
func (c *conv) carePlan(ctx *section, sec *comppb.Composition_Section) *dtpb.Reference {
	cp := &cppb.CarePlan{
		Id:        &dtpb.Id{Value: bundle.ID(append([]string{"CarePlan"}, append(c.setKey, ctx.e.xpath())...)...)},
		Status:    &cppb.CarePlan_StatusCode{Value: cpb.RequestStatusCode_ACTIVE},
		Intent:    &cppb.CarePlan_IntentCode{Value: vspb.CarePlanIntentValueSet_PLAN},
		Title:     sec.Title,
		Subject:   c.patientRef(),
		Encounter: c.encounterRef(),
		Created:   c.docDate,
	}
	c.plans = append(c.plans, cp) // goals are added once every section is read
	if len(c.authors) > 0 {
		cp.Author = c.authors[0]
	}
	if sec.Text != nil {
		cp.Text = sec.Text
	}
	for _, r := range ctx.requests {
		cp.Activity = append(cp.Activity, &cppb.CarePlan_Activity{Reference: r})
	}
	return c.put(cp, category.ORD)
}
