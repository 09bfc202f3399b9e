package api

import (
	"context"
	"io"
	"net/http"

	"github.com/relais-health/relais/fhir/bundlejson"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/mappings/hl7v2"
)

// The ingestion routes take a source document, map it and store the result
// (package ingest). Authorisation: the token's system scopes must allow
// create and update on every resource type the mapping writes
// (system/*.cu, or e.g. system/Patient.cu and so on); this is checked
// after mapping and before anything is stored.

// ingestHL7v2: POST /ingest/hl7v2. The body is one ER7 message; the answer
// is its acknowledgement as x-application/hl7-v2+er7, with HTTP 200 even
// for AE/AR: those are HL7 answers, carried by MSA-1 and ERR. In enhanced
// mode the application ACK (AA/AE/AR) is returned, since the response
// comes after processing. HTTP errors are transport errors only: 401/403
// (token, scopes), 413 (size), 415 (media type), 503 (store unavailable:
// nothing was stored or acknowledged; send again).
func (a *API) ingestHL7v2(w http.ResponseWriter, r *http.Request) error {
	// an empty body is a message that does not parse: a NACK says so
	body, err := readAny(r, "x-application/hl7-v2+er7", "application/hl7-v2", "text/plain")
	if err != nil {
		return err
	}
	reply, err := a.ingest.HL7v2(a.ingestContext(r), body, ingestScopes(r))
	if err != nil {
		return err
	}
	ack := reply.ACK
	if reply.AppACK != nil {
		ack = reply.AppACK
	}
	if ack == nil { // the body was itself an ACK
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("Content-Type", hl7v2.ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ack)
	return nil
}

// ingestCDA: POST /ingest/cda (application/xml, text/xml or
// application/hl7-cda+xml).
func (a *API) ingestCDA(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, "application/hl7-cda+xml", "application/xml", "text/xml")
	if err != nil {
		return err
	}
	s, err := a.ingest.CDA(a.ingestContext(r), body, ingestScopes(r))
	if err != nil {
		return err
	}
	return a.writeStored(w, r, s)
}

// ingestFHIRDocument: POST /ingest/fhir (application/fhir+json or
// application/json): a FHIR R4 document, a Bundle of type document. A
// transaction or batch is refused (400) with where it goes: POST /fhir.
func (a *API) ingestFHIRDocument(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, "application/fhir+json", "application/json")
	if err != nil {
		return err
	}
	s, err := a.ingest.FHIRDocument(a.ingestContext(r), body, ingestScopes(r))
	if err != nil {
		return err
	}
	return a.writeStored(w, r, s)
}

// ingestAssessment: POST /ingest/assessment (application/json or
// application/fhir+json): AGGIR JSON, a TDDUI QuestionnaireResponse or a
// needs assessment. Invalid input is a 400 OperationOutcome whose issues
// name the fields.
func (a *API) ingestAssessment(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r, "application/json", "application/fhir+json")
	if err != nil {
		return err
	}
	s, err := a.ingest.Assessment(a.ingestContext(r), body, ingestScopes(r))
	if err != nil {
		return err
	}
	return a.writeStored(w, r, s)
}

// ingestContext names the caller for the ingestion's audit events.
func (a *API) ingestContext(r *http.Request) context.Context {
	p := callOf(r).p
	who := p.FHIRUser
	if who == "" && p.ClientID != "" {
		who = "client:" + p.ClientID
	}
	return ingest.WithCaller(r.Context(), who, p.TokenID, a.peers(r, p.ClientID))
}

// writeStored answers a stored mapping with a transaction-response Bundle:
// one entry per resource written, in the mapping's order. The mapping's
// warnings are the OperationOutcome among those resources; its entry always
// carries the resource, so the caller sees them without another request.
func (a *API) writeStored(w http.ResponseWriter, r *http.Request, s *ingest.Stored) error {
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	out := &bundlejson.Bundle{Type: "transaction-response", ID: newRequestID(), Timestamp: a.now()}
	for _, res := range s.Results {
		e, err := a.responseEntry(r, f, "PUT", res.Status, res.Record)
		if err != nil {
			return err
		}
		if res.Record != nil && res.Record.Type == "OperationOutcome" && len(s.Issues) > 0 {
			e.Resource = res.Record.JSON
		}
		out.Entries = append(out.Entries, e)
	}
	writeJSON(w, http.StatusOK, out.Marshal())
	return nil
}

// ingestScopes allows a mapping's writes when the token's system scopes
// create and update every type it writes: a source document writes
// Patients, Encounters and clinical data for the hospital, which the write
// policy leaves to system callers (writes.go), so a user/ scope does not
// ingest.
func ingestScopes(r *http.Request) ingest.Authorize {
	p, _ := auth.FromContext(r.Context())
	return func(types []string) error {
		for _, typ := range types {
			for _, op := range []auth.Op{auth.Create, auth.Update} {
				if err := allow(r, typ, op); err != nil {
					return err
				}
				if !grantsAsSystem(p, typ, op) {
					return outcome.New(outcome.Forbidden, "ingestion needs system scopes",
						outcome.Issue{Severity: outcome.SevError, Text: "the token's scope for " + op.String() + " on " + typ + " is not a system/ one"})
				}
			}
		}
		return nil
	}
}

// readBody checks the media type against the accepted ones and reads a
// non-empty body (the size limit is common's).
func readBody(r *http.Request, accepted ...string) ([]byte, error) {
	body, err := readAny(r, accepted...)
	if err == nil && len(body) == 0 {
		return nil, outcome.New(outcome.Invalid, "empty body")
	}
	return body, err
}

// readAny is readBody, empty bodies included.
func readAny(r *http.Request, accepted ...string) ([]byte, error) {
	if err := checkMediaType(r, accepted...); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err // MaxBytesError becomes 413 in writeError
	}
	return body, nil
}
