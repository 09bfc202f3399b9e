package hl7v2

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// mapMRG maps the merge of an A40 (merge patient, patient identifier list;
// HL7 v2.5 section 3.3.40) or an A34 (merge patient information, patient
// ID only; section 3.3.34, kept in v2.5 for backward compatibility): the
// patient PID names survives, the one MRG names (MRG-1 prior patient
// identifier list, section 3.4.9.1; MRG-4 prior patient ID, section
// 3.4.9.4, as older senders give it) is merged into it. IHE PAM (ITI TF-2b
// 3.30.4.2) and PAM France use the same segments.
//
// The mapping is pure, so it says what the message asks and the gateway
// applies it (gateway/identity, merge.go) against what is stored: the
// surviving Patient gets a link "replaces" to the prior one, and the
// Bundle carries the prior Patient (its id derived from MRG-1 as mapPatient
// derives a Patient's id from PID-3, so that it is the Patient an earlier
// message about her created) with the prior identifiers, active false and
// a link "replaced-by" to the survivor (FHIR R4 Patient.link,
// https://hl7.org/fhir/R4/patient-definitions.html#Patient.link). Which
// stored Patient that is, and moving her data, is the resolver's work.
//
// One merge per message: ADT_A39 allows several PID/MRG groups, which
// senders do not use for PAM; a second MRG is reported as not mapped.
func (c *conv) mapMRG(s *er7.Segment) error {
	if c.event == "A47" && !c.merged {
		return c.mapRetired(s)
	}
	if (c.event != "A40" && c.event != "A34") || c.merged {
		c.warnSegment(s)
		return nil
	}
	c.merged = true
	prior := &ppb.Patient{Active: &dtpb.Boolean{Value: false}}
	var key []string
	for _, f := range []int{1, 4} {
		for r := range s.Field(f).Repetitions() {
			id, a := c.cx(r)
			if id == nil || hasIdentifier(prior.Identifier, id) {
				continue
			}
			prior.Identifier = append(prior.Identifier, id)
			typ := strings.ToUpper(text(r.Comp(5)))
			if key == nil || (f == 1 && (typ == "PI" || typ == "MR") && !strongKey(key)) {
				key = []string{authorityKey(a, c.scope), id.Value.Value, typ}
			}
		}
	}
	if key == nil {
		return &er7.Error{Loc: s.Loc(1), Offset: -1, Condition: er7.RequiredFieldMissing, Reason: "no prior patient identifier in MRG-1"}
	}
	id := c.b.ID("Patient", key[0], key[1])
	if id == c.patientID || sharesIdentifier(prior.Identifier, c.patient.Identifier) {
		return errSelfMerge(s)
	}
	prior.Id = &dtpb.Id{Value: id}
	prior.Link = []*ppb.Patient_Link{patientLink(c.patientID, cpb.LinkTypeCode_REPLACED_BY)}
	c.patient.Link = append(c.patient.Link, patientLink(id, cpb.LinkTypeCode_REPLACES))
	c.put(prior, category.ADM)
	c.unmapped(s, 1, 4)
	return nil
}

// mapRetired maps the MRG of an A47, change patient identifier list (HL7
// v2.5 section 3.3.47; ITI-30 in IHE PAM and PAM France section 4): the
// identifiers of MRG-1 are wrong or obsolete and the patient's are those
// of PID-3, which also lists identifiers that do not change. PAM France
// uses it to correct an INS (section 4.4.2: MRG-1 the old INS, PID-3 the
// new one) and to delete one that was given in error or whose identity
// is no longer qualified (4.4.3 and 4.4.4: MRG-1 the INS, PID-3 the
// null "" with the INS authority): every INS of the patient then goes,
// and the claims they held, so that they link nothing more to her.
//
// The mapping says so on the Patient (bundle.RetiredIdentifierURL); the
// gateway finds the stored patient by MRG-1 (else by PID-3) and applies
// it (gateway/identity). An MRG-1 identifier that PID-3 also lists is
// refused: the message would both keep and retire it.
func (c *conv) mapRetired(s *er7.Segment) error {
	c.merged = true
	retire := func(id *dtpb.Identifier) {
		c.patient.Extension = append(c.patient.Extension, &dtpb.Extension{
			Url:   &dtpb.Uri{Value: bundle.RetiredIdentifierURL},
			Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Identifier{Identifier: id}},
		})
	}
	n := 0
	for r := range s.Field(1).Repetitions() {
		id, _ := c.cx(r)
		if id == nil {
			continue
		}
		if hasIdentifier(c.patient.Identifier, id) {
			return &er7.Error{Loc: s.Loc(1), Offset: -1, Condition: er7.DuplicateKeyIdentifier, Reject: true,
				Reason: "MRG-1 names an identifier PID-3 keeps: an identifier is not both changed and kept"}
		}
		retire(id)
		n++
	}
	if n == 0 {
		return &er7.Error{Loc: s.Loc(1), Offset: -1, Condition: er7.RequiredFieldMissing, Reason: "no identifier to change in MRG-1"}
	}
	for r := range c.msg.First("PID").Field(3).Repetitions() {
		if !r.Comp(1).Null() {
			continue
		}
		if a := hdSubs(r.Comp(4)); insTypes[a.system] != "" {
			retire(&dtpb.Identifier{System: &dtpb.Uri{Value: a.system}})
		}
	}
	c.unmapped(s, 1)
	return nil
}

// errSelfMerge refuses a merge whose prior patient is the surviving one:
// sending it again cannot succeed, so AR rather than AE.
func errSelfMerge(s *er7.Segment) *er7.Error {
	return &er7.Error{Loc: s.Loc(1), Offset: -1, Condition: er7.DuplicateKeyIdentifier, Reject: true,
		Reason: "MRG-1 names the surviving patient of PID-3: a patient is not merged into itself"}
}

// ErrSelfMerge is the error of a merge found, against the stored
// patients, to merge a patient into itself (the gateway finds it when MRG-1
// and PID-3 name one stored Patient through different identifiers).
func ErrSelfMerge() *er7.Error {
	e := errSelfMerge(nil)
	e.Loc = er7.Location{Segment: "MRG", Seq: 1, Field: 1}
	return e
}

// ErrUnknownPrior is the error of a merge whose prior patient (MRG-1) no
// stored Patient is: HL7 table 0357 code 204, unknown key identifier, in
// an AE.
func ErrUnknownPrior() *er7.Error {
	return &er7.Error{Loc: er7.Location{Segment: "MRG", Seq: 1, Field: 1}, Offset: -1, Condition: er7.UnknownKeyIdentifier,
		Reason: "the prior patient of MRG-1 is not known: nothing was merged"}
}

// ErrUnknownRetired is the error of an A47 whose identifiers (MRG-1, else
// PID-3) no stored Patient holds: 204, unknown key identifier, in an AE.
func ErrUnknownRetired() *er7.Error {
	return &er7.Error{Loc: er7.Location{Segment: "MRG", Seq: 1, Field: 1}, Offset: -1, Condition: er7.UnknownKeyIdentifier,
		Reason: "no known patient holds the identifiers of MRG-1: nothing was changed"}
}

func patientLink(id string, typ cpb.LinkTypeCode_Value) *ppb.Patient_Link {
	return &ppb.Patient_Link{
		Other: &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: id}}},
		Type:  &ppb.Patient_Link_TypeCode{Value: typ},
	}
}

func sharesIdentifier(a, b []*dtpb.Identifier) bool {
	for _, x := range a {
		if hasIdentifier(b, x) {
			return true
		}
	}
	return false
}

func hasIdentifier(list []*dtpb.Identifier, id *dtpb.Identifier) bool {
	for _, x := range list {
		if x.GetSystem().GetValue() == id.GetSystem().GetValue() && x.GetValue().GetValue() == id.GetValue().GetValue() {
			return true
		}
	}
	return false
}
