package access

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// The Task rules. A Task is a request to a community professional that
// she accepts or refuses: who may move it, and where to, is the contract
// between the requester and the owner (R4 task.html, "Task state
// machine" and the definitions of Task.owner and Task.requester).

// Task statuses (http://hl7.org/fhir/task-status).
const (
	taskDraft          = "draft"
	taskRequested      = "requested"
	taskReceived       = "received"
	taskAccepted       = "accepted"
	taskRejected       = "rejected"
	taskReady          = "ready"
	taskCancelled      = "cancelled"
	taskInProgress     = "in-progress"
	taskOnHold         = "on-hold"
	taskFailed         = "failed"
	taskCompleted      = "completed"
	taskEnteredInError = "entered-in-error"
)

// taskNext is the R4 Task state machine: the statuses each status may move
// to. entered-in-error is reachable from every status and leads nowhere;
// rejected, cancelled, failed and completed are final, except that a
// requester re-assigning a rejected Task to another owner asks again
// (requested): the discharge's next candidate. A Task re-assigned before
// it ends is asked of its new owner too (askedAgain): she has accepted
// nothing of what her predecessor did.
var taskNext = map[string][]string{
	taskDraft:      {taskRequested, taskCancelled},
	taskRequested:  {taskReceived, taskAccepted, taskRejected, taskCancelled},
	taskReceived:   {taskAccepted, taskRejected, taskCancelled},
	taskAccepted:   {taskReady, taskInProgress, taskCancelled},
	taskReady:      {taskInProgress, taskCancelled, taskFailed},
	taskInProgress: {taskOnHold, taskCompleted, taskFailed, taskCancelled},
	taskOnHold:     {taskInProgress, taskFailed, taskCancelled},
}

// askedAgain are the statuses from which a Task given to another owner
// goes back to requested: refused or received by her predecessor, or
// accepted and under way (R4 task.html#statemachine: accepted, ready,
// in-progress, on-hold are the owner's moves after she accepted).
var askedAgain = []string{taskRejected, taskReceived, taskAccepted, taskReady, taskInProgress, taskOnHold}

// taskStart are the statuses a new Task may have.
var taskStart = []string{taskDraft, taskRequested, taskReady}

// ownerMoves are the statuses only the owner moves a Task to; requesterMoves
// those only the requester (or a system caller) does.
var (
	ownerMoves     = []string{taskReceived, taskAccepted, taskRejected, taskReady, taskInProgress, taskOnHold, taskCompleted, taskFailed}
	requesterMoves = []string{taskRequested, taskCancelled, taskEnteredInError}
)

// TaskStatuses returns the state machine, for documentation.
func TaskStatuses() map[string][]string { return taskNext }

// Cancellable reports whether t may still be cancelled: its status leads
// to cancelled in the R4 state machine (taskNext), i.e. it is not final.
func Cancellable(t *tpb.Task) bool { return slices.Contains(taskNext[taskStatus(t)], taskCancelled) }

func taskStatus(t *tpb.Task) string {
	return strings.ReplaceAll(strings.ToLower(t.GetStatus().GetValue().String()), "_", "-")
}

func taskChange(c *Caller, w *Write) error {
	if w.Op == OpDelete {
		return nil // only system callers delete (Table)
	}
	nt, ok := w.New.(*tpb.Task)
	if !ok {
		return nil
	}
	if w.Old == nil {
		if w.System {
			return nil // an integration may record a Task at any stage
		}
		if s := taskStatus(nt); !slices.Contains(taskStart, s) {
			return unprocessable("a new Task starts as draft, requested or ready, not " + s)
		}
		if !c.refersTo(nt.GetRequester()) {
			return forbidden("a Task is created by its requester: Task.requester must be the caller (or her organisation)")
		}
		return nil
	}
	ot := w.Old.(*tpb.Task)
	from, to := taskStatus(ot), taskStatus(nt)
	reassigned := resource.RefString(ot.GetOwner()) != resource.RefString(nt.GetOwner())
	if from != to {
		if err := taskMove(from, to, reassigned); err != nil {
			return err
		}
		if to == taskRejected && !stated(nt.GetStatusReason()) {
			// The requester asks the next candidate and the plan shows
			// why this one refused (R4 Task.statusReason: "why ... was
			// refused"): a refusal says why.
			return unprocessable("a Task is rejected with a statusReason saying why")
		}
	}
	if w.System {
		return nil
	}
	owner, requester := c.refersTo(ot.GetOwner()), c.refersTo(ot.GetRequester())
	if !owner && !requester {
		return forbidden("only the Task's owner or its requester changes it")
	}
	if from != to {
		switch {
		case slices.Contains(ownerMoves, to) && !owner:
			return forbidden("only the Task's owner moves it to " + to)
		case slices.Contains(requesterMoves, to) && !requester:
			return forbidden("only the Task's requester moves it to " + to)
		}
	}
	// What each party may change besides the status (R4: the owner
	// reports the outcome, the requester decides who is asked).
	keep := func(t *tpb.Task) *tpb.Task {
		k := proto.Clone(t).(*tpb.Task)
		k.Meta, k.Text, k.Status, k.StatusReason, k.Note, k.LastModified = nil, nil, nil, nil, nil, nil
		if owner {
			k.BusinessStatus, k.Output, k.ExecutionPeriod = nil, nil, nil
		}
		if requester {
			k.Owner, k.Restriction, k.Priority, k.Description = nil, nil, nil, nil
		}
		return k
	}
	if !proto.Equal(keep(ot), keep(nt)) {
		if owner && !requester {
			return forbidden("the Task's owner changes only its status, statusReason, businessStatus, output, note and executionPeriod")
		}
		if requester && !owner {
			return forbidden("the Task's requester changes only its status, statusReason, owner, restriction, priority, description and note")
		}
		return forbidden("this change of the Task is for a system caller")
	}
	if reassigned && !requester {
		return forbidden("only the Task's requester re-assigns it")
	}
	if !notesKept(ot.GetNote(), nt.GetNote()) {
		return forbidden("a Task's notes are added to, never changed or removed")
	}
	return nil
}

// notesKept reports whether was, a Task's notes, begins now unchanged.
// R4 Task.note is "information captured about the task as it
// progresses": routing's explanation of why its owner was asked, and what
// each party noted since, stay with it; a party adds a note, a system
// caller alone rewrites them.
func notesKept(was, now []*dtpb.Annotation) bool {
	if len(now) < len(was) {
		return false
	}
	for i, n := range was {
		if !proto.Equal(n, now[i]) {
			return false
		}
	}
	return true
}

// taskMove checks one status change against the state machine.
func taskMove(from, to string, reassigned bool) error {
	switch {
	case to == taskEnteredInError:
		return nil
	case reassigned && to == taskRequested && slices.Contains(askedAgain, from):
		return nil // asked of another owner
	case slices.Contains(taskNext[from], to):
		return nil
	}
	return unprocessable("a Task cannot move from " + from + " to " + to + " (R4 Task state machine)")
}

// stated reports whether a reason says something: a text or a code.
func stated(c *dtpb.CodeableConcept) bool {
	if strings.TrimSpace(c.GetText().GetValue()) != "" {
		return true
	}
	return slices.ContainsFunc(c.GetCoding(), func(cd *dtpb.Coding) bool { return cd.GetCode().GetValue() != "" })
}

// refersTo reports whether ref names the caller or what it acts for.
func (c *Caller) refersTo(ref *dtpb.Reference) bool {
	s := resource.RefString(ref)
	return s != "" && slices.Contains(c.Refs, s)
}
