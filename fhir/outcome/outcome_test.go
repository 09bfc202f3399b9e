package outcome

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
)

func TestKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		kind   Kind
		status int
		is     error
	}{
		{New(NotFound, "x"), NotFound, http.StatusNotFound, ErrNotFound},
		{fmt.Errorf("wrapped: %w", New(Gone, "x")), Gone, http.StatusGone, ErrGone},
		{Wrap(PreconditionFailed, "x", errors.New("cause")), PreconditionFailed, http.StatusPreconditionFailed, ErrPreconditionFailed},
		{errors.New("plain"), Internal, http.StatusInternalServerError, nil},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.kind || got.Status() != tt.status {
			t.Errorf("%v: kind %v status %d", tt.err, got, got.Status())
		}
		if tt.is != nil && !errors.Is(tt.err, tt.is) {
			t.Errorf("%v is not %v", tt.err, tt.is)
		}
		if tt.is != nil && errors.Is(tt.err, ErrConflict) {
			t.Errorf("%v matches the wrong kind", tt.err)
		}
	}
}

func TestFromErrorKeepsDetailsForTheCaller(t *testing.T) {
	t.Parallel()
	err := New(Invalid, "invalid resource", Issue{Path: "Patient.birthDate", Text: "bad date 1990-13-45"})
	oo := FromError(err, "req1")
	is := oo.Issue[0]
	if is.GetCode().GetValue() != cpb.IssueTypeCode_INVALID || is.GetExpression()[0].GetValue() != "Patient.birthDate" {
		t.Errorf("issue = %v", is)
	}
	if is.GetDiagnostics().GetValue() != "error id req1" {
		t.Errorf("diagnostics = %v", is.GetDiagnostics())
	}
	if err.Error() != "invalid resource" {
		t.Errorf("Error() leaks details: %q", err.Error())
	}
	// An unclassified error exposes nothing but "internal error".
	oo = FromError(errors.New("secret patient name"), "")
	if got := oo.Issue[0].GetDetails().GetText().GetValue(); got != "internal error" {
		t.Errorf("internal error text = %q", got)
	}
}
