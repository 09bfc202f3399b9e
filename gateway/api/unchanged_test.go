package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUpdateThatChangesNothing: an update whose stored result is the
// current version — the same resource sent again, or one whose every
// change the server undoes (a demographic a more reliable source holds, by
// the identity merge rules) — makes no new version (R4 http.html#update
// lets the server keep the current one): the answer is 200 with the
// current versionId, and the history has no new entry.
func TestUpdateThatChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	version := func(t *testing.T, r resp) string {
		t.Helper()
		var m struct{ Meta struct{ VersionID string } }
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return m.Meta.VersionID
	}
	history := func(t *testing.T, path string) int {
		t.Helper()
		entries, _ := e.do("GET", path+"/_history", "").json(t)["entry"].([]any)
		return len(entries)
	}
	t.Run("the same resource again", func(t *testing.T) {
		org := `{"resourceType":"Organization","id":"ssiad-douai","active":true,"name":"SSIAD Douai"}`
		first := e.do("PUT", "/fhir/Organization/ssiad-douai", org)
		again := e.do("PUT", "/fhir/Organization/ssiad-douai", org)
		if first.status != 201 || again.status != 200 || version(t, again) != version(t, first) || again.header.Get("ETag") != `W/"1"` {
			t.Errorf("PUT again: %d %s %s, first %d %s", again.status, version(t, again), again.header.Get("ETag"), first.status, version(t, first))
		}
		if n := history(t, "/fhir/Organization/ssiad-douai"); n != 1 {
			t.Errorf("history after the same PUT twice: %v entries, want 1", n)
		}
	})
	t.Run("every change undone by the identity rules", func(t *testing.T) {
		const ins = `{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"279035121518989"}`
		status := func(code string) string {
			return `"extension":[{"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability",` +
				`"extension":[{"url":"identityStatus","valueCoding":{"system":"https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445","code":"` + code + `"}}]}]`
		}
		q := e.do("PUT", "/fhir/Patient/qual-1", `{"resourceType":"Patient","id":"qual-1",`+status("VALI")+`,"identifier":[`+ins+`],`+
			`"name":[{"family":"BERNARD","given":["LUCIE"]}],"gender":"female","birthDate":"1979-03-21"}`)
		if q.status != 201 {
			t.Fatalf("the qualified patient: %d %s", q.status, q.body)
		}
		cur := e.do("GET", "/fhir/Patient/qual-1", "")
		// A provisional source renames her: the merge rules keep the
		// qualified identity, so nothing is left to change.
		body := strings.Replace(string(cur.body), `"BERNARD"`, `"BERNART"`, 1)
		body = strings.Replace(body, `"VALI"`, `"PROV"`, 1)
		r := e.do("PUT", "/fhir/Patient/qual-1", body)
		if r.status != 200 || version(t, r) != version(t, cur) || strings.Contains(string(r.body), "BERNART") {
			t.Errorf("the provisional rename: %d version %s (was %s) %s", r.status, version(t, r), version(t, cur), r.body)
		}
		if n := history(t, "/fhir/Patient/qual-1"); n != 1 {
			t.Errorf("history after an update the identity rules undid: %v entries, want 1", n)
		}
	})
}
