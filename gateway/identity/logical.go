package identity

import (
	"net/url"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// DirectoryTypes are the directory resource types whose logical
// references are resolved when they are written.
var DirectoryTypes = []string{"PractitionerRole", "HealthcareService", "Practitioner", "Organization", "Location", "Endpoint"}

// refTargets gives the resource type a directory resource's reference
// element points to, by element name, when the Reference has no type: ROR
// and Annuaire Santé exports name an Organization by FINESS or a
// Practitioner by RPPS without saying Reference.type. "partOf" points to
// the referring resource's own type (Organization.partOf, Location.partOf).
var refTargets = map[protoreflect.Name]string{
	"organization": "Organization", "provided_by": "Organization", "managing_organization": "Organization",
	"practitioner": "Practitioner", "healthcare_service": "HealthcareService",
	"location": "Location", "endpoint": "Endpoint",
}

// ResolveLogical turns the logical references of the directory resources
// among entries (Reference.identifier without Reference.reference, FHIR
// R4 references.html section 2.3.0.3) into literal ones, "Type/id", when
// the identifier names exactly one resource of the target type: an entry
// of the same write, else a stored one (a Practitioner or an Organization
// by the national identifiers it claims, NationalIDs; another type by
// identifier search). The identifier is kept beside the literal
// reference. One that names none, or several, stays logical. Every reader
// of the directory (routing, consent) then follows the same literal
// reference. Entries changed are copies; it reports which were changed.
func ResolveLogical(r Reader, entries []store.TxEntry) []bool {
	changed := make([]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.Resource == nil || !isDirectoryType(e.Type) || (e.Method != "PUT" && e.Method != "POST" && e.Method != "") {
			continue
		}
		refs := logicalRefs(e.Type, e.Resource, nil)
		if len(refs) == 0 {
			continue
		}
		targets := make([]string, len(refs))
		found := false
		for k, lr := range refs {
			if id := resolveLogical(r, entries, lr.typ, lr.ref.GetIdentifier()); id != "" {
				targets[k], found = lr.typ+"/"+id, true
			}
		}
		if !found {
			continue
		}
		e.Resource, changed[i] = proto.Clone(e.Resource), true
		for k, lr := range logicalRefs(e.Type, e.Resource, nil) {
			if targets[k] != "" {
				resource.SetRefString(lr.ref, targets[k])
			}
		}
	}
	return changed
}

// HasLogical reports whether a directory resource has a logical
// reference left.
func HasLogical(typ string, m proto.Message) bool {
	return isDirectoryType(typ) && len(logicalRefs(typ, m, nil)) > 0
}

func isDirectoryType(typ string) bool {
	for _, t := range DirectoryTypes {
		if t == typ {
			return true
		}
	}
	return false
}

type logicalRef struct {
	typ string
	ref *dtpb.Reference
}

// logicalRefs lists the logical references among m's own reference
// elements, in field order, with the type each points to.
func logicalRefs(typ string, m proto.Message, out []logicalRef) []logicalRef {
	rm := m.ProtoReflect()
	rm.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		target := refTargets[fd.Name()]
		if fd.Name() == "part_of" {
			target = typ
		}
		add := func(pm protoreflect.Message) {
			ref, ok := pm.Interface().(*dtpb.Reference)
			if !ok || ref.Reference != nil || ref.GetIdentifier().GetValue().GetValue() == "" || ref.GetIdentifier().GetSystem().GetValue() == "" {
				return
			}
			t := target
			if rt := ref.GetType().GetValue(); rt != "" {
				t = rt // an absolute type URI is not a type this resolves
			}
			if t != "" && resource.Known(t) {
				out = append(out, logicalRef{typ: t, ref: ref})
			}
		}
		if fd.IsList() {
			for i := 0; i < v.List().Len(); i++ {
				add(v.List().Get(i).Message())
			}
		} else if !fd.IsMap() {
			add(v.Message())
		}
		return true
	})
	return out
}

// resolveLogical finds the one resource of typ that id names: in entries
// first, then in r; "" when none or several.
func resolveLogical(r Reader, entries []store.TxEntry, typ string, id *dtpb.Identifier) string {
	sys, val := id.GetSystem().GetValue(), id.GetValue().GetValue()
	keys := keysOf(typ, sys, val)
	found := ""
	for _, e := range entries {
		if e.Type != typ || e.Resource == nil || e.ID == "" || e.ID == found {
			continue
		}
		if holds(typ, e.Resource, keys) {
			if found != "" {
				return "" // several
			}
			found = e.ID
		}
	}
	if found != "" {
		return found
	}
	if typ == "Practitioner" || typ == "Organization" {
		for _, k := range keys {
			if owner := r.ClaimOwner(typ, k[0], k[1]); owner != "" {
				return owner
			}
		}
		if len(NationalIDs(typ, sys, val)) > 0 {
			return ""
		}
	}
	q, err := search.Parse(typ, url.Values{"identifier": {sys + "|" + val}}, false)
	if err != nil {
		return ""
	}
	hits, err := r.Search(q, nil)
	if err != nil || len(hits) != 1 {
		return ""
	}
	return hits[0].ID
}

// holds reports whether m has an identifier standing for one of keys.
func holds(typ string, m proto.Message, keys [][2]string) bool {
	for _, id := range resource.Identifiers(m) {
		for _, o := range keysOf(typ, id.GetSystem().GetValue(), id.GetValue().GetValue()) {
			for _, k := range keys {
				if o == k {
					return true
				}
			}
		}
	}
	return false
}
