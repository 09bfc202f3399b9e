package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	patientPath = "/console/patients/demo-patient"
	demoINS     = "242035912312345"
	nurseRole   = "PractitionerRole/demo-nurse-role"
	wantCSP     = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	res, _ := b.get("/console/signin")
	for name, want := range map[string]string{
		"Content-Security-Policy": wantCSP,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	ck := res.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/console" {
		t.Errorf("session cookie = %+v", ck)
	}
	b.signIn("consent-officer")
	res, body := b.get(patientPath)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(body, "Jeanne Dupont") {
		t.Errorf("patient page: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("a page carries inline script or style, which the policy forbids")
	}
	// No page carries a script: every view works without JavaScript.
	for _, path := range []string{"/console/", patientPath, patientPath + "/consents", patientPath + "/plan",
		patientPath + "/what-if?actor=" + nurseRole + "&what=letter", patientPath + "/disclosures", "/console/operations"} {
		res, body := b.get(path)
		if res.StatusCode != http.StatusOK || strings.Contains(body, "<script") || res.Header.Get("Content-Security-Policy") != wantCSP {
			t.Errorf("%s: %d, script or policy missing", path, res.StatusCode)
		}
	}
	// The log names routes, never a patient.
	for _, phi := range []string{"demo-patient", "Dupont", demoINS} {
		if strings.Contains(f.logs.String(), phi) {
			t.Errorf("the log names %q", phi)
		}
	}
}

func TestSignInRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	for _, path := range []string{"/console/", patientPath + "/consents", "/console/operations"} {
		res, _ := b.get(path)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
			t.Errorf("GET %s signed out = %d %s", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	res, _ := f.ts.Client().Get(f.ts.URL + "/")
	if res.Request.URL.Path != "/console/signin" {
		t.Errorf("/ leads to %s", res.Request.URL.Path)
	}
}

// TestForgeryRefused: a form post without the session's token, from
// another origin, or flagged cross-site by the browser changes nothing.
func TestForgeryRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	b.get(patientPath + "/consents")
	form := func() url.Values {
		return url.Values{"kind": {"deny"}, "actor": {nurseRole}}
	}
	post := func(form url.Values, origin, site string) int {
		req, _ := http.NewRequest("POST", f.ts.URL+patientPath+"/consents", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		res, _ := b.do(req)
		return res.StatusCode
	}
	noToken := form()
	wrongToken := form()
	wrongToken.Set("csrf", "x"+b.csrf)
	good := func() url.Values { v := form(); v.Set("csrf", b.csrf); return v }
	cases := []struct {
		name         string
		form         url.Values
		origin, site string
	}{
		{"no token", noToken, f.ts.URL, "same-origin"},
		{"wrong token", wrongToken, f.ts.URL, "same-origin"},
		{"other origin", good(), "https://evil.example", ""},
		{"cross-site", good(), "", "cross-site"},
		{"same-site is not same-origin", good(), "", "same-site"},
		{"null origin, cross-site", good(), "null", "cross-site"},
		{"null origin, no fetch metadata", good(), "null", ""},
	}
	for _, c := range cases {
		if got := post(c.form, c.origin, c.site); got != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, got)
		}
	}
	if _, body := f.api(t, "system", "GET", "/fhir/Consent?patient=demo-patient&status=active&_summary=count"); !strings.Contains(string(body), `"total":0`) {
		t.Errorf("a forged post wrote a Consent: %s", body)
	}
	// A sign-in without the sign-in page's session is refused too.
	fresh := f.browser(t)
	if res, _ := fresh.post("/console/signin", url.Values{"identity": {"system"}, "csrf": {"guess"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without a session: %d", res.StatusCode)
	}
}

// TestObjectionAgainstNurse: the consent officer finds the demo patient by
// INS, records an objection against the nurse, whose next API read is
// refused, then revokes it, and the nurse reads again.
func TestObjectionAgainstNurse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	_, _, body := b.find(url.Values{"ins": {demoINS}})
	if !strings.Contains(body, `href="/console/patients/demo-patient"`) {
		t.Fatalf("search by INS did not find her:\n%s", body)
	}
	_, _, body = b.find(url.Values{"family": {"dupont"}, "birthdate": {"1942-03-15"}})
	if !strings.Contains(body, "Jeanne Dupont") {
		t.Error("search by name and birth date did not find her")
	}
	if code, _ := f.api(t, "nurse", "GET", "/fhir/Patient/demo-patient"); code != http.StatusOK {
		t.Fatalf("nurse before the objection: %d", code)
	}
	b.get(patientPath + "/consents")
	res, _ := b.post(patientPath+"/consents", url.Values{"kind": {"deny"}, "actor": {nurseRole}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("record objection: %d", res.StatusCode)
	}
	_, body = b.get(res.Header.Get("Location"))
	if !strings.Contains(body, "Jeanne Dupont objects to sharing with Julien Petit") || !strings.Contains(body, "Objection recorded.") {
		t.Fatalf("consents page after the objection:\n%s", body)
	}
	if code, _ := f.api(t, "nurse", "GET", "/fhir/Patient/demo-patient"); code != http.StatusNotFound {
		t.Errorf("nurse after the objection: %d, want 404", code)
	}
	m := regexpFind(`action="(/console/patients/demo-patient/consents/[^"]+/revoke)"`, body)
	if m == "" {
		t.Fatal("no revoke form")
	}
	if res, _ := b.post(m, url.Values{"version": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if code, _ := f.api(t, "nurse", "GET", "/fhir/Patient/demo-patient"); code != http.StatusOK {
		t.Errorf("nurse after the revocation: %d", code)
	}
	_, body = b.get(patientPath + "/consents")
	if !strings.Contains(body, "revoked") || !strings.Contains(body, "History (1 earlier version(s))") {
		t.Errorf("consents page after the revocation lacks the status or history:\n%s", body)
	}
}

// TestPermitInPlainWords: a permit to the home-help service's organisation
// reads as what it may receive.
func TestPermitInPlainWords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	b.get(patientPath + "/consents")
	res, _ := b.post(patientPath+"/consents", url.Values{"kind": {"permit"}, "actor": {"Organization/demo-saad-lille"},
		"category": {"ORD", "FUNC", "SOC"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("record permit: %d", res.StatusCode)
	}
	_, body := b.get(patientPath + "/consents?lang=fr")
	if want := "Service d&#39;aide à domicile (démo) peut recevoir : demandes de prise en charge, autonomie, situation sociale"; !strings.Contains(body, want) {
		t.Errorf("permit sentence missing; want %q in\n%s", want, body)
	}
	// The permit releases the home-help's Task waiting for it.
	_, plan := f.api(t, "system", "GET", "/fhir/Task?owner=HealthcareService/demo-home-help&status=requested&_summary=count")
	if !strings.Contains(string(plan), `"total":1`) {
		t.Errorf("home-help Task not released: %s", plan)
	}
}

// TestCoordinatorReassigns: the coordinator sees the routed discharge's
// Task chain and gives the nurse's Task to the Lyon nurse by hand.
func TestCoordinatorReassigns(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("coordinator")
	_, body := b.get(patientPath + "/plan")
	for _, want := range []string{"heart-failure", "route-", "waiting for consent", "no candidate", "Julien Petit"} {
		if !strings.Contains(body, want) {
			t.Errorf("plan page lacks %q", want)
		}
	}
	task := regexpFind(`action="(/console/patients/demo-patient/tasks/route-[0-9a-f]+-nurse-1/assign)"`, body)
	if task == "" {
		t.Fatal("no assign form for the nurse's Task")
	}
	res, _ := b.post(task, url.Values{"owner": {"PractitionerRole/demo-nurse-lyon-role"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: %d", res.StatusCode)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(task, "/console/patients/demo-patient/tasks/"), "/assign")
	if _, tb := f.api(t, "system", "GET", "/fhir/Task/"+id); !strings.Contains(string(tb), "demo-nurse-lyon-role") {
		t.Errorf("Task not re-assigned: %s", tb)
	}
	// The GP may not re-assign the hospital's Tasks: the API refuses, the
	// console shows why.
	gp := f.browser(t)
	gp.signIn("gp")
	gp.get(patientPath + "/plan")
	res, body = gp.post(task, url.Values{"owner": {nurseRole}})
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "requester") {
		t.Errorf("GP re-assigning: %d\n%s", res.StatusCode, body)
	}
}

// TestCoordinatorReRoutes: the coordinator re-routes the nurse's Task:
// the API cancels it and asks the next nurse of the directory in the same
// write.
func TestCoordinatorReRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("coordinator")
	_, body := b.get(patientPath + "/plan")
	action := regexpFind(`formaction="(/console/patients/demo-patient/tasks/route-[0-9a-f]+-nurse-1/reroute)"`, body)
	if action == "" {
		t.Fatal("no re-route button for the nurse's Task")
	}
	id := strings.TrimSuffix(strings.TrimPrefix(action, "/console/patients/demo-patient/tasks/"), "/reroute")
	_, tb := f.api(t, "system", "GET", "/fhir/Task/"+id)
	version := regexpFind(`"versionId":"([0-9]+)"`, string(tb))
	res, _ := b.post(action, url.Values{"version": {version}, "reason": {"on leave"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("re-route: %d", res.StatusCode)
	}
	if _, tb := f.api(t, "system", "GET", "/fhir/Task/"+id); !strings.Contains(string(tb), `"cancelled"`) {
		t.Errorf("the nurse's Task was not cancelled: %s", tb)
	}
	if _, nb := f.api(t, "system", "GET", "/fhir/Task/"+strings.TrimSuffix(id, "-1")+"-2"); !strings.Contains(string(nb), "demo-nurse-2-role") {
		t.Errorf("the next nurse was not asked: %s", nb)
	}
}

// TestHomeHelpSeesNothingClinical: without her permit the home-help
// service finds no patient and sees nothing of her.
func TestHomeHelpSeesNothingClinical(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("home-help")
	_, _, body := b.find(url.Values{"ins": {demoINS}})
	if strings.Contains(body, "Dupont") || !strings.Contains(body, "No patient you may see matches.") {
		t.Errorf("home-help search:\n%s", body)
	}
	for _, path := range []string{patientPath, patientPath + "/plan", patientPath + "/consents", patientPath + "/disclosures"} {
		res, body := b.get(path)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
		for _, clinical := range []string{"Heart failure", "I50", "heart-failure", "Dupont"} {
			if strings.Contains(body, clinical) {
				t.Errorf("%s shows %q to the home-help", path, clinical)
			}
		}
	}
}

// TestWhatIfExplains: $evaluate's answer and explanation, asked as the
// consent officer.
func TestWhatIfExplains(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	_, body := b.get(patientPath + "/what-if?actor=PractitionerRole/demo-physio-role&what=letter")
	if !strings.Contains(body, "Yes: this would be shared.") || !strings.Contains(body, "Explanation") {
		t.Errorf("physio and the letter:\n%s", body)
	}
	_, body = b.get(patientPath + "/what-if?actor=PractitionerRole/demo-home-help-role&what=letter")
	if !strings.Contains(body, "No: this would not be shared.") {
		t.Errorf("home-help and the letter:\n%s", body)
	}
	// A professional may not ask: the API says so.
	nurse := f.browser(t)
	nurse.signIn("nurse")
	if res, _ := nurse.get(patientPath + "/what-if?actor=PractitionerRole/demo-physio-role&what=letter"); res.StatusCode != http.StatusForbidden {
		t.Errorf("nurse asking $evaluate: %d", res.StatusCode)
	}
}

func TestDisclosureLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.api(t, "gp", "GET", "/fhir/Patient/demo-patient")
	b := f.browser(t)
	b.signIn("consent-officer")
	_, body := b.get(patientPath + "/disclosures")
	if !strings.Contains(body, "<td>Dr Claire Martin — Médecin</td>") {
		t.Errorf("disclosure log lacks the GP's read:\n%s", body)
	}
	gp := f.browser(t)
	gp.signIn("gp")
	if res, _ := gp.get(patientPath + "/disclosures"); res.StatusCode != http.StatusForbidden {
		t.Errorf("GP reading the decision log: %d", res.StatusCode)
	}
	// One break-the-glass search is one access to review, though the log
	// holds its query and its Emergency Override event.
	req, _ := http.NewRequest("GET", f.ts.URL+"/fhir/Condition?patient=demo-patient", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "nurse"))
	req.Header.Set("X-Purpose-Of-Use", "ETREAT")
	req.Header.Set("X-Break-Glass-Reason", "found unconscious at home")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("break-the-glass search: %v %v", err, res)
	}
	res.Body.Close()
	_, body = b.get(patientPath + "/disclosures")
	if !strings.Contains(body, "1 break-the-glass access(es) to review.") && !strings.Contains(body, "1 accès en urgence (bris de glace) à examiner.") {
		t.Errorf("one break-the-glass search, counted:\n%s", body)
	}
}

func TestOperations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sys := f.browser(t)
	sys.signIn("system")
	_, body := sys.get("/console/operations")
	if !strings.Contains(body, "accepted message(s) not written yet") || !strings.Contains(body, "No dead letter.") {
		t.Errorf("operations as system:\n%s", body)
	}
	co := f.browser(t)
	co.signIn("consent-officer")
	_, body = co.get("/console/operations")
	if strings.Count(body, "Not available to you:") != 2 {
		t.Errorf("operations as the consent officer:\n%s", body)
	}
	if res, _ := co.post("/console/operations/dead-letters/x/1/replay", url.Values{}); res.StatusCode != http.StatusForbidden {
		t.Errorf("replay as the consent officer: %d", res.StatusCode)
	}
	// A message that is not set aside: the API's 404, shown to the operator.
	if res, body := sys.post("/console/operations/inbox/99/retry", url.Values{}); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "The server says:") {
		t.Errorf("retry of no message: %d\n%s", res.StatusCode, body)
	}
}

// TestPastedToken: the production sign-in takes a token the API accepts,
// and refuses one it does not.
func TestPastedToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.get("/console/signin?lang=en")
	res, body := b.post("/console/signin", url.Values{"token": {"eyJhbGciOiJub25lIn0.e30."}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "The token was refused") {
		t.Errorf("bad token: %d", res.StatusCode)
	}
	res, _ = b.post("/console/signin", url.Values{"token": {f.token(t, "gp")}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("good token: %d", res.StatusCode)
	}
	if _, body = b.get("/console/"); !strings.Contains(body, "PractitionerRole/demo-gp-role") {
		t.Errorf("signed in as whom?\n%s", body)
	}
	res, _ = b.post("/console/signout", url.Values{})
	if res, _ = b.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", res.StatusCode)
	}
}

func TestLanguageSwitch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	_, body := b.get("/console/signin?lang=fr")
	if !strings.Contains(body, `<html lang="fr">`) || !strings.Contains(body, "Connexion") {
		t.Error("French sign-in page")
	}
	// The choice is kept.
	if _, body = b.get("/console/signin"); !strings.Contains(body, "Connexion") {
		t.Error("language not kept")
	}
	if _, body = b.get("/console/signin?lang=en"); !strings.Contains(body, "Sign in") || !strings.Contains(body, `href="/console/signin?lang=fr"`) {
		t.Error("English sign-in page")
	}
}

// TestMountLeavesAPIPaths: a FHIR path not in canonical form reaches the
// API, which answers it (gateway/api routes.go), rather than the
// ServeMux's HTML redirect.
func TestMountLeavesAPIPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/fhir//metadata", "/fhir/Task/../metadata", "/fhir/metadata/"} {
		res, err := c.Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "application/fhir+json") {
			t.Errorf("GET %s = %d %s, want the CapabilityStatement", path, res.StatusCode, ct)
		}
	}
}
