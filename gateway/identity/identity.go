// Package identity decides which stored Patient, Practitioner or
// Organization the data of a source is about, before it is written, so that
// one person arriving by HL7 v2, CDA, an assessment and the FHIR API is one
// Patient whose care team and Consents govern all of it.
//
// # Matching
//
// A patient's national health identifier (INS, ANS "Référentiel INS":
// INS-NIR urn:oid:1.2.250.1.213.1.4.8, INS-NIA ...4.9, their test
// counterparts ...4.10 and ...4.11) identifies her across sources only when
// her identity is qualified. The status comes from the FR Core
// identity-reliability extension on the incoming Patient (HL7 v2 PID-32 is
// mapped to it; a FHIR client sends it): VALI or QUAL is qualified, any
// other code (PROV, VIDE, DOUTE, DOUB, FICTI...) is explicitly not. Without
// an extension, the source decides: a CI-SIS CDA document carries an INS
// only for a qualified identity (CI-SIS volet structuration minimale), so
// its INS is qualified; an assessment or an HL7 v2 message without PID-32
// states nothing.
//
//   - A qualified INS links to the Patient holding it, and claims it.
//   - An INS with no stated status links only to a Patient whose INS is
//     already qualified (only qualified INS are claimed), and claims nothing.
//   - An INS stated provisional or doubtful never links on its own.
//   - Any other identifier that is an assigning authority's patient number
//     (untyped, or typed MR, PI or PT in HL7 table 0203) links by exact
//     system and value, and is claimed. Other national identifiers (a
//     social security number) do not link.
//
// When identifiers name different stored Patients, the strongest wins
// (qualified INS, then unqualified INS, then the others, then the order the
// source gives), the others are not claimed and the pair is listed for
// review. Demographics alone never link: a new Patient with the same family
// name, given name, birth date and sex as a stored one, and no identifier in
// common, is stored apart and listed as a probable duplicate.
//
// Practitioners link by RPPS or IDNPS (an IDNPS of 8 followed by eleven
// digits is that RPPS number, ANS "identification des acteurs de santé"),
// Organizations by FINESS, SIRET or SIREN (and the IDNST forms 1+FINESS,
// 2+SIREN, 3+SIRET). A directory import merges the Organizations of two
// sources by them (directoryimport.go).
//
// # Merge rules
//
// When incoming data names a stored Patient, the mapping's Patient id and
// every reference to it in the same Bundle are rewritten to the stored one,
// and the Patient written is a merge:
//
//   - an identifier is never dropped: the stored ones and the incoming ones;
//   - reliability order: a source with a qualified INS (3) > validated or
//     unstated (2) > provisional or doubtful (1). The stored Patient keeps
//     the rank of the best source that wrote it (a meta.tag of
//     ReliabilitySystem). Demographics come from the incoming Patient when
//     its rank is at least the stored one, else the stored ones stay; a
//     field the chosen side leaves empty keeps the other's value, but for
//     identityFields (names, sex, birth date, death), which a less
//     reliable source neither fills nor corrects: its report of a death is
//     listed for review instead;
//   - Patient.link is the union of both sides.
//
// Resolution is deterministic: the ids a message resolves to depend only on
// the claims stored, so resending or replaying it writes the same ids.
//
// # Merges
//
// An HL7 v2 A40 or A34 merges a prior patient into a surviving one: her
// data moves to the survivor in new versions, she is retired with links
// both ways, and the merge is listed for review (merge.go).
//
// # Concurrency
//
// The store keeps claims in a uniqueness index checked inside the write
// transaction (store.Claim). Resolution reads a snapshot and writes with its
// claims; a write that loses a race fails with a store.ClaimError before
// writing anything, and its caller resolves again (the winner's Patient is
// then found). The HL7 v2 queue resolves within its batch, against its own
// transaction, and so never loses.
package identity

import (
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// Identifier systems.
const (
	INSNIR     = "urn:oid:1.2.250.1.213.1.4.8"
	INSNIA     = "urn:oid:1.2.250.1.213.1.4.9"
	INSNIRTest = "urn:oid:1.2.250.1.213.1.4.10"
	INSNIATest = "urn:oid:1.2.250.1.213.1.4.11"
	RPPS       = "https://rpps.esante.gouv.fr"
	IDNPS      = "urn:oid:1.2.250.1.71.4.2.1"
	FINESS     = "https://finess.esante.gouv.fr"
	SIRET      = "https://sirene.fr" // FR Core Organization, slice siret
	IDNST      = "urn:oid:1.2.250.1.71.4.2.2"
)

// The FR Core identity-reliability extension
// (https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability),
// whose identityStatus codes are FR Core's v2-0445.
const (
	ReliabilityURL    = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
	ReliabilitySystem = "https://relais-health.github.io/fhir/CodeSystem/identity-reliability"
)

// IsINS reports whether system is an INS (production or test).
func IsINS(system string) bool {
	switch system {
	case INSNIR, INSNIA, INSNIRTest, INSNIATest:
		return true
	}
	return false
}

// Source names where data comes from; it sets the default INS status.
type Source int

// The sources.
const (
	HL7v2      Source = iota // PID-32 mapped to the extension; none: unstated
	CDA                      // an INS in a CI-SIS document is qualified
	Assessment               // unstated
	API                      // the extension as sent; none: unstated
	// Directory is a directory import (relais directory import): only its
	// Organizations are resolved, by the import's merge rules
	// (directoryimport.go).
	Directory
)

// Rank is the reliability of a source of demographics.
type Rank int

// The ranks, in order.
const (
	Provisional Rank = 1 // an identity stated provisional or doubtful
	Validated   Rank = 2 // validated, or unstated, without a qualified INS
	Qualified   Rank = 3 // the source carries a qualified INS
)

var rankCodes = map[Rank]string{Provisional: "provisional", Validated: "validated", Qualified: "qualified"}

// Reader is what resolution reads: a store.Snapshot, or a batch's.
type Reader interface {
	ClaimOwner(typ, system, value string) string
	Read(typ, id string) (*store.Record, error)
	Search(q *search.Query, filter store.Filter) ([]store.Hit, error)
}

// Resolver resolves the identities of mapped data. It is safe for
// concurrent use.
type Resolver struct {
	codec *codec.Codec
	now   func() time.Time
}

// New builds a Resolver; now defaults to time.Now.
func New(c *codec.Codec, now func() time.Time) *Resolver {
	if now == nil {
		now = time.Now
	}
	return &Resolver{codec: c, now: now}
}

// Result is the outcome of Resolve.
type Result struct {
	// Entries are copies of the entries, resolved, with their claims; a
	// resource Resolve changed is a copy, the others are shared with the
	// entries given.
	Entries []store.TxEntry
	// Reviews are to be added to the identity review list.
	Reviews []store.IdentityReview
	// Moved maps a mapping's "Type/id" to the stored one it resolved to,
	// for those that differ.
	Moved map[string]string
	// copied marks the entries whose resource is already a copy.
	copied []bool
}

// Resolve resolves the Patients, Practitioners and Organizations written
// by entries (PUTs with an id, as the mappings give them; a directory
// import's Organizations only), and the Encounters when a source other
// than the API or a directory import writes them, against r, and returns
// the entries to write. The entries given are not modified.
func (v *Resolver) Resolve(r Reader, entries []store.TxEntry, src Source) (*Result, error) {
	// The caller's entries stay as they are (it may resolve them again):
	// a resource is copied before it is changed, and only then, since a
	// message's Binary source and clinical resources are most of its
	// weight and are usually left alone.
	out := &Result{Entries: make([]store.TxEntry, len(entries)), Moved: map[string]string{}, copied: make([]bool, len(entries))}
	for i, e := range entries {
		e.Claims = append([]store.Claim(nil), e.Claims...)
		out.Entries[i] = e
	}
	for i := range len(entries) {
		e := &out.Entries[i]
		if e.Resource == nil || e.ID == "" || (e.Method != "PUT" && e.Method != "") {
			continue
		}
		if e.Type == "Patient" {
			e.Resource, out.copied[i] = proto.Clone(e.Resource), true
		}
		var err error
		switch {
		case e.Type == "Patient" && Replaced(e.Resource) != "":
			err = v.merge(r, i, out) // may add entries: e is not used after
		case e.Type == "Patient":
			err = v.patient(r, e, src, out)
		case src == Directory && e.Type == "Organization":
			err = v.importOrganization(r, i, out) // copies what it changes
		case src == Directory:
			// an import's Practitioners claim what no other resource
			// holds (gateway/directory), and merge with nothing
		case e.Type == "Practitioner" || e.Type == "Organization":
			err = v.directory(r, i, src, out) // copies what it changes
		}
		if err != nil {
			return nil, err
		}
	}
	if src != API && src != Directory { // stays (encounter.go), once their patients are resolved
		for i := range len(entries) { // not what a merge moves to the survivor
			e := &out.Entries[i]
			if e.Type != "Encounter" || e.Resource == nil || e.ID == "" || (e.Method != "PUT" && e.Method != "") {
				continue
			}
			if err := v.encounter(r, i, out); err != nil {
				return nil, err
			}
		}
	}
	rewrite(out.Entries, out.Moved, out.copied)
	for i, changed := range ResolveLogical(r, out.Entries) { // once their ids are resolved
		out.copied[i] = out.copied[i] || changed
	}
	return out, nil
}

// rewrite points every entry and reference at the resolved ids.
func rewrite(entries []store.TxEntry, moved map[string]string, copied []bool) {
	if len(moved) == 0 {
		return
	}
	for i := range entries {
		e := &entries[i]
		_, idMoved := moved[e.Type+"/"+e.ID]
		if !idMoved && (e.Resource == nil || !refersTo(e.Resource, moved)) {
			continue // nothing to rewrite: no copy (a message's Binary is most of its weight)
		}
		if e.Resource != nil && !copied[i] {
			e.Resource, copied[i] = proto.Clone(e.Resource), true
		}
		if to, ok := moved[e.Type+"/"+e.ID]; ok {
			_, e.ID, _ = strings.Cut(to, "/")
			resource.SetID(e.Resource, e.ID)
		}
		if e.Resource == nil {
			continue
		}
		// Patient.link names another record of the person on purpose (a
		// merge's replaces and replaced-by are resolved by merge): were a
		// survivor's link to her prior record rewritten because a message
		// still names the prior one, the survivor would replace herself.
		var links []*ppb.Patient_Link
		p, isPatient := e.Resource.(*ppb.Patient)
		if isPatient {
			links, p.Link = p.Link, nil
		}
		pointAt(e.Resource, moved)
		if isPatient {
			p.Link = links
		}
	}
}

// pointAt points every reference of m to a key of moved ("Type/id") at
// its value.
func pointAt(m proto.Message, moved map[string]string) {
	resource.WalkReferences(m, func(ref *dtpb.Reference) {
		if typ, id, _, ok := resource.RefTarget(ref); ok {
			if to, found := moved[typ+"/"+id]; found {
				resource.SetRefString(ref, to)
			}
		}
	})
}

// refersTo reports whether m has a reference to a key of moved (a
// Patient's links included: rewrite then copies it for nothing, and
// leaves them as they are). It only reads m.
func refersTo(m proto.Message, moved map[string]string) bool {
	found := false
	resource.WalkReferences(m, func(ref *dtpb.Reference) {
		if typ, id, _, ok := resource.RefTarget(ref); ok && !found {
			_, found = moved[typ+"/"+id]
		}
	})
	return found
}

// decode reads a stored record's resource.
func (v *Resolver) decode(rec *store.Record) (proto.Message, error) {
	return v.codec.DecodeStored(rec.JSON)
}

// sameIdentifier reports whether a and b have the same system and value.
func sameIdentifier(a, b *dtpb.Identifier) bool {
	return a.GetSystem().GetValue() == b.GetSystem().GetValue() && a.GetValue().GetValue() == b.GetValue().GetValue()
}

// UnionIdentifiers appends to ids those of more it lacks (same system
// and value).
func UnionIdentifiers(ids, more []*dtpb.Identifier) []*dtpb.Identifier {
	for _, m := range more {
		found := false
		for _, id := range ids {
			if sameIdentifier(id, m) {
				found = true
				break
			}
		}
		if !found {
			ids = append(ids, m)
		}
	}
	return ids
}

func refString(ref *dtpb.Reference) string { return resource.RefString(ref) }
