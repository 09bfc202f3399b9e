package identity

import (
	"net/url"
	"strings"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// insStatus is what the incoming data says of its INS.
type insStatus int

const (
	unstated insStatus = iota
	qualified
	notQualified
)

// statusOf reads the FR Core identity-reliability extension of p; without
// one, the source's default (package comment).
func statusOf(p *ppb.Patient, src Source) insStatus {
	found := false
	for _, ext := range p.GetExtension() {
		if ext.GetUrl().GetValue() != ReliabilityURL {
			continue
		}
		for _, sub := range ext.GetExtension() {
			if sub.GetUrl().GetValue() != "identityStatus" {
				continue
			}
			found = true
			switch strings.ToUpper(sub.GetValue().GetCoding().GetCode().GetValue()) {
			case "VALI", "QUAL":
				return qualified
			}
		}
	}
	switch {
	case found:
		return notQualified
	case src == CDA:
		return qualified
	}
	return unstated
}

// rankOf is the reliability of p's demographics.
func rankOf(p *ppb.Patient, st insStatus) Rank {
	switch st {
	case notQualified:
		return Provisional
	case qualified:
		for _, id := range p.GetIdentifier() {
			if IsINS(id.GetSystem().GetValue()) && id.GetValue().GetValue() != "" {
				return Qualified
			}
		}
	}
	return Validated
}

// link is one identifier of an incoming Patient and what it names.
type link struct {
	system, value string
	owner         string // the Patient id holding it, or ""
	strength      int    // 3 qualified INS, 2 unstated INS, 1 other
	claim         bool
}

func (v *Resolver) patient(r Reader, e *store.TxEntry, src Source, out *Result) error {
	p, ok := e.Resource.(*ppb.Patient)
	if !ok {
		return nil
	}
	var fix *correction
	if src == HL7v2 {
		var err error
		if fix, err = correctionOf(r, p); err != nil {
			return err
		}
	}
	st := statusOf(p, src)
	rank := rankOf(p, st)
	var links []link
	target, best := "", 0
	for _, id := range p.Identifier {
		l := link{system: id.GetSystem().GetValue(), value: id.GetValue().GetValue()}
		if l.system == "" || l.value == "" {
			continue
		}
		switch {
		case IsINS(l.system) && st == qualified:
			l.strength, l.claim = 3, true
		case IsINS(l.system) && st == unstated:
			l.strength = 2
		case IsINS(l.system):
			continue // provisional or doubtful: never links on its own
		case !patientNumber(id):
			continue
		default:
			l.strength, l.claim = 1, true
		}
		l.owner = r.ClaimOwner("Patient", l.system, l.value)
		if l.owner != "" && l.strength > best {
			target, best = l.owner, l.strength
		}
		links = append(links, l)
	}
	from := e.ID
	switch {
	case fix != nil:
		target = fix.owner
	case target == "":
		target = from
	}
	for _, l := range links {
		if l.owner != "" && l.owner != target {
			out.Reviews = append(out.Reviews, v.review("identifier-conflict",
				"identifiers of one incoming patient name different stored patients", "Patient/"+target, "Patient/"+l.owner))
			continue
		}
		if l.claim {
			e.Claims = append(e.Claims, store.Claim{Type: "Patient", System: l.system, Value: l.value})
		}
	}
	if target != from {
		out.Moved["Patient/"+from] = "Patient/" + target
		e.ID = target
		p.Id = &dtpb.Id{Value: target}
	}
	stored, err := v.readPatient(r, target)
	if err != nil {
		return err
	}
	if fix != nil {
		if stored == nil {
			return ErrUnknownRetired
		}
		e.Resource = fix.apply(r, stored, p, e, src)
		out.Reviews = append(out.Reviews, v.review("identifiers-changed",
			"identifiers retired by the identity source: data linked through them may be another person's", "Patient/"+target))
		return nil
	}
	if stored != nil {
		if rank < rankTag(stored) && !sameDeath(p, stored) {
			out.Reviews = append(out.Reviews, v.review("death-not-applied",
				"a source less reliable than the one that wrote this identity reports a death, or corrects one, that was not applied", "Patient/"+target))
		}
		e.Resource = merge(stored, p, rank)
		return nil
	}
	setRank(p, rank)
	return v.duplicates(r, p, out)
}

// patientNumber reports whether id is an assigning authority's patient
// number: untyped (CDA and assessments give no type) or typed MR, PI or PT
// (HL7 table 0203). Other national identifiers (a social security number,
// a driving licence) do not link: in France the INS is the one national
// identifier of a person's health record (Référentiel INS).
func patientNumber(id *dtpb.Identifier) bool {
	codings := id.GetType().GetCoding()
	if len(codings) == 0 {
		return true
	}
	for _, c := range codings {
		switch c.GetCode().GetValue() {
		case "MR", "PI", "PT":
			return true
		}
	}
	return false
}

// readPatient reads Patient/id, nil when absent or deleted.
func (v *Resolver) readPatient(r Reader, id string) (*ppb.Patient, error) {
	m, err := v.Current(r, "Patient", id)
	if err != nil {
		return nil, err
	}
	p, _ := m.(*ppb.Patient)
	return p, nil
}

// merge applies the merge rules (package comment) to the stored Patient
// and the incoming one.
func merge(stored, in *ppb.Patient, inRank Rank) *ppb.Patient {
	have := rankTag(stored)
	win, lose := in, stored
	if inRank < have {
		win, lose = stored, in
	}
	out := proto.Clone(win).(*ppb.Patient)
	if win == in {
		fill(out.ProtoReflect(), lose.ProtoReflect())
	} else {
		fillExcept(out.ProtoReflect(), lose.ProtoReflect(), identityFields)
	}
	out.Identifier = UnionIdentifiers(cloneIdentifiers(stored.Identifier), in.Identifier)
	if win == in {
		retireIdentifiers(out.Identifier, in.Identifier)
	}
	out.Link = unionLinks(cloneLinks(stored.Link), in.Link)
	out.Id = stored.Id
	setRank(out, max(inRank, have))
	return out
}

// retireIdentifiers marks old each of ids that the source of in, at least
// as reliable as the stored patient's, says is old: an INS-NIA replaced by
// the NIR (IHE PAM France section 4.4.1) is no longer her INS. An
// identifier is never taken back from old: a merge retires the prior
// patient's, and a late message naming her does not make them current.
func retireIdentifiers(ids, in []*dtpb.Identifier) {
	for _, m := range in {
		if m.GetUse().GetValue() != cpb.IdentifierUseCode_OLD {
			continue
		}
		for _, id := range ids {
			if sameIdentifier(id, m) {
				id.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OLD}
			}
		}
	}
}

// identityFields are the elements of a Patient that say who she is (the
// INS traits a source qualifies: names, sex, birth date; ANS Référentiel
// INS) and whether she is alive (HL7 v2.5 section 3.4.2.29-30, PID-29 and
// PID-30: an A03, A08, A13 or A31 records a death, and corrects one
// recorded in error with PID-30 N or the null ""). Only a source at least
// as reliable as the best that wrote the stored Patient changes them, to
// record a value where she has none as to correct one: filling an empty
// element is a change of her identity like any other, and a death recorded
// on the wrong person withdraws her care (routing). A less reliable
// source's other demographics (an address, a telephone) still fill what
// the stored Patient lacks.
var identityFields = map[protoreflect.Name]bool{"name": true, "gender": true, "birth_date": true, "deceased": true}

// fill sets, in out, every field it lacks that from has; id and meta
// excepted (they are the stored resource's).
func fill(out, from protoreflect.Message) { fillExcept(out, from, nil) }

// fillExcept is fill but for the fields named in except.
func fillExcept(out, from protoreflect.Message, except map[protoreflect.Name]bool) {
	from.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch fd.Name() {
		case "id", "meta":
			return true
		}
		if !out.Has(fd) && !except[fd.Name()] {
			out.Set(fd, val)
		}
		return true
	})
}

// sameDeath reports whether in says nothing of her death (an HL7 v2
// message without PID-29 or PID-30) or says what stored does: alive (not
// stated, or deceasedBoolean false), or dead the same way.
func sameDeath(in, stored *ppb.Patient) bool {
	d := in.GetDeceased()
	if d == nil {
		return true
	}
	alive := func(x *ppb.Patient_DeceasedX) bool {
		return x == nil || (x.GetDateTime() == nil && !x.GetBoolean().GetValue())
	}
	if alive(d) || alive(stored.GetDeceased()) {
		return alive(d) == alive(stored.GetDeceased())
	}
	return proto.Equal(d, stored.GetDeceased())
}

func cloneIdentifiers(ids []*dtpb.Identifier) []*dtpb.Identifier {
	out := make([]*dtpb.Identifier, len(ids))
	for i, id := range ids {
		out[i] = proto.Clone(id).(*dtpb.Identifier)
	}
	return out
}

func cloneLinks(ls []*ppb.Patient_Link) []*ppb.Patient_Link {
	out := make([]*ppb.Patient_Link, len(ls))
	for i, l := range ls {
		out[i] = proto.Clone(l).(*ppb.Patient_Link)
	}
	return out
}

func unionLinks(ls, more []*ppb.Patient_Link) []*ppb.Patient_Link {
	for _, m := range more {
		found := false
		for _, l := range ls {
			if proto.Equal(l, m) {
				found = true
				break
			}
		}
		if !found {
			ls = append(ls, m)
		}
	}
	return ls
}

// rankTag reads the rank a stored Patient keeps (Validated when none).
func rankTag(p *ppb.Patient) Rank {
	for _, t := range p.GetMeta().GetTag() {
		if t.GetSystem().GetValue() == ReliabilitySystem {
			for r, code := range rankCodes {
				if t.GetCode().GetValue() == code {
					return r
				}
			}
		}
	}
	return Validated
}

// setRank replaces p's rank tag.
func setRank(p *ppb.Patient, r Rank) {
	if p.Meta == nil {
		p.Meta = &dtpb.Meta{}
	}
	tags := p.Meta.Tag[:0:0]
	for _, t := range p.Meta.Tag {
		if t.GetSystem().GetValue() != ReliabilitySystem {
			tags = append(tags, t)
		}
	}
	p.Meta.Tag = append(tags, &dtpb.Coding{
		System: &dtpb.Uri{Value: ReliabilitySystem}, Code: &dtpb.Code{Value: rankCodes[r]},
	})
}

// duplicates lists, for a Patient about to be created, the stored ones
// that may be the same person: one carrying the same INS that did not link
// (neither side qualified), or one with the same family name, given name,
// birth date and sex and no identifier in common. Nothing is merged.
func (v *Resolver) duplicates(r Reader, p *ppb.Patient, out *Result) error {
	self := "Patient/" + p.GetId().GetValue()
	seen := map[string]bool{}
	for _, id := range p.Identifier {
		if !IsINS(id.GetSystem().GetValue()) || id.GetValue().GetValue() == "" {
			continue
		}
		hits, err := v.search(r, url.Values{"identifier": {id.GetSystem().GetValue() + "|" + id.GetValue().GetValue()}})
		if err != nil {
			return err
		}
		for _, h := range hits {
			if other := "Patient/" + h; other != self && !seen[other] {
				seen[other] = true
				out.Reviews = append(out.Reviews, v.review("probable-duplicate", "same INS, not qualified on both sides", self, other))
			}
		}
	}
	q, ok := demographicsQuery(p)
	if !ok {
		return nil
	}
	// The family name is searched, the birth date compared on each hit's
	// index values: a birth date's posting list holds every Patient born
	// that day, which the index would walk for each new one, where the
	// family name's is short.
	query, err := search.Parse("Patient", q, false)
	if err != nil {
		return nil // a name the parameters cannot express finds nothing
	}
	born, bornEnd, err := search.ParseDate(dateOf(p.GetBirthDate()))
	if err != nil {
		return nil
	}
	found, err := r.Search(query, func(_ *store.Snapshot, _, _ string, iv store.IndexValues) bool {
		for _, d := range iv.Dates("birthdate") {
			if d[0] <= bornEnd && d[1] >= born {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	hits := make([]string, 0, len(found))
	for _, h := range found {
		hits = append(hits, h.ID)
	}
	read := 0
	for _, h := range hits {
		other := "Patient/" + h
		if other == self || seen[other] {
			continue
		}
		if read++; read > maxDuplicates {
			break
		}
		o, err := v.readPatient(r, h)
		if err != nil || o == nil {
			return err
		}
		if sharesIdentifier(o, p) || !sameDemographics(o, p) {
			continue
		}
		seen[other] = true
		out.Reviews = append(out.Reviews, v.review("probable-duplicate",
			"same family name, given name, birth date and sex; no identifier in common", self, other))
	}
	return nil
}

func (v *Resolver) search(r Reader, q url.Values) ([]string, error) {
	return v.searchType(r, "Patient", q)
}

// searchType is search for resources of typ.
func (v *Resolver) searchType(r Reader, typ string, q url.Values) ([]string, error) {
	query, err := search.Parse(typ, q, false)
	if err != nil {
		return nil, nil // a value the parameters cannot express finds nothing
	}
	hits, err := r.Search(query, nil)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(hits))
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	return ids, nil
}

// demographicsQuery searches the family name of p's first name; ok is
// false when the name, the birth date or the sex is missing.
func demographicsQuery(p *ppb.Patient) (url.Values, bool) {
	fam, given := nameOf(p)
	if fam == "" || given == "" || p.GetBirthDate() == nil || p.GetGender() == nil {
		return nil, false
	}
	// Sex and birth date are compared on the hits, not searched (their
	// posting lists are long: duplicates).
	return url.Values{"family:exact": {fam}}, true
}

// maxDuplicates bounds the stored Patients read to tell a probable
// duplicate: a common name and birth date can match many, and each is
// parsed. A review lists a few; an administrator finds the others.
const maxDuplicates = 8

func nameOf(p *ppb.Patient) (family, given string) {
	for _, n := range p.GetName() {
		if n.GetFamily().GetValue() == "" {
			continue
		}
		var gs []string
		for _, g := range n.GetGiven() {
			gs = append(gs, g.GetValue())
		}
		return strings.ToUpper(n.GetFamily().GetValue()), strings.ToUpper(strings.Join(gs, " "))
	}
	return "", ""
}

// sameDemographics: same family and given names (case aside), birth date
// and sex.
func sameDemographics(a, b *ppb.Patient) bool {
	fa, ga := nameOf(a)
	fb, gb := nameOf(b)
	firstGiven := func(s string) string { f, _, _ := strings.Cut(s, " "); return f }
	return fa == fb && firstGiven(ga) == firstGiven(gb) && fa != "" &&
		dateOf(a.GetBirthDate()) == dateOf(b.GetBirthDate()) && a.GetGender().GetValue() == b.GetGender().GetValue()
}

func sharesIdentifier(a, b *ppb.Patient) bool {
	for _, x := range a.GetIdentifier() {
		for _, y := range b.GetIdentifier() {
			if sameIdentifier(x, y) {
				return true
			}
		}
	}
	return false
}

// review builds a review entry about resources (sorted, so that the same
// pair is listed once whichever came first).
func (v *Resolver) review(kind, reason string, resources ...string) store.IdentityReview {
	rs := append([]string(nil), resources...)
	if len(rs) == 2 && rs[1] < rs[0] {
		rs[0], rs[1] = rs[1], rs[0]
	}
	return store.IdentityReview{Kind: kind, Resources: rs, Reason: reason, Time: v.now()}
}

// dateOf renders a FHIR date as the calendar date it names, whatever the
// zone it was parsed in.
func dateOf(d *dtpb.Date) string {
	if d == nil {
		return ""
	}
	return time.UnixMicro(d.GetValueUs()).In(resource.Location(d.GetTimezone())).Format("2006-01-02")
}
