package cda

import (
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
)

// Entries are dispatched first on the templates they declare (C-CDA R1.1 and
// R2.1, CCD, IHE PCC and CI-SIS templates overlap: a CI-SIS entry usually
// carries all four), then on their structure (class and mood), with the
// section as context. Whatever matches nothing is reported with its XPath
// and templateIds.

// Template roots the dispatcher looks for.
var (
	tplProblemObs = []string{
		"2.16.840.1.113883.10.20.22.4.4", "2.16.840.1.113883.10.20.1.28", "1.3.6.1.4.1.19376.1.5.3.1.4.5",
	}
	tplAllergyObs = []string{
		"2.16.840.1.113883.10.20.22.4.7", "2.16.840.1.113883.10.20.1.18", "1.3.6.1.4.1.19376.1.5.3.1.4.6",
	}
	tplImmunization = []string{
		"2.16.840.1.113883.10.20.22.4.52", "1.3.6.1.4.1.19376.1.5.3.1.4.12", "2.16.840.1.113883.10.20.1.46",
	}
	tplFamilyHistory = []string{"2.16.840.1.113883.10.20.22.4.45", "2.16.840.1.113883.10.20.1.23"}
	tplGoal          = []string{"2.16.840.1.113883.10.20.22.4.121"}
	tplDevice        = []string{"1.2.250.1.213.1.1.3.20", "2.16.840.1.113883.10.20.22.4.50", "2.16.840.1.113883.10.20.1.34"}
	// CI-SIS "Statut du document" and similar administrative observations
	// are still Observations; the discharge and admission modalities also
	// feed the Encounter.
	tplModaliteSortie = "1.2.250.1.213.1.1.3.48.7"
	tplModaliteEntree = "1.2.250.1.213.1.1.3.48.6"
	// IHE PaLM TF-3 (XD-LAB) Laboratory Report Data Processing Entry, and
	// its CI-SIS CR-BIO specialisation: an act whose entryRelationships are
	// the results (Laboratory Observation, Battery and Isolate Organizers)
	// and the specimen collection. XD-LAB puts its templateId on the entry,
	// not on the act.
	tplLabReportEntry = []string{"1.3.6.1.4.1.19376.1.3.1", "1.2.250.1.213.1.1.3.21"}
)

// Section LOINC codes that decide the type of otherwise generic entries.
const (
	loincImmunizations = "11369-6"
	loincAllergies     = "48765-2"
)

var statementNames = map[string]bool{
	"observation": true, "act": true, "organizer": true, "substanceAdministration": true, "procedure": true,
	"encounter": true, "supply": true, "regionOfInterest": true, "observationMedia": true,
}

func mood(e el) string {
	if m := e.attr("moodCode"); m != "" {
		return m
	}
	return "EVN"
}

// isRequest reports whether a mood is a plan, order, proposal or promise.
func isRequest(m string) bool {
	switch m {
	case "INT", "RQO", "PRP", "ARQ", "PRMS", "APT", "INT.CRT", "RQO.CRT", "PRP.CRT":
		return true
	}
	return false
}

// entry maps one section entry and returns references to what it made.
func (c *conv) entry(sec *section, e el) []*dtpb.Reference {
	stmt := clinicalStatement(e)
	if !stmt.ok() {
		return nil
	}
	refs := c.statement(sec, stmt)
	if refs == nil {
		c.warn(stmt, "entry "+stmt.name()+" (moodCode "+mood(stmt)+") not mapped")
	}
	return refs
}

// statement dispatches a clinical statement; nil means not mapped.
func (c *conv) statement(sec *section, s el) []*dtpb.Reference {
	if s.attr("nullFlavor") != "" && !s.child("code").ok() {
		return nil
	}
	switch s.name() {
	case "observation":
		return c.observationStmt(sec, s)
	case "act":
		return c.act(sec, s)
	case "organizer":
		if s.hasTemplate(tplFamilyHistory...) {
			return nil
		}
		return c.organizer(sec, s)
	case "substanceAdministration":
		if isRequest(mood(s)) && sec.e.child("code").attr("code") != loincImmunizations && !s.hasTemplate(tplImmunization...) {
			return one(c.medicationRequest(sec, s))
		}
		if s.hasTemplate(tplImmunization...) || sec.e.child("code").attr("code") == loincImmunizations {
			return one(c.immunization(s))
		}
		if sec.kind == secDischargeMeds {
			return one(c.medicationRequest(sec, s))
		}
		return one(c.medicationStatement(s))
	case "procedure":
		if isRequest(mood(s)) {
			return one(c.serviceRequest(sec, s))
		}
		return one(c.procedure(s))
	case "encounter":
		if isRequest(mood(s)) {
			return one(c.serviceRequest(sec, s))
		}
		return one(c.encounterActivity(s))
	case "supply":
		if s.hasTemplate(tplDevice...) || hasDeviceParticipant(s) {
			return c.device(s)
		}
	}
	return nil
}

// clinicalStatement is the clinical statement an entry or entryRelationship
// holds (CDA R2 section 4.3.4), if any.
func clinicalStatement(e el) el {
	var stmt el
	e.each("", func(ch el) {
		if !stmt.ok() && ch.isCDA() && statementNames[ch.name()] {
			stmt = ch
		}
	})
	return stmt
}

func one(r *dtpb.Reference) []*dtpb.Reference {
	if r == nil {
		return nil
	}
	return []*dtpb.Reference{r}
}

func (c *conv) observationStmt(sec *section, s el) []*dtpb.Reference {
	m := mood(s)
	switch {
	case s.hasTemplate(tplAllergyObs...) || sec.e.child("code").attr("code") == loincAllergies && m == "EVN":
		return one(c.allergy(s, el{}))
	case s.hasTemplate(tplProblemObs...):
		return one(c.condition(s, el{}))
	case s.hasTemplate(tplGoal...) || m == "GOL":
		return one(c.goal(s))
	case isRequest(m):
		return one(c.serviceRequest(sec, s))
	case m == "EVN":
		return one(c.observation(sec, s, nil))
	}
	return nil
}

// act handles concern acts (problems, allergies, admission and discharge
// diagnoses wrap their observations in one), procedure acts and planned
// acts.
func (c *conv) act(sec *section, s el) []*dtpb.Reference {
	if refs, ok := c.concern(s); ok {
		return refs
	}
	if isRequest(mood(s)) {
		return one(c.serviceRequest(sec, s))
	}
	switch {
	case s.hasTemplate("2.16.840.1.113883.10.20.22.4.12", "1.3.6.1.4.1.19376.1.5.3.1.4.19", "2.16.840.1.113883.10.20.22.4.131") && mood(s) == "EVN":
		return one(c.procedure(s))
	case s.hasTemplate("2.16.840.1.113883.10.20.22.4.141"): // patient referral act
		return one(c.serviceRequest(sec, s))
	case s.hasTemplate(tplLabReportEntry...) || s.parent().hasTemplate(tplLabReportEntry...):
		return c.labReport(sec, s)
	}
	// Wrapper acts (C-CDA Discharge Medication .4.35, Admission Medication
	// .4.36): map what they wrap.
	var refs []*dtpb.Reference
	s.each("entryRelationship", func(er el) {
		if sa := er.child("substanceAdministration"); sa.ok() {
			inner := sec
			if s.hasTemplate("2.16.840.1.113883.10.20.22.4.35") {
				inner = &section{e: sec.e, kind: secDischargeMeds}
			}
			refs = append(refs, c.statement(inner, sa)...)
			if inner != sec {
				sec.requests = append(sec.requests, inner.requests...)
			}
		}
	})
	return refs
}

// labReport maps what an XD-LAB Laboratory Report Data Processing Entry
// holds: its results are laboratory results wherever the section is, so
// they are read in a results section.
func (c *conv) labReport(sec *section, act el) []*dtpb.Reference {
	lab := sec
	if sec.kind != secResults {
		lab = &section{e: sec.e, kind: secResults}
	}
	var refs []*dtpb.Reference
	act.each("entryRelationship", func(er el) {
		stmt := clinicalStatement(er)
		if !stmt.ok() {
			return
		}
		r := c.statement(lab, stmt)
		if r == nil {
			c.warn(stmt, "laboratory report "+stmt.name()+" (moodCode "+mood(stmt)+") not mapped")
		}
		refs = append(refs, r...)
	})
	return refs
}

// concern maps the problem and allergy observations inside a concern act.
// ok is false when the act holds none.
func (c *conv) concern(act el) (refs []*dtpb.Reference, ok bool) {
	act.each("entryRelationship", func(er el) {
		obs := er.child("observation")
		switch {
		case !obs.ok():
		case obs.hasTemplate(tplAllergyObs...):
			ok = true
			if r := c.allergy(obs, act); r != nil {
				refs = append(refs, r)
			}
		case obs.hasTemplate(tplProblemObs...):
			ok = true
			if r := c.condition(obs, act); r != nil {
				refs = append(refs, r)
			}
		}
	})
	return refs, ok
}

func hasDeviceParticipant(s el) bool {
	found := false
	s.each("participant", func(p el) {
		if p.attr("typeCode") == "DEV" || p.path("participantRole", "playingDevice").ok() {
			found = true
		}
	})
	return found
}

// entryAuthor maps an entry's first author, if any.
func (c *conv) entryAuthor(s el) *dtpb.Reference {
	return c.party(s.path("author", "assignedAuthor"))
}

// performers maps the performers of a statement.
func (c *conv) performers(s el) []*dtpb.Reference {
	var out []*dtpb.Reference
	s.each("performer", func(p el) {
		if r := c.party(p.child("assignedEntity")); r != nil {
			out = append(out, r)
		}
	})
	return out
}

// effective gives a statement's effectiveTime as a date-time (a point or an
// interval's start) and as a period.
func (c *conv) effective(s el) (*dtpb.DateTime, *dtpb.Period) {
	et := s.child("effectiveTime")
	if v := c.dateTime(et); v != nil {
		return v, nil
	}
	p := c.period(et)
	if p != nil && p.Start != nil && p.End != nil && p.Start.ValueUs == p.End.ValueUs {
		return p.Start, nil
	}
	return nil, p
}
