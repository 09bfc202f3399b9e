package console

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
)

// TestDisclosureSources: the AuditEvents of $disclosures where the API
// serves it, else the decision log.
func TestDisclosureSources(t *testing.T) {
	t.Parallel()
	bundle := `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"AuditEvent","id":"a1",
		"type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},"action":"R",
		"recorded":"2026-03-06T10:00:00Z","outcome":"0",
		"purposeOfEvent":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"BTG"}]}],
		"agent":[{"who":{"reference":"PractitionerRole/gp"},"requestor":true}],
		"source":{"observer":{"display":"relais"}},
		"entity":[{"what":{"reference":"Patient/p1"}},{"what":{"reference":"Observation/o1"}}]}}]}`
	decisions := `{"decisions":[{"id":"d1","time":"2026-03-06T10:00:00Z","actor":"PractitionerRole/gp","patient":"Patient/p1","permit":false,"resource":"Observation/o1","policy":"care-team"}]}`
	notFound := `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"no such route"}]}`
	dir := &directory{by: map[string]party{"PractitionerRole/gp": {Ref: "PractitionerRole/gp", Name: "Dr Martin"}}}
	tests := []struct {
		name      string
		audit     bool
		wantActor string
		wantBTG   bool
		wantAllow bool
	}{
		{"audit events", true, "Dr Martin", true, true},
		{"decision log", false, "Dr Martin", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/fhir/Patient/p1/$disclosures" && tc.audit:
					_, _ = w.Write([]byte(bundle))
				case r.URL.Path == "/admin/decisions" && r.URL.Query().Get("patient") == "Patient/p1":
					_, _ = w.Write([]byte(decisions))
				default:
					w.WriteHeader(http.StatusNotFound)
					_, _ = w.Write([]byte(notFound))
				}
			})
			k := caller{c: &client{h: api, codec: codec.MustNew()}, r: httptest.NewRequest("GET", "/console/", nil), token: "t"}
			got, err := firstOf{auditLog{}, decisionLog{}}.disclosures(k, "p1", dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d entries", len(got))
			}
			d := got[0]
			if d.Actor != tc.wantActor || d.BreakGlass != tc.wantBTG || d.Permit != tc.wantAllow || d.Resource != "Observation/o1" || d.Time.IsZero() {
				t.Errorf("got %+v", d)
			}
		})
	}
}
