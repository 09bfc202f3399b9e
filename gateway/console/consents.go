package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	consentpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// A patient's Consents in plain language, with their history; recording
// an objection or a permit; revoking one. The Consents follow R4
// (https://hl7.org/fhir/R4/consent.html) as gateway/consent reads them:
// policyRule OPTOUT is an objection, OPTIN a permit, the root provision's
// actors and classes (Relais data categories) say to whom and what.

const (
	systemActCode       = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemConsentScope  = "http://terminology.hl7.org/CodeSystem/consentscope"
	systemParticipation = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
)

type consentView struct {
	ID, Version, Status, Sentence string
	Updated                       string
	Active                        bool
	History                       []consentVersion
}

type consentVersion struct {
	Version, Status, Sentence, Updated string
}

type consentsData struct {
	Consents   []consentView
	Directory  []party
	Categories []category.Code
}

func (c *Console) consents(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	dir := directoryOf(k)
	p, err := c.loadPatient(k, r, dir)
	if err != nil {
		return err
	}
	v := c.newView(r, s, "title.consents")
	v.Patient, v.Tab = p, "consents"
	found, err := k.search(query("/fhir/Consent", url.Values{"patient": {"Patient/" + p.ID}, "_count": {"200"}, "_sort": {"-_lastUpdated"}}))
	if err != nil {
		return err
	}
	d := consentsData{Directory: dir.recipients(), Categories: category.All}
	for _, m := range found {
		cn, ok := m.(*consentpb.Consent)
		if !ok {
			continue
		}
		cv := consentView{ID: resource.ID(cn), Version: versionID(cn), Status: consentStatus(cn),
			Sentence: sentence(v.lang, p.Name, cn, dir), Updated: v.lang.when(lastUpdated(cn))}
		cv.Active = cv.Status == "active"
		// Earlier versions, newest first; a history the caller may not
		// read is left out.
		hist, _ := k.search("/fhir/Consent/" + cv.ID + "/_history?_count=50")
		for _, hm := range hist {
			hc, ok := hm.(*consentpb.Consent)
			if !ok || versionID(hc) == cv.Version {
				continue
			}
			cv.History = append(cv.History, consentVersion{Version: versionID(hc), Status: consentStatus(hc),
				Sentence: sentence(v.lang, p.Name, hc, dir), Updated: v.lang.when(lastUpdated(hc))})
		}
		d.Consents = append(d.Consents, cv)
	}
	v.Data = d
	c.render(w, http.StatusOK, "consents", v)
	return nil
}

func consentStatus(cn *consentpb.Consent) string { return code(cn.GetStatus().GetValue().String()) }

// permits reports whether a Consent's root provision permits: its type,
// else its policy rule (OPTIN, OPTINR).
func permits(cn *consentpb.Consent) bool {
	switch cn.GetProvision().GetType().GetValue() {
	case cpb.ConsentProvisionTypeCode_PERMIT:
		return true
	case cpb.ConsentProvisionTypeCode_DENY:
		return false
	}
	for _, cd := range cn.GetPolicyRule().GetCoding() {
		if s := cd.GetCode().GetValue(); s == "OPTIN" || s == "OPTINR" {
			return true
		}
	}
	return false
}

// sentence says a Consent in plain language: "Jeanne Dupont objects to
// sharing with Dr Claire Martin", "Aide Lille may receive: orders,
// autonomy, social situation".
func sentence(l lang, patient string, cn *consentpb.Consent, dir *directory) string {
	pr := cn.GetProvision()
	var actors []string
	for _, a := range pr.GetActor() {
		if ref := resource.RefString(a.GetReference()); ref != "" {
			actors = append(actors, dir.name(ref))
		} else if t := conceptText(a.GetRole()); t != "" {
			actors = append(actors, t)
		}
	}
	var what []string
	for _, cl := range pr.GetClassValue() {
		if cl.GetSystem().GetValue() == category.System {
			what = append(what, l.t("cat."+cl.GetCode().GetValue()))
		} else if t := cl.GetCode().GetValue(); t != "" {
			what = append(what, t)
		}
	}
	for _, sl := range pr.GetSecurityLabel() {
		what = append(what, l.t("label."+sl.GetCode().GetValue()))
	}
	who := strings.Join(actors, ", ")
	if who == "" {
		who = l.t("consent.anyone")
	}
	if patient == "" {
		patient = l.t("consent.patient")
	}
	var out string
	switch {
	case permits(cn) && len(what) == 0:
		out = l.t("consent.permit.default", who)
	case permits(cn):
		out = l.t("consent.permit", who, strings.Join(what, ", "))
	case len(what) == 0:
		out = l.t("consent.deny", patient, who)
	default:
		out = l.t("consent.deny.what", patient, strings.Join(what, ", "), who)
	}
	if end := pr.GetPeriod().GetEnd(); end != nil {
		out += " " + l.t("consent.until", l.day(dateTimeOf(end)))
	}
	if n := len(pr.GetProvision()); n > 0 {
		out += " " + l.t("consent.exceptions", n)
	}
	return out
}

// recordConsent writes an objection (deny) or a permit for the chosen
// recipients and data categories, as the signed-in person.
func (c *Console) recordConsent(w http.ResponseWriter, r *http.Request, s *session) error {
	id, ok := pathID(r, "id")
	if !ok {
		return errNotFound
	}
	if err := r.ParseForm(); err != nil {
		return &pageError{status: http.StatusBadRequest, key: "err.invalid"}
	}
	permit := r.PostForm.Get("kind") == "permit"
	actors := r.PostForm["actor"]
	var cats []category.Code
	for _, cd := range r.PostForm["category"] {
		if slices.Contains(category.All, category.Code(cd)) {
			cats = append(cats, category.Code(cd))
		}
	}
	if len(actors) == 0 || (r.PostForm.Get("kind") != "permit" && r.PostForm.Get("kind") != "deny") {
		return &pageError{status: http.StatusBadRequest, key: "err.consent.form"}
	}
	for _, a := range actors {
		typ, aid, ok := strings.Cut(a, "/")
		if !ok || !slices.Contains([]string{"PractitionerRole", "Practitioner", "Organization", "CareTeam"}, typ) || aid == "" {
			return &pageError{status: http.StatusBadRequest, key: "err.consent.form"}
		}
	}
	cn := newConsent("Patient/"+id, permit, actors, cats, c.cfg.Now().UnixMicro())
	body, err := c.api.codec.Encode(cn)
	if err != nil {
		return err
	}
	k := c.callerOf(r, s)
	if _, err := k.do("POST", "/fhir/Consent", body, fhirJSON()); err != nil {
		return err
	}
	notice := "done.objection"
	if permit {
		notice = "done.permit"
	}
	c.done(w, r, s, Prefix+"/patients/"+id+"/consents", notice)
	return nil
}

// newConsent is an active patient-privacy Consent (LOINC 59284-0) whose
// root provision names the actors as recipients (v3 IRCP) and, when given,
// the data categories; OPTOUT denies, OPTIN permits.
func newConsent(patient string, permit bool, actors []string, cats []category.Code, nowUs int64) *consentpb.Consent {
	rule := "OPTOUT"
	if permit {
		rule = "OPTIN"
	}
	coding := func(system, c string) *dtpb.Coding {
		return &dtpb.Coding{System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: c}}
	}
	concept := func(system, c string) *dtpb.CodeableConcept {
		return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{coding(system, c)}}
	}
	cn := &consentpb.Consent{
		Status:     &consentpb.Consent_StatusCode{Value: cpb.ConsentStateCode_ACTIVE},
		Scope:      concept(systemConsentScope, "patient-privacy"),
		Category:   []*dtpb.CodeableConcept{concept("http://loinc.org", "59284-0")},
		Patient:    &dtpb.Reference{},
		DateTime:   &dtpb.DateTime{ValueUs: nowUs, Timezone: "UTC", Precision: dtpb.DateTime_SECOND},
		PolicyRule: concept(systemActCode, rule),
		Provision:  &consentpb.Consent_Provision{},
	}
	resource.SetRefString(cn.Patient, patient)
	for _, a := range actors {
		ref := &dtpb.Reference{}
		resource.SetRefString(ref, a)
		cn.Provision.Actor = append(cn.Provision.Actor, &consentpb.Consent_Provision_ProvisionActor{
			Role: concept(systemParticipation, "IRCP"), Reference: ref})
	}
	for _, cat := range cats {
		cn.Provision.ClassValue = append(cn.Provision.ClassValue, coding(category.System, string(cat)))
	}
	return cn
}

// revokeConsent makes a Consent inactive (R4 consent-state-codes): it no
// longer applies from the next decision on. If-Match keeps a revocation
// from overwriting a change made meanwhile.
func (c *Console) revokeConsent(w http.ResponseWriter, r *http.Request, s *session) error {
	id, ok1 := pathID(r, "id")
	cid, ok2 := pathID(r, "cid")
	if !ok1 || !ok2 {
		return errNotFound
	}
	h := http.Header{"Content-Type": {"application/json-patch+json"}, "Prefer": {"return=minimal"}}
	if v := r.PostFormValue("version"); v != "" && !strings.ContainsAny(v, `"\`) {
		h.Set("If-Match", `W/"`+v+`"`)
	}
	k := c.callerOf(r, s)
	if _, err := k.do("PATCH", "/fhir/Consent/"+cid, []byte(`[{"op":"replace","path":"/status","value":"inactive"}]`), h); err != nil {
		return err
	}
	c.done(w, r, s, Prefix+"/patients/"+id+"/consents", "done.revoked")
	return nil
}
