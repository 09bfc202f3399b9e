package bundle

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
)

// warnings builds the OperationOutcome of the Builder's warnings: what
// outcome.Resource(outcome.Invalid, issues) builds, more cheaply. A message
// with many unmapped fields gives a hundred warnings, and their elements were
// a third of the bytes a mapping allocated. Every issue comes from Warn, so
// it is a not-supported warning: the issues share one severity and one code,
// and the issues with the same text share their details. The outcome is
// therefore a graph, not a tree: it must not be modified in place (which
// nothing does: it is stored and printed). TestWarningsAsOutcome checks both
// agree.
func warnings(issues []outcome.Issue) *oopb.OperationOutcome {
	type elements struct {
		issue      oopb.OperationOutcome_Issue
		path       dtpb.String
		expression [1]*dtpb.String
	}
	type details struct {
		cc   dtpb.CodeableConcept
		text dtpb.String
	}
	shared := &struct {
		severity oopb.OperationOutcome_Issue_SeverityCode
		code     oopb.OperationOutcome_Issue_CodeType
		details  [4]details // the first texts met; warnings have few distinct texts
	}{}
	shared.severity.Value = cpb.IssueSeverityCode_WARNING
	shared.code.Value = cpb.IssueTypeCode_NOT_SUPPORTED
	texts := shared.details[:0]
	detailsFor := func(text string) *dtpb.CodeableConcept {
		for i := range texts {
			if texts[i].text.Value == text {
				return &texts[i].cc
			}
		}
		d := &details{}
		if len(texts) < cap(texts) {
			texts = texts[:len(texts)+1]
			d = &texts[len(texts)-1]
		}
		d.text.Value = text
		d.cc.Text = &d.text
		return &d.cc
	}
	// In blocks of 32 issues (about 9 KB): larger blocks take the runtime's
	// slower path for large objects.
	var block []elements
	oo := &oopb.OperationOutcome{Issue: make([]*oopb.OperationOutcome_Issue, len(issues))}
	for i, is := range issues {
		if len(block) == 0 {
			block = make([]elements, min(32, len(issues)-i))
		}
		e := &block[0]
		block = block[1:]
		e.issue.Severity, e.issue.Code = &shared.severity, &shared.code
		if is.Text != "" {
			e.issue.Details = detailsFor(is.Text)
		}
		if is.Path != "" {
			e.path.Value = is.Path
			e.expression[0] = &e.path
			e.issue.Expression = e.expression[:]
		}
		oo.Issue[i] = &e.issue
	}
	return oo
}
