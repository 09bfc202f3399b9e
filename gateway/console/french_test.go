package console_test

import (
	"html"
	"net/http"
	"net/url"
	"os"
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

// TestFrenchPlanExplains: the coordinator reads the discharge plan in
// French, and routing's explanations are French too: why each recipient
// was asked (the patient's GP, her care team, the directory's first
// candidate and the ones it skipped, nobody for the meals), what a Task
// waits for, a re-route and a re-assignment by hand, and the moves the
// plan notes. Routing writes them in English (FHIR's human-readable
// text) and codes them beside (routing.ExtExplanation): a French page
// shows none of the English.
func TestFrenchPlanExplains(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("coordinator")
	_, body := b.get(patientPath + "/plan?lang=fr")
	// re-route the nurse's Task (the next nurse is asked), give the
	// pharmacist's to the Lyon nurse, who is no candidate for it, and have
	// the GP accept hers
	reroute := regexpFind(`formaction="(/console/patients/demo-patient/tasks/route-[0-9a-f]+-nurse-1/reroute)"`, body)
	id := strings.TrimSuffix(strings.TrimPrefix(reroute, "/console/patients/demo-patient/tasks/"), "/reroute")
	if res, _ := b.post(reroute, url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("re-route: %d", res.StatusCode)
	}
	_, body = b.get(patientPath + "/plan")
	pharmacist := regexpFind(`action="(/console/patients/demo-patient/tasks/route-[0-9a-f]+-pharmacist-1/assign)"`, body)
	if res, _ := b.post(pharmacist, url.Values{"owner": {"PractitionerRole/demo-nurse-lyon-role"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("assign: %d", res.StatusCode)
	}
	gpTask := regexpFind(`id="task-(route-[0-9a-f]+-gp-1)"`, body)
	f.patch(t, "gp", "/fhir/Task/"+gpTask, `[{"op":"replace","path":"/status","value":"accepted"}]`)

	_, body = b.get(patientPath + "/plan?lang=fr")
	main := strings.ToLower(html.UnescapeString(body[strings.Index(body, "<main"):]))
	if os.Getenv("RELAIS_DUMP") != "" {
		t.Log(main)
	}
	for _, english := range []string{"first candidate", "covers the patient", "skipped", "waiting for the patient", "explicit permit",
		"no candidate", "discharging organisation", "follows up", "re-assigned", "requested of", "on-hold for", "accepted by",
		"chosen by hand", "not among", "out of territory", "taken off", "was re-routed", "patient's general practitioner",
		"care team", "in her role", "open tasks", "discharge plan"} {
		if strings.Contains(main, english) {
			t.Errorf("the French plan shows the English %q", english)
		}
	}
	for _, french := range []string{"premier candidat de l'annuaire", "hors territoire", "le médecin traitant du patient",
		"fait partie de l'équipe de soins du patient", "l'autorisation explicite du patient est requise", "aucun candidat dans l'annuaire pour le rôle portage de repas",
		"l'établissement de sortie assure le suivi", "réorientée par le demandeur", "après la réorientation de task/" + id,
		"choisi manuellement : hors des candidats de l'annuaire pour le rôle pharmacien", "acceptée par", "confiée à"} {
		if !strings.Contains(main, strings.ToLower(french)) {
			t.Errorf("the French plan does not say %q", french)
		}
	}
	// the codes are published
	if code, _ := f.api(t, "system", "GET", "/fhir/CodeSystem/routing-status"); code != http.StatusOK {
		t.Errorf("GET /fhir/CodeSystem/routing-status: %d", code)
	}
	// in English, the same in English
	_, body = b.get(patientPath + "/plan?lang=en")
	for _, want := range []string{"first candidate of the directory", "the patient's explicit permit is required", "re-routed by its requester"} {
		if !strings.Contains(body, html.EscapeString(want)) {
			t.Errorf("the English plan does not say %q", want)
		}
	}
}

// patch applies a JSON Patch through the API as a demo identity.
func (f *fixture) patch(t *testing.T, who, path, body string) {
	t.Helper()
	f.write(t, who, "PATCH", path, "application/json-patch+json", body)
}
