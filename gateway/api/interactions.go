package api

import (
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/gateway/auth"
)

// The interactions the API serves on each type
// (https://hl7.org/fhir/R4/http.html): every one, from the store, on every
// type but AuditEvent.
//
// AuditEvents are the audit log's (audit.go), append-only: the server
// records them itself (IHE BALP), each a leaf of the log's Merkle tree
// (RFC 9162 section 2.1), and "AuditEvents are not expected to be updated
// or deleted" (https://hl7.org/fhir/R4/auditevent.html). An entry has no
// versions either. So the type has the audit log's read and search (GET
// /fhir/AuditEvent/{id}, GET /fhir/AuditEvent and POST
// /fhir/AuditEvent/_search) and nothing else, for every caller, system
// ones included: create, update, patch, delete, their conditional forms,
// batch and transaction entries, vread and the histories of the type are
// refused as interactions it does not support (405, as R4 http.html#delete
// answers a type a server refuses to delete as a policy). An AuditEvent
// the store holds (written through the API by a Relais before this rule)
// is therefore never served: the histories of the system and
// _include/_revinclude leave it out, as they leave out what the caller's
// scopes do not read.

// storeInteractions are the R4 TypeRestfulInteraction codes of a type the
// store serves.
var storeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}

// auditLogInteractions are AuditEvent's: audit.go's routes.
var auditLogInteractions = []string{"read", "search-type"}

// auditLogType reports whether typ is served by the audit log rather than
// the store.
func auditLogType(typ string) bool { return typ == "AuditEvent" }

// interactions are the R4 TypeRestfulInteraction codes the API serves on
// typ, as the CapabilityStatement lists them.
func interactions(typ string) []string {
	if auditLogType(typ) {
		return auditLogInteractions
	}
	return storeInteractions
}

// supported refuses op on typ through the store's routes when typ is the
// audit log's: every store path on the type (writes, batch and
// transaction entries, vread, histories, includes) checks op here through
// allow. Search is the log's own (both its routes lead to audit.go), and
// consentOffice asks allow about it.
func supported(typ string, op auth.Op) error {
	if !auditLogType(typ) || op == auth.Search {
		return nil
	}
	return outcome.New(outcome.MethodNotAllowed, "interaction not supported on AuditEvent",
		outcome.Issue{Severity: outcome.SevError, Text: "AuditEvents are recorded by the server alone and never changed: " +
			"read one at GET /fhir/AuditEvent/{id}, search them at GET /fhir/AuditEvent or POST /fhir/AuditEvent/_search"})
}
