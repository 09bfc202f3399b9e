package bundle

import (
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
)

// warnings builds the OperationOutcome of the Builder's warnings: what
// outcome.Resource(outcome.Invalid, issues) builds, with the elements of all
// issues allocated together. A message with many unmapped fields gives a
// hundred warnings, and one allocation per element was a fifth of all the
// allocations of a mapping. Every issue comes from Warn, so it is a
// not-supported warning. TestWarningsAsOutcome checks both agree.
func warnings(issues []outcome.Issue) *oopb.OperationOutcome {
	type elements struct {
		issue      oopb.OperationOutcome_Issue
		severity   oopb.OperationOutcome_Issue_SeverityCode
		code       oopb.OperationOutcome_Issue_CodeType
		details    dtpb.CodeableConcept
		text, path dtpb.String
		expression [1]*dtpb.String
	}
	// In blocks of 16 issues (about 10 KB): larger blocks take the runtime's
	// slower path for large objects.
	var block []elements
	oo := &oopb.OperationOutcome{Issue: make([]*oopb.OperationOutcome_Issue, len(issues))}
	for i, is := range issues {
		if len(block) == 0 {
			block = make([]elements, min(16, len(issues)-i))
		}
		e := &block[0]
		block = block[1:]
		e.severity.Value = cpb.IssueSeverityCode_WARNING
		e.code.Value = cpb.IssueTypeCode_NOT_SUPPORTED
		e.issue.Severity, e.issue.Code = &e.severity, &e.code
		if is.Text != "" {
			e.text.Value = is.Text
			e.details.Text = &e.text
			e.issue.Details = &e.details
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
