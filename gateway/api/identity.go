package api

import (
	"net/http"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/identity"
)

// errNamedPatient answers a write naming, by Reference.identifier, a
// patient that no stored Patient holds or that the caller may not see: the
// same answer either way, so that it tells nothing of who is stored.
func errNamedPatient() error {
	return outcome.New(outcome.Unprocessable, "the patient named by identifier was not found")
}

// resolveNamedPatients gives every reference of e's resource that names a
// patient by identifier only (Reference.identifier, FHIR R4
// references.html#logical) its literal reference, by the identity rules
// (gateway/identity): the identifier must be one a stored Patient holds
// (a qualified INS, or an assigning authority's patient number). A
// reference names a patient when its type is Patient or its identifier
// is an INS. It runs before the write policy's visibility check, which then
// applies to the patient found.
func (a *API) resolveNamedPatients(r *http.Request, f *consent.Filter, e *store.TxEntry, system bool) error {
	if e.Resource == nil {
		return nil
	}
	var named []*dtpb.Reference
	resource.WalkReferences(e.Resource, func(ref *dtpb.Reference) {
		id := ref.GetIdentifier()
		if ref.Reference != nil || id.GetSystem().GetValue() == "" || id.GetValue().GetValue() == "" {
			return
		}
		if ref.GetType().GetValue() == "Patient" || identity.IsINS(id.GetSystem().GetValue()) {
			named = append(named, ref)
		}
	})
	for _, ref := range named {
		id := ref.GetIdentifier()
		owner, err := a.store.ClaimOwner("Patient", id.GetSystem().GetValue(), id.GetValue().GetValue())
		if err != nil {
			return err
		}
		if owner == "" {
			return errNamedPatient()
		}
		old, _, err := a.current(r.Context(), f, "Patient", owner, system)
		if err != nil {
			return err
		}
		if old == nil {
			return errNamedPatient()
		}
		resource.SetRefString(ref, "Patient/"+owner)
	}
	return nil
}

// identityReview: GET /admin/identity/review lists what an identity
// administrator must look at (probable duplicates, identifiers naming two
// patients, merges whose two patients' Consents apply together until
// reviewed), with the reason and the message that listed it. It needs a system scope that reads Patient.
func (a *API) identityReview(w http.ResponseWriter, r *http.Request) error {
	if err := systemScope(r, "Patient", auth.Read, "the identity review list needs a system scope that reads Patient"); err != nil {
		return err
	}
	list, err := a.store.IdentityReviews()
	if err != nil {
		return err
	}
	type entry struct {
		Kind      string    `json:"kind"`
		Resources []string  `json:"resources"`
		Reason    string    `json:"reason"`
		Time      time.Time `json:"time"`
		Message   string    `json:"message,omitempty"`
	}
	out := make([]entry, len(list))
	for i, v := range list {
		out[i] = entry{v.Kind, v.Resources, v.Reason, v.Time, v.Message}
	}
	return writePlainJSON(w, map[string]any{"entries": out})
}

// resolveIdentities passes the Patients, Practitioners and Organizations a
// system caller writes through the identity resolver, as every source's are
// (gateway/identity): one written again under another id, or posted anew,
// that a stored one's identifiers name is that stored one, updated by the
// merge rules, and the other entries' references follow it. A POST that
// resolves to a stored resource becomes an update of it. Other callers
// cannot write these types (the write policy), and conditional creates
// keep their own matching.
func (a *API) resolveIdentities(r *http.Request, entries []store.TxEntry) ([]store.TxEntry, []store.IdentityReview, error) {
	p, _ := auth.FromContext(r.Context())
	posted := map[int]string{} // entry -> the provisional id a POST resolves under
	todo := false
	work := append([]store.TxEntry(nil), entries...)
	for i := range work {
		e := &work[i]
		switch e.Type {
		case "Patient", "Practitioner", "Organization":
		default:
			continue
		}
		if e.Resource == nil || e.IfNoneExist != nil || (e.Method != "POST" && e.Method != "PUT") || !grantsAsSystem(p, e.Type, entryOp(e.Method)) {
			continue
		}
		if e.Method == "POST" { // its id is new (writeEntries gave it)
			posted[i] = e.ID
			e.Method = "PUT"
		}
		todo = true
	}
	if !todo {
		return a.resolveLogical(entries)
	}
	var res *identity.Result
	err := a.store.View(func(s *store.Snapshot) error {
		var err error
		res, err = a.ident.Resolve(s, work, identity.API)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for i, tmp := range posted {
		e := &res.Entries[i]
		if _, moved := res.Moved[e.Type+"/"+tmp]; !moved {
			e.Method, e.ID = "POST", tmp // still a creation, under the id it was resolved with
		}
	}
	return res.Entries, res.Reviews, nil
}

// resolveLogical resolves the logical references of the directory
// resources among entries (identity.ResolveLogical; Resolve does it too),
// whoever writes them: routing and consent follow literal references only.
func (a *API) resolveLogical(entries []store.TxEntry) ([]store.TxEntry, []store.IdentityReview, error) {
	logical := false
	for _, e := range entries {
		logical = logical || (e.Resource != nil && identity.HasLogical(e.Type, e.Resource))
	}
	if !logical {
		return entries, nil, nil
	}
	work := append([]store.TxEntry(nil), entries...)
	err := a.store.View(func(s *store.Snapshot) error {
		identity.ResolveLogical(s, work)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return work, nil, nil
}
