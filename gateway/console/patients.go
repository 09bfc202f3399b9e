package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/fhir/resource"
)

// Finding a patient and her summary. The search is POSTed: names, birth
// dates and INS stay out of URLs, the browser's history and logs.

// INS naming systems (ANS Référentiel INS): INS-NIR and its test range.
const (
	systemINSNIR     = "urn:oid:1.2.250.1.213.1.4.8"
	systemINSNIRTest = "urn:oid:1.2.250.1.213.1.4.10"
)

type patientView struct {
	ID, Name, BirthDate, Gender, City string
	Identifiers                       []string
	GP                                []string
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) error {
	v := c.newView(r, s, "title.home")
	c.render(w, http.StatusOK, "home", v)
	return nil
}

// searchCriteria is what the person typed in the search form.
type searchCriteria struct {
	INS, Family, Given, BirthDate, Identifier string
}

func (q searchCriteria) empty() bool { return q == searchCriteria{} }

type searchData struct {
	searchCriteria
	Searched bool
	Results  []patientView
}

// findPatients takes the search form and redirects to its results
// (POST-redirect-GET): a reload, Back or Forward then repeats a GET, never
// the POST. The criteria stay in the session, under a random handle: the
// URL names nothing of the patient.
func (c *Console) findPatients(w http.ResponseWriter, r *http.Request, s *session) error {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	q := searchCriteria{INS: f("ins"), Family: f("family"), Given: f("given"), BirthDate: f("birthdate"), Identifier: f("identifier")}
	http.Redirect(w, r, Prefix+"/patients?q="+c.sessions.remember(s, q), http.StatusSeeOther)
	return nil
}

// found shows the patients a remembered search finds now, as the caller
// may see them.
func (c *Console) found(w http.ResponseWriter, r *http.Request, s *session) error {
	crit, ok := c.sessions.recall(s, r.URL.Query().Get("q"))
	if !ok {
		// A search of another session, or forgotten: search again.
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return nil
	}
	d := searchData{searchCriteria: crit}
	v := c.newView(r, s, "title.patients")
	params, problem := crit.params()
	if problem != "" {
		v.Title, v.Notice, v.Data = "title.home", problem, d
		c.render(w, http.StatusOK, "home", v)
		return nil
	}
	found, err := c.callerOf(r, s).search(query("/fhir/Patient", params))
	if err != nil {
		return err
	}
	d.Searched = true
	var patients []*ptpb.Patient
	for _, m := range found {
		if p, ok := m.(*ptpb.Patient); ok {
			patients = append(patients, p)
		}
	}
	sortPatients(v.lang, patients)
	for _, p := range patients {
		d.Results = append(d.Results, patientOf(p, nil))
	}
	v.Data = d
	c.render(w, http.StatusOK, "patients", v)
	return nil
}

// params are the FHIR search parameters of the criteria, each value
// escaped (R4 search.html#escaping) so that what was typed is searched as
// typed; or the catalogue key of what cannot be searched.
func (q searchCriteria) params() (url.Values, string) {
	v := url.Values{"_count": {"50"}}
	if q.empty() {
		return nil, "find.empty"
	}
	if q.INS != "" {
		ins := escape(strings.ReplaceAll(q.INS, " ", ""))
		v.Add("identifier", systemINSNIR+"|"+ins+","+systemINSNIRTest+"|"+ins)
	}
	if q.Identifier != "" {
		// system|value when what precedes the first bar is a URI (R4
		// Identifier.system); otherwise the whole is a value, bars
		// included.
		if sys, val, ok := strings.Cut(q.Identifier, "|"); ok && strings.Contains(sys, ":") && !strings.ContainsAny(sys, " ") {
			v.Add("identifier", escape(sys)+"|"+escape(val))
		} else {
			v.Add("identifier", escape(q.Identifier))
		}
	}
	if q.Family != "" {
		v.Set("family", escape(q.Family))
	}
	if q.Given != "" {
		v.Set("given", escape(q.Given))
	}
	if q.BirthDate != "" {
		d, ok := birthDate(q.BirthDate)
		if !ok {
			return nil, "find.baddate"
		}
		v.Set("birthdate", d)
	}
	return v, ""
}

// escape is a search value with the characters FHIR search reserves
// escaped (https://hl7.org/fhir/R4/search.html#escaping).
var escape = strings.NewReplacer(`\`, `\\`, ",", `\,`, "|", `\|`, "$", `\$`).Replace

// birthDate reads a birth date as people type it: FHIR's yyyy-mm-dd (what a
// date input sends), yyyy-mm or yyyy, or day first, dd/mm/yyyy (also with
// '.', '-', a space or nothing), as dates are written in France and Belgium. A date that
// does not exist is not read.
func birthDate(s string) (string, bool) {
	for _, layout := range []string{"2006-01-02", "2006-01", "2006"} {
		if _, err := time.Parse(layout, s); err == nil {
			return s, true
		}
	}
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == '.' || r == '-' || r == ' ' })
	if len(s) == 8 && strings.Trim(s, "0123456789") == "" { // ddmmyyyy, typed without separators
		parts = []string{s[:2], s[2:4], s[4:]}
	}
	if len(parts) != 3 || len(parts[2]) != 4 || len(parts[0]) > 2 || len(parts[1]) > 2 {
		return "", false
	}
	t, err := time.Parse("2/1/2006", strings.Join(parts, "/"))
	if err != nil {
		return "", false
	}
	return t.Format("2006-01-02"), true
}

// sortPatients orders patients as a list of people is read in l: by
// family name, then given names, then birth date.
func sortPatients(l lang, ps []*ptpb.Patient) {
	cmp := l.compare()
	slices.SortStableFunc(ps, func(a, b *ptpb.Patient) int {
		fa, ga := nameParts(a.GetName())
		fb, gb := nameParts(b.GetName())
		if c := cmp(fa, fb); c != 0 {
			return c
		}
		if c := cmp(ga, gb); c != 0 {
			return c
		}
		return strings.Compare(dateText(a.GetBirthDate()), dateText(b.GetBirthDate()))
	})
}

func patientOf(p *ptpb.Patient, dir *directory) patientView {
	pv := patientView{ID: resource.ID(p), Name: humanName(p.GetName()), BirthDate: dateText(p.GetBirthDate()),
		Gender: code(p.GetGender().GetValue().String())}
	if pv.Gender == "invalid-uninitialized" {
		pv.Gender = ""
	}
	for _, id := range p.GetIdentifier() {
		label := id.GetSystem().GetValue()
		switch label {
		case systemINSNIR:
			label = "INS"
		case systemINSNIRTest:
			label = "INS (test)"
		}
		pv.Identifiers = append(pv.Identifiers, label+" "+id.GetValue().GetValue())
	}
	for _, a := range p.GetAddress() {
		if c := a.GetCity().GetValue(); c != "" {
			pv.City = c
			break
		}
	}
	for _, gp := range p.GetGeneralPractitioner() {
		ref := resource.RefString(gp)
		if dir != nil {
			ref = dir.label(ref)
		}
		pv.GP = append(pv.GP, ref)
	}
	return pv
}

// loadPatient reads Patient/id as the caller; a patient she may not see is
// not found, as the API answers.
func (c *Console) loadPatient(k caller, r *http.Request, dir *directory) (*patientView, error) {
	id, ok := pathID(r, "id")
	if !ok {
		return nil, errNotFound
	}
	m, _, err := k.read("/fhir/Patient/" + id)
	if err != nil {
		return nil, err
	}
	p, ok := m.(*ptpb.Patient)
	if !ok {
		return nil, errNotFound
	}
	pv := patientOf(p, dir)
	return &pv, nil
}

func (c *Console) patient(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	dir := directoryOf(k)
	p, err := c.loadPatient(k, r, dir)
	if err != nil {
		return err
	}
	v := c.newView(r, s, "title.patient")
	v.Patient, v.Tab = p, "summary"
	c.render(w, http.StatusOK, "patient", v)
	return nil
}
