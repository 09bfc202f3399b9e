package ingest

import (
	"context"
	"errors"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/identity"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/hl7v2"
)

// Every source's Patients, Practitioners and Organizations go through the
// identity resolver (gateway/identity) before they are written, so that one
// person sent by several sources is one Patient.
//
// CDA documents and assessments resolve against a snapshot and write with
// the claims the resolution made; a write that loses a race for a claim
// (a store.ClaimError: another message created her meanwhile), or whose
// retirement of a replaced document's statements finds one changed
// (store.ErrMoved), resolves again and finds her. HL7 v2 messages resolve inside the batch
// transaction that writes them (applyResolved), where no other write can
// come between, so the queue's batches never lose.

// maxResolveAttempts bounds the resolutions made again for a write whose
// claims keep being taken under it.
const maxResolveAttempts = 4

// storeResolved resolves entries (from src, mapped to mapped) and writes
// them in one transaction, with the retirement of what the sources mapped
// replaces produced (replace.go) and the AuditEvents events makes of the
// resolved entries (nil: none), then lists what the resolution asks to
// review.
func (in *Ingester) storeResolved(ctx context.Context, entries []store.TxEntry, mapped *bundle.Result, src identity.Source, events func([]store.TxEntry) []audit.Event) ([]store.TxResult, error) {
	for attempt := 0; ; attempt++ {
		var res *identity.Result
		err := in.store.View(func(r *store.Snapshot) error {
			var err error
			if res, err = in.ident.Resolve(r, entries, src); err != nil {
				return err
			}
			res.Entries = in.carryStay(r, nil, res.Entries)
			res.Entries, err = in.supersede(r, res.Entries, documentOf(mapped))
			return err
		})
		if err != nil {
			return nil, err
		}
		o := store.TxOptions{KeepUnchanged: true}
		if events != nil {
			o.Audit = events(res.Entries)
		}
		results, err := in.store.TransactionWith(ctx, res.Entries, o)
		if errRetry(err) && attempt+1 < maxResolveAttempts {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := in.store.PutIdentityReviews(ctx, res.Reviews...); err != nil {
			return nil, err
		}
		return results, nil
	}
}

// applyResolved writes a queued HL7 v2 message in b, its identities
// resolved in b's own transaction, and returns how many resources kept a
// newer event's version.
func (in *Ingester) applyResolved(b *store.Batch, it *queued) (int, error) {
	r, err := b.Snapshot(mergesIn(it.entries) || it.doc.stated())
	if err != nil {
		return 0, err
	}
	res, err := in.ident.Resolve(r, it.entries, identity.HL7v2)
	if err != nil {
		return 0, err
	}
	if err := b.PutIdentityReviews(fromMessage(res.Reviews, it)...); err != nil {
		return 0, err
	}
	resolved := *it
	h := resolvedHeader(it.header, res)
	resolved.entries = in.carryStay(r, &h, res.Entries)
	// a document the message carries replaces or is replaced as one
	// posted on its own (replace.go)
	if resolved.entries, err = in.supersede(r, resolved.entries, it.doc); err != nil {
		return 0, err
	}
	it.patient = resolvedPatient(res.Entries)
	return applyMessage(b, &resolved)
}

// applyQueued writes a queued message from its plan when the plan still
// holds (it was resolved against the planner's snapshot: planResolved),
// else resolves it again in b's transaction.
func (in *Ingester) applyQueued(b *store.Batch, it *queued, p *store.Planned) (int, error) {
	if p != nil && hl7v2.KeepsDischarge(it.header.TriggerEvent) {
		// planned against the stay before the batch: it may have been
		// discharged since (discharge.go)
		r, err := b.Snapshot(false)
		if err != nil {
			return 0, err
		}
		if in.reopens(r, it.header, it.entries) {
			p = nil
		}
	}
	if p != nil {
		if fresh, err := b.Fresh(p); err != nil {
			return 0, err
		} else if fresh {
			results, err := b.Apply(p)
			if !store.IsClaimed(err) {
				if err == nil {
					err = b.PutIdentityReviews(fromMessage(it.reviews, it)...)
				}
				return countOlder(results), err
			}
		}
	}
	return in.applyResolved(b, it)
}

// planResolved resolves a queued message against a planner's snapshot and
// plans it. The claims it made and the Patients it wrote are not in the
// snapshot: ov keeps them for the next messages of the batch.
func (in *Ingester) planResolved(pl *store.Planner, ov *identity.Overlay, it *queued) (*store.Planned, error) {
	if mergesIn(it.entries) || it.doc.stated() {
		// a merge searches what it moves, a document what it replaces:
		// planned in the batch
		return nil, nil
	}
	ov.Reader = pl.Snapshot()
	res, err := in.ident.Resolve(ov, it.entries, identity.HL7v2)
	if err != nil {
		return nil, err
	}
	h := resolvedHeader(it.header, res)
	res.Entries = in.carryStay(ov, &h, res.Entries)
	p, err := pl.Put(res.Entries, true)
	if err != nil {
		return nil, err
	}
	ov.Note(res.Entries)
	it.reviews, it.patient = res.Reviews, resolvedPatient(res.Entries)
	return p, nil
}

// resolvedHeader is h naming the stay its message resolved to (a stay a
// discharge letter or another sender created first keeps its id).
func resolvedHeader(h hl7v2.Header, res *identity.Result) hl7v2.Header {
	if to, ok := res.Moved[h.Encounter]; ok {
		h.Encounter = to
	}
	return h
}

// resolvedPatient is the "Patient/id" of the first Patient among entries,
// resolved: the one a message is about once its identities are.
func resolvedPatient(entries []store.TxEntry) string {
	for _, e := range entries {
		if e.Type == "Patient" {
			return "Patient/" + e.ID
		}
	}
	return ""
}

// mergesIn reports whether entries merge patients (HL7 v2 A40, A34) or
// retire a patient's identifiers (A47).
func mergesIn(entries []store.TxEntry) bool {
	for _, e := range entries {
		if e.Type == "Patient" && (identity.Replaced(e.Resource) != "" || identity.Retires(e.Resource)) {
			return true
		}
	}
	return false
}

// fromMessage names, in reviews, the message that listed them.
func fromMessage(reviews []store.IdentityReview, it *queued) []store.IdentityReview {
	for i := range reviews {
		reviews[i].Message = it.header.ControlID
	}
	return reviews
}

// checkMerge applies a merge (A40, A34) or a change of identifiers (A47)
// to a snapshot before the message is acknowledged, so that one the store
// cannot apply is answered AE or AR and nothing is stored: a prior
// patient nobody knows (HL7 table 0357 code 204), or a patient merged
// into herself. The snapshot waits for the
// messages acknowledged before (viewAccepted), so an A01 sent just before
// the A40 is found. It also checks that the caller may write what the
// merge moves (Consents, CareTeams, Tasks...), which the mapping alone does
// not say. The queue applies the merge again in its batch: should a
// message between the two change the outcome, the message is set aside
// (Batch.Reject) and listed by GET /admin/inbox.
func (in *Ingester) checkMerge(entries []store.TxEntry, authz Authorize) error {
	var res *identity.Result
	err := in.viewAccepted(func(r *store.Snapshot) error {
		var err error
		res, err = in.ident.Resolve(r, entries, identity.HL7v2)
		return err
	})
	switch {
	case errors.Is(err, identity.ErrUnknownPrior):
		return hl7v2.ErrUnknownPrior()
	case errors.Is(err, identity.ErrSelfMerge):
		return hl7v2.ErrSelfMerge()
	case errors.Is(err, identity.ErrUnknownRetired):
		return hl7v2.ErrUnknownRetired()
	case err != nil:
		return err
	}
	return authorize(authz, res.Entries)
}
