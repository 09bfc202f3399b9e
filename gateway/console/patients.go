package console

import (
	"net/http"
	"net/url"
	"strings"

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

type searchData struct {
	INS, Family, Given, BirthDate, Identifier string
	Searched                                  bool
	Results                                   []patientView
}

func (c *Console) findPatients(w http.ResponseWriter, r *http.Request, s *session) error {
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	d := searchData{INS: f("ins"), Family: f("family"), Given: f("given"), BirthDate: f("birthdate"), Identifier: f("identifier")}
	q := url.Values{"_count": {"50"}}
	if d.INS != "" {
		ins := strings.ReplaceAll(d.INS, " ", "")
		q.Add("identifier", systemINSNIR+"|"+ins+","+systemINSNIRTest+"|"+ins)
	}
	if d.Identifier != "" {
		q.Add("identifier", d.Identifier)
	}
	if d.Family != "" {
		q.Set("family", d.Family)
	}
	if d.Given != "" {
		q.Set("given", d.Given)
	}
	if d.BirthDate != "" {
		q.Set("birthdate", d.BirthDate)
	}
	v := c.newView(r, s, "title.patients")
	v.Path = Prefix + "/" // the language switch cannot repeat a POST
	if len(q) == 1 {
		v.Notice = "find.empty"
		v.Data = d
		c.render(w, http.StatusOK, "home", v)
		return nil
	}
	k := c.callerOf(r, s)
	found, err := k.search(query("/fhir/Patient", q))
	if err != nil {
		return err
	}
	d.Searched = true
	for _, m := range found {
		if p, ok := m.(*ptpb.Patient); ok {
			d.Results = append(d.Results, patientOf(p, nil))
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "patients", v)
	return nil
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
