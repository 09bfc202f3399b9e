package hl7v2

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

// HL7 v2 data types to FHIR R4 data types, after the v2-to-FHIR guide's
// datatype maps (CX[Identifier], XPN[HumanName], XAD[Address],
// XTN[ContactPoint], CWE[CodeableConcept]).

func (c *conv) str(s string) *dtpb.String {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return c.a.string(s)
}

func text(v er7.Value) string { return strings.TrimSpace(v.String()) }

// v2System is the canonical URI of HL7 table nnnn.
func v2System(table string) string {
	if uri, ok := v2Systems[table]; ok {
		return uri
	}
	return v2SystemPrefix + table
}

const v2SystemPrefix = "http://terminology.hl7.org/CodeSystem/v2-"

// v2Systems holds the URIs of the tables the mapping names, made once.
var v2Systems = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{"0007", "0023", "0063", "0069", "0092", "0099", "0112", "0131", "0203", "0270"} {
		m[t] = v2SystemPrefix + t
	}
	return m
}()

// codingSystems maps HL7 table 0396 coding-system names to FHIR URIs.
var codingSystems = map[string]string{
	"LN": terminology.LOINC, "LOINC": terminology.LOINC,
	"SCT": terminology.SNOMED, "SNM": terminology.SNOMED, "SNM3": terminology.SNOMED, "SNOMED": terminology.SNOMED, "SNOMED-CT": terminology.SNOMED,
	"I10": terminology.ICD10, "ICD10": terminology.ICD10, "ICD-10": terminology.ICD10,
	"CIM10": terminology.CIM10, "CIM-10": terminology.CIM10,
	"I10C": terminology.ICD10CM, "ICD10CM": terminology.ICD10CM,
	"I9": terminology.ICD9CM, "I9C": terminology.ICD9CM, "I9CM": terminology.ICD9CM,
	"CCAM": terminology.CCAM, "ATC": terminology.ATC, "WC": terminology.ATC,
	"UCUM": terminology.UCUM, "RXNORM": terminology.RxNorm, "CVX": terminology.CVX,
	"NDC": terminology.NDC, "C4": terminology.CPT, "CPT": terminology.CPT, "CIS": terminology.CIS,
	"DCM": "http://dicom.nema.org/resources/ontology/DCM",
}

// longestCodingSystem is the length of the longest name in codingSystems:
// longer names (URIs, OIDs) need no upper-casing to be looked up.
var longestCodingSystem = func() int {
	n := 0
	for name := range codingSystems {
		n = max(n, len(name))
	}
	return n
}()

// codingSystem resolves a coding-system name: table 0396 names, HL7
// tables ("HL70112"), OIDs and URIs. ok is false for local names.
func codingSystem(name string) (string, bool) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", false
	}
	if len(n) <= longestCodingSystem {
		if uri, ok := codingSystems[strings.ToUpper(n)]; ok {
			return uri, true
		}
	}
	if len(n) == 7 && strings.EqualFold(n[:3], "HL7") && isDigits(n[3:]) {
		return v2System(n[3:]), true
	}
	if isOID(n) {
		return systemForOID(n), true
	}
	if strings.HasPrefix(n, "http://") || strings.HasPrefix(n, "https://") || strings.HasPrefix(n, "urn:") {
		return n, true
	}
	return "", false
}

// systemForOID also knows FINESS, which terminology does not list yet.
func systemForOID(oid string) string {
	if oid == "1.2.250.1.71.4.2.2" {
		return terminology.FINESS
	}
	return terminology.SystemForOID(oid)
}

// isFINESS reports whether s is a FINESS number: nine characters, the
// département's two (2A and 2B for Corsica) then seven digits.
func isFINESS(s string) bool {
	if len(s) != 9 || !isDigits(s[2:]) {
		return false
	}
	return isDigits(s[:2]) || strings.EqualFold(s[:2], "2A") || strings.EqualFold(s[:2], "2B")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isOID: digits in dot-separated arcs, at least two of them.
func isOID(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || !strings.Contains(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '.':
			if s[i-1] == '.' {
				return false
			}
		case s[i] < '0' || s[i] > '9':
			return false
		}
	}
	return true
}

// coding builds a Coding; system is a 0396 name or URI, resolved here.
func (c *conv) coding(code, display, system string) *dtpb.Coding {
	code, display = strings.TrimSpace(code), strings.TrimSpace(display)
	if code == "" {
		return nil
	}
	uri, _ := codingSystem(system)
	return c.a.codingOf(uri, code, display)
}

// concept reads a CE/CWE/CNE: the primary and alternate codings, and the
// text when there is no code.
func (c *conv) concept(v er7.Value) *dtpb.CodeableConcept {
	first := c.coding(text(v.Comp(1)), text(v.Comp(2)), text(v.Comp(3)))
	alt := c.coding(text(v.Comp(4)), text(v.Comp(5)), text(v.Comp(6)))
	t := text(v.Comp(9)) // CWE-9 original text
	if first == nil && alt == nil && t == "" {
		if t = text(v.Comp(2)); t == "" {
			t = text(v.Comp(1))
		}
	}
	if first == nil && alt == nil && t == "" {
		return nil
	}
	cc := c.a.concepts.new()
	switch {
	case first != nil && alt != nil:
		cc.Coding = []*dtpb.Coding{first, alt}
	case first != nil:
		cc.Coding = c.a.codingList.one(first)
	case alt != nil:
		cc.Coding = c.a.codingList.one(alt)
	}
	if t != "" {
		cc.Text = c.a.string(t)
	}
	return cc
}

// tableConcept is a code from HL7 table nnnn (an ID or IS field, or a CWE
// without a coding system).
func (c *conv) tableConcept(v er7.Value, table string) *dtpb.CodeableConcept {
	code := text(v.Comp(1))
	if code == "" {
		return nil
	}
	sys, ok := codingSystem(text(v.Comp(3)))
	if !ok {
		sys = v2System(table)
	}
	return c.a.conceptOf(sys, code, text(v.Comp(2)))
}

// authority reads an HD (as components or subcomponents): the identifier
// system it stands for, if any, and a key that names it for resource ids.
type authority struct {
	system, namespace, key string
}

// knownNamespaces gives systems for assigning authorities senders name
// without an OID.
var knownNamespaces = map[string]string{
	"NHSNBR": "https://fhir.nhs.uk/Id/nhs-number", "NHS": "https://fhir.nhs.uk/Id/nhs-number",
	"SS": "http://hl7.org/fhir/sid/us-ssn", "SSA": "http://hl7.org/fhir/sid/us-ssn", "USSSA": "http://hl7.org/fhir/sid/us-ssn",
	"NPI": "http://hl7.org/fhir/sid/us-npi", "RPPS": terminology.RPPS, "FINESS": terminology.FINESS,
}

// EstablishmentAuthority is the system of the identifiers an
// establishment assigns (a patient number, a visit number) when an HL7 v2
// sender names their assigning authority by its FINESS number: in France
// the universal ID types M and N of an HD are a FINESS-EJ (legal entity)
// and a FINESS-EG (site) number (IHE ITI Appendix N France, HD and table
// 0301: 123456789^^^AUT-AFFECTATION&120456789&M^PI). No national system
// names such identifiers; this one, followed by "ej/" or "eg/" and the
// number, is the same for every application of the establishment, so
// that their identifiers link.
const EstablishmentAuthority = "https://relais-health.github.io/fhir/sid/finess-"

func hdOf(namespace, universal, typ string) authority {
	a := authority{namespace: strings.TrimSpace(namespace)}
	universal = strings.TrimSpace(universal)
	switch {
	case universal != "" && isOID(universal):
		a.system = systemForOID(universal)
	case (strings.EqualFold(typ, "M") || strings.EqualFold(typ, "N")) && isFINESS(universal):
		kind := "ej/"
		if strings.EqualFold(typ, "N") {
			kind = "eg/"
		}
		a.system = EstablishmentAuthority + kind + strings.ToUpper(universal)
	case universal != "" && (strings.EqualFold(typ, "URI") || strings.HasPrefix(universal, "http")):
		a.system = universal
	case a.namespace != "":
		a.system = knownNamespaces[strings.ToUpper(a.namespace)]
	}
	a.key = a.system
	if a.key == "" {
		a.key = "ns:" + a.namespace
	}
	if a.system == "" && a.namespace == "" {
		a.key = ""
	}
	return a
}

// hdSubs reads an HD held in the subcomponents of one component (CX-4, XCN-9).
func hdSubs(v er7.Value) authority {
	return hdOf(text(v.Sub(1)), text(v.Sub(2)), text(v.Sub(3)))
}

// hdComps reads an HD that is a whole field (MSH-4).
func hdComps(v er7.Value) authority {
	return hdOf(text(v.Comp(1)), text(v.Comp(2)), text(v.Comp(3)))
}

// identifier builds an Identifier from an id, its authority and its type
// code (table 0203).
func (c *conv) identifier(value string, a authority, typ string) *dtpb.Identifier {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil
	}
	id := c.a.identifiers.new()
	id.Value = c.a.string(value)
	if a.system != "" {
		id.System = c.a.uri(a.system)
	} else if a.namespace != "" {
		id.Assigner = &dtpb.Reference{Display: c.str(a.namespace)}
	}
	if typ = strings.TrimSpace(typ); typ != "" {
		id.Type = c.identifierType(typ, a.system)
	}
	return id
}

// The FR Core identifier types for INS (fr-core-cs-v2-0203), by INS OID.
const frCoreIdentifierTypes = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"

var insTypes = map[string]string{
	terminology.INSNIR: "INS-NIR", terminology.INSNIA: "INS-NIA", terminology.INSNIRTest: "INS-NIR-TEST",
	terminology.INSNIATest: "INS-NIA-TEST",
}

func (c *conv) identifierType(code, system string) *dtpb.CodeableConcept {
	if ins, ok := insTypes[system]; ok {
		return c.a.conceptOf(frCoreIdentifierTypes, ins, "")
	}
	if !v2IdentifierTypes[strings.ToUpper(code)] {
		return c.a.textConcept(code)
	}
	return c.a.conceptOf(v2System("0203"), strings.ToUpper(code), "")
}

// v2IdentifierTypes are the common codes of HL7 table 0203; others (RPPS,
// ADELI, local codes) are kept as text.
var v2IdentifierTypes = map[string]bool{
	"MR": true, "PI": true, "PT": true, "AN": true, "VN": true, "SS": true, "NI": true, "NH": true,
	"DL": true, "PPN": true, "DN": true, "NPI": true, "MD": true, "PRN": true, "EI": true, "XX": true,
	"FI": true, "TAX": true, "PN": true, "BC": true, "BR": true, "MC": true, "MA": true, "RRI": true,
	"PLAC": true, "FILL": true,
}

// cx reads one CX repetition.
func (c *conv) cx(v er7.Value) (*dtpb.Identifier, authority) {
	a := hdSubs(v.Comp(4))
	id := c.identifier(text(v.Comp(1)), a, text(v.Comp(5)))
	if id != nil {
		if _, ins := insTypes[a.system]; ins {
			id.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OFFICIAL}
		}
	}
	return id, a
}

var nameUses = map[string]cpb.NameUseCode_Value{
	"L": cpb.NameUseCode_OFFICIAL, "B": cpb.NameUseCode_OFFICIAL, "D": cpb.NameUseCode_USUAL,
	"A": cpb.NameUseCode_USUAL, "M": cpb.NameUseCode_MAIDEN, "N": cpb.NameUseCode_NICKNAME,
	"S": cpb.NameUseCode_ANONYMOUS, "T": cpb.NameUseCode_TEMP, "C": cpb.NameUseCode_OLD,
}

// humanName reads an XPN repetition (also the name part of an XCN,
// starting at component first: 1 for XPN, 2 for XCN).
func (c *conv) humanName(v er7.Value, first int, typeComp int) *dtpb.HumanName {
	family := text(v.Comp(first).Sub(1))
	g1, g2 := text(v.Comp(first+1)), text(v.Comp(first+2))
	if g2 == g1 {
		g2 = ""
	}
	if g1 == "" {
		g1, g2 = g2, ""
	}
	if family == "" && g1 == "" {
		return nil
	}
	n := c.a.names.new()
	if family != "" {
		n.Family = c.a.string(family)
	}
	switch {
	case g2 != "":
		n.Given = []*dtpb.String{c.a.string(g1), c.a.string(g2)}
	case g1 != "":
		n.Given = c.a.stringList.one(c.a.string(g1))
	}
	if s := text(v.Comp(first + 3)); s != "" {
		n.Suffix = c.a.stringList.one(c.a.string(s))
	}
	if p := text(v.Comp(first + 4)); p != "" {
		n.Prefix = c.a.stringList.one(c.a.string(p))
	}
	if u, ok := nameUses[strings.ToUpper(text(v.Comp(typeComp)))]; ok {
		n.Use = &dtpb.HumanName_UseCode{Value: u}
	}
	return n
}

// address reads an XAD repetition. Birth places (types BDL, BR) are not
// addresses of the person and give nil.
func (c *conv) address(v er7.Value) *dtpb.Address {
	city, state, postal, country := text(v.Comp(3)), text(v.Comp(4)), text(v.Comp(5)), text(v.Comp(6))
	l1, l2 := text(v.Comp(1).Sub(1)), text(v.Comp(2))
	if city == "" && state == "" && postal == "" && country == "" && l1 == "" && l2 == "" {
		return nil
	}
	var use cpb.AddressUseCode_Value
	var typ cpb.AddressTypeCode_Value
	switch strings.ToUpper(text(v.Comp(7))) {
	case "BDL", "BR", "N":
		return nil
	case "H", "P":
		use = cpb.AddressUseCode_HOME
	case "B", "O":
		use = cpb.AddressUseCode_WORK
	case "C":
		use = cpb.AddressUseCode_TEMP
	case "BA":
		use = cpb.AddressUseCode_OLD
	case "M":
		typ = cpb.AddressTypeCode_POSTAL
	}
	a := c.a.addresses.new()
	a.City, a.State, a.PostalCode, a.Country = c.str(city), c.str(state), c.str(postal), c.str(country)
	a.District = c.str(text(v.Comp(9)))
	if x := c.inseeCode(text(v.Comp(9)), country); x != nil {
		// what routing reads to place the patient (gateway/directory)
		a.Extension = append(a.Extension, x)
	}
	switch {
	case l1 != "" && l2 != "":
		a.Line = []*dtpb.String{c.a.string(l1), c.a.string(l2)}
	case l1 != "":
		a.Line = c.a.stringList.one(c.a.string(l1))
	case l2 != "":
		a.Line = c.a.stringList.one(c.a.string(l2))
	}
	if use != cpb.AddressUseCode_INVALID_UNINITIALIZED {
		a.Use = &dtpb.Address_UseCode{Value: use}
	}
	if typ != cpb.AddressTypeCode_INVALID_UNINITIALIZED {
		a.Type = &dtpb.Address_TypeCode{Value: typ}
	}
	return a
}

// telecom reads an XTN repetition; use is the default ContactPoint.use for
// the field (home for PID-13, work for PID-14).
func (c *conv) telecom(v er7.Value, use cpb.ContactPointUseCode_Value) *dtpb.ContactPoint {
	equip := strings.ToUpper(text(v.Comp(3)))
	kind := strings.ToUpper(text(v.Comp(2)))
	var system cpb.ContactPointSystemCode_Value
	value := ""
	switch {
	case equip == "INTERNET" || equip == "X.400" || kind == "NET":
		system = cpb.ContactPointSystemCode_EMAIL
		value = text(v.Comp(4))
	case equip == "FX":
		system = cpb.ContactPointSystemCode_FAX
	case equip == "BP" || kind == "BPN":
		system = cpb.ContactPointSystemCode_PAGER
	default:
		system = cpb.ContactPointSystemCode_PHONE
	}
	if value == "" {
		value = phoneNumber(v)
	}
	if value == "" {
		return nil
	}
	switch {
	case equip == "CP":
		use = cpb.ContactPointUseCode_MOBILE
	case kind == "WPN":
		use = cpb.ContactPointUseCode_WORK
	case kind == "PRN" || kind == "ORN":
		use = cpb.ContactPointUseCode_HOME
	case kind == "VHN":
		use = cpb.ContactPointUseCode_TEMP
	}
	e := c.a.contacts.new()
	e.system.Value, e.value.Value = system, value
	e.cp.System, e.cp.Value = &e.system, &e.value
	if use != cpb.ContactPointUseCode_INVALID_UNINITIALIZED {
		e.use.Value = use
		e.cp.Use = &e.use
	}
	return &e.cp
}

// phoneNumber: XTN-12 unformatted number, else +country (area) local
// xextension, else the v2.3 free-text XTN-1.
func phoneNumber(v er7.Value) string {
	if s := text(v.Comp(12)); s != "" {
		return s
	}
	if local := text(v.Comp(7)); local != "" {
		var b strings.Builder
		if c := text(v.Comp(5)); c != "" {
			b.WriteString("+" + strings.TrimPrefix(c, "+") + " ")
		}
		if a := text(v.Comp(6)); a != "" {
			b.WriteString("(" + a + ") ")
		}
		b.WriteString(local)
		if x := text(v.Comp(8)); x != "" {
			b.WriteString(" x" + x)
		}
		return b.String()
	}
	return text(v.Comp(1))
}
