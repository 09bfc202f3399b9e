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
	ID, Actor, Resource, Purpose, Action, Reason, Basis string
	Time                                                time.Time
	Permit, BreakGlass, System                          bool
	Permitted, Denied                                   int
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
		basis := d.Policy
		if d.Provision != "" {
			basis = d.Provision
		}
		out = append(out, disclosure{ID: d.ID, Actor: actor, Resource: d.Resource, Purpose: d.Purpose, Action: d.Action,
			Reason: d.Reason, Basis: basis, Time: d.Time, Permit: d.Permit, BreakGlass: d.BreakGlass, System: d.System,
			Permitted: d.Permitted, Denied: d.Denied})
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
	for _, e := range entries {
		if e.BreakGlass && !e.Override { // one per access
			d.BreakGlass++
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "disclosures", v)
	return nil
}
