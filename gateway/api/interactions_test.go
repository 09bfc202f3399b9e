package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/store"
)

// legacyAuditEvent is an AuditEvent stored as any resource, as an older
// Relais let a system caller write one through the API.
const legacyAuditEvent = `{"resourceType":"AuditEvent","id":"legacy-1","type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110110"},` +
	`"recorded":"2026-01-01T00:00:00Z","outcome":"0","agent":[{"who":{"reference":"PractitionerRole/gp"},"requestor":true}],` +
	`"source":{"observer":{"display":"forger"}},"entity":[{"what":{"reference":"Patient/p1"}}]}`

// forgedAuditEvent is legacyAuditEvent under another id ("" for none).
func forgedAuditEvent(id string) string {
	if id == "" {
		return strings.Replace(legacyAuditEvent, `"id":"legacy-1",`, "", 1)
	}
	return strings.Replace(legacyAuditEvent, `"legacy-1"`, `"`+id+`"`, 1)
}

// auditEnv is consentEnv with a real audit entry (the GP's read of p1's
// Observation), whose id it returns, and legacyAuditEvent in the store.
func auditEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := consentEnv(t)
	if r := e.do("GET", "/fhir/Observation/o-clin", "", "Authorization", e.as("PractitionerRole/gp")); r.status != 200 {
		t.Fatalf("GP read = %d", r.status)
	}
	var found struct {
		Entry []struct{ Resource struct{ ID string } }
	}
	r := e.do("GET", "/fhir/AuditEvent?agent=PractitionerRole/gp&subtype=read&_count=1", "")
	if err := json.Unmarshal(r.body, &found); err != nil || len(found.Entry) != 1 {
		t.Fatalf("the read's audit entry: %d %s", r.status, r.body)
	}
	m, err := testCodec.Decode([]byte(legacyAuditEvent))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Transaction(context.Background(), []store.TxEntry{{Method: "PUT", Type: "AuditEvent", ID: "legacy-1", Resource: m}}); err != nil {
		t.Fatal(err)
	}
	return e, found.Entry[0].Resource.ID
}

// auditState is what a refused write must leave as it was: the store's
// history and its AuditEvent, and the audit log's size and root. The
// log may grow by what the server records itself (a batch's decision).
type auditState struct {
	store string
	size  uint64
	root  []byte
}

func (e *env) auditState(t *testing.T) auditState {
	t.Helper()
	size, root, err := e.store.AuditTree()
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.store.TypeHistory("", store.HistoryOptions{Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return auditState{fmt.Sprintf("%d versions, AuditEvent/legacy-1 %s", len(h.Records), e.snapshotOf("AuditEvent", "legacy-1")), size, root}
}

// unchanged checks that nothing but the server's own records changed
// since before: the store as it was, the log's first entries as they were
// (the root of the log at its former size), and none of the forgeries in it.
func (e *env) unchanged(t *testing.T, before auditState) {
	t.Helper()
	after := e.auditState(t)
	if after.store != before.store {
		t.Errorf("the store changed:\n%s\nthen\n%s", before.store, after.store)
	}
	_, root, _, err := e.store.AuditConsistency(before.size, after.size)
	if err != nil || !bytes.Equal(root, before.root) {
		t.Errorf("the audit log's first %d entries changed: %v", before.size, err)
	}
	if r := e.do("GET", "/fhir/AuditEvent?_count=1000", ""); strings.Contains(string(r.body), "forger") {
		t.Errorf("a forged AuditEvent is in the audit log: %s", r.body)
	}
}

// notSupported checks an OperationOutcome of an interaction the type does
// not support.
func notSupported(t *testing.T, status int, body []byte) {
	t.Helper()
	var oo struct {
		ResourceType string
		Issue        []struct{ Code string }
	}
	if status != 405 || json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" ||
		len(oo.Issue) == 0 || oo.Issue[len(oo.Issue)-1].Code != "not-supported" {
		t.Errorf("= %d %s, want 405 with a not-supported OperationOutcome", status, body)
	}
}

// TestAuditEventWritesRefused: every write of an AuditEvent through the
// API (create, update, patch, delete, their conditional forms, a
// transaction's entries) is a 405 with an OperationOutcome for every
// caller, a system caller holding every scope included, and changes
// neither the audit log nor the store.
func TestAuditEventWritesRefused(t *testing.T) {
	t.Parallel()
	e, real := auditEnv(t)
	patch := `[{"op":"replace","path":"/outcome","value":"8"}]`
	jsonPatch := []string{"Content-Type", "application/json-patch+json"}
	transaction := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"fullUrl":"urn:uuid:5f0e3c1a-0000-4000-8000-000000000001","resource":` + forgedAuditEvent("") + `,"request":{"method":"POST","url":"AuditEvent"}}]}`
	deleteInTransaction := `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"AuditEvent/` + real + `"}}]}`
	tests := []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"create", "POST", "/fhir/AuditEvent", forgedAuditEvent(""), nil},
		{"conditional create", "POST", "/fhir/AuditEvent", forgedAuditEvent(""), []string{"If-None-Exist", "entity=Patient/nobody"}},
		{"update as create", "PUT", "/fhir/AuditEvent/forged-1", forgedAuditEvent("forged-1"), nil},
		{"update of a recorded entry", "PUT", "/fhir/AuditEvent/" + real, forgedAuditEvent(real), nil},
		{"update of the stored one", "PUT", "/fhir/AuditEvent/legacy-1", strings.Replace(legacyAuditEvent, "forger", "forger again", 1), nil},
		{"conditional update", "PUT", "/fhir/AuditEvent?entity=Patient/p1", forgedAuditEvent(""), nil},
		{"patch of a recorded entry", "PATCH", "/fhir/AuditEvent/" + real, patch, jsonPatch},
		{"patch of the stored one", "PATCH", "/fhir/AuditEvent/legacy-1", patch, jsonPatch},
		{"delete of a recorded entry", "DELETE", "/fhir/AuditEvent/" + real, "", nil},
		{"delete of the stored one", "DELETE", "/fhir/AuditEvent/legacy-1", "", nil},
		{"conditional delete", "DELETE", "/fhir/AuditEvent?entity=Patient/p1", "", nil},
		{"conditional delete matching nothing", "DELETE", "/fhir/AuditEvent?entity=Patient/nobody", "", nil},
		{"transaction create", "POST", "/fhir", transaction, nil},
		{"transaction delete", "POST", "/fhir/", deleteInTransaction, nil},
		{"by a professional's user scope", "DELETE", "/fhir/AuditEvent/legacy-1", "", []string{"Authorization", e.as("PractitionerRole/gp")}},
		{"by a token without AuditEvent scopes", "POST", "/fhir/AuditEvent", forgedAuditEvent(""), []string{"Authorization", "Bearer " + e.mint("system/Patient.rs", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.auditState(t)
			r := e.do(tt.method, tt.path, tt.body, tt.headers...)
			notSupported(t, r.status, r.body)
			e.unchanged(t, before)
		})
	}
	t.Run("batch", func(t *testing.T) {
		before := e.auditState(t)
		batch := `{"resourceType":"Bundle","type":"batch","entry":[` +
			`{"resource":` + forgedAuditEvent("") + `,"request":{"method":"POST","url":"AuditEvent"}},` +
			`{"resource":` + forgedAuditEvent("forged-2") + `,"request":{"method":"PUT","url":"AuditEvent/forged-2"}},` +
			`{"request":{"method":"DELETE","url":"AuditEvent/` + real + `"}},` +
			`{"request":{"method":"DELETE","url":"AuditEvent/legacy-1"}}]}`
		r := e.do("POST", "/fhir", batch)
		var out struct {
			Entry []struct {
				Response struct {
					Status  string
					Outcome json.RawMessage
				}
			}
		}
		if err := json.Unmarshal(r.body, &out); err != nil || r.status != 200 || len(out.Entry) != 4 {
			t.Fatalf("batch = %d %s", r.status, r.body)
		}
		for i, en := range out.Entry {
			if en.Response.Status != "405 Method Not Allowed" {
				t.Errorf("entry %d: %s, want 405", i, en.Response.Status)
			}
			notSupported(t, 405, en.Response.Outcome)
		}
		e.unchanged(t, before)
	})
	if r := e.do("GET", "/fhir/AuditEvent/"+real, ""); r.status != 200 || !strings.Contains(string(r.body), `"subtype":[{`) {
		t.Errorf("the recorded entry after the refusals: %d %s", r.status, r.body)
	}
	for _, id := range []string{"forged-1", "forged-2"} {
		if r := e.do("GET", "/fhir/AuditEvent/"+id, ""); r.status != 404 {
			t.Errorf("AuditEvent/%s = %d, want 404", id, r.status)
		}
	}
}

// TestAuditEventServedByTheLogOnly: an AuditEvent the store holds from
// before (written through the API by an older Relais) is served by no
// vread, history, batch read or include, which AuditEvent does not have;
// its read and search (GET and POST) are the audit log's; the
// CapabilityStatement lists read and search-type alone.
func TestAuditEventServedByTheLogOnly(t *testing.T) {
	t.Parallel()
	e, real := auditEnv(t)
	for _, path := range []string{
		"/fhir/AuditEvent/legacy-1/_history/1",
		"/fhir/AuditEvent/legacy-1/_history",
		"/fhir/AuditEvent/" + real + "/_history",
		"/fhir/AuditEvent/" + real + "/_history/1",
		"/fhir/AuditEvent/_history",
	} {
		r := e.do("GET", path, "")
		t.Run(path, func(t *testing.T) { notSupported(t, r.status, r.body) })
	}
	noLegacy := func(what string, r resp) {
		t.Helper()
		if r.status != 200 || strings.Contains(string(r.body), "legacy-1") {
			t.Errorf("%s serves the stored AuditEvent: %d %s", what, r.status, r.body)
		}
	}
	noLegacy("the system history", e.do("GET", "/fhir/_history?_count=1000", ""))
	noLegacy("a _revinclude", e.do("GET", "/fhir/Patient?_id=p1&_revinclude=AuditEvent:patient", ""))
	batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"AuditEvent/legacy-1"}}]}`
	noLegacy("a batch read", e.do("POST", "/fhir", batch))
	if r := e.do("GET", "/fhir/AuditEvent/legacy-1", ""); r.status != 404 {
		t.Errorf("read of the stored AuditEvent = %d %s, want the audit log's 404", r.status, r.body)
	}
	for _, method := range []string{"GET", "POST"} {
		var r resp
		if method == "GET" {
			r = e.do("GET", "/fhir/AuditEvent?patient=Patient/p1&_count=1000", "")
		} else {
			r = e.do("POST", "/fhir/AuditEvent/_search", "patient=Patient/p1&_count=1000", "Content-Type", "application/x-www-form-urlencoded")
		}
		noLegacy(method+" search", r)
		if !strings.Contains(string(r.body), `"id":"`+real+`"`) {
			t.Errorf("%s search of the audit log misses entry %s: %s", method, real, r.body)
		}
	}
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string
				Interaction []struct{ Code string }
			}
		}
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/metadata", "").body, &cs); err != nil || len(cs.Rest) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	for _, res := range cs.Rest[0].Resource {
		if res.Type != "AuditEvent" {
			continue
		}
		var got []string
		for _, in := range res.Interaction {
			got = append(got, in.Code)
		}
		if !slices.Equal(got, []string{"read", "search-type"}) {
			t.Errorf("the CapabilityStatement's AuditEvent interactions: %v, want read and search-type", got)
		}
		return
	}
	t.Error("the CapabilityStatement has no AuditEvent")
}
