package api_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestHistoryShowsTheRequests: an instance history shows, per version,
// the request that made it (R4 http.html#history): a PUT that created
// the resource (update as create) and one that re-created it after its
// deletion as PUT [type]/[id] answered 201 Created, as they were
// answered; an update as PUT answered 200 OK; a deletion as DELETE
// answered 204; a POST as POST [type] answered 201 Created.
func TestHistoryShowsTheRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const obs = `{"resourceType":"Observation","id":"w1","status":"final","code":{"text":"weight"}}`
	for _, step := range []struct {
		method, body string
		status       int
	}{
		{"PUT", obs, 201},
		{"PUT", strings.Replace(obs, `"final"`, `"amended"`, 1), 200}, // the same again would make no version
		{"DELETE", "", 204},
		{"PUT", obs, 201},
	} {
		if r := e.do(step.method, "/fhir/Observation/w1", step.body); r.status != step.status {
			t.Fatalf("%s = %d, want %d: %s", step.method, r.status, step.status, r.body)
		}
	}
	var h struct {
		Entry []struct {
			Request  struct{ Method, URL string }
			Response struct{ Status string }
		}
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/Observation/w1/_history", "").body, &h); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range h.Entry {
		got = append(got, en.Request.Method+" "+en.Request.URL+" "+en.Response.Status)
	}
	want := []string{
		"PUT Observation/w1 201 Created",
		"DELETE Observation/w1 204 No Content",
		"PUT Observation/w1 200 OK",
		"PUT Observation/w1 201 Created",
	}
	if !slices.Equal(got, want) {
		t.Errorf("history shows\n%q\nwant\n%q", got, want)
	}
	r := e.do("POST", "/fhir/Observation", `{"resourceType":"Observation","status":"final","code":{"text":"weight"}}`)
	if r.status != 201 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(e.do("GET", strings.Split(r.header.Get("Location"), "/_history")[0]+"/_history", "").body, &h); err != nil ||
		len(h.Entry) != 1 || h.Entry[0].Request.Method != "POST" || h.Entry[0].Request.URL != "Observation" || h.Entry[0].Response.Status != "201 Created" {
		t.Errorf("a POST's history: %+v (%v)", h.Entry, err)
	}
}

// TestHistoryShowsPatch: a version a PATCH made shows in the history as
// PATCH [type]/[id] answered 200 OK (R4 Bundle.entry.request.method
// admits PATCH; http.html#history: the request that made the version),
// not as a PUT nobody sent.
func TestHistoryShowsPatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Observation/w1", `{"resourceType":"Observation","id":"w1","status":"final","code":{"text":"weight"}}`); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/fhir/Observation/w1", `[{"op":"replace","path":"/status","value":"amended"}]`,
		"Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Fatalf("PATCH = %d %s", r.status, r.body)
	}
	var h struct {
		Entry []struct {
			Request  struct{ Method, URL string }
			Response struct{ Status string }
		}
	}
	if err := json.Unmarshal(e.do("GET", "/fhir/Observation/w1/_history", "").body, &h); err != nil || len(h.Entry) != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	if got := h.Entry[0].Request.Method + " " + h.Entry[0].Request.URL + " " + h.Entry[0].Response.Status; got != "PATCH Observation/w1 200 OK" {
		t.Errorf("the patch shows as %q", got)
	}
}
