package cda

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	devpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/device_go_proto"
	orgpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/organization_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	pracpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/practitioner_role_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/terminology"
)

// The CDA header (CDA R2 §4.2): the patient, the people and organisations
// around the document.

// French identity codes (ANS, "Référentiel INS"): the INS is carried as an
// identifier whose type says which kind it is.
const (
	frIdentifierType = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
	birthPlaceURL    = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
	v2RelationType   = "http://terminology.hl7.org/CodeSystem/v2-0131"
	// asipProfession is the CI-SIS code system of "profession/speciality"
	// codes such as G15_10/SM26 (physician, general medicine).
	asipProfession = "1.2.250.1.213.1.1.4.5"
	treR38         = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
)

var insTypes = map[string]string{
	"1.2.250.1.213.1.4.8":  "INS-NIR",
	"1.2.250.1.213.1.4.9":  "INS-NIA",
	"1.2.250.1.213.1.4.10": "INS-NIR-TEST",
	"1.2.250.1.213.1.4.11": "INS-NIA-TEST",
}

// patient maps recordTarget/patientRole. The Patient's id comes from its
// INS when it has one, else from its first identifier, so that documents
// about the same person update one Patient.
func (c *conv) patient() {
	pr := c.root.path("recordTarget", "patientRole")
	pat := pr.child("patient")
	p := &ppb.Patient{}
	var insKey, firstKey []string
	pr.each("id", func(ii el) {
		id := identifier(ii)
		if id == nil {
			return
		}
		k := []string{"Patient", ii.attr("root"), ii.attr("extension")}
		if typ, ok := insTypes[ii.attr("root")]; ok && ii.attr("extension") != "" {
			id.Use = &dtpb.Identifier_UseCode{Value: cpb.IdentifierUseCode_OFFICIAL}
			id.Type = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: uri(frIdentifierType), Code: &dtpb.Code{Value: typ}}}}
			if insKey == nil {
				insKey = k
			}
		} else if firstKey == nil && ii.attr("extension") != "" {
			firstKey = k
		}
		p.Identifier = append(p.Identifier, id)
	})
	key := insKey
	if key == nil {
		key = firstKey
	}
	if key == nil {
		key = append([]string{"Patient", "doc"}, c.setKey...)
	}
	c.patientID = bundle.ID(key...)
	p.Id = &dtpb.Id{Value: c.patientID}
	p.Name = names(pat)
	p.Gender = gender(pat.child("administrativeGenderCode").attr("code"))
	if v, ok := c.ts(pat.child("birthTime")); ok {
		p.BirthDate = v.date()
	}
	c.deceased(p, pat)
	p.Address = addresses(pr)
	p.Telecom = telecoms(pr)
	p.MaritalStatus = c.concept(pat.child("maritalStatusCode"))
	pat.each("languageCommunication", func(lc el) {
		if l := lc.child("languageCode").attr("code"); l != "" {
			p.Communication = append(p.Communication, &ppb.Patient_Communication{
				Language: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: uri("urn:ietf:bcp:47"), Code: &dtpb.Code{Value: code(l)}}}},
			})
		}
	})
	pat.each("guardian", func(g el) { c.addContact(p, g, g.child("guardianPerson"), "N", "guardian") })
	c.root.each("informant", func(inf el) {
		re := inf.child("relatedEntity")
		if re.ok() {
			c.addContact(p, re, re.child("relatedPerson"), contactType(re.attr("classCode")), "")
		}
	})
	if bp := address(pat.path("birthplace", "place", "addr")); bp != nil {
		p.Extension = append(p.Extension, &dtpb.Extension{Url: uri(birthPlaceURL),
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Address{Address: bp}}})
	}
	if org := pr.child("providerOrganization"); org.ok() {
		p.ManagingOrganization = c.organization(org)
	}
	c.put(p, category.ADM)
}

func gender(code string) *ppb.Patient_GenderCode {
	v := cpb.AdministrativeGenderCode_UNKNOWN
	switch strings.ToUpper(strings.TrimSpace(code)) {
	case "M":
		v = cpb.AdministrativeGenderCode_MALE
	case "F":
		v = cpb.AdministrativeGenderCode_FEMALE
	case "UN", "I":
		v = cpb.AdministrativeGenderCode_OTHER
	case "":
		return nil
	}
	return &ppb.Patient_GenderCode{Value: v}
}

func (c *conv) deceased(p *ppb.Patient, pat el) {
	if v, ok := c.ts(pat.sdtc("deceasedTime")); ok {
		p.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{DateTime: v.dateTime()}}
		return
	}
	if d := pat.sdtc("deceasedInd").attr("value"); d == "true" || d == "false" {
		p.Deceased = &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_Boolean{Boolean: &dtpb.Boolean{Value: d == "true"}}}
	}
}

// contactType maps the class of a related entity to HL7 v2 table 0131.
func contactType(classCode string) string {
	switch classCode {
	case "ECON":
		return "C" // emergency contact
	case "NOK":
		return "N" // next of kin
	case "GUARD":
		return "N"
	case "CAREGIVER":
		return "CP"
	}
	return "U"
}

// addContact adds a Patient.contact from a guardian or related entity.
func (c *conv) addContact(p *ppb.Patient, role, person el, v2type, display string) {
	ct := &ppb.Patient_Contact{Telecom: telecoms(role), Address: address(role.child("addr"))}
	rel := &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: uri(v2RelationType), Code: &dtpb.Code{Value: v2type}}}}
	if display != "" {
		rel.Text = str(display)
	}
	ct.Relationship = append(ct.Relationship, rel)
	if cc := c.concept(role.child("code")); cc != nil {
		ct.Relationship = append(ct.Relationship, cc)
	}
	if ns := names(person); len(ns) > 0 {
		ct.Name = ns[0]
	}
	if org := role.child("guardianOrganization"); org.ok() && ct.Name == nil {
		ct.Organization = c.organization(org)
	}
	if ct.Name == nil && ct.Telecom == nil && ct.Address == nil && ct.Organization == nil {
		return // pat-1: a contact needs a name, telecom, address or organisation
	}
	p.Contact = append(p.Contact, ct)
}

// documentParties maps author, custodian, legal authenticator and the
// patient's general practitioner.
func (c *conv) documentParties() {
	c.root.each("author", func(a el) {
		if ref := c.party(a.child("assignedAuthor")); ref != nil {
			c.authors = append(c.authors, ref)
		}
	})
	c.gp()
}

// gp maps the patient's general practitioner: a header participant with
// functionCode PCP (CI-SIS "médecin traitant", C-CDA), or a service event
// performer with that function (C-CDA CCD), as the person
// (bundle.Builder.GeneralPractitioner).
func (c *conv) gp() {
	var refs []*dtpb.Reference
	add := func(ref *dtpb.Reference) {
		if ref != nil {
			refs = append(refs, c.b.GeneralPractitioner(ref))
		}
	}
	c.root.each("participant", func(pa el) {
		if pa.child("functionCode").attr("code") == "PCP" {
			add(c.party(pa.child("associatedEntity")))
		}
	})
	c.root.each("documentationOf", func(d el) {
		d.child("serviceEvent").each("performer", func(pf el) {
			if pf.child("functionCode").attr("code") == "PCP" {
				add(c.party(pf.child("assignedEntity")))
			}
		})
	})
	p, _ := c.b.Get("Patient/" + c.patientID).(*ppb.Patient)
	for _, r := range refs {
		if !hasRef(p.GeneralPractitioner, r) {
			p.GeneralPractitioner = append(p.GeneralPractitioner, r)
		}
	}
}

func hasRef(refs []*dtpb.Reference, r *dtpb.Reference) bool {
	s := resource.RefString(r)
	for _, x := range refs {
		if resource.RefString(x) == s {
			return true
		}
	}
	return false
}

// party maps a CDA role (assignedAuthor, assignedEntity, associatedEntity,
// encounterParticipant's assignedEntity...) to the most specific resource:
// a PractitionerRole when a person acts for an organisation or in a coded
// role, else the Practitioner, the Organization or the authoring Device.
func (c *conv) party(role el) *dtpb.Reference {
	if !role.ok() {
		return nil
	}
	person := role.child("assignedPerson")
	if !person.ok() {
		person = role.child("associatedPerson")
	}
	org := role.child("representedOrganization")
	if !org.ok() {
		org = role.child("scopingOrganization")
	}
	var orgRef *dtpb.Reference
	if org.ok() {
		orgRef = c.organization(org)
	}
	if dev := role.child("assignedAuthoringDevice"); dev.ok() {
		return c.authoringDevice(role, dev)
	}
	prac := c.practitioner(role, person)
	if prac == nil {
		return orgRef
	}
	_, pracID, _, _ := resource.RefTarget(prac)
	orgID, id := "", ""
	if orgRef != nil {
		// A person acting for an organisation always gets a role: look it
		// up before mapping its codes again.
		orgID = resource.RefString(orgRef)
		id = bundle.ID("PractitionerRole", pracID, orgID, role.child("code").attr("code"))
		if ref := c.already("PractitionerRole", id); ref != nil {
			return ref
		}
	}
	codes, specialty := c.profession(role.child("code"))
	if orgRef == nil && codes == nil {
		return prac
	}
	if id == "" {
		id = bundle.ID("PractitionerRole", pracID, orgID, role.child("code").attr("code"))
	}
	r := &prpb.PractitionerRole{
		Id:           &dtpb.Id{Value: id},
		Practitioner: prac,
		Organization: orgRef,
		Code:         codes,
		Specialty:    specialty,
		Telecom:      telecoms(role),
	}
	return c.putOnce(r, category.ADM)
}

// practitioner maps the person playing a role; nil when the role names no
// person at all.
func (c *conv) practitioner(role, person el) *dtpb.Reference {
	var key []string
	role.each("id", func(ii el) {
		if key == nil && ii.attr("extension") != "" && ii.attr("nullFlavor") == "" {
			key = []string{"Practitioner", ii.attr("root"), ii.attr("extension")}
		}
	})
	// People recur in every entry: when the id comes from an identifier
	// (which then maps, so the role is not empty), look the practitioner
	// up before mapping names and identifiers again.
	id := ""
	if key != nil && strings.TrimSpace(key[2]) != "" {
		id = bundle.ID(key...)
		if ref := c.already("Practitioner", id); ref != nil {
			return ref
		}
	}
	ns := names(person)
	ids := identifiers(role)
	if len(ns) == 0 && len(ids) == 0 {
		return nil
	}
	if key == nil {
		key = append([]string{"Practitioner", "doc"}, c.setKey...)
		key = append(key, nameKey(person))
		if len(ns) == 0 {
			key = append(key, role.xpath())
		}
	}
	if id == "" {
		id = bundle.ID(key...)
	}
	if ref := c.already("Practitioner", id); ref != nil {
		return ref
	}
	p := &pracpb.Practitioner{
		Id:         &dtpb.Id{Value: id},
		Identifier: ids,
		Name:       ns,
		Telecom:    telecoms(role),
		Address:    addresses(role),
	}
	return c.putOnce(p, category.ADM)
}

func nameKey(person el) string {
	var parts []string
	person.each("name", func(n el) { parts = append(parts, n.text()) })
	return strings.Join(parts, "|")
}

// profession splits CI-SIS "G15_10/SM26" codes into the TRE_G15 profession
// and the TRE_R38 speciality, keeping the original coding too.
func (c *conv) profession(cd el) (codes, specialty []*dtpb.CodeableConcept) {
	cc := c.concept(cd)
	if cc == nil {
		return nil, nil
	}
	if cd.attr("codeSystem") == asipProfession {
		prof, spec, _ := strings.Cut(cd.attr("code"), "/")
		if g15, ok := strings.CutPrefix(prof, "G15_"); ok && g15 != "" {
			cc.Coding = append(cc.Coding, &dtpb.Coding{System: uri(terminology.TREG15), Code: &dtpb.Code{Value: code(g15)}})
		}
		if spec != "" {
			specialty = append(specialty, &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: uri(treR38), Code: &dtpb.Code{Value: code(spec)}}}})
		}
	}
	return []*dtpb.CodeableConcept{cc}, specialty
}

// organization maps an Organization; nil when it has neither id nor name.
func (c *conv) organization(org el) *dtpb.Reference {
	name := org.child("name").text()
	var key []string
	org.each("id", func(ii el) {
		if key == nil && ii.attr("nullFlavor") == "" {
			if k := idKey(ii); k != nil {
				key = append([]string{"Organization"}, k...)
			}
		}
	})
	if key == nil {
		if name == "" {
			return nil
		}
		key = append(append([]string{"Organization", "doc"}, c.setKey...), name)
	}
	id := bundle.ID(key...)
	if ref := c.already("Organization", id); ref != nil {
		return ref
	}
	o := &orgpb.Organization{
		Id:         &dtpb.Id{Value: id},
		Identifier: identifiers(org),
		Name:       str(name),
		Telecom:    telecoms(org),
		Address:    addresses(org),
	}
	if cc := c.concept(org.child("standardIndustryClassCode")); cc != nil {
		o.Type = append(o.Type, cc)
	}
	return c.putOnce(o, category.ADM)
}

// authoringDevice maps an assignedAuthoringDevice (software authors).
func (c *conv) authoringDevice(role, dev el) *dtpb.Reference {
	d := &devpb.Device{Identifier: identifiers(role)}
	for _, n := range [...]struct {
		tag string
		typ cpb.DeviceNameTypeCode_Value
	}{{"manufacturerModelName", cpb.DeviceNameTypeCode_MODEL_NAME}, {"softwareName", cpb.DeviceNameTypeCode_USER_FRIENDLY_NAME}} {
		if v := dev.child(n.tag).text(); v != "" {
			d.DeviceName = append(d.DeviceName, &devpb.Device_DeviceName{Name: str(v), Type: &devpb.Device_DeviceName_TypeCode{Value: n.typ}})
		}
	}
	key := []string{"Device", "author"}
	if k := idKey(role.child("id")); k != nil && role.child("id").attr("nullFlavor") == "" {
		key = append(key, k...)
	} else {
		key = append(append(key, c.setKey...), role.xpath())
	}
	d.Id = &dtpb.Id{Value: bundle.ID(key...)}
	return c.putOnce(d, category.ADM)
}
