package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/demo"
)

// TestTokenExpiresMidSession: when her token expires while she works, the
// next page and the next form say that her session has ended and lead to
// the sign-in page (not a refusal that blames the form, nor a 500).
func TestTokenExpiresMidSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id, _ := demo.IdentityNamed("consent-officer")
	tok, err := f.key.Mint(auth.MintOptions{Scope: id.Scope, FHIRUser: id.FHIRUser, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	b.get("/console/signin?lang=en")
	if res, _ := b.post("/console/signin", url.Values{"token": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", res.StatusCode)
	}
	b.get(patientPath + "/consents") // the form she is filling in
	time.Sleep(3 * time.Second)
	expired := func(what string, res *http.Response) {
		t.Helper()
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin?expired=1" {
			t.Errorf("%s after expiry: %d to %q, want 303 to /console/signin?expired=1", what, res.StatusCode, res.Header.Get("Location"))
		}
	}
	csrf := b.csrf
	res, _ := b.post(patientPath+"/consents", url.Values{"csrf": {csrf}, "kind": {"deny"}, "actor": {nurseRole}})
	expired("the form", res)
	if _, body := b.get("/console/signin?expired=1"); !strings.Contains(body, "Your session has ended") {
		t.Error("the sign-in page does not say the session ended")
	}

	// A page asked for after expiry, in a session left open.
	b = f.browser(t)
	tok, _ = f.key.Mint(auth.MintOptions{Scope: id.Scope, FHIRUser: id.FHIRUser, TTL: 2 * time.Second})
	b.get("/console/signin?lang=en")
	b.post("/console/signin", url.Values{"token": {tok}})
	time.Sleep(3 * time.Second)
	res, _ = b.get(patientPath + "/plan")
	expired("a page", res)
	// A forged post with an ended session's cookie is still refused.
	req, _ := http.NewRequest("POST", f.ts.URL+patientPath+"/consents", strings.NewReader("kind=deny"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := b.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("forged post with an ended session: %d, want 403", res.StatusCode)
	}
}
