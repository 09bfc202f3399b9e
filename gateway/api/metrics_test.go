package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/metrics/metricstest"
)

// TestMetrics: GET /metrics needs a token with a system scope that reads
// every type; after a write, an HL7 v2 message and consent-filtered reads
// (a search denied, a system read permitted) it reports each of them, and
// no label carries a resource id or any part of a request path.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const id = "secret-id-0042"
	if r := e.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/ingest/hl7v2", string(ingesttest.Admit(1)), "Content-Type", "x-application/hl7-v2+er7"); r.status != 200 {
		t.Fatalf("HL7 v2 = %d %s", r.status, r.body)
	}
	// A practitioner outside the patient's care team searches: the filter
	// denies, and records the denial.
	stranger := "Bearer " + e.mint("user/Patient.rs", "PractitionerRole/stranger")
	if r := e.do("GET", "/fhir/Patient?_id="+id, "", "Authorization", stranger); r.status != 200 || bytes.Contains(r.body, []byte(`"entry"`)) {
		t.Fatalf("filtered search = %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Patient/"+id, ""); r.status != 200 {
		t.Fatalf("system read = %d %s", r.status, r.body)
	}
	e.do("GET", "/no/such/route/"+id, "")

	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"practitioner", "Bearer " + e.mint("user/*.rs", "PractitionerRole/gp"), 403},
		{"system scope on one type", "Bearer " + e.mint("system/Patient.r", ""), 403},
		{"system write only", "Bearer " + e.mint("system/*.cu", ""), 403},
	} {
		if r := e.do("GET", "/metrics", "", "Authorization", tc.auth); r.status != tc.want {
			t.Errorf("%s: GET /metrics = %d, want %d", tc.name, r.status, tc.want)
		}
	}
	r := e.do("GET", "/metrics", "", "Authorization", "Bearer "+e.mint("system/*.r", ""))
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	f := metricstest.Parse(t, bytes.NewReader(r.body))
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"relais_store_commit_seconds", nil, 2}, // the PUT, the inbox commit
		{"relais_store_pages_written_total", nil, 1},
		{"relais_store_size_bytes", nil, 4096},
		{"relais_inbox_queued", nil, 0},
		{"relais_inbox_failed", nil, 0},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}/{id}", "code", "201"}, 1},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}", "code", "200"}, 1},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}/{id}", "code", "200"}, 1},
		{"relais_http_requests_total", []string{"route", "/ingest/hl7v2", "code", "200"}, 1},
		{"relais_http_requests_total", []string{"route", "/metrics", "code", "403"}, 3},
		{"relais_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"relais_http_request_seconds", []string{"route", "/fhir/{type}/{id}"}, 2},
		{"relais_consent_decisions_total", []string{"outcome", "permit"}, 1},
		{"relais_consent_decisions_total", []string{"outcome", "deny"}, 1},
	}
	for _, c := range atLeast {
		if v, ok := f.Value(c.name, c.labels...); !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if v, _ := f.Value("relais_inbox_queued"); v > 1 {
		t.Errorf("relais_inbox_queued = %v after one message", v)
	}
	for name, fam := range f {
		for _, m := range fam.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v := lp.GetValue(); strings.Contains(v, id) || strings.Contains(v, "/no/such") {
					t.Errorf("%s{%s=%q}: a label carries a path or an id", name, lp.GetName(), v)
				}
			}
		}
	}
}
