package api_test

import (
	"bytes"
	"strings"
	"testing"
)

// putTasks stores Tasks t1 (requested) and t2 (completed).
func putTasks(e *env) {
	e.t.Helper()
	for id, status := range map[string]string{"t1": "requested", "t2": "completed"} {
		if r := e.do("PUT", "/fhir/Task/"+id, `{"resourceType":"Task","id":"`+id+`","status":"`+status+`","intent":"order"}`); r.status >= 300 {
			e.t.Fatalf("PUT Task/%s = %d %s", id, r.status, r.body)
		}
	}
}

// TestSearchUnreadableParameter: a known parameter whose value cannot be
// decoded is a 400 naming it, lenient or strict, never a search without
// it; an unknown one keeps the handling of unknown parameters.
func TestSearchUnreadableParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	putTasks(e)
	for _, strict := range []bool{false, true} {
		var prefer []string
		if strict {
			prefer = []string{"Prefer", "handling=strict"}
		}
		for _, query := range []string{"status=%zz", "status=completed;x=1", "status=requested&intent=%ff"} {
			r := e.do("GET", "/fhir/Task?"+query, "", prefer...)
			name, _, _ := strings.Cut(query[strings.LastIndexByte(query, '&')+1:], "=")
			if r.status != 400 || !bytes.Contains(r.body, []byte(`"OperationOutcome"`)) || !bytes.Contains(r.body, []byte(name+": ")) {
				t.Errorf("strict %v: Task?%s = %d %s, want 400 naming %s", strict, query, r.status, r.body, name)
			}
		}
		// Through a conditional create too.
		r := e.do("POST", "/fhir/Task", `{"resourceType":"Task","status":"requested","intent":"order"}`, append(prefer, "If-None-Exist", "status=%zz")...)
		if r.status != 400 || !bytes.Contains(r.body, []byte("status: ")) {
			t.Errorf("strict %v: If-None-Exist status=%%zz = %d %s, want 400", strict, r.status, r.body)
		}
	}
	if r := e.do("GET", "/fhir/Task?colour=%zz&status=requested", ""); r.status != 200 || r.json(t)["total"] != 1.0 || !bytes.Contains(r.body, []byte("colour ignored")) {
		t.Errorf("lenient unknown unreadable parameter = %d %s, want the requested Task and a warning", r.status, r.body)
	}
	if r := e.do("GET", "/fhir/Task?colour=%zz&status=requested", "", "Prefer", "handling=strict"); r.status != 400 || !bytes.Contains(r.body, []byte("colour")) {
		t.Errorf("strict unknown unreadable parameter = %d %s, want 400", r.status, r.body)
	}
}
