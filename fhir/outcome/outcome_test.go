package outcome

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
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

// TestSummary: what is logged of an error holds every summary of its
// chain and the system's error number (a full disk), never the text of
// the other errors, which may quote data.
func TestSummary(t *testing.T) {
	t.Parallel()
	full := &fs.PathError{Op: "write", Path: "/data/relais.db.decisions.0", Err: syscall.ENOSPC}
	for _, c := range []struct {
		err  error
		want string
	}{
		{New(NotFound, "resource not found"), "resource not found"},
		{Wrap(Internal, "consent decision not recorded", fmt.Errorf("journal of Patient/DUPONT: %w", Wrap(Internal, "audit journal write failed", full))),
			"consent decision not recorded: audit journal write failed: no space left on device"},
		{Wrap(Internal, "database commit failed", full), "database commit failed: no space left on device"},
		{errors.Join(New(Internal, "inbox log failed"), full), "inbox log failed: no space left on device"},
		{fmt.Errorf("wrapped: %w", full), "internal error: no space left on device"},
		{errors.New("secret patient name"), "internal error"},
	} {
		if got := Summary(c.err); got != c.want {
			t.Errorf("Summary(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
