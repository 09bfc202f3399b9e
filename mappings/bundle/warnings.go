package bundle

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
)

// warnList holds a Builder's warnings as the issues of their
// OperationOutcome: what outcome.Resource(outcome.Invalid, issues) builds,
// more cheaply, and made as they are recorded rather than kept as
// outcome.Issues first (a slice that grew by doubling to a hundred issues,
// then was copied). A message with many unmapped fields gives a hundred
// warnings, and their elements were a third of the bytes a mapping
// allocated. Every issue comes from Warn, so it is a not-supported warning:
// the issues share one severity and one code, and the issues with the same
// text share their details. The outcome is therefore a graph, not a tree:
// it must not be modified in place (which nothing does: it is stored and
// printed). TestWarningsAsOutcome checks both agree.
type warnList struct {
	issues []*oopb.OperationOutcome_Issue
	block  []issueElements // room for the next issues
	n      int             // size of the last block
	shared *sharedElements
}

type issueElements struct {
	issue      oopb.OperationOutcome_Issue
	path       dtpb.String
	expression [1]*dtpb.String
}

type sharedElements struct {
	severity oopb.OperationOutcome_Issue_SeverityCode
	code     oopb.OperationOutcome_Issue_CodeType
	details  [4]details // the first texts met; warnings have few distinct texts
	n        int        // details used
}

type details struct {
	cc   dtpb.CodeableConcept
	text dtpb.String
}

// add records a warning at path (may be "") saying text (may be "").
func (w *warnList) add(path, text string) {
	if w.shared == nil {
		w.shared = &sharedElements{}
		w.shared.severity.Value = cpb.IssueSeverityCode_WARNING
		w.shared.code.Value = cpb.IssueTypeCode_NOT_SUPPORTED
		w.issues = make([]*oopb.OperationOutcome_Issue, 0, 16)
	}
	if len(w.block) == 0 {
		// In blocks of 4, 8, then 16 issues (4.4 KB): a message with one
		// warning does not pay for a hundred, and larger blocks leave more
		// unused.
		w.n = min(max(2*w.n, 4), 16)
		w.block = make([]issueElements, w.n)
	}
	e := &w.block[0]
	w.block = w.block[1:]
	e.issue.Severity, e.issue.Code = &w.shared.severity, &w.shared.code
	if text != "" {
		e.issue.Details = w.details(text)
	}
	if path != "" {
		e.path.Value = path
		e.expression[0] = &e.path
		e.issue.Expression = e.expression[:]
	}
	w.issues = append(w.issues, &e.issue)
}

// details returns the details saying text, shared with the earlier issues
// saying the same when it is among the first texts met.
func (w *warnList) details(text string) *dtpb.CodeableConcept {
	s := w.shared
	for i := range s.details[:s.n] {
		if s.details[i].text.Value == text {
			return &s.details[i].cc
		}
	}
	d := &details{}
	if s.n < len(s.details) {
		d = &s.details[s.n]
		s.n++
	}
	d.text.Value = text
	d.cc.Text = &d.text
	return &d.cc
}

// list returns the warnings as outcome.Issues.
func (w *warnList) list() []outcome.Issue {
	if len(w.issues) == 0 {
		return nil
	}
	out := make([]outcome.Issue, len(w.issues))
	for i, is := range w.issues {
		out[i] = outcome.Issue{Severity: outcome.SevWarning, Code: cpb.IssueTypeCode_NOT_SUPPORTED, Text: is.GetDetails().GetText().GetValue()}
		if ex := is.GetExpression(); len(ex) > 0 {
			out[i].Path = ex[0].GetValue()
		}
	}
	return out
}

// outcome returns the OperationOutcome of the warnings.
func (w *warnList) outcome() *oopb.OperationOutcome {
	return &oopb.OperationOutcome{Issue: w.issues}
}
