package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// pages are parsed once: each page template with the layout.
var pageNames = []string{"signin", "home", "patients", "patient", "consents", "whatif", "plan", "disclosures", "operations", "error"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"join": strings.Join}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page template receives.
type view struct {
	Lang, Other string // the page's language and the other one
	Switch      string // the same page in the other language (switchURL)
	CSRF        string
	SignedIn    bool
	Who         string // who is signed in
	Title       string // a catalogue key
	Notice      string // a catalogue key: what the last action did
	Error       string // an API refusal's text, for the person only
	Patient     *patientView
	Tab         string
	Data        any
	lang        lang
}

// T is the catalogue entry key in the page's language, formatted with args.
func (v *view) T(key string, args ...any) string { return v.lang.t(key, args...) }

// When is instant t as the page's language writes it, in the hospital's
// time zone; Date is a FHIR date (a birth date).
func (v *view) When(t time.Time) string { return v.lang.when(t) }

func (v *view) Date(d string) string { return v.lang.date(d) }

// Born says when p was born, in words that agree with p's gender.
func (v *view) Born(p *patientView) string {
	key := "patient.born"
	if p.Gender == "female" || p.Gender == "male" {
		key += "." + p.Gender
	}
	return v.lang.t(key, v.lang.date(p.BirthDate))
}

func (c *Console) newView(r *http.Request, s *session, title string) *view {
	l := langOf(r)
	v := &view{Lang: string(l), Other: string(l.other()), Switch: switchURL(r, l.other()), Title: title, lang: l}
	if s != nil {
		v.CSRF, v.SignedIn, v.Who = s.csrf, s.signedIn(), s.label
	}
	if s != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		v.Notice = c.sessions.noticeFor(s, r.URL.Path)
	}
	return v
}

// switchURL is the page r asked for, in language other: the same path and
// question (a what-if's actor and data, a search's handle). A page that
// answers a form (a POST)
// has no address to ask again: its switch leads to the console's home.
func switchURL(r *http.Request, other lang) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return Prefix + "?lang=" + url.QueryEscape(string(other))
	}
	q := r.URL.Query()
	q.Set("lang", string(other))
	return r.URL.Path + "?" + q.Encode()
}

// render writes page name with v.
func (c *Console) render(w http.ResponseWriter, status int, name string, v *view) {
	var b bytes.Buffer
	if err := c.pages[name].Execute(&b, v); err != nil {
		// No template data in the log: it names patients.
		c.log.Error("console template failed", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// pageError is a refusal of the console itself.
type pageError struct {
	status int
	key    string
}

func (e *pageError) Error() string { return e.key }

var errNotFound = &pageError{status: http.StatusNotFound, key: "err.notfound"}

// fail renders err: the API's refusals with their text, the console's with
// its message, anything else as an internal error (logged without
// details, which may name a patient).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	v := c.newView(r, s, "title.error")
	var pe *pageError
	var ae *apiError
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &pe):
		status, v.Data = pe.status, pe.key
	case errors.As(err, &ae):
		if ae.status == http.StatusUnauthorized {
			// The token expired or was revoked: sign in again.
			if s != nil {
				c.sessions.end(s.id)
			}
			c.clearCookie(w)
			http.Redirect(w, r, signinAgain, http.StatusSeeOther)
			return
		}
		status, v.Data, v.Error = ae.status, statusKey(ae.status), ae.text
	default:
		c.log.Error("console request failed", "route", routeOf(r), "kind", fmt.Sprintf("%T", err))
		v.Data = "err.internal"
	}
	c.render(w, status, "error", v)
}

func statusKey(status int) string {
	switch status {
	case http.StatusForbidden:
		return "err.forbidden"
	case http.StatusNotFound, http.StatusGone:
		return "err.notfound"
	case http.StatusConflict, http.StatusPreconditionFailed:
		return "err.conflict"
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "err.invalid"
	}
	return "err.internal"
}

// done redirects after a successful form post to the page at path
// (POST-redirect-GET), which says notice (a catalogue key) once.
func (c *Console) done(w http.ResponseWriter, r *http.Request, s *session, path, notice string) {
	c.sessions.announce(s, path, notice)
	http.Redirect(w, r, path, http.StatusSeeOther)
}
