package fhirdoc

import (
	"slices"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
)

// shared are the types of what belongs to no patient: people,
// organisations, places, devices and products, which every document of a
// hospital names again. Their ids are keyed by their identifiers alone;
// the identity resolver then links people and organisations to the stored
// ones.
var shared = map[string]bool{
	"Practitioner": true, "PractitionerRole": true, "Organization": true, "Location": true,
	"Device": true, "HealthcareService": true, "Medication": true, "Substance": true,
}

// ins are the INS systems (ANS "Référentiel INS"), which identify a
// patient before any other identifier.
var ins = []string{
	"urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.9",
	"urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11",
}

// assignIDs gives every entry written the id it is written with, marks
// the others dropped, and drops what the sender's server said of each
// version (meta.versionId, lastUpdated): the store keeps its own.
//
// An id is a bundle.ID of the mapping's name and what identifies the
// thing: the patient's INS, else her first identifier; an entry's first
// identifier, else the document set (Composition.identifier, R4's
// version-independent identifier) and its fullUrl; and, for what belongs
// to the patient, her id. The Composition is keyed by its set, so that
// the versions of a document update one Composition, as the versions of
// a CDA document do.
func (d *doc) assignIDs(docKey []string) {
	setKey := docKey
	if k := identifierKey(d.comp.GetIdentifier()); k != nil {
		setKey = append([]string{"set"}, k...)
	}
	local := func(e *entry) []string { return append(append([]string{"doc"}, setKey...), e.full) }
	used := map[string]bool{}
	subject := d.entries[d.subject]
	for n, i := range append([]int{d.subject}, indexes(len(d.entries))...) {
		e := d.entries[i]
		if n > 0 && i == d.subject {
			continue
		}
		if notWritten[e.typ] {
			e.dropped = true
			continue
		}
		parts := []string{e.typ, Mapping.Name}
		key := firstIdentifier(e.res, e.typ == "Patient")
		if key == nil {
			key = local(e)
		}
		switch {
		case i == 0: // the Composition
			parts = append(append(parts, setKey...), subject.id)
		case e.typ == "Patient" || shared[e.typ]:
			parts = append(parts, key...)
		default:
			parts = append(append(parts, key...), subject.id)
		}
		id := bundle.ID(parts...)
		if used[e.typ+"/"+id] { // two entries with one identifier
			id = bundle.ID(append(parts, e.full)...)
		}
		used[e.typ+"/"+id] = true
		e.id = id
		resource.SetID(e.res, id)
		if m := resource.PeekMeta(e.res); m != nil {
			m.VersionId, m.LastUpdated = nil, nil
		}
	}
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// firstIdentifier is the system and value of the first identifier of res
// that has both (an INS first, for a patient), or nil.
func firstIdentifier(res proto.Message, patient bool) []string {
	ids := resource.Identifiers(res)
	if patient {
		for _, id := range ids {
			if k := identifierKey(id); k != nil && slices.Contains(ins, k[0]) {
				return k
			}
		}
	}
	for _, id := range ids {
		if k := identifierKey(id); k != nil {
			return k
		}
	}
	return nil
}

// identifierKey is the system and value of id, or nil when it lacks one.
func identifierKey(id *dtpb.Identifier) []string {
	sys, val := strings.TrimSpace(id.GetSystem().GetValue()), strings.TrimSpace(id.GetValue().GetValue())
	if sys == "" || val == "" {
		return nil
	}
	return []string{sys, val}
}
