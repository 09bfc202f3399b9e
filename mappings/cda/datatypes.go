package cda

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/mappings/terminology"
)

// CDA R2 data types (HL7 v3 Data Types R1) to FHIR R4 data types, following
// the C-CDA on FHIR data type maps
// (https://build.fhir.org/ig/HL7/ccda-on-fhir/mappingGuidance.html).

func str(s string) *dtpb.String {
	if s == "" {
		return nil
	}
	return &dtpb.String{Value: s}
}

func uri(s string) *dtpb.Uri { return &dtpb.Uri{Value: s} }

// isOID reports whether s is a dotted-decimal OID.
func isOID(s string) bool {
	if len(s) < 3 || s[0] < '0' || s[0] > '2' || s[1] != '.' {
		return false
	}
	prevDot := false
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prevDot || i == len(s)-1 {
				return false
			}
			prevDot = true
		case c >= '0' && c <= '9':
			if prevDot && c == '0' && i+1 < len(s) && s[i+1] != '.' {
				return false
			}
			prevDot = false
		default:
			return false
		}
	}
	return true
}

// isUUID reports whether s looks like a UUID (8-4-4-4-12 hex digits).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// systemFor maps a codeSystem or II root to a FHIR system URI; "" when the
// root is neither an OID nor a UUID.
func systemFor(root string) string {
	root = strings.TrimSpace(root)
	switch {
	case isOID(root):
		return terminology.SystemForOID(root)
	case isUUID(root):
		return "urn:uuid:" + strings.ToLower(root)
	}
	return ""
}

// code trims a code and folds inner white space, as the FHIR code type
// requires.
func code(s string) string { return collapse(s) }

// coding maps a CD/CE/CV element (without its translations).
func coding(cd el) *dtpb.Coding {
	c := code(cd.attr("code"))
	if c == "" {
		return nil
	}
	// One allocation for the Coding and its usual elements: concepts are
	// the most frequent values of a document.
	k := &struct {
		coding  dtpb.Coding
		code    dtpb.Code
		system  dtpb.Uri
		display dtpb.String
	}{}
	out := &k.coding
	k.code.Value = c
	out.Code = &k.code
	if s := systemFor(cd.attr("codeSystem")); s != "" {
		k.system.Value = s
		out.System = &k.system
	}
	if v := cd.attr("codeSystemVersion"); v != "" {
		out.Version = str(v)
	}
	if d := collapse(cd.attr("displayName")); d != "" {
		k.display.Value = d
		out.Display = &k.display
	}
	return out
}

// concept maps a CD element and its translations; the text comes from
// originalText (following a narrative reference) or the display name.
func (c *conv) concept(cd el) *dtpb.CodeableConcept {
	if !cd.ok() {
		return nil
	}
	// The concept and room for its first coding in one allocation.
	x := &struct {
		cc     dtpb.CodeableConcept
		coding [1]*dtpb.Coding
	}{}
	cc := &x.cc
	if k := coding(cd); k != nil {
		cc.Coding = append(x.coding[:0], k)
	}
	cd.each("translation", func(t el) {
		if k := coding(t); k != nil {
			cc.Coding = append(cc.Coding, k)
		}
	})
	if t := c.originalText(cd.child("originalText")); t != "" {
		cc.Text = str(t)
	} else if len(cc.Coding) == 0 {
		if d := collapse(cd.attr("displayName")); d != "" {
			cc.Text = str(d)
		}
	}
	if len(cc.Coding) == 0 && cc.Text == nil {
		return nil
	}
	return cc
}

// textConcept is a CodeableConcept with text only.
func textConcept(s string) *dtpb.CodeableConcept {
	if s == "" {
		return nil
	}
	return &dtpb.CodeableConcept{Text: str(s)}
}

// originalText resolves an ED with a narrative reference, else its own text.
func (c *conv) originalText(ot el) string {
	if !ot.ok() {
		return ""
	}
	if ref := ot.child("reference").attr("value"); ref != "" {
		if target := c.t.byID(ref); target.ok() {
			return target.text()
		}
	}
	return ot.text()
}

// entryText is the narrative text an entry points to (text/reference), or
// the text element's own content.
func (c *conv) entryText(stmt el) string { return c.originalText(stmt.child("text")) }

// identifier maps an II. A root alone is itself the identifier (an OID or
// UUID as a URI); with an extension the root names the system.
func identifier(ii el) *dtpb.Identifier {
	if !ii.ok() || ii.attr("nullFlavor") != "" && ii.attr("root") == "" {
		return nil
	}
	root := strings.TrimSpace(ii.attr("root"))
	ext := strings.TrimSpace(ii.attr("extension"))
	// One allocation for the Identifier, its system and its value.
	newID := func(system, value string) *dtpb.Identifier {
		x := &struct {
			id     dtpb.Identifier
			system dtpb.Uri
			value  dtpb.String
		}{}
		if system != "" {
			x.system.Value = system
			x.id.System = &x.system
		}
		if value != "" {
			x.value.Value = value
			x.id.Value = &x.value
		}
		return &x.id
	}
	switch {
	case ext != "":
		return newID(systemFor(root), ext)
	case isOID(root):
		return newID("urn:ietf:rfc:3986", "urn:oid:"+root)
	case isUUID(root):
		return newID("urn:ietf:rfc:3986", "urn:uuid:"+strings.ToLower(root))
	case root != "":
		return newID("", root)
	}
	return nil
}

// identifiers maps every id child of e.
func identifiers(e el) []*dtpb.Identifier {
	var out []*dtpb.Identifier
	e.each("id", func(ii el) {
		if id := identifier(ii); id != nil {
			out = append(out, id)
		}
	})
	return out
}

// idKey gives the parts identifying an II for bundle.ID, or nil.
func idKey(ii el) []string {
	if !ii.ok() || ii.attr("root") == "" {
		return nil
	}
	return []string{strings.TrimSpace(ii.attr("root")), strings.TrimSpace(ii.attr("extension"))}
}

// ts is a parsed HL7 v3 TS.
type ts struct {
	t    time.Time
	prec dtpb.DateTime_Precision
	zone string // "" when the source had no offset
}

// parseTS reads YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+|-ZZZZ]. Times without an
// offset are read in loc.
func parseTS(s string, loc *time.Location) (ts, bool) {
	s = strings.TrimSpace(s)
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	main, rest := s[:digits], s[digits:]
	frac := ""
	if strings.HasPrefix(rest, ".") {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		frac, rest = rest[1:j], rest[j:]
	}
	zone := ""
	if rest != "" {
		if len(rest) != 5 || rest[0] != '+' && rest[0] != '-' || !allDigits(rest[1:]) {
			return ts{}, false
		}
		zone = rest
	}
	var prec dtpb.DateTime_Precision
	switch len(main) {
	case 4:
		prec = dtpb.DateTime_YEAR
	case 6:
		prec = dtpb.DateTime_MONTH
	case 8:
		prec = dtpb.DateTime_DAY
	case 10, 12, 14:
		prec = dtpb.DateTime_SECOND
	default:
		return ts{}, false
	}
	padded := main + "00000101000000"[len(main):] // month and day default to 01
	l := loc
	if zone != "" {
		h, _ := strconv.Atoi(zone[1:3])
		m, _ := strconv.Atoi(zone[3:5])
		off := h*3600 + m*60
		if zone[0] == '-' {
			off = -off
		}
		if h > 14 || m > 59 {
			return ts{}, false
		}
		l = zoneAt(off)
	}
	t, err := time.ParseInLocation("20060102150405", padded[:14], l)
	if err != nil {
		return ts{}, false
	}
	if frac != "" && prec == dtpb.DateTime_SECOND {
		if len(frac) > 6 {
			frac = frac[:6]
		}
		n, _ := strconv.Atoi(frac + "000000"[len(frac):])
		t = t.Add(time.Duration(n) * time.Microsecond)
		prec = dtpb.DateTime_MILLISECOND
		if len(frac) > 3 {
			prec = dtpb.DateTime_MICROSECOND
		}
	}
	return ts{t: t, prec: prec, zone: zone}, true
}

// quarterZones holds a location and its FHIR name (+hh:mm) for every
// offset in quarter hours from -14:00 to +14:00, which covers the offsets in
// use: a timestamp with one then allocates neither. Filled once, read only.
var quarterZones = func() (z [14*4*2 + 1]struct {
	loc  *time.Location
	name string
}) {
	for i := range z {
		off := (i - 14*4) * 15 * 60
		sign, a := '+', off
		if off < 0 {
			sign, a = '-', -off
		}
		z[i].loc = time.FixedZone("", off)
		z[i].name = fmt.Sprintf("%c%02d:%02d", sign, a/3600, a%3600/60)
	}
	return z
}()

// zoneAt returns a location at off seconds east of UTC.
func zoneAt(off int) *time.Location {
	if i := off/900 + 14*4; off%900 == 0 && i >= 0 && i < len(quarterZones) {
		return quarterZones[i].loc
	}
	return time.FixedZone("", off)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (v ts) tz() string {
	if v.zone == "" {
		if v.t.Location() == time.UTC {
			return "Z"
		}
		return v.t.Location().String()
	}
	if v.zone == "+0000" || v.zone == "-0000" {
		return "Z"
	}
	if _, off := v.t.Zone(); off%900 == 0 && off/900+14*4 >= 0 && off/900+14*4 < len(quarterZones) {
		return quarterZones[off/900+14*4].name // what the concatenation below gives, without allocating
	}
	return v.zone[:3] + ":" + v.zone[3:]
}

func (v ts) dateTime() *dtpb.DateTime {
	return &dtpb.DateTime{ValueUs: v.t.UnixMicro(), Timezone: v.tz(), Precision: v.prec}
}

// date truncates to a FHIR date (at most day precision).
func (v ts) date() *dtpb.Date {
	p := dtpb.Date_DAY
	switch v.prec {
	case dtpb.DateTime_YEAR:
		p = dtpb.Date_YEAR
	case dtpb.DateTime_MONTH:
		p = dtpb.Date_MONTH
	}
	d := time.Date(v.t.Year(), v.t.Month(), v.t.Day(), 0, 0, 0, 0, time.UTC)
	return &dtpb.Date{ValueUs: d.UnixMicro(), Timezone: "Z", Precision: p}
}

// instant is set only for second precision or finer.
func (v ts) instant() *dtpb.Instant {
	if v.prec < dtpb.DateTime_SECOND {
		return nil
	}
	p := dtpb.Instant_SECOND
	switch v.prec {
	case dtpb.DateTime_MILLISECOND:
		p = dtpb.Instant_MILLISECOND
	case dtpb.DateTime_MICROSECOND:
		p = dtpb.Instant_MICROSECOND
	}
	return &dtpb.Instant{ValueUs: v.t.UnixMicro(), Timezone: v.tz(), Precision: p}
}

// ts parses the value attribute of a TS element.
func (c *conv) ts(e el) (ts, bool) {
	if e.null() {
		return ts{}, false
	}
	return parseTS(e.attr("value"), c.opts.Location)
}

func (c *conv) dateTime(e el) *dtpb.DateTime {
	v, ok := c.ts(e)
	if !ok {
		return nil
	}
	return v.dateTime()
}

// period maps an IVL_TS (low/high, or a single value as both ends).
func (c *conv) period(e el) *dtpb.Period {
	if !e.ok() {
		return nil
	}
	p := &dtpb.Period{Start: c.dateTime(e.child("low")), End: c.dateTime(e.child("high"))}
	if p.Start == nil && p.End == nil {
		if v := c.dateTime(e); v != nil {
			p.Start = v
			p.End = v
		} else if ctr := c.dateTime(e.child("center")); ctr != nil {
			p.Start = ctr
			p.End = ctr
		}
	}
	if p.Start == nil && p.End == nil {
		return nil
	}
	if p.Start != nil && p.End != nil && p.End.ValueUs < p.Start.ValueUs {
		p.End = nil // per-1: never produce an inverted period
	}
	return p
}

// timePoint returns an effectiveTime as a single date-time when it is one
// (value, or an interval with only low or low == high), else nil.
func (c *conv) timePoint(e el) *dtpb.DateTime {
	if v := c.dateTime(e); v != nil {
		return v
	}
	return nil
}

// decimal normalises a decimal string to FHIR's (and JSON's) number syntax:
// no sign '+', no leading zeros, no exponent, digits on both sides of the
// point. nil when s is not a number.
func decimal(s string) *dtpb.Decimal {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "+"))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if !allDigits(intPart) && intPart != "" || hasPoint && !allDigits(frac) || intPart == "" && frac == "" {
		return nil
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if hasPoint {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return &dtpb.Decimal{Value: out}
}

// quantity maps a PQ; units are UCUM.
func quantity(pq el) *dtpb.Quantity {
	v := decimal(pq.attr("value"))
	if v == nil {
		return nil
	}
	q := &dtpb.Quantity{Value: v}
	if u := strings.TrimSpace(pq.attr("unit")); u != "" {
		q.Unit = str(u)
		if !strings.ContainsAny(u, " \t") {
			q.System = uri(terminology.UCUM)
			q.Code = &dtpb.Code{Value: u}
		}
	}
	return q
}

func simpleQuantity(pq el) *dtpb.SimpleQuantity {
	q := quantity(pq)
	if q == nil {
		return nil
	}
	return &dtpb.SimpleQuantity{Value: q.Value, Unit: q.Unit, System: q.System, Code: q.Code}
}

// humanName maps a PN. CI-SIS marks the birth name with qualifier BR on
// family/given, the used family name (nom d'usage, often a spouse's) with
// SP and the used first name with CL (HL7 V3 EntityNamePartQualifier);
// they become an official and a usual name (FR Core Patient), never one
// family name made of both.
func humanName(pn el) []*dtpb.HumanName {
	if !pn.ok() || pn.null() && !pn.n().hasElement {
		return nil
	}
	if !pn.n().hasElement {
		if t := pn.text(); t != "" {
			return []*dtpb.HumanName{{Text: str(t)}}
		}
		return nil
	}
	base := &dtpb.HumanName{}
	if u := nameUse(pn.attr("use")); u != cpb.NameUseCode_INVALID_UNINITIALIZED {
		base.Use = &dtpb.HumanName_UseCode{Value: u}
	}
	// A spouse's family name is the used one only beside another (a birth
	// name): alone, as in C-CDA's examples, it is the name.
	families := 0
	pn.each("family", func(part el) {
		if part.text() != "" && part.isCDA() {
			families++
		}
	})
	var usual *dtpb.HumanName
	pn.each("", func(part el) {
		v := part.text()
		if v == "" || !part.isCDA() {
			return
		}
		target := base
		q := strings.Fields(part.attr("qualifier"))
		if slices.Contains(q, "CL") || (slices.Contains(q, "SP") && part.name() == "family" && families > 1) {
			if usual == nil {
				usual = &dtpb.HumanName{Use: &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_USUAL}}
			}
			target = usual
		} else if slices.Contains(q, "BR") && base.Use == nil {
			base.Use = &dtpb.HumanName_UseCode{Value: cpb.NameUseCode_OFFICIAL}
		}
		addNamePart(target, part.name(), v)
	})
	if usual != nil && usual.Family != nil && usual.Given == nil {
		usual.Given = base.Given // the used family name, with her first names
	}
	var out []*dtpb.HumanName
	for _, n := range []*dtpb.HumanName{base, usual} {
		if n != nil && (n.Family != nil || n.Given != nil || n.Prefix != nil || n.Suffix != nil) {
			out = append(out, n)
		}
	}
	return out
}

func addNamePart(n *dtpb.HumanName, part, v string) {
	switch part {
	case "family":
		if n.Family == nil {
			n.Family = str(v)
		} else {
			n.Family.Value += " " + v
		}
	case "given":
		// CI-SIS puts all birth first names in one given ("JEAN PAUL") and
		// the first one again with qualifier BR: keep them once.
		for _, g := range n.Given {
			if g.Value == v {
				return
			}
		}
		n.Given = append(n.Given, str(v))
	case "prefix":
		n.Prefix = append(n.Prefix, str(v))
	case "suffix":
		n.Suffix = append(n.Suffix, str(v))
	}
}

func nameUse(u string) cpb.NameUseCode_Value {
	switch firstUse(u) {
	case "L", "OR":
		return cpb.NameUseCode_OFFICIAL
	case "C":
		return cpb.NameUseCode_USUAL
	case "P", "A":
		return cpb.NameUseCode_NICKNAME
	case "ASGN":
		return cpb.NameUseCode_USUAL
	}
	return cpb.NameUseCode_INVALID_UNINITIALIZED
}

func names(e el) []*dtpb.HumanName {
	var out []*dtpb.HumanName
	e.each("name", func(pn el) { out = append(out, humanName(pn)...) })
	return out
}

// address maps an AD.
func address(ad el) *dtpb.Address {
	if !ad.ok() || ad.null() && !ad.n().hasElement {
		return nil
	}
	// One allocation for the Address and its single-valued parts.
	x := &struct {
		a                                                dtpb.Address
		city, state, postalCode, country, district, text dtpb.String
		use                                              dtpb.Address_UseCode
	}{}
	a := &x.a
	set := func(dst **dtpb.String, s *dtpb.String, v string) {
		s.Value = v
		*dst = s
	}
	var street []string
	ad.each("", func(p el) {
		v := p.text()
		if v == "" || !p.isCDA() {
			return
		}
		switch p.name() {
		case "streetAddressLine":
			a.Line = append(a.Line, str(v))
		case "houseNumber", "streetName", "unitID", "houseNumberNumeric", "direction", "streetNameBase", "streetNameType", "additionalLocator", "buildingNumberSuffix":
			street = append(street, v)
		case "postBox", "careOf", "deliveryAddressLine":
			a.Line = append(a.Line, str(v))
		case "city":
			set(&a.City, &x.city, v)
		case "state":
			set(&a.State, &x.state, v)
		case "postalCode":
			set(&a.PostalCode, &x.postalCode, v)
		case "country":
			set(&a.Country, &x.country, v)
		case "county":
			set(&a.District, &x.district, v)
		}
	})
	if len(street) > 0 {
		a.Line = append(a.Line, str(strings.Join(street, " ")))
	}
	if !ad.n().hasElement {
		if t := ad.text(); t != "" {
			set(&a.Text, &x.text, t)
		}
	}
	if a.Line == nil && a.City == nil && a.State == nil && a.PostalCode == nil && a.Country == nil && a.District == nil && a.Text == nil {
		return nil
	}
	use := func(u cpb.AddressUseCode_Value) { x.use.Value = u; a.Use = &x.use }
	switch firstUse(ad.attr("use")) {
	case "H", "HP", "HV":
		use(cpb.AddressUseCode_HOME)
	case "WP", "DIR", "PUB":
		use(cpb.AddressUseCode_WORK)
	case "TMP":
		use(cpb.AddressUseCode_TEMP)
	case "BAD", "OLD":
		use(cpb.AddressUseCode_OLD)
	}
	return a
}

func addresses(e el) []*dtpb.Address {
	var out []*dtpb.Address
	e.each("addr", func(ad el) {
		if a := address(ad); a != nil {
			out = append(out, a)
		}
	})
	return out
}

// telecom maps a TEL URL (tel:, mailto:, fax:, http:).
func telecom(tel el) *dtpb.ContactPoint {
	v := strings.TrimSpace(tel.attr("value"))
	if v == "" {
		return nil
	}
	scheme, rest, found := strings.Cut(v, ":")
	sys := cpb.ContactPointSystemCode_OTHER
	switch strings.ToLower(scheme) {
	case "tel":
		sys = cpb.ContactPointSystemCode_PHONE
	case "fax":
		sys = cpb.ContactPointSystemCode_FAX
	case "mailto":
		sys = cpb.ContactPointSystemCode_EMAIL
	case "http", "https":
		sys, rest = cpb.ContactPointSystemCode_URL, v
	default:
		rest = v
	}
	if !found {
		rest = v
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return nil
	}
	// One allocation for the ContactPoint and its elements.
	x := &struct {
		cp     dtpb.ContactPoint
		system dtpb.ContactPoint_SystemCode
		value  dtpb.String
		use    dtpb.ContactPoint_UseCode
	}{}
	cp := &x.cp
	x.system.Value, x.value.Value = sys, rest
	cp.System, cp.Value = &x.system, &x.value
	use := func(u cpb.ContactPointUseCode_Value) { x.use.Value = u; cp.Use = &x.use }
	switch firstUse(tel.attr("use")) {
	case "H", "HP", "HV":
		use(cpb.ContactPointUseCode_HOME)
	case "WP", "DIR", "PUB", "AS", "EC":
		use(cpb.ContactPointUseCode_WORK)
	case "MC", "PG":
		use(cpb.ContactPointUseCode_MOBILE)
	case "TMP":
		use(cpb.ContactPointUseCode_TEMP)
	}
	return cp
}

func telecoms(e el) []*dtpb.ContactPoint {
	var out []*dtpb.ContactPoint
	e.each("telecom", func(t el) {
		if cp := telecom(t); cp != nil {
			out = append(out, cp)
		}
	})
	return out
}

// note turns free text into an Annotation list.
func note(s string) []*dtpb.Annotation {
	if s == "" {
		return nil
	}
	return []*dtpb.Annotation{{Text: &dtpb.Markdown{Value: s}}}
}

// firstUse returns the first of the space-separated codes of a use
// attribute, or "x" when there is none: strings.Fields(u + " x")[0], without
// allocating.
func firstUse(u string) string {
	u = strings.TrimLeftFunc(u, unicode.IsSpace)
	if u == "" {
		return "x"
	}
	if i := strings.IndexFunc(u, unicode.IsSpace); i >= 0 {
		return u[:i]
	}
	return u
}
