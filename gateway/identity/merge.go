package identity

import (
	"slices"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Merges (HL7 v2 A40 and A34, HL7 v2.5 section 3.3.40 and the MRG segment,
// 3.4.9; IHE PAM and PAM-FR). A mapping states a merge as two Patients
// (mappings/hl7v2 mapMRG): the survivor with a link "replaces" to the prior
// patient, and the prior patient, named by its identifiers only, with a
// link "replaced-by" to the survivor. Resolve applies it against what is
// stored:
//
//   - the prior patient is the stored Patient its identifiers name by the
//     matching rules (a claimed qualified INS, an assigning authority's
//     patient number); none is ErrUnknownPrior and nothing is written;
//   - the prior Patient is written again inactive, with its link
//     "replaced-by" (FHIR R4 Patient.link); the survivor gets the link
//     "replaces", the prior identifiers (use "old": they named the record
//     that was retired) and their claims (store.Claim.From);
//   - every current resource whose patient or subject search parameter
//     names the prior Patient (Encounter, Observation, CareTeam, Consent,
//     Task.for...) is written as a new version whose references to her name
//     the survivor: history keeps what they said before. Provenance and
//     AuditEvent are records of what happened and stay as they are;
//   - the merge is listed for review (kind "merge"): the two patients'
//     Consents apply together until someone looks (gateway/consent).
//
// All of it is entries of the one transaction that writes the message. A
// merge is applied whatever its event time: a later update of either
// patient does not make it older news. Applied again (a resend, a replay),
// it finds the prior patient through the identifier she still holds and
// the link to the survivor, and writes nothing new.

// The errors of a merge that cannot be applied.
var (
	ErrUnknownPrior = outcome.New(outcome.NotFound, "the prior patient of the merge is not known")
	ErrSelfMerge    = outcome.New(outcome.Invalid, "the prior patient of the merge is the surviving one")
)

// ReviewMerge is the review kind of a merge.
const ReviewMerge = "merge"

// notMoved lists the types whose references to a merged patient stay:
// they record what happened (Provenance.target names what an activity
// wrote, https://hl7.org/fhir/R4/provenance.html).
var notMoved = map[string]bool{"Provenance": true, "AuditEvent": true, "Patient": true}

// merge applies the merge e states (package comment above); e is the
// prior patient's entry, the survivor's was resolved before it.
func (v *Resolver) merge(r Reader, i int, out *Result) error {
	e := &out.Entries[i]
	stated := e.Resource.(*ppb.Patient)
	survivorRef := Replaced(stated)
	if to, ok := out.Moved[survivorRef]; ok {
		survivorRef = to
	}
	_, survivorID, _ := strings.Cut(survivorRef, "/")
	si := slices.IndexFunc(out.Entries, func(x store.TxEntry) bool { return x.Type == "Patient" && x.ID == survivorID })
	if si < 0 || si == i {
		return ErrSelfMerge
	}
	priorID, err := v.findPrior(r, stated, survivorID)
	if err != nil {
		return err
	}
	prior, err := v.readPatient(r, priorID)
	if err != nil {
		return err
	}
	if prior == nil {
		return ErrUnknownPrior
	}
	if e.ID != priorID {
		out.Moved["Patient/"+e.ID] = "Patient/" + priorID
	}
	survivor := &out.Entries[si]
	if err := v.absorb(r, survivor, e.ID, prior, priorID); err != nil {
		return err
	}
	retired := proto.Clone(prior).(*ppb.Patient)
	retired.Active = &dtpb.Boolean{Value: false}
	retired.Link = addLink(retired.Link, survivorID, cpb.LinkTypeCode_REPLACED_BY)
	e.ID, e.Resource, e.Claims, e.EventTime = priorID, retired, nil, time.Time{}
	survivor.EventTime = time.Time{}
	if err := v.move(r, "Patient/"+priorID, survivorRef, out); err != nil {
		return err
	}
	out.Reviews = append(out.Reviews, store.IdentityReview{
		Kind: ReviewMerge, Resources: []string{"Patient/" + priorID, survivorRef}, Time: v.now(),
		Reason: "patients merged: the Consents of both apply until an administrator reviews them",
	})
	return nil
}

// findPrior returns the id of the stored Patient the prior identifiers of
// stated name: the owner of the strongest claim (a qualified INS, then a
// patient number). When that is the survivor, the merge was applied
// already (a Patient that holds one of the identifiers is replaced by the
// survivor) or asks to merge a patient into itself.
func (v *Resolver) findPrior(r Reader, stated *ppb.Patient, survivor string) (string, error) {
	owner, best := "", 0
	for _, id := range stated.Identifier {
		sys, val := id.GetSystem().GetValue(), id.GetValue().GetValue()
		strength := 0
		switch {
		case sys == "" || val == "":
		case IsINS(sys):
			strength = 2 // only a qualified INS is claimed
		case patientNumber(id):
			strength = 1
		}
		if strength == 0 {
			continue
		}
		if o := r.ClaimOwner("Patient", sys, val); o != "" && strength > best {
			owner, best = o, strength
		}
	}
	switch owner {
	case "":
		return "", ErrUnknownPrior
	case survivor:
		return v.mergedAlready(r, stated, survivor)
	}
	return owner, nil
}

// mergedAlready finds the Patient replaced by survivor that holds one of
// the prior identifiers; else the merge is of a patient into itself.
func (v *Resolver) mergedAlready(r Reader, stated *ppb.Patient, survivor string) (string, error) {
	for _, id := range stated.Identifier {
		hits, err := v.search(r, map[string][]string{"identifier": {id.GetSystem().GetValue() + "|" + id.GetValue().GetValue()}})
		if err != nil {
			return "", err
		}
		for _, h := range hits {
			if h == survivor {
				continue
			}
			p, err := v.readPatient(r, h)
			if err != nil {
				return "", err
			}
			if p != nil && Replaced(p) == "Patient/"+survivor {
				return h, nil
			}
		}
	}
	return "", ErrSelfMerge
}

// absorb gives the survivor's entry the prior Patient's identifiers (use
// old), the claims she holds on them and the link "replaces"; stated is
// the prior id as the mapping gave it.
func (v *Resolver) absorb(r Reader, survivor *store.TxEntry, stated string, prior *ppb.Patient, priorID string) error {
	p, ok := survivor.Resource.(*ppb.Patient)
	if !ok {
		return ErrSelfMerge
	}
	for _, id := range prior.Identifier {
		sys, val := id.GetSystem().GetValue(), id.GetValue().GetValue()
		if r.ClaimOwner("Patient", sys, val) == priorID {
			survivor.Claims = append(survivor.Claims, store.Claim{Type: "Patient", System: sys, Value: val, From: priorID})
		}
		if slices.ContainsFunc(p.Identifier, func(x *dtpb.Identifier) bool { return sameIdentifier(x, id) }) {
			continue
		}
		old := proto.Clone(id).(*dtpb.Identifier)
		old.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OLD}
		p.Identifier = append(p.Identifier, old)
	}
	p.Link = slices.DeleteFunc(p.Link, func(l *ppb.Patient_Link) bool {
		return refString(l.GetOther()) == "Patient/"+stated && stated != priorID
	})
	p.Link = addLink(p.Link, priorID, cpb.LinkTypeCode_REPLACES)
	return nil
}

// move adds an entry for every current resource whose patient or subject
// parameter names from, its references to from naming to. Resources the
// entries write already are left to them.
func (v *Resolver) move(r Reader, from, to string, out *Result) error {
	planned := map[string]bool{}
	for _, e := range out.Entries {
		planned[e.Type+"/"+e.ID] = true
	}
	for _, typ := range search.Types() {
		if notMoved[typ] {
			continue
		}
		ids, err := referring(r, typ, from)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if planned[typ+"/"+id] {
				continue
			}
			rec, err := r.Read(typ, id)
			if err != nil {
				return err
			}
			m, err := v.decode(rec)
			if err != nil {
				return outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
			}
			resource.WalkReferences(m, func(ref *dtpb.Reference) {
				if t, rid, _, ok := resource.RefTarget(ref); ok && t+"/"+rid == from {
					resource.SetRefString(ref, to)
				}
			})
			out.Entries = append(out.Entries, store.TxEntry{Method: "PUT", Type: typ, ID: id, Resource: m})
			out.copied = append(out.copied, true)
		}
	}
	return nil
}

// referring lists, sorted, the current resources of typ whose patient or
// subject parameter names ref.
func referring(r Reader, typ, ref string) ([]string, error) {
	var ids []string
	for _, name := range []string{"patient", "subject"} {
		p, ok := search.Lookup(typ, name)
		if !ok || p.Kind != search.Reference {
			continue
		}
		q := &search.Query{Type: typ, Clauses: []search.Clause{{Param: p, Conds: []search.Cond{{Tag: 'r', Key: ref}}}}}
		hits, err := r.Search(q, nil)
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			ids = append(ids, h.ID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// addLink adds to links one of typ to Patient/id unless there is one.
func addLink(links []*ppb.Patient_Link, id string, typ cpb.LinkTypeCode_Value) []*ppb.Patient_Link {
	for _, l := range links {
		if l.GetType().GetValue() == typ && refString(l.GetOther()) == "Patient/"+id {
			return links
		}
	}
	return append(links, &ppb.Patient_Link{
		Other: &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: id}}},
		Type:  &ppb.Patient_Link_TypeCode{Value: typ},
	})
}
