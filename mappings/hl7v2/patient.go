package hl7v2

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	rppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/related_person_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

// FR Core identity reliability (PID-32, IHE PAM France).
const (
	identityReliabilityURL = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
	identityStatusSystem   = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0445"
	mothersMaidenNameURL   = "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName"
	birthPlaceURL          = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
)

// pidMapped lists the PID fields mapPatient reads.
var pidMapped = []int{1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 14, 16, 23, 24, 25, 29, 30, 32}

// mapPatient maps PID to the Patient. Its id comes from the sender's own
// patient identifier: the first PID-3 repetition typed PI or MR, else the
// first PID-3, PID-2 or PID-4 identifier.
func (c *conv) mapPatient(pid *er7.Segment) error {
	p := &ppb.Patient{}
	var key []string
	for _, f := range []int{3, 2, 4} {
		for r := range pid.Field(f).Repetitions() {
			id, a := c.cx(r)
			if id == nil {
				continue
			}
			p.Identifier = append(p.Identifier, id)
			typ := strings.ToUpper(text(r.Comp(5)))
			if key == nil || (f == 3 && (typ == "PI" || typ == "MR") && !strongKey(key)) {
				key = []string{authorityKey(a, c.scope), id.Value.Value, typ}
			}
		}
	}
	if key == nil {
		return &er7.Error{Loc: pid.Loc(3), Offset: -1, Condition: er7.RequiredFieldMissing, Reason: "no patient identifier in PID-3"}
	}
	supersedeNIA(p.Identifier)
	c.patientID = c.b.ID("Patient", key[0], key[1])
	p.Id = &dtpb.Id{Value: c.patientID}
	c.demographics(pid, p)
	c.patient = p
	c.h.Patient = c.put(p)
	c.unmapped(pid, pidMapped...)
	return nil
}

// supersededNIA maps each INS-NIR system to the INS-NIA it replaces.
var supersededNIA = map[string]string{
	terminology.INSNIR:     terminology.INSNIA,
	terminology.INSNIRTest: terminology.INSNIATest,
}

// supersedeNIA marks old the INS-NIA of a patient whose INS-NIR is among
// ids: when a NIR is attributed, PID-3 may carry both, and the receiver
// must take the NIR as her INS (IHE PAM France section 4.4.1).
func supersedeNIA(ids []*dtpb.Identifier) {
	for _, nir := range ids {
		nia, ok := supersededNIA[nir.GetSystem().GetValue()]
		if !ok {
			continue
		}
		for _, id := range ids {
			if id.GetSystem().GetValue() == nia {
				id.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OLD}
			}
		}
	}
}

// birthAddress reads the birth place among the addresses of PID-11: the
// one of type BDL (birth delivery location), whose XAD-9 IHE France
// gives the INSEE (COG) code of the commune of birth, or of the country
// for a person born abroad (ITI Appendix N France, XAD-9): one of the
// traits of the INS (ANS Référentiel INS): a commune's code as FR Core's
// INSEE code extension (conv.inseeCode).
func (c *conv) birthAddress(f er7.Value) *dtpb.Address {
	for r := range f.Repetitions() {
		if !strings.EqualFold(text(r.Comp(7)), "BDL") {
			continue
		}
		a := &dtpb.Address{City: c.str(text(r.Comp(3))), PostalCode: c.str(text(r.Comp(5))), Country: c.str(text(r.Comp(6)))}
		if x := c.inseeCode(text(r.Comp(9)), text(r.Comp(6))); x != nil {
			a.Extension = append(a.Extension, x)
		}
		if a.City == nil && a.PostalCode == nil && a.Country == nil && a.Extension == nil {
			return nil
		}
		return a
	}
	return nil
}

// inseeCode is FR Core's INSEE code extension of an address whose XAD-9
// (county) is a French commune's code in the INSEE COG, as IHE France
// sends it (ITI Appendix N France, XAD-9): five characters, the
// département's two (2A, 2B in Corsica) or three (97x overseas) first,
// in France, or with no country in a French message (MSH-17 or MSH-12's
// internationalization code FRA: elsewhere five digits may be a US
// county's FIPS code); nil otherwise (a foreign country's COG code is 99
// then three digits).
func (c *conv) inseeCode(code, country string) *dtpb.Extension {
	switch strings.ToUpper(country) {
	case "FRA", "FR", "FRANCE":
	case "":
		msh := c.msg.MSH()
		if !strings.EqualFold(text(msh.Field(17)), "FRA") && !strings.EqualFold(text(msh.Field(12).Comp(2)), "FRA") {
			return nil
		}
	default:
		return nil
	}
	if len(code) != 5 || strings.HasPrefix(code, "99") || !isDigits(code[2:]) ||
		!isDigits(code[:2]) && !strings.EqualFold(code[:2], "2A") && !strings.EqualFold(code[:2], "2B") {
		return nil
	}
	return &dtpb.Extension{
		Url: &dtpb.Uri{Value: terminology.AddressINSEE},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{
			System: &dtpb.Uri{Value: terminology.TRER13}, Code: &dtpb.Code{Value: strings.ToUpper(code)}}}},
	}
}

// strongKey: the key already comes from a PI/MR identifier.
func strongKey(key []string) bool { return key[2] == "PI" || key[2] == "MR" }

func authorityKey(a authority, scope string) string {
	if a.key != "" {
		return a.key
	}
	return scope
}

func (c *conv) demographics(pid *er7.Segment, p *ppb.Patient) {
	for r := range pid.Field(5).Repetitions() {
		if n := c.humanName(r, 1, 7); n != nil {
			p.Name = append(p.Name, n)
		}
	}
	if m := text(pid.Field(6).Comp(1).Sub(1)); m != "" {
		p.Extension = append(p.Extension, &dtpb.Extension{
			Url:   &dtpb.Uri{Value: mothersMaidenNameURL},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: m}}},
		})
	}
	if t, ok := c.dtm(pid, 7); ok {
		p.BirthDate = t.date()
	}
	born := c.birthAddress(pid.Field(11))
	if place := text(pid.Field(23)); place != "" {
		if born == nil {
			born = &dtpb.Address{}
		}
		if born.City == nil {
			born.City = c.str(place)
		}
	}
	if born != nil {
		p.Extension = append(p.Extension, &dtpb.Extension{
			Url:   &dtpb.Uri{Value: birthPlaceURL},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Address{Address: born}},
		})
	}
	if g, ok := genders[strings.ToUpper(text(pid.Field(8)))]; ok {
		p.Gender = &ppb.Patient_GenderCode{Value: g}
	}
	for r := range pid.Field(11).Repetitions() {
		if a := c.address(r); a != nil {
			p.Address = append(p.Address, a)
		}
	}
	p.Telecom = append(c.telecoms(pid.Field(13), cpb.ContactPointUseCode_HOME), c.telecoms(pid.Field(14), cpb.ContactPointUseCode_WORK)...)
	p.MaritalStatus = c.maritalStatus(text(pid.Field(16)))
	c.birthAndDeath(pid, p)
	p.Extension = append(p.Extension, c.identityReliability(pid.Field(32))...)
}

func (c *conv) telecoms(v er7.Value, use cpb.ContactPointUseCode_Value) []*dtpb.ContactPoint {
	var out []*dtpb.ContactPoint
	for r := range v.Repetitions() {
		if t := c.telecom(r, use); t != nil {
			out = append(out, t)
		}
	}
	return out
}

var genders = map[string]cpb.AdministrativeGenderCode_Value{
	"M": cpb.AdministrativeGenderCode_MALE, "F": cpb.AdministrativeGenderCode_FEMALE,
	"O": cpb.AdministrativeGenderCode_OTHER, "A": cpb.AdministrativeGenderCode_OTHER,
	"U": cpb.AdministrativeGenderCode_UNKNOWN, "N": cpb.AdministrativeGenderCode_UNKNOWN,
}

// maritalStatus maps HL7 table 0002 to v3-MaritalStatus.
func (c *conv) maritalStatus(code string) *dtpb.CodeableConcept {
	var v3 string
	switch strings.ToUpper(code) {
	case "M", "S", "D", "W", "C", "I":
		v3 = strings.ToUpper(code)
	case "A":
		v3 = "L"
	case "P":
		v3 = "T"
	case "U":
		v3 = "UNK"
	default:
		return nil
	}
	return c.a.conceptOf("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", v3, "")
}

// birthAndDeath maps multiple birth (PID-24/25) and death (PID-29/30).
func (c *conv) birthAndDeath(pid *er7.Segment, p *ppb.Patient) {
	if order := text(pid.Field(25)); isDigits(order) {
		n := int32(0)
		for _, d := range order {
			n = n*10 + int32(d-'0')
		}
		p.MultipleBirth = &ppb.Patient_MultipleBirthX{Choice: &ppb.Patient_MultipleBirthX_Integer{Integer: &dtpb.Integer{Value: n}}}
	} else if yn := strings.ToUpper(text(pid.Field(24))); yn == "Y" || yn == "N" {
		p.MultipleBirth = &ppb.Patient_MultipleBirthX{Choice: &ppb.Patient_MultipleBirthX_Boolean{Boolean: &dtpb.Boolean{Value: yn == "Y"}}}
	}
	yn := strings.ToUpper(text(pid.Field(30)))
	if pid.Field(30).Null() && text(pid.Field(29)) == "" {
		// HL7 v2.5 section 2.5.3: the null deletes the stored value,
		// where an absent field leaves it. The death indicator deleted
		// (a death reported in error, corrected) is stated as not
		// deceased: the identity merge keeps what a stored Patient has
		// and an incoming one lacks.
		p.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_Boolean{Boolean: &dtpb.Boolean{Value: false}}}
		return
	}
	if t, ok := c.dtm(pid, 29); ok {
		p.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{DateTime: c.dateTime(t)}}
	} else if yn == "Y" || yn == "N" {
		p.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_Boolean{Boolean: &dtpb.Boolean{Value: yn == "Y"}}}
	}
}

// identityReliability maps each PID-32 code (VIDE, PROV, VALI, DOUTE,
// FICTI, ...) to an FR Core identity-reliability extension.
func (c *conv) identityReliability(v er7.Value) []*dtpb.Extension {
	var out []*dtpb.Extension
	for r := range v.Repetitions() {
		code := strings.ToUpper(text(r.Comp(1)))
		if code == "" {
			continue
		}
		out = append(out, &dtpb.Extension{
			Url: &dtpb.Uri{Value: identityReliabilityURL},
			Extension: []*dtpb.Extension{{
				Url: &dtpb.Uri{Value: "identityStatus"},
				Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Coding{Coding: &dtpb.Coding{
					System: &dtpb.Uri{Value: identityStatusSystem}, Code: &dtpb.Code{Value: code},
				}}}},
			},
		})
	}
	return out
}

// mapPD1: PD1-4 (primary care provider) and PD1-3 (primary facility)
// become Patient.generalPractitioner; PD1-12 = Y (protection indicator)
// restricts everything the message gives.
func (c *conv) mapPD1(s *er7.Segment) {
	for r := range s.Field(3).Repetitions() {
		c.addGP(c.organization(r))
	}
	for r := range s.Field(4).Repetitions() {
		c.addGP(c.practitioner(r))
	}
	if strings.EqualFold(text(s.Field(12)), "Y") {
		c.restricted = true
	}
	c.unmapped(s, 3, 4, 12)
}

// primaryCareRoles are ROL-3 codes for the patient's own doctor: PP
// (primary care provider, HL7 table 0443), ODRP (médecin traitant, IHE PAM
// France) and FHCP (family health care professional).
var primaryCareRoles = map[string]bool{"PP": true, "ODRP": true, "FHCP": true}

// mapROL: a primary-care ROL becomes Patient.generalPractitioner; other
// roles join the Encounter's participants.
func (c *conv) mapROL(s *er7.Segment) {
	if strings.EqualFold(text(s.Field(2)), "DE") { // the role is being removed
		return
	}
	role := strings.ToUpper(text(s.Field(3).Comp(1)))
	for r := range s.Field(4).Repetitions() {
		ref := c.practitioner(r)
		switch {
		case ref == nil:
		case primaryCareRoles[role]:
			c.addGP(ref)
		case c.encounter != nil:
			c.addParticipant(c.concept(s.Field(3)), ref)
		default:
			c.warn(s, 3, "role without an encounter not mapped")
		}
	}
	c.unmapped(s, 1, 2, 3, 4)
}

// addGP adds the provider ref names as a general practitioner: the person
// (bundle.Builder.GeneralPractitioner), so that a PRD's PP role and a PD1
// or ROL practitioner name her alike.
func (c *conv) addGP(ref *dtpb.Reference) {
	if ref == nil {
		return
	}
	ref = c.b.GeneralPractitioner(ref)
	want := resource.RefString(ref)
	for _, g := range c.patient.GeneralPractitioner {
		if resource.RefString(g) == want {
			return
		}
	}
	c.patient.GeneralPractitioner = append(c.patient.GeneralPractitioner, ref)
}

var nk1Mapped = []int{1, 2, 3, 4, 5, 6, 7, 15, 16}

// mapNK1 maps a next of kin or associated party to a RelatedPerson,
// labelled ADM and SOC (carers and family are social information).
func (c *conv) mapNK1(s *er7.Segment) {
	rp := &rppb.RelatedPerson{Patient: resource.Ref("Patient", c.patientID)}
	for r := range s.Field(2).Repetitions() {
		if n := c.humanName(r, 1, 7); n != nil {
			rp.Name = append(rp.Name, n)
		}
	}
	if len(rp.Name) == 0 {
		c.warn(s, 2, "next of kin without a person name not mapped")
		return
	}
	for _, rel := range []*dtpb.CodeableConcept{c.tableConcept(s.Field(3), "0063"), c.tableConcept(s.Field(7), "0131")} {
		if rel != nil {
			rp.Relationship = append(rp.Relationship, rel)
		}
	}
	for r := range s.Field(4).Repetitions() {
		if a := c.address(r); a != nil {
			rp.Address = append(rp.Address, a)
		}
	}
	rp.Telecom = append(c.telecoms(s.Field(5), cpb.ContactPointUseCode_HOME), c.telecoms(s.Field(6), cpb.ContactPointUseCode_WORK)...)
	if g, ok := genders[strings.ToUpper(text(s.Field(15)))]; ok {
		rp.Gender = &rppb.RelatedPerson_GenderCode{Value: g}
	}
	if t, ok := c.dtm(s, 16); ok {
		rp.BirthDate = t.date()
	}
	n := rp.Name[0]
	rp.Id = c.a.id(c.b.ID("RelatedPerson", c.patientID, n.GetFamily().GetValue(), givenOf(n)))
	c.put(rp, category.ADM, category.SOC)
	c.unmapped(s, nk1Mapped...)
}
