package assessment

import (
	"github.com/relais-health/relais/fhir/outcome"
)

// invalid returns the error every rejected input gets: kind Invalid (HTTP
// 400), a static summary that may be logged, and issues naming the fields,
// which may quote the input and so go only to the caller.
func invalid(summary string, issues ...outcome.Issue) *outcome.Error {
	return outcome.New(outcome.Invalid, summary, issues...)
}

func issue(path, text string) outcome.Issue {
	return outcome.Issue{Severity: outcome.SevError, Path: path, Text: text}
}

func invalidJSON(err error) *outcome.Error {
	return invalid("invalid JSON", issue("$", "invalid JSON: "+err.Error()))
}
