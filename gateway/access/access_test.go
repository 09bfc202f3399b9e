package access

import (
	"testing"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

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
	// Re-assignment asks the next owner again, whatever her predecessor
	// had done with it, until it ends.
	for _, from := range []string{taskRejected, taskReceived, taskAccepted, taskReady, taskInProgress, taskOnHold} {
		if err := taskMove(from, taskRequested, true); err != nil {
			t.Errorf("re-assigning a %s Task: %v", from, err)
		}
	}
	if err := taskMove(taskCompleted, taskRequested, true); err == nil {
		t.Error("a completed Task was asked again of another owner")
	}
	if err := taskMove(taskRejected, taskRequested, false); err == nil {
		t.Error("a rejected Task went back to requested without a new owner")
	}
}

// TestRejectionStatesWhy: a refusal carries a statusReason (text or
// code), whoever writes it, a system caller included.
func TestRejectionStatesWhy(t *testing.T) {
	task := func(status codes.TaskStatusCode_Value, reason *dtpb.CodeableConcept) *tpb.Task {
		return &tpb.Task{Status: &tpb.Task_StatusCode{Value: status}, StatusReason: reason,
			Owner: &dtpb.Reference{Reference: &dtpb.Reference_PractitionerRoleId{PractitionerRoleId: &dtpb.ReferenceId{Value: "nurse"}}}}
	}
	owner := &Caller{Class: Health, Refs: []string{"PractitionerRole/nurse"}}
	old := task(codes.TaskStatusCode_REQUESTED, nil)
	for name, c := range map[string]struct {
		reason *dtpb.CodeableConcept
		system bool
		ok     bool
	}{
		"no reason":         {},
		"an empty text":     {reason: &dtpb.CodeableConcept{Text: &dtpb.String{Value: " "}}},
		"no reason, system": {system: true},
		"a text":            {reason: &dtpb.CodeableConcept{Text: &dtpb.String{Value: "no visit slot this week"}}, ok: true},
		"a code":            {reason: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{Code: &dtpb.Code{Value: "full"}}}}, ok: true},
		"a text, system":    {reason: &dtpb.CodeableConcept{Text: &dtpb.String{Value: "full"}}, system: true, ok: true},
	} {
		err := Change(owner, &Write{Type: "Task", Op: OpUpdate, Old: old, New: task(codes.TaskStatusCode_REJECTED, c.reason), System: c.system})
		if c.ok && err != nil || !c.ok && outcome.KindOf(err) != outcome.Unprocessable {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestTaskNotesAddedTo: the owner and the requester add notes to a Task;
// routing's explanation and the notes before are never changed or
// removed, but by a system caller.
func TestTaskNotesAddedTo(t *testing.T) {
	note := func(s string) *dtpb.Annotation {
		return &dtpb.Annotation{Text: &dtpb.Markdown{Value: s}}
	}
	task := func(notes ...*dtpb.Annotation) *tpb.Task {
		return &tpb.Task{Status: &tpb.Task_StatusCode{Value: codes.TaskStatusCode_REQUESTED}, Note: notes,
			Owner: &dtpb.Reference{Reference: &dtpb.Reference_PractitionerRoleId{PractitionerRoleId: &dtpb.ReferenceId{Value: "nurse"}}}}
	}
	owner := &Caller{Class: Health, Refs: []string{"PractitionerRole/nurse"}}
	why := note("in the patient's care team")
	old := task(why)
	for name, c := range map[string]struct {
		now    *tpb.Task
		system bool
		ok     bool
	}{
		"a note added":        {now: task(why, note("first visit on Monday")), ok: true},
		"unchanged":           {now: task(why), ok: true},
		"routing's removed":   {now: task()},
		"routing's rewritten": {now: task(note("I was chosen at random"))},
		"one put before":      {now: task(note("first"), why)},
		"removed, system":     {now: task(), system: true, ok: true},
	} {
		err := Change(owner, &Write{Type: "Task", Op: OpUpdate, Old: old, New: c.now, System: c.system})
		if c.ok && err != nil || !c.ok && outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("%s: %v", name, err)
		}
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
