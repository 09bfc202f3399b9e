package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/fhir/subset"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/delivery"
)

// The decision step of every write: create, update, patch, delete, their
// conditional forms and the entries of batches and transactions all come
// here as store.TxEntry values before the store sees them.
//
// The rule that keeps a write from telling a hidden resource from an
// absent one: a caller without a system scope for the interaction
//   - is refused by type first (the write policy table, 403), which looks
//     at no data;
//   - gets the same 404 for an update, patch or delete of a resource it
//     may not see as for one that does not exist (and cannot create a
//     resource under an id of its choosing: update-as-create is for
//     system callers, so an absent id is a 404 too);
//   - has If-None-Exist matched among what it may see only: a hidden match
//     is no match, and the resource is created.
// What it writes must be about patients whose data it may see, and the
// rules of the change (access.Change) must hold. The store then writes
// only if the resource is still the version the decision was made on
// (TxEntry.Pinned); if not, the decision is made again.

// maxDecideAttempts bounds the decisions made again for a write whose
// resource keeps changing under it.
const maxDecideAttempts = 4

// errHidden is the answer for a resource that is absent or that the caller
// may not see: the same status, text and headers either way.
func errHidden() error { return outcome.New(outcome.NotFound, "resource not found") }

// entryOp is the scope interaction of a write entry.
func entryOp(method string) auth.Op {
	switch method {
	case "POST":
		return auth.Create
	case "DELETE":
		return auth.Delete
	case "GET":
		return auth.Read
	}
	return auth.Update
}

// authorizeWrite runs the scope and decision steps for one write entry and
// pins it to the version decided on.
func (a *API) authorizeWrite(r *http.Request, e *store.TxEntry) error {
	c := callOf(r)
	op := entryOp(e.Method)
	if err := allow(r, e.Type, op); err != nil {
		return err
	}
	f, err := a.guard(r)
	if err != nil {
		return err
	}
	if e.Method == "GET" {
		// A transaction's read: hidden or absent fail it alike.
		_, err := a.readVisible(r, f, e.Type, e.ID)
		return err
	}
	if e.Resource != nil && subset.Tagged(e.Resource) {
		// A view (_summary, _elements) written back would replace the
		// whole resource with a part of it: R4 tags it SUBSETTED "to
		// ensure that the incomplete resource is not accidentally used
		// to overwrite a complete resource" (search.html#summary). Said
		// whether or not the resource exists or may be seen.
		return outcome.New(outcome.Unprocessable, "a resource tagged SUBSETTED is not written",
			outcome.Issue{Severity: outcome.SevError, Path: "meta.tag",
				Text: "the resource is tagged SUBSETTED (" + subset.SubsettedSystem + "): it is part of a resource, as _summary or _elements show it; write the whole resource, without the tag"})
	}
	if e.IfNoneExist != nil {
		if err := allow(r, e.Type, auth.Search); err != nil {
			return err
		}
		e.Visible = f.Allow
	}
	if err := a.resolveNamedPatients(r, f, e, grantsAsSystem(c.p, "Patient", auth.Read)); err != nil {
		return err
	}
	if e.Type == "Subscription" && e.Resource != nil && a.delivery != nil {
		if err := a.delivery.CheckSubscription(e.Resource); err != nil {
			return err
		}
	}
	system := grantsAsSystem(c.p, e.Type, op)
	var who *access.Caller
	if !system {
		if who, err = a.callerOf(r); err != nil {
			return err
		}
		if err := access.Allowed(who, e.Type, access.Op(op)); err != nil {
			return err
		}
	}
	w := access.Write{Type: e.Type, Op: access.Op(op), New: e.Resource, System: system}
	if e.ID != "" && e.Method != "POST" { // a POST's id is new (writeEntries)
		old, ver, err := a.current(r.Context(), f, e.Type, e.ID, system)
		if err != nil {
			return err
		}
		if !system && old == nil {
			return errHidden()
		}
		if system && old == nil && e.Method == "PUT" {
			// Update as create needs the create scope as well.
			if err := allow(r, e.Type, auth.Create); err != nil {
				return err
			}
		}
		// If-Match: * holds when there is a current version (RFC 9110
		// section 13.1.1). Only a system caller gets here without one, a
		// resource it may see is absent or deleted: to anyone else the
		// hidden and the absent are the 404 above, as without If-Match
		// (section 13.2.1: a precondition is ignored when the answer
		// without it would not be a 2xx).
		if e.IfMatch > 0 && e.IfMatch != ver || e.IfMatchAny && old == nil {
			return outcome.New(outcome.PreconditionFailed, "version mismatch (If-Match)")
		}
		e.Pinned, e.Expect, w.Old = true, ver, old
		if old == nil {
			w.Op = access.OpCreate
		}
	}
	if e.Resource != nil && a.consent.Owned(e.Type) {
		// Owned by the caller who created it, whoever changes it later (a
		// system caller may): its owner decides what its events carry.
		owner := ownerName(c.p)
		if w.Old != nil {
			owner = access.OwnerOf(w.Old)
		}
		access.StampOwner(e.Resource, owner)
	}
	if !system && e.Resource != nil && !f.AllowFacts(e.Type, consent.FactsOf(e.Resource)) {
		if err := f.Err(); err != nil {
			return err
		}
		return outcome.New(outcome.Forbidden, "the write policy does not allow this",
			outcome.Issue{Severity: outcome.SevError, Text: "a caller writes only about patients whose data it may see"})
	}
	if w.Op == access.OpDelete && w.Old == nil {
		return nil // nothing to delete (a system caller's idempotent delete)
	}
	if who == nil {
		who = &access.Caller{Actor: c.p.FHIRUser}
	}
	if err := access.Change(who, &w); err != nil {
		return err
	}
	if w.Type == "Subscription" && w.New != nil {
		delivery.ClientStatus(w.Old, w.New)
	}
	if w.Type == "Task" && w.New != nil && !system {
		// who issued the Task, which decides whether its owner becomes a
		// candidate (consent.OwnerSystem): the creator, kept through
		// later changes
		issuer := ownerName(c.p)
		if w.Old != nil {
			issuer = access.OwnerOf(w.Old)
		}
		access.StampOwner(w.New, issuer)
	}
	if err := a.explainOwner(r, w.Old, w.New); err != nil {
		return err
	}
	return a.noteTaskMove(r, w.Old, w.New)
}

// current reads typ/id as the write decides on it: the current version
// and its number, nil when absent or deleted, and nil too when the caller
// may not see it (never for a system caller). The version is 0 when
// absent.
func (a *API) current(ctx context.Context, f *consent.Filter, typ, id string, system bool) (proto.Message, uint64, error) {
	var allowFn store.Filter
	if !system {
		allowFn = f.Allow
	}
	rec, err := a.store.ReadAllowed(typ, id, allowFn)
	if ferr := f.Err(); ferr != nil {
		return nil, 0, ferr
	}
	switch outcome.KindOf(err) {
	case outcome.NotFound:
		return nil, 0, nil
	case outcome.Gone:
		if system {
			return nil, rec.Version, nil
		}
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	m, err := a.codec.DecodeStored(rec.JSON)
	if err != nil {
		return nil, 0, outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
	}
	return m, rec.Version, nil
}

// writeEntries authorizes entries and stores them in one transaction,
// deciding again (up to maxDecideAttempts) when a pinned resource changed
// in between. The store rewrites ids and references in place, so an
// attempt that may be repeated works on copies. Each write decision, and
// a refusal, is recorded with the request's others (consent.Filter
// NoteWrite): who changed what.
func (a *API) writeEntries(r *http.Request, entries []store.TxEntry) ([]store.TxResult, error) {
	// A created resource gets its id now, so that every decision and
	// record about it (identity reviews, a Consent's releases, the
	// write's own record) names it.
	for i := range entries {
		if e := &entries[i]; e.Method == "POST" && e.ID == "" && e.Resource != nil {
			e.ID = store.NewID()
			resource.SetID(e.Resource, e.ID)
		}
	}
	if err := a.labelEntries(entries); err != nil {
		return nil, err
	}
	// A write may be decided again (a pinned version moved, an identifier
	// was claimed meanwhile): then the store must not have changed the
	// resources given, so each attempt writes copies.
	again := slices.ContainsFunc(entries, func(e store.TxEntry) bool {
		return e.ID != "" || e.Type == "Patient" || e.Type == "Practitioner" || e.Type == "Organization"
	})
	for attempt := 0; ; attempt++ {
		resolved, reviews, err := a.resolveIdentities(r, entries)
		if err != nil {
			return nil, err
		}
		c := callOf(r)
		c.joins, c.rejections = c.joins[:0], c.rejections[:0]
		try := make([]store.TxEntry, len(resolved))
		for i, e := range resolved {
			if again && e.Resource != nil {
				e.Resource = proto.Clone(e.Resource)
			}
			if err := a.authorizeWrite(r, &e); err != nil {
				a.noteWrite(r, e, store.TxResult{}, err)
				if len(entries) > 1 {
					return nil, atEntry(i, err)
				}
				return nil, err
			}
			// An update whose stored result is the current version (the
			// same resource again, or every change undone: identity merge
			// rules, server-stamped fields) makes no version
			// (store.TxEntry.KeepUnchanged).
			e.KeepUnchanged = e.Method == "PUT"
			try[i] = e
		}
		extra, err := a.episodeEntries(r.Context(), c.joins)
		if err != nil {
			return nil, err
		}
		released, err := a.releaseEntries(r.Context(), try)
		if err != nil {
			return nil, err
		}
		extra = append(extra, released...)
		next, err := a.nextEntries(r.Context(), c.rejections)
		if err != nil {
			return nil, err
		}
		extra = append(extra, next...)
		results, err := a.store.Transaction(r.Context(), append(try, extra...))
		if errors.Is(err, store.ErrMoved) || store.IsClaimed(err) {
			// Another write changed what this one was decided on, or took
			// an identifier it claims (identity): decide again.
			if attempt+1 == maxDecideAttempts {
				return nil, outcome.New(outcome.Conflict, "the resource is being changed concurrently; try again")
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := a.store.PutIdentityReviews(r.Context(), reviews...); err != nil {
			return nil, err
		}
		for i, e := range append(try, extra...) {
			if e.Method != "GET" && results[i].Record != nil {
				a.noteWrite(r, e, results[i], nil)
			}
		}
		return results[:len(try)], nil
	}
}

// noteWrite records one write decision: res is what the store did (its
// Record the version written, or kept), err why it was refused.
func (a *API) noteWrite(r *http.Request, e store.TxEntry, res store.TxResult, err error) {
	rec := res.Record
	c := callOf(r)
	if c == nil || c.f == nil || e.Method == "GET" {
		return
	}
	op := entryOp(e.Method)
	w := consent.Write{By: ownerName(c.p), Interaction: writeInteraction(e, res), Resource: e.Type,
		Permit: err == nil, System: grantsAsSystem(c.p, e.Type, op)}
	if e.ID != "" && e.Method != "POST" { // a refused creation names no id
		w.Resource += "/" + e.ID
	}
	if rec != nil {
		w.Resource = rec.Type + "/" + rec.ID + "/_history/" + strconv.FormatUint(rec.Version, 10)
	}
	if e.Resource != nil {
		w.Patients = consent.FactsOf(e.Resource).Patients
	}
	var oe *outcome.Error
	if errors.As(err, &oe) {
		w.Rule = oe.Summary
		if len(oe.Issues) > 0 {
			w.Rule = oe.Issues[len(oe.Issues)-1].Text
		}
	}
	c.f.NoteWrite(w)
}

// writeInteraction is the interaction a write is recorded as: what the
// store did (res.Record, the version written, which its history shows
// too), else what was asked. A PUT that created its resource is a create
// (R4 http.html#upsert: update as create, answered 201; IHE BALP Create,
// action C); one that wrote what a PATCH made is a patch (R4
// restful-interaction patch, which IHE BALP's Update admits:
// subtype[anyPatch]), though the policy decides both as updates. An
// update that changed nothing (res.Kept) is what was asked: the version
// it names is the one that stands, whoever created it.
func writeInteraction(e store.TxEntry, res store.TxResult) string {
	rec := res.Record
	if res.Kept {
		rec = nil
	}
	switch {
	case rec == nil && e.Patch, rec != nil && rec.Method == "PATCH":
		return consent.InteractionPatch
	case rec != nil && rec.Created:
		return access.OpCreate
	}
	return access.Op(entryOp(e.Method))
}

// writePolicy: GET /admin/write-policy serves the write policy to any
// authenticated caller: the table of who writes what (access.Table), the
// Task state machine, and the rules that apply to every caller.
func (a *API) writePolicy(w http.ResponseWriter, r *http.Request) error {
	return writePlainJSON(w, map[string]any{
		"systemCallers": "a scope granting the interaction in the system context (system/…) writes every type but AuditEvent; the Task state machine still applies",
		"rules":         access.Table,
		"taskStateMachine": map[string]any{
			"next":      access.TaskStatuses(),
			"anyStatus": "entered-in-error, by the requester or a system caller",
			"reassign":  "the requester changes Task.owner and may ask the new owner again (requested) of a received, rejected, accepted, ready, in-progress or on-hold Task; a routing Task her predecessor had accepted (accepted, ready, in-progress, on-hold by her) goes back to requested on its own (the new owner has accepted nothing); a routing Task not done waits on-hold for the patient's explicit permit when the new owner needs one",
			"notes":     "the owner and the requester add to Task.note; a note already there is changed or removed by a system caller only",
		},
		"everyone": []string{
			"a caller writes only about patients whose data it may see (the consent engine decides)",
			"update, patch or delete of a resource the caller may not see answers 404, as for an absent one",
			"update-as-create (PUT to a new id) is for system callers",
			"If-None-Exist matches only resources the caller may see",
			"AuditEvents are recorded by the server alone: a write of one through the API is a 405, whoever asks",
		},
	})
}
