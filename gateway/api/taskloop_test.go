package api_test

// The closed loop as a recipient's software drives it (R4 task.html,
// "Task state machine"; DESIGN.md, "Pathways": a professional is free to
// accept or refuse): a refusal states why, whichever way it is written,
// since the requester asks the next candidate and the plan shows why this
// one refused.

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestRecipientRefusesWithReason(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.discharge(orthopaedic("p1"))
	p := s.route("e-p1")
	nurse := "PractitionerRole/nurse-lille"
	id := p.only(t, "nurse").GetId().GetValue()
	tok := s.as(nurse)
	cur := s.do("GET", "/fhir/Task/"+id, "", "Authorization", tok)
	if cur.status != 200 {
		t.Fatalf("the nurse reads her Task: %d", cur.status)
	}
	bare := `[{"op":"replace","path":"/status","value":"rejected"}]`
	put := strings.Replace(string(cur.body), `"status":"requested"`, `"status":"rejected"`, 1)
	for name, r := range map[string]resp{
		"JSON Patch":         s.do("PATCH", "/fhir/Task/"+id, bare, "Authorization", tok, "Content-Type", "application/json-patch+json"),
		"PUT":                s.do("PUT", "/fhir/Task/"+id, put, "Authorization", tok),
		"conditional update": s.do("PUT", "/fhir/Task?_id="+id, put, "Authorization", tok),
		"transaction": s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":`+put+
			`,"request":{"method":"PUT","url":"Task/`+id+`"}}]}`, "Authorization", tok),
	} {
		if r.status != 422 || !strings.Contains(string(r.body), "statusReason") {
			t.Errorf("%s: a refusal without a reason: %d %s", name, r.status, r.body)
		}
	}
	batch := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+
		base64.StdEncoding.EncodeToString([]byte(bare))+`"},"request":{"method":"PATCH","url":"Task/`+id+`"}}]}`, "Authorization", tok)
	if !strings.Contains(string(batch.body), "422") {
		t.Errorf("a batch PATCH entry refusing without a reason: %s", batch.body)
	}
	if got := s.task(id); taskStatus(got) != "requested" || got.GetMeta().GetVersionId().GetValue() != "1" {
		t.Fatalf("the Task after refusals without a reason: %s v%s", taskStatus(got), got.GetMeta().GetVersionId().GetValue())
	}
	if len(p.tasks[p.request(t, "nurse").GetId().GetValue()]) != 1 || len(s.planOf("e-p1").tasks[p.request(t, "nurse").GetId().GetValue()]) != 1 {
		t.Error("a refusal without a reason asked the next nurse")
	}
	s.reject(id, nurse, "no visit slot before next week")
}
