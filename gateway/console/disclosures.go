package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	aepb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/audit_event_go_proto"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/resource"

	"github.com/relais-health/relais/gateway/consent"
)

// A patient's disclosure log: who received or read what, when, under which
// decision, break-the-glass flagged, behind one small interface
// (disclosureLog). Where the API serves GET /fhir/Patient/{id}/$disclosures
// (a searchset of IHE BALP AuditEvents,
// https://profiles.ihe.net/ITI/BALP/) the console reads it; where that
// route answers 404 it reads the consent decision log
// (GET /admin/decisions?patient=, for a consent administrator, a system
// scope that searches AuditEvent, or the patient about herself).

type disclosure struct {
	ID, Actor, Resource, Action string
	// Purpose is the purpose of use (an HL7 v3 ActReason code), Policy
	// the engine's base rule (consent.Policy*), Provision the Consent
	// provision that decided ("Consent/x#..."), Reason the reason given
	// for breaking the glass: Why says them in the page's language.
	Purpose, Policy, Provision, Reason string
	Why                                []string
	Time                               time.Time
	Permit, BreakGlass, System         bool
	Permitted, Denied                  int
	// Override: the BALP Emergency Override event a break-the-glass
	// access adds beside its read or query (not an access of its own).
	Override bool
}

// disclosureLog lists what was disclosed of a patient, newest first.
type disclosureLog interface {
	disclosures(k caller, patient string, dir *directory) ([]disclosure, error)
}

// firstOf reads the first log that answers: a 404 from one (a route this
// server does not serve) passes to the next.
type firstOf []disclosureLog

func (logs firstOf) disclosures(k caller, patient string, dir *directory) ([]disclosure, error) {
	var err error
	for _, l := range logs {
		var out []disclosure
		out, err = l.disclosures(k, patient, dir)
		var ae *apiError
		if err == nil || !errors.As(err, &ae) || ae.status != http.StatusNotFound {
			return out, err
		}
	}
	return nil, err
}

// auditLog reads the patient's disclosures as AuditEvents.
type auditLog struct{}

func (auditLog) disclosures(k caller, patient string, dir *directory) ([]disclosure, error) {
	events, err := k.search("/fhir/Patient/" + patient + "/$disclosures?_count=200")
	if err != nil {
		return nil, err
	}
	var out []disclosure
	for _, m := range events {
		ae, ok := m.(*aepb.AuditEvent)
		if !ok {
			continue
		}
		d := disclosure{ID: resource.ID(ae), Permit: code(ae.GetOutcome().GetValue().String()) == "success",
			Action: code(ae.GetAction().GetValue().String())}
		if rec := ae.GetRecorded(); rec != nil {
			d.Time = time.UnixMicro(rec.GetValueUs()).UTC()
		}
		for _, a := range ae.GetAgent() {
			if a.GetRequestor().GetValue() {
				if ref := resource.RefString(a.GetWho()); ref != "" {
					d.Actor = dir.label(ref)
				} else {
					d.Actor = a.GetName().GetValue()
				}
			}
		}
		for _, st := range ae.GetSubtype() {
			d.Override = d.Override || st.GetCode().GetValue() == audit.SubEmergencyStart.Code
		}
		var what []string
		for _, e := range ae.GetEntity() {
			if ref := resource.RefString(e.GetWhat()); ref != "" && ref != "Patient/"+patient {
				what = append(what, ref)
			}
		}
		d.Resource = strings.Join(what, ", ")
		for _, p := range ae.GetPurposeOfEvent() {
			for _, cd := range p.GetCoding() {
				c := cd.GetCode().GetValue()
				d.Purpose = c
				d.BreakGlass = d.BreakGlass || c == "BTG" || c == "ETREAT"
			}
		}
		// An event that carries its consent decision (BALP AuthZ-Consent)
		// says which rule or Consent decided, as fhir/audit reads it back.
		if js, err := k.c.codec.Encode(ae); err == nil {
			if dec, err := audit.DecisionOf(js); err == nil {
				d.Policy, d.Provision, d.Reason = dec.Policy, dec.Provision, dec.Reason
				d.Permitted, d.Denied = dec.Permitted, dec.Denied
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// decisionLog reads the consent decision log.
type decisionLog struct{}

func (decisionLog) disclosures(k caller, patient string, dir *directory) ([]disclosure, error) {
	res, err := k.get(query("/admin/decisions", url.Values{"patient": {"Patient/" + patient}, "_count": {"200"}}))
	if err != nil {
		return nil, err
	}
	var body struct {
		Decisions []consent.Record `json:"decisions"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		return nil, err
	}
	out := make([]disclosure, 0, len(body.Decisions))
	for _, d := range body.Decisions {
		actor := d.Actor
		if actor != "" {
			actor = dir.label(actor)
		}
		out = append(out, disclosure{ID: d.ID, Actor: actor, Resource: d.Resource, Purpose: d.Purpose, Action: d.Action,
			Reason: d.Reason, Policy: d.Policy, Provision: d.Provision, Time: d.Time, Permit: d.Permit,
			BreakGlass: d.BreakGlass, System: d.System, Permitted: d.Permitted, Denied: d.Denied})
	}
	return out, nil
}

type disclosuresData struct {
	Entries    []disclosure
	BreakGlass int
}

func (c *Console) disclosures(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	dir := directoryOf(k)
	p, err := c.loadPatient(k, r, dir)
	if err != nil {
		return err
	}
	v := c.newView(r, s, "title.disclosures")
	v.Patient, v.Tab = p, "disclosures"
	entries, err := c.disclose.disclosures(k, p.ID, dir)
	if err != nil {
		return err
	}
	d := disclosuresData{Entries: entries}
	consents := map[string]string{} // each deciding Consent's sentence, read once
	for i, e := range entries {
		if e.BreakGlass && !e.Override { // one per access
			d.BreakGlass++
		}
		entries[i].Why = c.why(k, e, p, dir, v.lang, consents)
	}
	v.Data = d
	c.render(w, http.StatusOK, "disclosures", v)
	return nil
}

// why says why e was decided as it was, in l: the purpose of use, then the
// patient's choice that decided (in the consents page's words) or else the
// base rule, then the reason given for breaking the glass, as typed.
func (c *Console) why(k caller, e disclosure, p *patientView, dir *directory, l lang, consents map[string]string) []string {
	var out []string
	if e.Purpose != "" {
		out = append(out, l.t("purpose."+e.Purpose))
	}
	switch {
	case e.Provision != "":
		ref, _, _ := strings.Cut(e.Provision, "#")
		s, ok := consents[ref]
		if !ok {
			s = c.consentSentence(k, ref, p.Name, dir, l)
			consents[ref] = s
		}
		out = append(out, s)
	case e.Policy != "":
		out = append(out, l.t("policy."+e.Policy))
	}
	if e.Reason != "" {
		out = append(out, e.Reason)
	}
	return out
}
