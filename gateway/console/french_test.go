package console_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFrenchDatesAndWords: French pages write dates as French readers do
// (15/03/1942, 07/12/2026 20:39) and times in the hospital's time zone
// (Europe/Paris), not as ISO dates in UTC; and the words agree with the
// patient (né, née) rather than assuming a woman.
func TestFrenchDatesAndWords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "system", "/fhir/Patient/p-eric", `{"resourceType":"Patient","id":"p-eric",
		"name":[{"use":"official","family":"Dupont","given":["Éric"]}],"gender":"male","birthDate":"1938-12-03"}`)
	b := f.browser(t)
	b.signIn("consent-officer")
	b.get(patientPath + "/consents")
	b.post(patientPath+"/consents", url.Values{"kind": {"deny"}, "actor": {nurseRole}})
	paris, _ := time.LoadLocation("Europe/Paris")
	now := time.Now().In(paris)

	iso := regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
	for _, path := range []string{patientPath, patientPath + "/consents", patientPath + "/plan", patientPath + "/disclosures"} {
		_, body := b.get(path + "?lang=fr")
		main := body[strings.Index(body, "<main"):]
		if m := iso.FindString(main); m != "" {
			t.Errorf("%s in French shows the ISO date %s", path, m)
		}
		if !strings.Contains(main, "née le 15/03/1942") {
			t.Errorf("%s in French does not say « née le 15/03/1942 »", path)
		}
	}
	_, body := b.get(patientPath + "/consents?lang=fr")
	if !strings.Contains(body, "mis à jour le "+now.Format("02/01/2006 15:04")) &&
		!strings.Contains(body, "mis à jour le "+now.Add(-time.Minute).Format("02/01/2006 15:04")) {
		t.Errorf("the Consent's update is not given in Paris time (%s)", now.Format("02/01/2006 15:04"))
	}
	_, body = b.get("/console/patients/p-eric?lang=fr")
	if !strings.Contains(body, "né le 03/12/1938") || strings.Contains(body, "née le") {
		t.Error("Éric Dupont's page does not say « né le 03/12/1938 »")
	}
	_, body = b.get("/console/patients/p-eric/consents?lang=en")
	if strings.Contains(body, "She ") || strings.Contains(body, "Her ") {
		t.Error("Éric Dupont's consents page calls him she")
	}
}
