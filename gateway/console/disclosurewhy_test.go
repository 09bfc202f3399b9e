package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDisclosureWhyInWords: the disclosure log's "Why" says, in the page's
// language, the purpose of use (HL7 v3 ActReason, R4 AuditEvent.purposeOfEvent)
// and what decided (the base rule, the patient's choice), not their codes.
func TestDisclosureWhyInWords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	b.get(patientPath + "/consents")
	if res, _ := b.post(patientPath+"/consents", url.Values{"kind": {"permit"}, "actor": {"Organization/demo-saad-lille"},
		"category": {"ADM", "ORD"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("record permit: %d", res.StatusCode)
	}
	if code, _ := f.api(t, "gp", "GET", "/fhir/Patient/demo-patient"); code != http.StatusOK {
		t.Fatalf("GP read: %d", code)
	}
	if code, _ := f.api(t, "home-help", "GET", "/fhir/Patient/demo-patient"); code != http.StatusOK {
		t.Fatalf("home-help read under the permit: %d", code)
	}
	req, _ := http.NewRequest("GET", f.ts.URL+"/fhir/Patient/demo-patient", nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, "gp"))
	req.Header.Set("X-Purpose-Of-Use", "ETREAT")
	req.Header.Set("X-Break-Glass-Reason", "malaise <b>au domicile</b>")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GP break-the-glass read: %d", res.StatusCode)
	}

	_, body := b.get(patientPath + "/disclosures?lang=fr")
	main := body[strings.Index(body, "<main"):]
	for _, code := range []string{">TREAT", "TREAT<", "ETREAT", "care-team", "explicit-permit-required", "#provision"} {
		if strings.Contains(main, code) {
			t.Errorf("the French disclosure log shows the code %q", code)
		}
	}
	for _, want := range []string{
		"soins",            // TREAT
		"soins en urgence", // ETREAT
		"Règle de base : l&#39;équipe de soins du patient partage les données de santé", // care-team
		"Service d&#39;aide à domicile (démo) peut recevoir",                            // the permit that decided
		"malaise &lt;b&gt;au domicile&lt;/b&gt;",                                        // the reason given, escaped
	} {
		if !strings.Contains(main, want) {
			t.Errorf("the French disclosure log lacks %q", want)
		}
	}
	_, body = b.get(patientPath + "/disclosures?lang=en")
	main = body[strings.Index(body, "<main"):]
	for _, want := range []string{"treatment", "emergency treatment", "Base rule: the patient&#39;s care team shares health data"} {
		if !strings.Contains(main, want) {
			t.Errorf("the English disclosure log lacks %q", want)
		}
	}
}
