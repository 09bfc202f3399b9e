package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// put writes a resource through the API as a demo identity.
func (f *fixture) put(t *testing.T, who, path, body string) {
	t.Helper()
	f.write(t, who, "PUT", path, "application/fhir+json", body)
}

// write sends body through the API as a demo identity and fails the test
// unless it succeeds.
func (f *fixture) write(t *testing.T, who, method, path, contentType, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.token(t, who))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s as %s: %d %s", method, path, who, res.StatusCode, b)
	}
}

// find submits the search form and follows its redirect, as a browser
// does, returning the redirect and the page of results.
func (b *browser) find(form url.Values) (string, *http.Response, string) {
	b.t.Helper()
	b.get("/console/")
	res, body := b.post("/console/patients/search", form)
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("search answered %d, want 303 (POST-redirect-GET): %s", res.StatusCode, body)
	}
	loc := res.Header.Get("Location")
	res, body = b.get(loc)
	return loc, res, body
}

// TestSearchPostRedirectGet: the search form's POST redirects to a page of
// results that a reload, Back or Forward fetches again with a GET (no
// "confirm form resubmission"), and whose URL names nothing of the patient.
func TestSearchPostRedirectGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := f.browser(t)
	b.signIn("consent-officer")
	loc, res, body := b.find(url.Values{"ins": {demoINS}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `href="/console/patients/demo-patient"`) {
		t.Fatalf("results %s: %d", loc, res.StatusCode)
	}
	for _, phi := range []string{demoINS, "Dupont", "1942"} {
		if strings.Contains(loc, phi) {
			t.Errorf("the results' URL %s names %q", loc, phi)
		}
	}
	// A reload is the same GET, and shows the same (fresh) results.
	if res, again := b.get(loc); res.StatusCode != http.StatusOK || !strings.Contains(again, `href="/console/patients/demo-patient"`) {
		t.Errorf("reload of %s: %d", loc, res.StatusCode)
	}
	// Another session cannot replay the search.
	other := f.browser(t)
	other.signIn("consent-officer")
	if res, page := other.get(loc); strings.Contains(page, "demo-patient") || res.StatusCode == http.StatusOK && strings.Contains(page, "Jeanne") {
		t.Errorf("another session's GET %s shows the results", loc)
	}
}

// TestSearchAsTyped: what people type is what is searched: a birth date as
// a French user writes it (dd/mm/yyyy), and identifiers holding the
// characters FHIR search reserves (R4 search.html#escaping).
func TestSearchAsTyped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "system", "/fhir/Patient/p-comma", `{"resourceType":"Patient","id":"p-comma",
		"identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.7.590000123","value":"12,345"}],
		"name":[{"use":"official","family":"Lefèvre-Dubois","given":["Marie-Thérèse"]}],"birthDate":"1950-11-03"}`)
	f.put(t, "system", "/fhir/Patient/p-bar", `{"resourceType":"Patient","id":"p-bar",
		"identifier":[{"system":"urn:oid:1.2.250.1.71.4.2.7.590000123","value":"LIL|Hélène$7"}],
		"name":[{"use":"official","family":"Le Goff","given":["Anne"]}],"birthDate":"1938-03-12"}`)
	b := f.browser(t)
	b.signIn("consent-officer")
	for _, tt := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"family": {"dupont"}, "birthdate": {"15/03/1942"}}, "demo-patient"},
		{url.Values{"family": {"dupont"}, "birthdate": {"1942-03-15"}}, "demo-patient"},
		{url.Values{"family": {"dupont"}, "birthdate": {"15031942"}}, "demo-patient"},
		{url.Values{"family": {"lefevre-dubois"}, "given": {"marie-thérèse"}, "birthdate": {"3/11/1950"}}, "p-comma"},
		{url.Values{"identifier": {"12,345"}}, "p-comma"},
		{url.Values{"identifier": {"LIL|Hélène$7"}}, "p-bar"},
		{url.Values{"identifier": {`urn:oid:1.2.250.1.71.4.2.7.590000123|12,345`}}, "p-comma"},
	} {
		_, res, body := b.find(tt.form)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `href="/console/patients/`+tt.want+`"`) {
			t.Errorf("%v: %d, %s not found", tt.form, res.StatusCode, tt.want)
		}
	}
	// A date that cannot be read is said so, in the page's language.
	_, res, body := b.find(url.Values{"family": {"dupont"}, "birthdate": {"31/02/1942"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "dd/mm/yyyy") {
		t.Errorf("an impossible date: %d %s", res.StatusCode, body)
	}
}

// TestSearchCompoundNames: a compound name typed with a space finds it
// written with a hyphen, and the other way round (string search ignores
// punctuation between words as it ignores case and accents).
func TestSearchCompoundNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "system", "/fhir/Patient/p-jp", `{"resourceType":"Patient","id":"p-jp",
		"name":[{"use":"official","family":"Le-Goff","given":["Jean-Pierre"]}],"birthDate":"1951-06-02"}`)
	f.put(t, "system", "/fhir/Patient/p-ml", `{"resourceType":"Patient","id":"p-ml",
		"name":[{"use":"official","family":"Le Goff","given":["Marie Louise"]}],"birthDate":"1953-09-20"}`)
	b := f.browser(t)
	b.signIn("consent-officer")
	for _, q := range []url.Values{
		{"family": {"Le Goff"}, "given": {"Jean Pierre"}},
		{"family": {"le goff"}, "given": {"jean-pierre"}, "birthdate": {"02/06/1951"}},
		{"family": {"LE-GOFF"}, "given": {"Jean"}},
	} {
		if _, _, body := b.find(q); !strings.Contains(body, `href="/console/patients/p-jp"`) {
			t.Errorf("%v does not find Jean-Pierre Le-Goff", q)
		}
	}
	if _, _, body := b.find(url.Values{"family": {"Le-Goff"}, "given": {"Marie-Louise"}}); !strings.Contains(body, `href="/console/patients/p-ml"`) {
		t.Error("Le-Goff Marie-Louise does not find Marie Louise Le Goff")
	}
}
