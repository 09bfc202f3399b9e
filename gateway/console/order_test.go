package console_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestFrenchOrder: people are listed in alphabetical order as a French
// reader expects it: an accented letter sorts with its base letter
// ("Élodie" before "Emma", not after "Zoé"), patients by family name then
// given name.
func TestFrenchOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range [][3]string{{"p-zoe", "Durand", "Zoé"}, {"p-albert", "Dürer", "Albert"},
		{"p-elodie", "Durand", "Élodie"}, {"p-emma", "Durand", "Emma"}} {
		f.put(t, "system", "/fhir/Patient/"+p[0], `{"resourceType":"Patient","id":"`+p[0]+`",
			"name":[{"family":"`+p[1]+`","given":["`+p[2]+`"]}],"birthDate":"1950-01-01"}`)
	}
	for _, p := range [][2]string{{"elodie", "Élodie Abadie"}, {"zoe", "Zoé Zimmer"}} {
		given, family, _ := strings.Cut(p[1], " ")
		f.put(t, "system", "/fhir/Practitioner/"+p[0], `{"resourceType":"Practitioner","id":"`+p[0]+`",
			"name":[{"family":"`+family+`","given":["`+given+`"]}]}`)
		f.put(t, "system", "/fhir/PractitionerRole/r-"+p[0], `{"resourceType":"PractitionerRole","id":"r-`+p[0]+`",
			"active":true,"practitioner":{"reference":"Practitioner/`+p[0]+`"},"code":[{"text":"Infirmière"}]}`)
	}
	b := f.browser(t)
	b.signIn("consent-officer")
	_, _, body := b.find(url.Values{"family": {"dur"}})
	inOrder(t, "patients found", body, "Élodie Durand", "Emma Durand", "Zoé Durand", "Albert Dürer")

	_, body = b.get(patientPath + "/consents?lang=fr")
	inOrder(t, "recipients", body, "Élodie Abadie", "Julien Petit", "Zoé Zimmer")
}

// inOrder checks that each of want appears in s, in that order.
func inOrder(t *testing.T, what, s string, want ...string) {
	t.Helper()
	at := -1
	for _, w := range want {
		i := strings.Index(s, w)
		if i < 0 {
			t.Errorf("%s: %q missing", what, w)
			return
		}
		if i < at {
			t.Errorf("%s: %q is out of place; want the order %q", what, w, want)
			return
		}
		at = i
	}
}
