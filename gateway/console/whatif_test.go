package console_test

import (
	"html"
	"net/url"
	"strings"
	"testing"
)

// TestWhatIfInPlainWords: the what-if answer says why in the page's
// language: the Consent that decided, in the words the consents page uses,
// and the base rule in plain words; the engine's own trace (English,
// references) is kept apart, marked as English for screen readers.
func TestWhatIfInPlainWords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	b.get(patientPath + "/consents")
	b.post(patientPath+"/consents", url.Values{"kind": {"deny"}, "actor": {nurseRole}})

	answer := func(path string) string {
		_, body := b.get(path)
		i := strings.Index(body, `class="answer`)
		if i < 0 {
			t.Fatalf("%s: no answer", path)
		}
		a := body[i:]
		if j := strings.Index(a, "</section>"); j >= 0 {
			a = a[:j]
		}
		// The trace, apart.
		if j := strings.Index(a, `<details lang="en"`); j >= 0 {
			a = a[:j]
		}
		return a
	}
	a := answer(patientPath + "/what-if?lang=fr&actor=" + nurseRole + "&what=letter")
	if !strings.Contains(a, "Jeanne Dupont s&#39;oppose au partage avec Julien Petit") || strings.Contains(a, "Consent/") {
		t.Errorf("the nurse's answer, in French, does not name the objection in words:\n%s", a)
	}
	a = answer(patientPath + "/what-if?lang=fr&actor=PractitionerRole/demo-physio-role&what=letter")
	if !strings.Contains(a, "Règle de base : l&#39;équipe de soins") || strings.Contains(a, "care-team") {
		t.Errorf("the physio's answer, in French, does not give the rule in words:\n%s", a)
	}
	a = answer(patientPath + "/what-if?lang=en&actor=PractitionerRole/demo-home-help-role&what=letter")
	if !strings.Contains(a, "needs the patient&#39;s permit") {
		t.Errorf("the home-help's answer, in English, does not give the rule in words:\n%s", a)
	}
}

// TestLanguageSwitchKeepsTheQuestion: the other language's link of a
// what-if answer asks the same question; a page answering a form links to
// the console's home, not to a GET of the form's address.
func TestLanguageSwitchKeepsTheQuestion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	_, body := b.get(patientPath + "/what-if?lang=fr&actor=" + url.QueryEscape(nurseRole) + "&what=letter")
	link := regexpFind(`<a href="([^"]*)" hreflang="en"`, body)
	u, err := url.Parse(html.UnescapeString(link))
	if err != nil || u.Path != patientPath+"/what-if" {
		t.Fatalf("the switch links to %q", link)
	}
	if q := u.Query(); q.Get("lang") != "en" || q.Get("actor") != nurseRole || q.Get("what") != "letter" {
		t.Errorf("the switch asks %v", q)
	}
}
