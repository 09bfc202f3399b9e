package console

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
)

// TestCatalogueComplete: every key a template or the code names is in the
// catalogue, in both languages.
func TestCatalogueComplete(t *testing.T) {
	t.Parallel()
	for key, e := range catalogue {
		if strings.TrimSpace(e[0]) == "" || strings.TrimSpace(e[1]) == "" {
			t.Errorf("%s lacks a translation", key)
		}
		if strings.Count(e[0], "%") != strings.Count(e[1], "%") {
			t.Errorf("%s: the translations take different arguments", key)
		}
	}
	used := map[string]bool{}
	keyRef := regexp.MustCompile(`\.T "([a-z.-]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		for _, m := range keyRef.FindAllSubmatch(b, -1) {
			used[string(m[1])] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range category.All {
		used["cat."+string(c)] = true
	}
	// routing's explanations, by code, each taking the arguments its
	// sentence in routing's CodeSystem takes, and the pathway roles they
	// name
	for _, c := range routing.CodeSystem().GetConcept() {
		used["why."+c.GetCode().GetValue()] = true
		if e, ok := catalogue["why."+c.GetCode().GetValue()]; ok && strings.Count(e[0], "%") != strings.Count(c.GetDefinition().GetValue(), "%") {
			t.Errorf("why.%s takes %d arguments, routing's sentence %q takes %d", c.GetCode().GetValue(), strings.Count(e[0], "%"),
				c.GetDefinition().GetValue(), strings.Count(c.GetDefinition().GetValue(), "%"))
		}
	}
	for _, r := range pathways.Roles {
		used["role."+r] = true
	}
	for _, k := range []string{"why.sep", "why.or", "why.undelivered"} {
		used[k] = true
	}
	for _, id := range demo.Identities {
		used["who."+id.Name] = true
	}
	for _, s := range subjects {
		used["subject."+s.Key] = true
	}
	for _, k := range []string{"title.consents", "title.plan", "title.whatif", "title.disclosures", "title.patient", "title.error",
		"consent.deny", "consent.deny.what", "consent.permit", "consent.permit.default", "consent.anyone", "consent.until",
		"consent.exceptions", "consent.patient", "plan.cancel.default", "find.empty", "err.csrf", "err.notfound",
		"err.forbidden", "err.conflict", "err.invalid", "err.internal", "err.identity", "err.token", "err.consent.form", "err.owner"} {
		used[k] = true
	}
	for k := range used {
		if _, ok := catalogue[k]; !ok {
			t.Errorf("%s is used but not in the catalogue", k)
		}
	}
}

func TestSentence(t *testing.T) {
	t.Parallel()
	dir := &directory{by: map[string]party{
		"PractitionerRole/gp":  {Ref: "PractitionerRole/gp", Name: "Dr Martin"},
		"Organization/saad":    {Ref: "Organization/saad", Name: "Aide Lille"},
		"PractitionerRole/sw1": {Ref: "PractitionerRole/sw1", Name: "Anne Roy"},
	}}
	tests := []struct {
		name   string
		permit bool
		actors []string
		cats   []category.Code
		l      lang
		want   string
	}{
		{"objection", false, []string{"PractitionerRole/gp"}, nil, en, "Jeanne Dupont objects to sharing with Dr Martin"},
		{"objection to a category", false, []string{"PractitionerRole/gp"}, []category.Code{category.MED}, en, "Jeanne Dupont objects to sharing medication with Dr Martin"},
		{"permit", true, []string{"Organization/saad"}, []category.Code{category.ORD, category.FUNC, category.SOC}, en, "Aide Lille may receive: orders, autonomy, social situation"},
		{"permit in French", true, []string{"Organization/saad"}, []category.Code{category.FUNC}, fr, "Aide Lille peut recevoir : autonomie"},
		{"unknown actor", false, []string{"PractitionerRole/x"}, nil, en, "Jeanne Dupont objects to sharing with PractitionerRole/x"},
		{"two actors", true, []string{"PractitionerRole/sw1", "Organization/saad"}, nil, en, "Anne Roy, Aide Lille may receive: identity, orders, autonomy, social situation (the default of a permit)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cn := newConsent("Patient/p", tc.permit, tc.actors, tc.cats, 0)
			if got := sentence(tc.l, "Jeanne Dupont", cn, dir); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	// {"exp":1700000000,"fhirUser":"PractitionerRole/gp"}, unsigned: the
	// session reads it only after the API accepted the token.
	exp, user := tokenClaims("e30.eyJleHAiOjE3MDAwMDAwMDAsImZoaXJVc2VyIjoiUHJhY3RpdGlvbmVyUm9sZS9ncCJ9.c2ln")
	if exp.Unix() != 1700000000 || user != "PractitionerRole/gp" {
		t.Errorf("got %v %q", exp, user)
	}
	if exp, user := tokenClaims("not a token"); !exp.IsZero() || user != "" {
		t.Errorf("garbage: %v %q", exp, user)
	}
}

// TestAnonymousSessionsBounded: visitors who never sign in cannot grow the
// session table without bound; signed-in sessions are kept.
func TestAnonymousSessionsBounded(t *testing.T) {
	t.Parallel()
	ss := newSessions(time.Now, time.Hour, time.Hour)
	kept := ss.signIn(nil, "tok", "PractitionerRole/gp", "gp", time.Time{})
	for i := 0; i < maxAnonymous+50; i++ {
		ss.create()
	}
	if n := len(ss.m); n > maxAnonymous+1 {
		t.Errorf("%d sessions", n)
	}
	if ss.get(kept.id) == nil {
		t.Error("a signed-in session was dropped")
	}
}

// TestAcceptedLang: the browser's preference is read by weight, as RFC
// 9110 section 12.5.4 says, not by the order the header lists languages.
func TestAcceptedLang(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]lang{
		"":                                    fr,
		"en":                                  en,
		"en-GB,en;q=0.9":                      en,
		"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7": fr,
		"en;q=0.1, fr":                        fr,
		"de, en;q=0.5":                        en,
		"fr;q=0, en;q=0.2":                    en,
		"nl-BE, fr-BE;q=0.8":                  fr,
		"de":                                  fr,
		"*":                                   fr,
		"en;q=bad":                            fr,
	} {
		if got := acceptedLang(header); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
}

// FuzzAcceptedLang: any header gives one of the console's languages
// without panicking.
func FuzzAcceptedLang(f *testing.F) {
	for _, s := range []string{"", "en", "fr-FR,fr;q=0.9,en;q=0.7", "en;q=0.1, fr", "*;q=0", "en;q=", ",,;", "x-klingon;q=1.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if len(header) > 1024 {
			return
		}
		if l := acceptedLang(header); l != fr && l != en {
			t.Fatalf("Accept-Language %q: %q", header, l)
		}
	})
}
