package access

import (
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
)

// TestTaskMoves walks the R4 Task state machine: every move it has is
// allowed, a sample of those it has not is a 422.
func TestTaskMoves(t *testing.T) {
	for from, tos := range taskNext {
		for _, to := range tos {
			if err := taskMove(from, to, false); err != nil {
				t.Errorf("%s -> %s: %v", from, to, err)
			}
		}
		if err := taskMove(from, taskEnteredInError, false); err != nil {
			t.Errorf("%s -> entered-in-error: %v", from, err)
		}
	}
	for _, m := range [][2]string{
		{taskRequested, taskCompleted}, {taskCompleted, taskInProgress}, {taskCancelled, taskRequested},
		{taskRejected, taskAccepted}, {taskFailed, taskInProgress}, {taskDraft, taskAccepted},
		{taskEnteredInError, taskRequested}, {taskOnHold, taskCompleted},
	} {
		if err := taskMove(m[0], m[1], false); outcome.KindOf(err) != outcome.Unprocessable {
			t.Errorf("%s -> %s: %v, want 422", m[0], m[1], err)
		}
	}
	// Re-assignment asks the next owner again.
	if err := taskMove(taskRejected, taskRequested, true); err != nil {
		t.Errorf("re-assigning a rejected Task: %v", err)
	}
	if err := taskMove(taskRejected, taskRequested, false); err == nil {
		t.Error("a rejected Task went back to requested without a new owner")
	}
}

// TestTable: what each class may write, and that what the table does not
// list is refused.
func TestTable(t *testing.T) {
	for _, c := range []struct {
		class   Class
		typ, op string
		allowed bool
	}{
		{Health, "Observation", OpCreate, true},
		{Health, "Observation", OpDelete, false},
		{Health, "Patient", OpUpdate, false},
		{Health, "CareTeam", OpUpdate, false},
		{Health, "Consent", OpCreate, false},
		{Social, "Observation", OpCreate, true},
		{Social, "DocumentReference", OpCreate, false},
		{ConsentAdministrator, "Consent", OpDelete, true},
		{ConsentAdministrator, "Observation", OpCreate, false},
		{Patient, "Consent", OpCreate, true},
		{Patient, "Observation", OpCreate, false},
		{Related, "Consent", OpCreate, false},
		{Unclassified, "Subscription", OpCreate, true},
		{Unclassified, "Task", OpCreate, false},
		{DischargeCoordinator, "Task", OpCreate, true},
		{DischargeCoordinator, "Encounter", OpUpdate, false},
	} {
		err := Allowed(&Caller{Class: c.class}, c.typ, c.op)
		if (err == nil) != c.allowed || err != nil && outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("%s %s %s: %v, want allowed %v", c.class, c.op, c.typ, err, c.allowed)
		}
	}
}
