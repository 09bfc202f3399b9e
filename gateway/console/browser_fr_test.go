package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserFrench: a French-speaking coordinator and consent officer in
// Chromium, with the keyboard: a compound name typed with a space finds
// it written with a hyphen, the patients and recipients come in French
// alphabetical order, a re-assignment's notice is shown once (a reload
// does not repeat it), and the disclosure log says why in French.
func TestBrowserFrench(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skips before starting a server
	f := newFixture(t)
	for _, p := range [][3]string{{"p-jp", "Le-Goff", "Jean-Pierre"}, {"p-el", "Le Goff", "Élodie"}, {"p-zo", "Le Goff", "Zoé"}} {
		f.put(t, "system", "/fhir/Patient/"+p[0], `{"resourceType":"Patient","id":"`+p[0]+`",
			"name":[{"family":"`+p[1]+`","given":["`+p[2]+`"]}],"birthDate":"1950-01-01"}`)
	}
	f.api(t, "gp", "GET", "/fhir/Patient/demo-patient")
	p := newPage(t, f)

	p.open("/console/signin?lang=fr")
	for i := 0; i < 40 && p.eval(`document.activeElement.id`) != "as-consent-officer"; i++ {
		p.do(chromedp.KeyEvent(kb.Tab))
	}
	p.do(chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#family")))
	p.do(chromedp.Focus(chromedp.CSS("#family")), chromedp.KeyEvent("le goff"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("h1#found")))
	found := p.text("main")
	inOrder(t, "patients found", found, "Élodie Le Goff", "Jean-Pierre Le-Goff", "Zoé Le Goff")
	p.accessible("patients found, French")
	p.screenshot("patients-found-fr")

	p.open("/console/patients/demo-patient/disclosures")
	why := p.text("main table")
	for _, want := range []string{"soins", "Règle de base : l'équipe de soins du patient partage les données de santé"} {
		if !strings.Contains(why, want) {
			t.Errorf("the disclosure log lacks %q:\n%s", want, why)
		}
	}
	if strings.Contains(why, "TREAT") || strings.Contains(why, "care-team") {
		t.Errorf("the disclosure log shows codes:\n%s", why)
	}
	p.accessible("disclosure log, French")
	p.screenshot("disclosures-fr")

	p.do(chromedp.Click(chromedp.CSS(`form[action="/console/signout"] button`)), chromedp.WaitVisible(chromedp.CSS("#as-coordinator")))
	p.do(chromedp.Click(chromedp.CSS("#as-coordinator")), chromedp.WaitVisible(chromedp.CSS(".user")))
	p.open("/console/patients/demo-patient/plan")
	p.do(chromedp.Click(chromedp.CSS(`li[id$="-nurse-1"] details summary`)),
		chromedp.SetValue(chromedp.CSS(`select[id$="-nurse-1"]`), "PractitionerRole/demo-nurse-lyon-role"),
		chromedp.Focus(chromedp.CSS(`form[action$="-nurse-1/assign"] button`)), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if s := p.text(".notice"); s != "Tâche confiée." {
		t.Errorf("notice %q", s)
	}
	p.screenshot("plan-reassigned-fr")
	p.do(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("footer")))
	if got := p.eval(`String(!!document.querySelector('.notice'))`); got != "false" {
		t.Error("reloading the plan shows the re-assignment's notice again")
	}
}
