// Package outcome is the project's error vocabulary: a small set of error
// kinds, each with its HTTP status and OperationOutcome issue type, and the
// conversion of those errors to R4 OperationOutcome resources.
//
// An *Error keeps two texts apart (as google/fhir's UnmarshalError does):
// Summary is static and free of patient data, so it may be logged; Issues
// carry details for the authorised caller (element paths, values) and are
// only ever sent in a response.
package outcome

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	oopb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/operation_outcome_go_proto"
)

// Kind is an error category.
type Kind int

// The kinds. The zero Kind is Internal so that an unclassified error is never
// reported as the client's fault.
const (
	Internal           Kind = iota
	Invalid                 // 400: malformed request or resource
	Unauthenticated         // 401: no or bad credentials
	Forbidden               // 403: authenticated but not allowed
	NotFound                // 404
	MethodNotAllowed        // 405
	Conflict                // 409: version conflict on update
	Gone                    // 410: deleted
	PreconditionFailed      // 412: If-Match mismatch, or multiple matches
	TooLarge                // 413
	UnsupportedMedia        // 415
	Unprocessable           // 422: a business rule was broken
	Busy                    // 503
	NotSupported            // 501
	NotAcceptable           // 406: no representation the request accepts
)

var kindInfo = map[Kind]struct {
	status int
	code   cpb.IssueTypeCode_Value
}{
	Internal:           {http.StatusInternalServerError, cpb.IssueTypeCode_EXCEPTION},
	Invalid:            {http.StatusBadRequest, cpb.IssueTypeCode_INVALID},
	Unauthenticated:    {http.StatusUnauthorized, cpb.IssueTypeCode_LOGIN},
	Forbidden:          {http.StatusForbidden, cpb.IssueTypeCode_FORBIDDEN},
	NotFound:           {http.StatusNotFound, cpb.IssueTypeCode_NOT_FOUND},
	MethodNotAllowed:   {http.StatusMethodNotAllowed, cpb.IssueTypeCode_NOT_SUPPORTED},
	Conflict:           {http.StatusConflict, cpb.IssueTypeCode_CONFLICT},
	Gone:               {http.StatusGone, cpb.IssueTypeCode_DELETED},
	PreconditionFailed: {http.StatusPreconditionFailed, cpb.IssueTypeCode_CONFLICT},
	TooLarge:           {http.StatusRequestEntityTooLarge, cpb.IssueTypeCode_TOO_COSTLY},
	UnsupportedMedia:   {http.StatusUnsupportedMediaType, cpb.IssueTypeCode_NOT_SUPPORTED},
	Unprocessable:      {http.StatusUnprocessableEntity, cpb.IssueTypeCode_BUSINESS_RULE},
	Busy:               {http.StatusServiceUnavailable, cpb.IssueTypeCode_TRANSIENT},
	NotSupported:       {http.StatusNotImplemented, cpb.IssueTypeCode_NOT_SUPPORTED},
	NotAcceptable:      {http.StatusNotAcceptable, cpb.IssueTypeCode_NOT_SUPPORTED},
}

// Status returns the HTTP status for k.
func (k Kind) Status() int { return kindInfo[k].status }

// Severity of an issue.
type Severity string

// Issue severities, as in OperationOutcome.issue.severity.
const (
	SevFatal       Severity = "fatal"
	SevError       Severity = "error"
	SevWarning     Severity = "warning"
	SevInformation Severity = "information"
)

// Issue is one OperationOutcome issue. Text may contain patient data: it goes
// to the caller, never to logs.
type Issue struct {
	Severity Severity
	Code     cpb.IssueTypeCode_Value // zero means: from the error's kind
	Path     string                  // FHIRPath or XPath expression, optional
	Text     string
}

// Error is a categorised error.
type Error struct {
	Kind    Kind
	Summary string // static, PHI-free: it is logged (Summary)
	Issues  []Issue
	Err     error // cause, optional
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Summary + ": " + e.Err.Error()
	}
	return e.Summary
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, outcome.NotFound) style checks work on kinds.
func (e *Error) Is(target error) bool {
	t, ok := target.(kindError)
	return ok && Kind(t) == e.Kind
}

type kindError Kind

func (k kindError) Error() string { return fmt.Sprintf("outcome kind %d", int(k)) }

// Sentinels for errors.Is.
var (
	ErrInvalid            error = kindError(Invalid)
	ErrNotFound           error = kindError(NotFound)
	ErrGone               error = kindError(Gone)
	ErrConflict           error = kindError(Conflict)
	ErrPreconditionFailed error = kindError(PreconditionFailed)
	ErrForbidden          error = kindError(Forbidden)
	ErrUnprocessable      error = kindError(Unprocessable)
)

// New returns an error of kind k with a PHI-free summary.
func New(k Kind, summary string, issues ...Issue) *Error {
	return &Error{Kind: k, Summary: summary, Issues: issues}
}

// Wrap returns an error of kind k with a PHI-free summary and a cause.
func Wrap(k Kind, summary string, cause error) *Error {
	return &Error{Kind: k, Summary: summary, Err: cause}
}

// KindOf returns the kind of err; errors that are not *Error are Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Summary is what may be logged of err: the summaries of the *Errors in
// its chain, outermost first, joined by ": " ("consent decision not
// recorded: audit journal write failed"), then the operating system's
// error number among its causes, if any ("no space left on device"): the
// number names what the system refused (a full disk, a read-only file
// system), never the data, and without it an operator reads "internal
// error" for a full disk. The text of any other error in the chain is left
// out, as it may quote data. Without a summary it is "internal error".
func Summary(err error) string {
	var parts []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
			return
		case *Error:
			parts = append(parts, e.Summary)
			walk(e.Err)
		case interface{ Unwrap() []error }:
			for _, c := range e.Unwrap() {
				walk(c)
			}
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	if len(parts) == 0 {
		parts = append(parts, "internal error")
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		parts = append(parts, errno.Error())
	}
	return strings.Join(parts, ": ")
}

// FromError builds the OperationOutcome the caller sees for err. Internal
// errors expose nothing but their summary line; id (a correlation id that is
// also logged) goes in the diagnostics.
func FromError(err error, id string) *oopb.OperationOutcome {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: Internal, Summary: "internal error"}
	}
	issues := e.Issues
	if len(issues) == 0 {
		issues = []Issue{{Severity: SevError, Text: e.Summary}}
	}
	oo := Resource(e.Kind, issues)
	if id != "" {
		oo.Issue[0].Diagnostics = &dtpb.String{Value: "error id " + id}
	}
	return oo
}

// Resource builds an OperationOutcome from issues; issues without a code get
// the code of kind k.
func Resource(k Kind, issues []Issue) *oopb.OperationOutcome {
	oo := &oopb.OperationOutcome{}
	for _, is := range issues {
		oo.Issue = append(oo.Issue, issue(k, is))
	}
	return oo
}

// Info builds an OperationOutcome with a single informational issue.
func Info(text string) *oopb.OperationOutcome {
	return Resource(Internal, []Issue{{Severity: SevInformation, Code: cpb.IssueTypeCode_INFORMATIONAL, Text: text}})
}

func issue(k Kind, is Issue) *oopb.OperationOutcome_Issue {
	code := is.Code
	if code == cpb.IssueTypeCode_INVALID_UNINITIALIZED {
		code = kindInfo[k].code
	}
	sev := is.Severity
	if sev == "" {
		sev = SevError
	}
	out := &oopb.OperationOutcome_Issue{
		Severity: &oopb.OperationOutcome_Issue_SeverityCode{Value: severityCode[sev]},
		Code:     &oopb.OperationOutcome_Issue_CodeType{Value: code},
	}
	if is.Text != "" {
		out.Details = &dtpb.CodeableConcept{Text: &dtpb.String{Value: is.Text}}
	}
	if is.Path != "" {
		out.Expression = []*dtpb.String{{Value: is.Path}}
	}
	return out
}

var severityCode = map[Severity]cpb.IssueSeverityCode_Value{
	SevFatal:       cpb.IssueSeverityCode_FATAL,
	SevError:       cpb.IssueSeverityCode_ERROR,
	SevWarning:     cpb.IssueSeverityCode_WARNING,
	SevInformation: cpb.IssueSeverityCode_INFORMATION,
}
