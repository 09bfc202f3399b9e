package api

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
)

// routedReads are the types routing reads to plan a stay, besides the
// Encounter (read as the caller may read it).
var routedReads = []string{"Patient", "Condition", "Procedure", "Observation"}

// routeStay: POST /fhir/Encounter/{id}/$route routes the stay (package
// routing): the pathway, and per action a ServiceRequest and a Task for
// the recipient chosen, under a CarePlan, created if absent (routing again
// adds what is missing and never duplicates). With ?preview=true it
// answers the plan it would make and writes nothing. The answer is a
// Bundle (transaction-response, or collection for a preview) whose last
// entry is an OperationOutcome of information issues explaining each
// choice. Routing is the hospital's act: it needs a system scope that
// creates Tasks, and system scopes that read what the plan is made from
// and tells (routedReads: its answer names the stay's diagnoses and why
// they chose the pathway); the Encounter is read as the caller may read
// it, so that one she may not see is answered as an absent one and the
// disclosure is recorded.
func (a *API) routeStay(w http.ResponseWriter, r *http.Request) error {
	if a.routing == nil {
		return errNoRoute
	}
	if err := systemScope(r, "Task", auth.Create, "routing needs a system scope that creates Tasks"); err != nil {
		return err
	}
	for _, typ := range routedReads {
		if err := systemScope(r, typ, auth.Read, "routing needs system scopes that read the stay: "+strings.Join(routedReads, ", ")); err != nil {
			return err
		}
	}
	id := mux.Vars(r)["id"]
	if !store.ValidID(id) {
		return outcome.New(outcome.Invalid, "invalid resource id")
	}
	if _, err := a.readAsCaller(r, "Encounter", id); err != nil {
		return err
	}
	plan, err := a.routing.Plan(r.Context(), id)
	if err != nil {
		return err
	}
	issues := make([]outcome.Issue, len(plan.Reasons))
	for i, why := range plan.Reasons {
		issues[i] = outcome.Issue{Severity: outcome.SevInformation, Code: cpb.IssueTypeCode_INFORMATIONAL, Text: why}
	}
	explained, err := a.codec.Encode(outcome.Resource(outcome.Internal, issues))
	if err != nil {
		return err
	}
	base := a.base(r) + "/fhir/"
	if r.URL.Query().Get("preview") == "true" {
		out := &bundlejson.Bundle{Type: "collection", ID: newRequestID(), Timestamp: a.now()}
		for _, m := range plan.Resources() {
			js, err := a.codec.Encode(m)
			if err != nil {
				return err
			}
			out.Entries = append(out.Entries, bundlejson.Entry{Resource: js})
		}
		out.Entries = append(out.Entries, bundlejson.Entry{Resource: explained})
		writeJSON(w, http.StatusOK, out.Marshal())
		return nil
	}
	results, err := a.routing.Write(r.Context(), plan)
	if err != nil {
		return err
	}
	out := &bundlejson.Bundle{Type: "transaction-response", ID: newRequestID(), Timestamp: a.now()}
	for _, res := range results {
		e := bundlejson.Entry{Response: &bundlejson.Response{Status: res.Status}}
		if rec := res.Record; rec != nil {
			e.FullURL = base + rec.Type + "/" + rec.ID
			e.Resource = a.shown(rec)
			e.Response.ETag, e.Response.LastModified = rec.ETag(), rec.LastUpdated
		}
		out.Entries = append(out.Entries, e)
	}
	out.Entries = append(out.Entries, bundlejson.Entry{Resource: explained})
	writeJSON(w, http.StatusOK, out.Marshal())
	return nil
}
