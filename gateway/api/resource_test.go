package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConditionalRead: If-None-Match compares weakly, so W/"1", "1" and *
// match version 1 (RFC 9110 section 13.1.2), and If-Modified-Since
// compares with meta.lastUpdated (section 13.1.3); a 304 carries the ETag
// a 200 would (section 15.4.5).
func TestConditionalRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	w := e.do("PUT", "/fhir/Task/t1", `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`)
	if w.status != 201 {
		t.Fatalf("PUT Task/t1 = %d %s", w.status, w.body)
	}
	written, err := http.ParseTime(w.header.Get("Last-Modified"))
	if err != nil {
		t.Fatal(err)
	}
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"weak tag", []string{"If-None-Match", `W/"1"`}, 304},
		{"strong form of the tag", []string{"If-None-Match", `"1"`}, 304},
		{"a list holding it", []string{"If-None-Match", `W/"7", W/"1"`}, 304},
		{"any", []string{"If-None-Match", "*"}, 304},
		{"another version", []string{"If-None-Match", `W/"2"`}, 200},
		{"modified since an hour before", []string{"If-Modified-Since", httpDate(written.Add(-time.Hour))}, 200},
		{"not modified since it was written", []string{"If-Modified-Since", httpDate(written)}, 304},
		{"If-None-Match first", []string{"If-None-Match", `W/"2"`, "If-Modified-Since", httpDate(written)}, 200},
		{"a date in the future is ignored", []string{"If-Modified-Since", httpDate(time.Now().Add(24 * time.Hour))}, 200},
		{"not a date is ignored", []string{"If-Modified-Since", "yesterday"}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/fhir/Task/t1", "", tc.headers...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d", r.status, tc.status)
			}
			if r.header.Get("ETag") != `W/"1"` {
				t.Errorf("ETag %q, want W/\"1\"", r.header.Get("ETag"))
			}
			if tc.status == 304 && len(r.body) != 0 {
				t.Errorf("a 304 with a body: %s", r.body)
			}
		})
	}
	if r := e.do("GET", "/fhir/metadata", ""); !strings.Contains(string(r.body), `"conditionalRead":"full-support"`) {
		t.Errorf("the CapabilityStatement does not state conditionalRead")
	}
}

// TestIfMatchAny: If-Match: * holds for any current version and fails
// (412) where there is none (RFC 9110 section 13.1.1): to a system caller
// an absent or deleted resource, instead of creating it; a patch needs a
// current version anyway.
func TestIfMatchAny(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	task := func(id, status string) string {
		return `{"resourceType":"Task","id":"` + id + `","status":"` + status + `","intent":"order"}`
	}
	if r := e.do("PUT", "/fhir/Task/t1", task("t1", "requested")); r.status != 201 {
		t.Fatalf("PUT Task/t1 = %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/fhir/Task/t1", task("t1", "accepted"), "If-Match", "*"); r.status != 200 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("PUT If-Match: * on a current version = %d %s", r.status, r.body)
	}
	patch := `[{"op":"replace","path":"/status","value":"in-progress"}]`
	if r := e.do("PATCH", "/fhir/Task/t1", patch, "Content-Type", "application/json-patch+json", "If-Match", "*"); r.status != 200 || r.header.Get("ETag") != `W/"3"` {
		t.Errorf("PATCH If-Match: * = %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/fhir/Task/t2", task("t2", "requested"), "If-Match", "*"); r.status != 412 || r.json(t)["resourceType"] != "OperationOutcome" {
		t.Errorf("PUT If-Match: * on an absent id = %d %s, want 412", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Task/t2", ""); r.status != 404 {
		t.Errorf("the failed PUT created Task/t2: %d", r.status)
	}
	if r := e.do("PUT", "/fhir/Task?_id=t2", task("t2", "requested"), "If-Match", "*"); r.status != 412 {
		t.Errorf("conditional update If-Match: * matching nothing = %d %s, want 412", r.status, r.body)
	}
	if r := e.do("PATCH", "/fhir/Task/t2", patch, "Content-Type", "application/json-patch+json", "If-Match", "*"); r.status != 404 {
		t.Errorf("PATCH If-Match: * on an absent id = %d, want the 404 of any patch of it", r.status)
	}
	if r := e.do("DELETE", "/fhir/Task/t1", "", "If-Match", "*"); r.status != 204 {
		t.Errorf("DELETE If-Match: * = %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/fhir/Task/t1", "", "If-Match", "*"); r.status != 412 {
		t.Errorf("DELETE If-Match: * of a deleted resource = %d, want 412", r.status)
	}
	if r := e.do("PUT", "/fhir/Task/t1", task("t1", "requested"), "If-Match", "*"); r.status != 412 {
		t.Errorf("PUT If-Match: * on a deleted resource = %d, want 412", r.status)
	}
}
