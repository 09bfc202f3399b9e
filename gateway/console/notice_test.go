package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNoticeShownOnce: what an action did is said on the page the action
// leads to, once: reloading that page, or opening its address later, does
// not say it again; and an address cannot make the console announce an
// action nobody took.
func TestNoticeShownOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("coordinator")
	_, body := b.get(patientPath + "/plan?lang=fr")
	task := regexpFind(`action="(/console/patients/demo-patient/tasks/route-[0-9a-f]+-nurse-1/assign)"`, body)
	if task == "" {
		t.Fatal("no assign form for the nurse's Task")
	}
	res, _ := b.post(task, url.Values{"owner": {"PractitionerRole/demo-nurse-lyon-role"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: %d", res.StatusCode)
	}
	next := res.Header.Get("Location")
	_, body = b.get(next)
	if !strings.Contains(body, "Tâche confiée.") {
		t.Fatalf("the page after the re-assignment does not say it:\n%s", body)
	}
	_, body = b.get(next) // reload
	if strings.Contains(body, "Tâche confiée.") {
		t.Error("reloading the plan says again that the Task was re-assigned")
	}
	_, body = b.get(patientPath + "/consents?done=done.revoked")
	if strings.Contains(body, "Consentement révoqué") || strings.Contains(body, `class="notice"`) {
		t.Error("an address makes the console announce a revocation nobody made")
	}
}
