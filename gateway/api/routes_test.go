package api_test

import (
	"strings"
	"testing"
)

// TestCanonicalPaths: a path is routed in its canonical form, a trailing
// slash, an empty segment or a dot segment removed (RFC 3986 section
// 5.2.4), and answered as such; what matches no route is still an
// OperationOutcome, never a redirect.
func TestCanonicalPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	if r := e.do("PUT", "/fhir/Task/t1", `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`); r.status != 201 {
		t.Fatalf("PUT Task/t1 = %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1"}`); r.status != 201 {
		t.Fatalf("PUT Patient/p1 = %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/fhir/Task/", `"type":"searchset"`, 200},
		{"/fhir/Task/t1/", `"id":"t1"`, 200},
		{"/fhir/Task/t1/_history/", `"type":"history"`, 200},
		{"/fhir//Task", `"type":"searchset"`, 200},
		{"/fhir//Task//t1", `"id":"t1"`, 200},
		{"/fhir/Task/../Patient/p1", `"id":"p1"`, 200},
		{"/fhir/./Task/t1", `"id":"t1"`, 200},
		{"/fhir//NoSuchRoute/x/y/z", `"OperationOutcome"`, 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do("GET", tc.path, "")
			if r.status != tc.status || !strings.Contains(string(r.body), tc.want) {
				t.Errorf("GET %s = %d %s %s, want %d with %s", tc.path, r.status, r.header.Get("Content-Type"), r.body, tc.status, tc.want)
			}
		})
	}
}
