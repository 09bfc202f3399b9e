package api_test

import (
	"bytes"
	"slices"
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

// TestSearchSelfLink: the self link carries the parameters the search
// applied, as sent, and none it ignored.
func TestSearchSelfLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	putTasks(e)
	tests := []struct{ query, want string }{
		{"_text=foo&status=requested", "/fhir/Task?status=requested"},
		{"foo=&status=requested&_count=5", "/fhir/Task?status=requested&_count=5"},
		{"status=requested&_filter=status%20eq%20x&_contained=true", "/fhir/Task?status=requested"},
		// _elements states the elements it applied, not those it ignored
		{"status=requested&_elements=status,colour", "/fhir/Task?status=requested&_elements=status"},
		{"_text=foo", "/fhir/Task"},
	}
	for _, tt := range tests {
		r := e.do("GET", "/fhir/Task?"+tt.query, "")
		b := r.json(t)
		if r.status != 200 || b["total"] != map[bool]float64{true: 2, false: 1}[tt.query == "_text=foo"] {
			t.Errorf("Task?%s = %d %s", tt.query, r.status, r.body)
			continue
		}
		self := ""
		for _, l := range b["link"].([]any) {
			if m := l.(map[string]any); m["relation"] == "self" {
				self = m["url"].(string)
			}
		}
		if self != e.url+tt.want {
			t.Errorf("Task?%s: self link %s, want %s", tt.query, self, e.url+tt.want)
		}
		if !bytes.Contains(r.body, []byte(`"mode":"outcome"`)) {
			t.Errorf("Task?%s: no OperationOutcome reports what was ignored: %s", tt.query, r.body)
		}
	}
}

// TestSearchCodeSystem: a token on a code element (Task.status,
// Task.intent, Patient.gender) matches system|code when the system is the
// one its binding implies, and never |code.
func TestSearchCodeSystem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	putTasks(e)
	e.do("PUT", "/fhir/Patient/f1", `{"resourceType":"Patient","id":"f1","gender":"female"}`)
	tests := []struct {
		query string
		total float64
	}{
		{"Task?status=requested", 1},
		{"Task?status=http://hl7.org/fhir/task-status|requested", 1},
		{"Task?status=http://hl7.org/fhir/task-status|requested,completed", 2},
		{"Task?status=http://hl7.org/fhir/task-status|", 2},
		{"Task?status=|requested", 0},
		{"Task?status=http://example.org/status|requested", 0},
		{"Task?intent=http://hl7.org/fhir/request-intent|order", 2},
		{"Patient?gender=http://hl7.org/fhir/administrative-gender|female", 1},
		{"Patient?gender=http://hl7.org/fhir/administrative-gender|male", 0},
	}
	for _, tt := range tests {
		r := e.do("GET", "/fhir/"+tt.query, "", "Prefer", "handling=strict")
		if r.status != 200 || r.json(t)["total"] != tt.total {
			t.Errorf("%s = %d %s, want %v matches", tt.query, r.status, r.body, tt.total)
		}
	}
}

// TestSearchStringExact: :exact is the whole string, case and accents
// included (https://hl7.org/fhir/R4/search.html#string), though the index
// folds both.
func TestSearchStringExact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	e.do("PUT", "/fhir/Patient/d1", `{"resourceType":"Patient","id":"d1","name":[{"family":"Dupont"}]}`)
	e.do("PUT", "/fhir/Patient/d2", `{"resourceType":"Patient","id":"d2","name":[{"family":"Dupónt"}]}`)
	tests := []struct {
		query string
		ids   []string
	}{
		{"family=dupont", []string{"d1", "d2"}},
		{"family:exact=Dupont", []string{"d1"}},
		{"family:exact=DUPONT", nil},
		{"family:exact=dupont", nil},
		{"family:exact=Dup%C3%B3nt", []string{"d2"}},
		{"family:exact=Dupo%CC%81nt", []string{"d2"}}, // the accent as a combining mark
		{"family:exact=Dupont,Dup%C3%B3nt", []string{"d1", "d2"}},
	}
	for _, tt := range tests {
		r := e.do("GET", "/fhir/Patient?"+tt.query, "")
		b := r.json(t)
		var got []string
		for _, en := range asList(b["entry"]) {
			got = append(got, en.(map[string]any)["resource"].(map[string]any)["id"].(string))
		}
		slices.Sort(got)
		if r.status != 200 || !slices.Equal(got, tt.ids) || b["total"] != float64(len(tt.ids)) {
			t.Errorf("Patient?%s = %d %v (total %v), want %v", tt.query, r.status, got, b["total"], tt.ids)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestSearchPostNeedsForm: a POST _search's criteria are a form body (R4
// http.html#search); a body of another type is refused (415), not read
// as a search without criteria that answers everything.
func TestSearchPostNeedsForm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	for _, id := range []string{"t1", "t2"} {
		if r := e.do("PUT", "/fhir/Task/"+id, `{"resourceType":"Task","id":"`+id+`","status":"requested","intent":"order"}`); r.status != 201 {
			t.Fatalf("PUT Task/%s = %d %s", id, r.status, r.body)
		}
	}
	for _, tc := range []struct {
		name, body, ct string
		status, total  int
	}{
		{"form body", "_id=t1", "application/x-www-form-urlencoded", 200, 1},
		{"form body with a charset", "_id=t1", "application/x-www-form-urlencoded; charset=utf-8", 200, 1},
		{"JSON body", `{"_id":"t1"}`, "application/json", 415, 0},
		{"FHIR JSON body", `{"resourceType":"Parameters"}`, "application/fhir+json", 415, 0},
		{"form without a Content-Type", "_id=t1", "", 415, 0},
		{"no body, criteria in the URL", "", "", 200, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/fhir/Task/_search"
			if tc.body == "" {
				path += "?_id=t1"
			}
			r := e.do("POST", path, tc.body, "Content-Type", tc.ct)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			m := r.json(t)
			if tc.status != 200 {
				if m["resourceType"] != "OperationOutcome" || !strings.Contains(string(r.body), "x-www-form-urlencoded") {
					t.Errorf("refusal is not an OperationOutcome naming the form type: %s", r.body)
				}
				return
			}
			if got := int(m["total"].(float64)); got != tc.total {
				t.Errorf("total %d, want %d", got, tc.total)
			}
		})
	}
}
