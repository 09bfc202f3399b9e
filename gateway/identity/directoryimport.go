package identity

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Organizations of a directory import (Source Directory). A region loads
// its directory from two national sources that describe the same
// establishments under ids of their own: the ANS Annuaire Santé (identity,
// from FINESS and SIRENE: AsOrganizationProfile) and the ROR (the offer,
// and the territories it serves: ROROrganization with its
// ror-territorial-division). One establishment is one Organization, so
// that the roles of one source are found by the territories of the other:
//
//   - an imported Organization whose national identifiers (FINESS, SIRET,
//     SIREN, and the IDNST that holds one, NationalIDs) a stored one under
//     another id holds, and only that one, is merged into it: written under
//     its id (the import's references follow, Moved), with a meta.tag
//     MergedSystem naming the id it came under, which later imports and
//     references under that id follow (Aliases, Linker);
//   - the merge (mergeOrganization): identifiers of both; extensions by
//     URL, the incoming one's for the URLs it carries, the stored ones of
//     other URLs kept (the ROR's territories stay when the Annuaire Santé
//     is imported again, its usePeriod when the ROR is); every other
//     element the incoming one's when it states it, else the stored one's:
//     the latest export of either source updates what it states;
//   - an Organization stored with such tags, imported again under its own
//     id, is merged likewise, not replaced: what the other source brought
//     stays;
//   - when the identifiers disagree, which is right is for a person to
//     decide, and the two are not merged: identifiers naming two stored
//     Organizations, or a register (FINESS, SIRET, SIREN) for which both
//     carry numbers and none in common. The imported one is stored apart
//     under its own id, claiming only what no other holds, and the pair
//     is listed for review (kind ReviewIdentifierConflict).
//
// Practitioners of an import are not resolved here.

// MergedSystem is the meta.tag system an Organization a directory import
// merged another into carries, one tag per id merged (its code).
const MergedSystem = "https://relais-health.github.io/fhir/CodeSystem/directory-merged"

// Review kinds of a directory import.
const (
	// ReviewIdentifierConflict: identifiers that disagree on which
	// resource is meant (as for Patients, patient.go).
	ReviewIdentifierConflict = "identifier-conflict"
	// ReviewProbableDuplicate: two resources that are probably one.
	ReviewProbableDuplicate = "probable-duplicate"
)

// heldID is one national identifier of an imported Organization and the
// stored Organization holding it ("" none).
type heldID struct {
	system, value, owner string
}

// importOrganization resolves the imported Organization of entry i.
func (v *Resolver) importOrganization(r Reader, i int, out *Result) error {
	e := &out.Entries[i]
	in, ok := e.Resource.(*orgpb.Organization)
	if !ok {
		return nil
	}
	var held []heldID
	var others []string // the other Organizations holding one, in order
	self := false
	for _, id := range in.Identifier {
		for _, n := range NationalIDs("Organization", id.GetSystem().GetValue(), id.GetValue().GetValue()) {
			h := heldID{n[0], n[1], r.ClaimOwner("Organization", n[0], n[1])}
			if slices.Contains(held, h) {
				continue
			}
			held = append(held, h)
			switch {
			case h.owner == e.ID:
				self = true
			case h.owner != "" && !slices.Contains(others, h.owner):
				others = append(others, h.owner)
			}
		}
	}
	target := e.ID
	switch {
	case len(others) > 1 || len(others) == 1 && self:
		out.Reviews = append(out.Reviews, v.conflicts(e.ID, held)...)
	case len(others) == 1:
		stored, err := v.readOrganization(r, others[0])
		if err != nil {
			return err
		}
		if why := disagreement(in, stored); why != "" {
			out.Reviews = append(out.Reviews, v.review(ReviewIdentifierConflict,
				"same "+why+": imported apart, not merged", "Organization/"+e.ID, "Organization/"+others[0]))
			break
		}
		target = others[0]
	}
	for _, h := range held {
		if h.owner == "" || h.owner == target {
			e.Claims = append(e.Claims, store.Claim{Type: "Organization", System: h.system, Value: h.value})
		}
	}
	if target != e.ID {
		return v.mergeInto(r, i, target, out)
	}
	// Imported again under its own id: a merged one keeps what the other
	// source brought.
	stored, err := v.readOrganization(r, e.ID)
	if err != nil || stored == nil || len(MergedFrom(stored)) == 0 {
		return err
	}
	e.Resource, out.copied[i] = proto.Clone(in), true
	mergeOrganization(e.Resource.(*orgpb.Organization), stored, "")
	return nil
}

// mergeInto writes entry i as the stored Organization target.
func (v *Resolver) mergeInto(r Reader, i int, target string, out *Result) error {
	e := &out.Entries[i]
	from := e.ID
	out.Moved["Organization/"+from] = "Organization/" + target
	stored, err := v.readOrganization(r, target)
	if err != nil {
		return err
	}
	if !out.copied[i] {
		e.Resource, out.copied[i] = proto.Clone(e.Resource), true
	}
	if stored == nil { // deleted meanwhile: written anew under the claimed id
		stored = &orgpb.Organization{}
	}
	mergeOrganization(e.Resource.(*orgpb.Organization), stored, from)
	if own, err := v.readOrganization(r, from); err == nil && own != nil {
		// Stored apart under its own id before (by an import that did not
		// merge): references to it now follow the merge; it remains, for
		// someone to remove.
		out.Reviews = append(out.Reviews, v.review(ReviewProbableDuplicate,
			"an earlier import stored it apart; it is merged into Organization/"+target+", which the directory's references to it now name", "Organization/"+from, "Organization/"+target))
	}
	return nil
}

// readOrganization is the current Organization id, nil when absent or
// deleted.
func (v *Resolver) readOrganization(r Reader, id string) (*orgpb.Organization, error) {
	rec, err := r.Read("Organization", id)
	if err != nil || rec.Deleted {
		return nil, nil
	}
	m, err := v.decode(rec)
	if err != nil {
		return nil, fmt.Errorf("stored Organization/%s: %w", id, err)
	}
	org, _ := m.(*orgpb.Organization)
	return org, nil
}

// conflicts lists for review the Organizations an imported one's
// identifiers name besides it.
func (v *Resolver) conflicts(id string, held []heldID) []store.IdentityReview {
	var names []string
	var others []string
	for _, h := range held {
		if h.owner == "" {
			continue
		}
		names = append(names, registry(h.system, h.value)+" "+h.value+" is Organization/"+h.owner+"'s")
		if h.owner != id && !slices.Contains(others, h.owner) {
			others = append(others, h.owner)
		}
	}
	reason := "its national identifiers name several Organizations (" + strings.Join(names, ", ") + "): imported apart, not merged"
	out := make([]store.IdentityReview, len(others))
	for k, o := range others {
		out[k] = v.review(ReviewIdentifierConflict, reason, "Organization/"+id, "Organization/"+o)
	}
	return out
}

// disagreement names a register for which in and stored both carry
// numbers and none in common, with the one they share: "FINESS 590780194
// as Organization/x, but SIRET …"; "" when none.
func disagreement(in, stored *orgpb.Organization) string {
	a, b := registers(in.Identifier), registers(stored.Identifier)
	shared := ""
	for _, reg := range []string{"FINESS", "SIRET", "SIREN"} {
		for _, n := range a[reg] {
			if shared == "" && slices.Contains(b[reg], n) {
				shared = reg + " " + n
			}
		}
	}
	for _, reg := range []string{"FINESS", "SIRET", "SIREN"} {
		if len(a[reg]) == 0 || len(b[reg]) == 0 || slices.ContainsFunc(a[reg], func(n string) bool { return slices.Contains(b[reg], n) }) {
			continue
		}
		return shared + ", but " + reg + " " + strings.Join(a[reg], " ") + " against " + strings.Join(b[reg], " ")
	}
	return ""
}

// registers lists the register numbers of ids by register (FINESS,
// SIRET, SIREN), IDNSTs read for the number they hold.
func registers(ids []*dtpb.Identifier) map[string][]string {
	out := map[string][]string{}
	for _, id := range ids {
		for _, n := range NationalIDs("Organization", id.GetSystem().GetValue(), id.GetValue().GetValue()) {
			if reg := registry(n[0], n[1]); reg != "IDNST" && !slices.Contains(out[reg], n[1]) {
				out[reg] = append(out[reg], n[1])
			}
		}
	}
	return out
}

// mergeOrganization makes in, an imported Organization, the merge of it
// and stored (see the rules above); from, when not "", is the id in came
// under, tagged MergedSystem.
func mergeOrganization(in, stored *orgpb.Organization, from string) {
	in.Identifier = UnionIdentifiers(cloneIdentifiers(stored.Identifier), in.Identifier)
	in.Extension = mergeExtensions(stored.Extension, in.Extension)
	fill(in.ProtoReflect(), stored.ProtoReflect())
	tags := append([]string(nil), MergedFrom(stored)...)
	if from != "" {
		tags = append(tags, from)
	}
	for _, t := range tags {
		if slices.Contains(MergedFrom(in), t) {
			continue
		}
		if in.Meta == nil {
			in.Meta = &dtpb.Meta{}
		}
		in.Meta.Tag = append(in.Meta.Tag, &dtpb.Coding{System: &dtpb.Uri{Value: MergedSystem}, Code: &dtpb.Code{Value: t}})
	}
}

// mergeExtensions merges extensions by URL: in's for the URLs it carries,
// in place of stored's, and stored's of the others, in stored's order
// (so that importing either source again changes nothing).
func mergeExtensions(stored, in []*dtpb.Extension) []*dtpb.Extension {
	carried := map[string]bool{}
	for _, x := range in {
		carried[x.GetUrl().GetValue()] = true
	}
	var out []*dtpb.Extension
	placed := map[string]bool{}
	for _, x := range stored {
		u := x.GetUrl().GetValue()
		switch {
		case !carried[u]:
			out = append(out, proto.Clone(x).(*dtpb.Extension))
		case !placed[u]:
			placed[u] = true
			for _, y := range in {
				if y.GetUrl().GetValue() == u {
					out = append(out, y)
				}
			}
		}
	}
	for _, y := range in {
		if !placed[y.GetUrl().GetValue()] {
			out = append(out, y)
		}
	}
	return out
}

// MergedFrom lists the ids of the Organizations a directory import merged
// into m (its MergedSystem tags).
func MergedFrom(m proto.Message) []string {
	org, ok := m.(*orgpb.Organization)
	if !ok {
		return nil
	}
	var out []string
	for _, t := range org.GetMeta().GetTag() {
		if t.GetSystem().GetValue() == MergedSystem && t.GetCode().GetValue() != "" {
			out = append(out, t.GetCode().GetValue())
		}
	}
	return out
}

// Aliases maps "Organization/<id>" of each Organization a directory import
// merged into another to "Organization/<the other's id>", read from their
// MergedSystem tags in r.
func (v *Resolver) Aliases(r Reader) (map[string]string, error) {
	q, err := search.Parse("Organization", url.Values{"_tag": {MergedSystem + "|"}}, false)
	if err != nil {
		return nil, err
	}
	hits, err := r.Search(q, nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, h := range hits {
		org, err := v.readOrganization(r, h.ID)
		if err != nil {
			return nil, err
		}
		for _, from := range MergedFrom(org) {
			out["Organization/"+from] = "Organization/" + h.ID
		}
	}
	return out, nil
}

// Redirect points the entries written under a key of moved, and their
// references to one, at its value ("Type/id" to "Type/id"), as Resolve
// does with the resources it resolves to stored ones (Result.Moved). A
// resource it changes is a copy.
func Redirect(entries []store.TxEntry, moved map[string]string) {
	rewrite(entries, moved, make([]bool, len(entries)))
}
