package api

import (
	"net/http"
	"strconv"

	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/parameters_go_proto"
	"github.com/gorilla/mux"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
)

// The Subscriptions R5 Backport IG's operations on a Subscription
// (https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/operations.html),
// served by gateway/delivery, and the administration of its dead letters.
// $status and $events are read under the rules of reading the
// Subscription: its owner and system callers only, anyone else answered
// 404 as for an absent one.

// visibleSubscription runs the read pipeline on Subscription {id}: the
// scope to read Subscriptions, then the consent filter (owned types pass
// for their owner and system callers only).
func (a *API) visibleSubscription(r *http.Request) (string, error) {
	if a.delivery == nil {
		return "", errNoRoute
	}
	id := mux.Vars(r)["id"]
	if !store.ValidID(id) {
		return "", outcome.New(outcome.Invalid, "invalid id")
	}
	if err := allow(r, "Subscription", auth.Read); err != nil {
		return "", err
	}
	f, err := a.guard(r)
	if err != nil {
		return "", err
	}
	if _, err := a.readVisible(r, f, "Subscription", id); err != nil {
		return "", err
	}
	return id, nil
}

// subscriptionStatus: GET /fhir/Subscription/{id}/$status
func (a *API) subscriptionStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := a.visibleSubscription(r)
	if err != nil {
		return err
	}
	body, err := a.delivery.Status(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// subscriptionEvents: GET or POST /fhir/Subscription/{id}/$events, with
// eventsSinceNumber and eventsUntilNumber in the query or, for POST, in a
// Parameters body. Each event is decided again for the Subscription's
// owner: one denied is listed by its number only.
func (a *API) subscriptionEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := a.visibleSubscription(r)
	if err != nil {
		return err
	}
	bad := func(name string) error {
		return outcome.New(outcome.Invalid, "bad event number",
			outcome.Issue{Severity: outcome.SevError, Text: name + " must be a non-negative integer, as a string"})
	}
	args := map[string]string{
		"eventsSinceNumber": r.URL.Query().Get("eventsSinceNumber"),
		"eventsUntilNumber": r.URL.Query().Get("eventsUntilNumber"),
	}
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		m, err := a.readResource(r, "Parameters")
		if err != nil {
			return err
		}
		for _, p := range m.(*ppb.Parameters).GetParameter() {
			name := p.GetName().GetValue()
			if _, ok := args[name]; !ok {
				continue
			}
			// Both are strings (the IG's OperationDefinition
			// backport-subscription-events): another type is refused,
			// never read as an absent bound.
			v := p.GetValue().GetStringValue()
			if v == nil {
				return bad(name)
			}
			args[name] = v.GetValue()
		}
	}
	var bounds [2]uint64
	for i, name := range []string{"eventsSinceNumber", "eventsUntilNumber"} {
		if v := args[name]; v != "" {
			if bounds[i], err = strconv.ParseUint(v, 10, 64); err != nil {
				return bad(name)
			}
		}
	}
	body, err := a.delivery.Events(r.Context(), id, bounds[0], bounds[1])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// deadLetters: GET /admin/delivery/dead-letters lists the notifications
// given up (at most ?limit=, default 100), for a system caller.
func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) error {
	if a.delivery == nil {
		return errNoRoute
	}
	if err := systemScope(r, "Subscription", auth.Read, "the dead letters need a system scope reading Subscriptions"); err != nil {
		return err
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return outcome.New(outcome.Invalid, "limit must be a positive integer")
		}
		limit = n
	}
	ls, err := a.delivery.DeadLetters(limit)
	if err != nil {
		return err
	}
	return writePlainJSON(w, ls)
}

// replayDeadLetter: POST /admin/delivery/dead-letters/{sub}/{n}/replay
// makes dead letter n of Subscription sub pending again (consent is
// decided again at each of its attempts), for a system caller.
func (a *API) replayDeadLetter(w http.ResponseWriter, r *http.Request) error {
	if a.delivery == nil {
		return errNoRoute
	}
	if err := systemScope(r, "Subscription", auth.Update, "replaying a dead letter needs a system scope updating Subscriptions"); err != nil {
		return err
	}
	sub := mux.Vars(r)["sub"]
	n, err := strconv.ParseUint(mux.Vars(r)["n"], 10, 64)
	if err != nil || n == 0 || !store.ValidID(sub) {
		return outcome.New(outcome.Invalid, "a Subscription id and a positive event number are required")
	}
	if err := a.delivery.Replay(r.Context(), sub, n); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
