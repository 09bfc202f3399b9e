package identity

import (
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/store"
)

// NationalIDs gives the national identifiers (system, value) a directory
// identifier stands for: itself, and for the ANS composite identifiers
// (IDNPS, IDNST) the registry number inside them (TRE_G07 type of
// structure identifier: 1 FINESS, 2 SIREN, 3 SIRET); none for another
// system or type. They are what a Practitioner or an Organization claims.
// SIREN and SIRET are both in the SIRENE system (FR Core Organization),
// whose http form the ROR writes is the same system.
func NationalIDs(typ, system, value string) [][2]string {
	switch {
	case typ == "Practitioner" && system == RPPS:
		return [][2]string{{RPPS, value}}
	case typ == "Practitioner" && system == IDNPS:
		out := [][2]string{{IDNPS, value}}
		if len(value) == 12 && value[0] == '8' && digits(value[1:]) {
			out = append(out, [2]string{RPPS, value[1:]}) // 8 + RPPS
		}
		return out
	case typ == "Organization" && system == FINESS:
		return [][2]string{{system, value}}
	case typ == "Organization" && (system == SIRET || system == sireneHTTP):
		// a SIRET (14 digits) or a SIREN (9), told apart by length
		return [][2]string{{SIRET, value}}
	case typ == "Organization" && system == IDNST:
		out := [][2]string{{IDNST, value}}
		switch {
		case len(value) == 10 && value[0] == '1':
			out = append(out, [2]string{FINESS, value[1:]}) // 1 + FINESS
		case len(value) == 10 && value[0] == '2':
			out = append(out, [2]string{SIRET, value[1:]}) // 2 + SIREN
		case len(value) == 15 && value[0] == '3':
			out = append(out, [2]string{SIRET, value[1:]}) // 3 + SIRET
		}
		return out
	}
	return nil
}

// sireneHTTP is the SIRENE system as the ROR IG's examples write it for a
// legal entity's SIREN (ROROrganization, slice siren), the same register
// as FR Core's https://sirene.fr.
const sireneHTTP = "http://sirene.fr"

// registry names the register a national identifier (a NationalIDs key)
// is from, as a review's reason says it: FINESS, SIREN (9 digits), SIRET
// (14), IDNST; "" for another.
func registry(system, value string) string {
	switch {
	case system == FINESS:
		return "FINESS"
	case system == SIRET && len(value) == 9:
		return "SIREN"
	case system == SIRET:
		return "SIRET"
	case system == IDNST:
		return "IDNST"
	}
	return ""
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// directory resolves a Practitioner or an Organization by its national
// identifiers: the first one a stored resource holds decides; the others
// are claimed for it. The written resource keeps every stored identifier.
// A message or a document names the people and places it mentions (a CDA
// author's organisation is often the department that wrote the letter):
// what the directory stored wins, and the source only fills what it left
// empty. A write through the API is a directory write: it wins.
func (v *Resolver) directory(r Reader, i int, src Source, out *Result) error {
	e := &out.Entries[i]
	ids := identifiersOf(e)
	target := ""
	var claims []store.Claim
	for _, id := range ids {
		for _, n := range NationalIDs(e.Type, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
			owner := r.ClaimOwner(e.Type, n[0], n[1])
			if target == "" && owner != "" {
				target = owner
			}
			if owner == "" || owner == target {
				claims = append(claims, store.Claim{Type: e.Type, System: n[0], Value: n[1]})
			}
		}
	}
	e.Claims = append(e.Claims, claims...)
	if target == "" || target == e.ID {
		return nil
	}
	out.Moved[e.Type+"/"+e.ID] = e.Type + "/" + target
	rec, err := r.Read(e.Type, target)
	if err != nil {
		return nil // deleted meanwhile: written anew under the claimed id
	}
	m, err := v.decode(rec)
	if err != nil {
		return nil
	}
	if !out.copied[i] { // the caller's resource stays as it is
		e.Resource, out.copied[i] = proto.Clone(e.Resource), true
	}
	switch stored := m.(type) {
	case *prpb.Practitioner:
		in := e.Resource.(*prpb.Practitioner)
		in.Identifier = UnionIdentifiers(cloneIdentifiers(stored.Identifier), in.Identifier)
	case *orgpb.Organization:
		in := e.Resource.(*orgpb.Organization)
		in.Identifier = UnionIdentifiers(cloneIdentifiers(stored.Identifier), in.Identifier)
	default:
		return nil
	}
	if src != API {
		keepStored(e.Resource.ProtoReflect(), m.ProtoReflect())
	} else {
		fill(e.Resource.ProtoReflect(), m.ProtoReflect())
	}
	return nil
}

// keepStored sets on out every field stored has but its id, meta and
// identifiers (merged apart): the stored directory entry wins over a
// source's mention of it.
func keepStored(out, stored protoreflect.Message) {
	if out.Descriptor() != stored.Descriptor() {
		return
	}
	stored.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch fd.Name() {
		case "id", "meta", "identifier":
			return true
		}
		out.Set(fd, val)
		return true
	})
}

func identifiersOf(e *store.TxEntry) []*dtpb.Identifier {
	switch m := e.Resource.(type) {
	case *prpb.Practitioner:
		return m.Identifier
	case *orgpb.Organization:
		return m.Identifier
	}
	return nil
}
