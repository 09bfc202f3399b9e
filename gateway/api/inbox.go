package api

import (
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
)

// The HL7 v2 inbox, for operators (ingest/inbox.go). Every route needs a
// system scope: these act on messages of every patient.

// inbox: GET /admin/inbox reports the HL7 v2 messages accepted and not yet
// written, and those that could not be written (ingest.InboxReport). It
// needs a system scope that reads every type.
func (a *API) inbox(w http.ResponseWriter, r *http.Request) error {
	if err := systemScope(r, "*", auth.Read, "the inbox report needs system/*.r"); err != nil {
		return err
	}
	rep, err := a.ingest.Inbox()
	if err != nil {
		return err
	}
	return writePlainJSON(w, rep)
}

// retryFailed: POST /admin/inbox/failed/{seq}/retry writes a set-aside
// message again (ingest.RetryFailed). It needs a system scope, and the
// scopes to create and update what the message maps to, as an ingest does.
func (a *API) retryFailed(w http.ResponseWriter, r *http.Request) error {
	seq, err := failedSeq(r)
	if err != nil {
		return err
	}
	if err := systemScope(r, "*", auth.Update, "retrying a message needs a system scope"); err != nil {
		return err
	}
	res, err := a.ingest.RetryFailed(r.Context(), seq, ingestScopes(r))
	if err != nil {
		return err
	}
	return writePlainJSON(w, res)
}

// discardFailed: DELETE /admin/inbox/failed/{seq} drops a set-aside message
// for good. It needs system/*.d.
func (a *API) discardFailed(w http.ResponseWriter, r *http.Request) error {
	seq, err := failedSeq(r)
	if err != nil {
		return err
	}
	if err := systemScope(r, "*", auth.Delete, "discarding a message needs system/*.d"); err != nil {
		return err
	}
	if err := a.ingest.DiscardFailed(r.Context(), seq); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// systemScope checks that the token grants op on typ ("*": every type) in
// the system context.
func systemScope(r *http.Request, typ string, op auth.Op, refusal string) error {
	p, _ := auth.FromContext(r.Context())
	if !grantsAsSystem(p, typ, op) {
		return outcome.New(outcome.Forbidden, refusal)
	}
	return nil
}

// grantsAsSystem reports whether the scope that grants p op on typ ("*":
// on every type) is a system one. Holding some system scope is not
// enough: the scope that grants this type and operation decides.
func grantsAsSystem(p *auth.Principal, typ string, op auth.Op) bool {
	c, ok := p.Scopes.Grant(typ, op)
	return ok && c == auth.ContextSystem
}

func failedSeq(r *http.Request) (uint64, error) {
	seq, err := strconv.ParseUint(mux.Vars(r)["seq"], 10, 64)
	if err != nil || seq == 0 {
		return 0, outcome.New(outcome.Invalid, "the message number must be a positive integer")
	}
	return seq, nil
}
