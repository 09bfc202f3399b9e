package delivery

import (
	"context"
	"fmt"
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"
	subpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/subscription_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// decision is the consent engine's answer for one attempt.
type decision struct {
	permit  bool
	id      string        // the decision log record naming it
	patient string        // the patient it was about, "" for none
	res     proto.Message // the event's version, for full-resource content
	deleted bool          // the event is the resource's deletion
	method  string        // the interaction that made the version (store.Record.Method)
	created bool          // it created the resource (store.Record.Created)
}

// decide asks the engine whether sub's owner may read e's version of the
// resource, as a vread by the owner would (AllowFacts on that version's
// own content), and records the decision. For a deletion it decides on
// the version deleted: whoever could read it is told it is gone.
func (s *Service) decide(ctx context.Context, sub *subscription, e store.Event) (decision, error) {
	var d decision
	rec, err := s.st.VRead(e.Type, e.ID, e.Version)
	if outcome.KindOf(err) == outcome.Gone && e.Version > 1 {
		d.deleted = true
		rec, err = s.st.VRead(e.Type, e.ID, e.Version-1)
	}
	if err != nil && outcome.KindOf(err) != outcome.Gone {
		return decision{}, err
	}
	switch {
	case d.deleted:
		d.method = "DELETE"
	case rec != nil:
		d.method, d.created = rec.Method, rec.Created
	}
	req, err := s.requestFor(ctx, s.st, sub.owner)
	if err != nil {
		return decision{}, err
	}
	f := s.cfg.Consent.NewFilter(ctx, req)
	if rec == nil || rec.JSON == nil {
		d.permit = f.AllowFacts(e.Type, consent.Indexed{}) // nothing to decide on: system callers only
	} else {
		if d.res, err = s.cfg.Codec.DecodeStored(rec.JSON); err != nil {
			return decision{}, fmt.Errorf("decode %s: %w", e.Type, err)
		}
		d.permit = f.AllowFacts(e.Type, consent.FactsOf(d.res))
	}
	if err := f.Err(); err != nil {
		return decision{}, err
	}
	recs, err := f.Record(ctx)
	if err != nil {
		return decision{}, err
	}
	if len(recs) > 0 {
		d.id, d.patient = recs[0].ID, recs[0].Patient
	}
	if !d.permit || d.deleted {
		d.res = nil
	}
	if sub, ok := d.res.(*subpb.Subscription); ok {
		dropSecret(sub)
	}
	return d, nil
}

// reader is what requestFor reads: the store, or the snapshot of the
// write transaction an event is enqueued in (Follow).
type reader interface {
	Read(typ, id string) (*store.Record, error)
	Client(id string) (store.Client, error)
}

// requestFor is the consent request of a read by owner (the name the API
// stamped on the Subscription: fhirUser, "client:" id or "sub:" subject),
// built as the API builds a caller's (gateway/api newFilter), from what st
// holds now: the store, or a write's snapshot, which ctx then carries too
// for the engine's reads.
func (s *Service) requestFor(ctx context.Context, st reader, owner string) (consent.Request, error) {
	req := consent.Request{Actor: owner, Action: consent.ActionAccess, Purpose: consent.PurposeTreat, Owner: owner}
	if client, ok := strings.CutPrefix(owner, "client:"); ok {
		// A registered client without fhirUser: its registered scopes
		// say which types it reads as a system.
		req.Actor = ""
		c, err := st.Client(client)
		if err != nil {
			if outcome.KindOf(err) == outcome.NotFound {
				return req, nil // unregistered: nothing passes
			}
			return req, err
		}
		scopes := auth.ParseScopes(c.Scope)
		grant := func(t string) bool { cx, ok := scopes.Grant(t, auth.Read); return ok && cx == auth.ContextSystem }
		req.System, req.SystemTypes = grant("*"), grant
		return req, nil
	}
	switch typ, id, _ := strings.Cut(owner, "/"); typ {
	case "Patient":
		req.Self = owner
	case "RelatedPerson":
		req.Self = "Patient/-" // acting for nobody, unless her record says so
		rec, err := st.Read("RelatedPerson", id)
		if err == nil {
			m, derr := s.cfg.Codec.DecodeStored(rec.JSON)
			if derr != nil {
				return req, derr
			}
			rp := m.(*rppb.RelatedPerson)
			if p := resource.RefString(rp.GetPatient()); p != "" && (rp.GetActive() == nil || rp.GetActive().GetValue()) {
				req.Self = p
			}
		} else if k := outcome.KindOf(err); k != outcome.NotFound && k != outcome.Gone {
			return req, err
		}
	default:
		if !strings.Contains(owner, "/") {
			req.Actor = "" // a bare subject: nobody the engine knows
			return req, nil
		}
		st, err := s.cfg.Consent.Standing(ctx, owner)
		if err != nil {
			return req, err
		}
		if access.Classify(st) == access.ConsentAdministrator {
			req.SystemTypes = func(t string) bool { return t == "Consent" || t == "Patient" }
		}
	}
	return req, nil
}

// Subscription statuses delivery sets.
const (
	statusActive = cpb.SubscriptionStatusCode_ACTIVE
	statusError  = cpb.SubscriptionStatusCode_ERROR
)
