package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/relais-health/relais/gateway/consent"
)

// A patient's disclosure log: who received or read what, when, under which
// decision, break-the-glass flagged. It comes from one source behind
// disclosureLog: today the consent decision log (GET /admin/decisions,
// for a consent administrator, a system scope that searches AuditEvent,
// or the patient about herself).

type disclosure struct {
	ID, Actor, Resource, Purpose, Action, Reason, Basis string
	Time                                                time.Time
	Permit, BreakGlass, System                          bool
	Permitted, Denied                                   int
}

// disclosureLog lists what was disclosed of a patient, newest first.
type disclosureLog interface {
	disclosures(k caller, patient string, dir *directory) ([]disclosure, error)
}

// decisionLog reads the consent decision log.
type decisionLog struct{ c *client }

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
		if e.BreakGlass {
			d.BreakGlass++
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "disclosures", v)
	return nil
}
