package api

import (
	"context"
	"net/url"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/routing"
)

// releaseEntries releases the routing Tasks that wait for a permit the
// Consents being written give: each Task of their patient held for a
// permit (routing.WaitsForPermit), whatever put it on hold (routing, the
// next candidate, a re-assignment by hand), and whose owner the patient's
// Consents, with the new one as if saved, now permit to receive orders
// and what a social recipient needs, moves to requested, in the same
// transaction as the Consent, pinned to the version read.
func (a *API) releaseEntries(ctx context.Context, entries []store.TxEntry) ([]store.TxEntry, error) {
	var out []store.TxEntry
	for _, e := range entries {
		c, ok := e.Resource.(*cpb.Consent)
		if !ok || c.GetStatus().GetValue() != codes.ConsentStateCode_ACTIVE {
			continue
		}
		patient := resource.RefString(c.GetPatient())
		q, err := search.Parse("Task", url.Values{"patient": {patient}, "status": {"on-hold"}}, true)
		if err != nil {
			return nil, err
		}
		hits, err := a.store.Search(q, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			rec, err := a.store.VRead("Task", h.ID, h.Version)
			if err != nil {
				continue
			}
			m, err := a.codec.DecodeStored(rec.JSON)
			if err != nil {
				return nil, err
			}
			t := m.(*tpb.Task)
			if !routing.WaitsForPermit(t) || t.GetOwner() == nil {
				continue
			}
			d, err := a.consent.Decide(ctx, consent.Request{
				Patient: patient, Actor: resource.RefString(t.GetOwner()), Draft: c,
				Resource: consent.PermitToAct(),
			})
			if err != nil {
				return nil, err
			}
			if !d.Permit {
				continue
			}
			nt := proto.Clone(t).(*tpb.Task)
			nt.Status.Value, nt.StatusReason = codes.TaskStatusCode_REQUESTED, nil
			out = append(out, store.TxEntry{Method: "PUT", Type: "Task", ID: h.ID, Resource: nt, Pinned: true, Expect: rec.Version})
		}
	}
	return out, nil
}
