package identity

import (
	"net/url"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/mappings/bundle"
)

// Stays: one hospital stay is one Encounter whatever names it. The HL7 v2
// visit number (PV1-19 with its assigning authority, HL7 v2.5 section
// 3.4.3.19), the CDA header's encompassingEncounter/id (CDA R2 section
// 4.2.3.1, an II unique by definition) and a FHIR Encounter.identifier
// are one identifier once written as system and value, and the mappings
// derive their Encounter ids each its own way. An Encounter from a source
// (not the API, whose client chose the id it writes) links to the stored
// Encounter holding one of its stay identifiers, for the same patient,
// and claims them: the discharge letter of a stay the ADT feed admitted
// completes that stay instead of starting a second one, which routing
// would plan again. A stored Encounter of another patient with the same
// identifier (a sender reusing an example root) is neither linked nor
// claimed from.

// encounter resolves the Encounter entry i (its subject already resolved:
// Resolve runs it after the Patients).
func (v *Resolver) encounter(r Reader, i int, out *Result) error {
	e := &out.Entries[i]
	enc, ok := e.Resource.(*encpb.Encounter)
	if !ok {
		return nil
	}
	subject := resource.RefString(enc.GetSubject())
	if to, moved := out.Moved[subject]; moved {
		subject = to
	}
	id := e.ID
	if stored, found, err := v.staySubject(r, id); err != nil {
		return err
	} else if found && stored != subject {
		// The mapping's id is another patient's stay (a visit number
		// reused across patients): hers is apart, under an id of her own.
		id = bundle.ID("Encounter", e.ID, subject)
		out.Moved["Encounter/"+e.ID] = "Encounter/" + id
	}
	target := ""
	var claims []store.Claim
	for _, ident := range enc.GetIdentifier() {
		if !stayIdentifier(ident) {
			continue
		}
		sys, val := ident.GetSystem().GetValue(), ident.GetValue().GetValue()
		if claimedBefore(out.Entries[:i], sys, val) {
			// Another Encounter of the same source gives it too (a
			// sender copying an entry's id into the next; CDA R2 wants
			// an II unique): the first one holds it, this one is written
			// as the source states it, without claiming it, rather than
			// failing the whole source.
			continue
		}
		owner := r.ClaimOwner("Encounter", sys, val)
		if owner == "" {
			// a stay written before stays claimed their identifiers
			found, err := v.storedStay(r, sys, val, subject)
			if err != nil {
				return err
			}
			owner = found
		}
		if owner != "" && owner != id {
			stored, _, err := v.staySubject(r, owner)
			if err != nil {
				return err
			}
			if stored != subject {
				continue // another patient's stay: not hers to link or claim
			}
		}
		if target == "" && owner != "" {
			target = owner
		}
		if owner == "" || owner == target {
			claims = append(claims, store.Claim{Type: "Encounter", System: sys, Value: val})
		}
	}
	e.Claims = append(e.Claims, claims...)
	if target != "" && target != id {
		out.Moved["Encounter/"+e.ID] = "Encounter/" + target
	}
	return nil
}

// claimedBefore reports whether one of entries claims the stay identifier
// sys|val.
func claimedBefore(entries []store.TxEntry, sys, val string) bool {
	for _, e := range entries {
		for _, c := range e.Claims {
			if c.Type == "Encounter" && c.System == sys && c.Value == val {
				return true
			}
		}
	}
	return false
}

// stayIdentifier reports whether id names the stay itself: a system and a
// value, untyped or typed visit number (VN, HL7 table 0203), and not a
// secondary, old or temporary one (a PAM movement identifier is secondary).
func stayIdentifier(id *dtpb.Identifier) bool {
	if id.GetSystem().GetValue() == "" || id.GetValue().GetValue() == "" {
		return false
	}
	switch id.GetUse().GetValue() {
	case cpb.IdentifierUseCode_SECONDARY, cpb.IdentifierUseCode_OLD, cpb.IdentifierUseCode_TEMP:
		return false
	}
	codings := id.GetType().GetCoding()
	if len(codings) == 0 {
		return id.GetType().GetText() == nil
	}
	for _, c := range codings {
		if c.GetCode().GetValue() == "VN" {
			return true
		}
	}
	return false
}

// storedStay finds the id of a stored Encounter of subject holding the
// identifier (the first, in id order, when several do); "" when none.
func (v *Resolver) storedStay(r Reader, sys, val, subject string) (string, error) {
	hits, err := v.searchType(r, "Encounter", url.Values{"identifier": {sys + "|" + val}})
	if err != nil {
		return "", err
	}
	for _, h := range hits {
		stored, _, err := v.staySubject(r, h)
		if err != nil {
			return "", err
		}
		if stored == subject {
			return h, nil
		}
	}
	return "", nil
}

// staySubject returns the subject ("Patient/id") of the stored (or
// planned) Encounter id, and whether there is one.
func (v *Resolver) staySubject(r Reader, id string) (string, bool, error) {
	m, err := v.Current(r, "Encounter", id)
	if err != nil {
		return "", false, err
	}
	stored, ok := m.(*encpb.Encounter)
	return resource.RefString(stored.GetSubject()), ok, nil
}
