package identity

import (
	"slices"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/bundle"
)

// Identifiers corrected by the identity source (HL7 v2 A47, change
// patient identifier list; PAM France section 4.4). A mapping states the
// identifiers that no longer name the patient on the incoming Patient
// (bundle.RetiredIdentifierURL); Resolve, for an HL7 v2 source:
//
//   - finds the stored patient by the retired identifiers (their claims),
//     else by the Patient's own identifiers; none is ErrUnknownRetired
//     and nothing is written;
//   - writes her again without them (an identifier retired without a
//     value takes every identifier of its kind: every INS), with the
//     incoming identifiers and demographics, which win over the stored
//     ones since this is the identity source correcting itself; her rank
//     is what remains: without her INS she is no longer qualified;
//   - releases the claims the retired identifiers held (store.Claim
//     Release), so that they link no other source's data to her any more;
//   - lists her for review ("identifiers-changed"): what an INS given in
//     error linked to her before may be another person's.

// ErrUnknownRetired fails a correction whose patient no stored Patient is.
var ErrUnknownRetired = outcome.New(outcome.NotFound, "no stored patient holds the identifiers to change")

// Retires reports whether res is a Patient that retires identifiers.
func Retires(res proto.Message) bool {
	p, ok := res.(*ppb.Patient)
	return ok && slices.ContainsFunc(p.GetExtension(), func(x *dtpb.Extension) bool {
		return x.GetUrl().GetValue() == bundle.RetiredIdentifierURL
	})
}

// correction is what an incoming Patient retires, and whose they are.
type correction struct {
	owner   string             // the stored Patient's id
	retired []*dtpb.Identifier // with a value: that identifier
	kinds   []string           // systems without a value: every identifier of that kind
}

// correctionOf takes the retired identifiers off p and finds the stored
// patient they name; nil when p retires nothing.
func correctionOf(r Reader, p *ppb.Patient) (*correction, error) {
	var f correction
	p.Extension = slices.DeleteFunc(p.Extension, func(x *dtpb.Extension) bool {
		if x.GetUrl().GetValue() != bundle.RetiredIdentifierURL {
			return false
		}
		id := x.GetValue().GetIdentifier()
		switch {
		case id.GetValue().GetValue() != "":
			f.retired = append(f.retired, id)
		case id.GetSystem().GetValue() != "":
			f.kinds = append(f.kinds, id.GetSystem().GetValue())
		}
		return true
	})
	if len(f.retired) == 0 && len(f.kinds) == 0 {
		return nil, nil
	}
	for _, ids := range [][]*dtpb.Identifier{f.retired, p.Identifier} {
		for _, id := range ids {
			if o := r.ClaimOwner("Patient", id.GetSystem().GetValue(), id.GetValue().GetValue()); o != "" {
				f.owner = o
				return &f, nil
			}
		}
	}
	return nil, ErrUnknownRetired
}

// drops reports whether id is retired.
func (f *correction) drops(id *dtpb.Identifier) bool {
	if slices.ContainsFunc(f.retired, func(x *dtpb.Identifier) bool { return sameIdentifier(x, id) }) {
		return true
	}
	sys := id.GetSystem().GetValue()
	return slices.ContainsFunc(f.kinds, func(k string) bool { return k == sys || IsINS(k) && IsINS(sys) })
}

// apply returns the stored Patient corrected by in, and adds to e the
// release of the claims she held through what is retired.
func (f *correction) apply(r Reader, stored, in *ppb.Patient, e *store.TxEntry, src Source) *ppb.Patient {
	release := func(id *dtpb.Identifier) {
		sys, val := id.GetSystem().GetValue(), id.GetValue().GetValue()
		if r.ClaimOwner("Patient", sys, val) == f.owner {
			e.Claims = append(e.Claims, store.Claim{Type: "Patient", System: sys, Value: val, Release: true})
		}
	}
	kept := stored.Identifier[:0:0]
	for _, id := range stored.Identifier {
		if f.drops(id) {
			release(id)
		} else {
			kept = append(kept, id)
		}
	}
	for _, id := range f.retired {
		release(id) // held though not listed on her
	}
	in.Identifier = slices.DeleteFunc(in.Identifier, f.drops)
	e.Claims = slices.DeleteFunc(e.Claims, func(c store.Claim) bool {
		return !c.Release && f.drops(&dtpb.Identifier{System: &dtpb.Uri{Value: c.System}, Value: &dtpb.String{Value: c.Value}})
	})
	out := proto.Clone(in).(*ppb.Patient)
	base := proto.Clone(stored).(*ppb.Patient)
	base.Identifier = kept
	fill(out.ProtoReflect(), base.ProtoReflect())
	out.Identifier = UnionIdentifiers(cloneIdentifiers(kept), in.Identifier)
	out.Link = unionLinks(cloneLinks(stored.Link), in.Link)
	out.Id = stored.Id
	setRank(out, rankOf(out, statusOf(out, src)))
	return out
}
