// Package sensitivity is Relais's security labeling service: it adds to a
// resource the sensitivity labels (HL7 v3 ActCode HIV, PSY, ETH, SEX) that
// its codes state, whatever its source said, so that the consent engine
// never releases an HIV diagnosis, a psychiatric disorder or a substance
// use disorder without a provision naming the label. It follows the
// Security Labeling Service of the HL7 FHIR Data Segmentation for Privacy
// IG (DS4P, "Implementation Notes"): labelling rules rooted in clinical
// knowledge (which clinical codes indicate a sensitive topic) applied to
// meta.security, kept apart from the access rules that read the labels.
//
// Label is the one entry point: every mapping's output (bundle.Builder's
// Finish), every FHIR write (gateway/api), every stay completed from the
// stored one (gateway/ingest) and what was stored under older rules
// (gateway/relabel, at start-up) goes through it. It only adds labels.
//
// The table (rules, below, and README "Sensitivity labels") is small,
// explicit and conservative: it names what certainly is sensitive and
// nothing that merely may be. The topics are those of the SAMHSA C2S
// value sets that IHE PCF's SLS value sets (SlsSensitiveHIV and others)
// point to; the codes are chosen by hand from ICD-10 (WHO, CIM-10 and
// ICD-10-CM: the same blocks), LOINC, SNOMED CT and ATC.
//
// A resource is labelled by the codes of the elements that say what it is
// about (Condition.code, Observation.code and a coded value, Procedure.code,
// DiagnosticReport.code and conclusionCode, a medication's code, and every
// reasonCode), and by the labels of the resources it lists as its content:
// an Encounter's diagnoses and reasonReference, a Composition's section
// entries (its narrative repeats them), a DiagnosticReport's results, a
// reasonReference, a Provenance's targets (it names them: a reader who may
// not see them must not learn from it that they exist). The source a
// Provenance names (the message or document its targets were mapped
// from, and the warnings on what was not mapped: EachSource) carries its
// sensitivity too.
//
// # Rules version
//
// Version numbers the rules: the table, what Label reads, and
// category.LabelContent. Data stored under older rules is labelled again
// once when Relais starts (gateway/relabel), and the version records that
// it was; a change of the rules that labels anything differently must
// increase it.
//
// # Caveats
//
// No terminology server: a SNOMED CT concept is matched exactly, never
// by subsumption, so a psychiatric disorder coded only in SNOMED CT (or a
// medication coded only in CIS or RxNorm) is not labelled unless its
// source labels it. Text is never read.
package sensitivity

import (
	"strings"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_request_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
	obpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	provpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/provenance_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/mappings/terminology"
)

// Version is the version of the labelling rules (see the package comment);
// TestVersionPinned fails when the table changes and Version does not.
const Version = 1

// Types are the resource types Label or category.LabelContent can add a
// label to from their content: those codesOf and eachContent read, and
// LabelContent's Encounter and CarePlan. Every other type is labelled
// from its type alone (category.Label), which no content changes.
var Types = []string{
	"Condition", "Observation", "Procedure", "MedicationStatement", "MedicationRequest",
	"DiagnosticReport", "ServiceRequest", "Encounter", "Composition", "CarePlan", "Provenance",
}

// Resolver returns the resource a reference names, nil when it knows none
// (the resources written with it first, then the stored ones).
type Resolver func(ref *dtpb.Reference) proto.Message

// Label adds to m the labels its content has beyond its type's: those
// category.LabelContent adds, and the sensitivity labels its codes state
// (Of) or that the resources it lists as content carry or state, which
// resolve finds (nil: none is looked up).
func Label(m proto.Message, resolve Resolver) {
	category.LabelContent(m)
	s := codesOf(m)
	if resolve != nil {
		eachContent(m, func(ref *dtpb.Reference) {
			if r := resolve(ref); r != nil {
				s |= carried(r)
			}
		})
	}
	if s != 0 {
		category.LabelSensitive(m, s.labels()...)
	}
}

// Of returns the sensitivity labels m's own codes state, in
// category.Sensitive order.
func Of(m proto.Message) []category.Sensitivity { return codesOf(m).labels() }

// carried is what a resource listed as content brings: its labels and
// what its codes state (it may have been stored before a rule named its
// code).
func carried(m proto.Message) set {
	s := codesOf(m)
	for _, l := range category.SensitivityOf(m) {
		s |= setOf(l)
	}
	return s
}

// set is a set of category.Sensitive, one bit each in its order.
type set uint8

func setOf(l category.Sensitivity) set {
	for i, s := range category.Sensitive {
		if s == l {
			return 1 << i
		}
	}
	return 0
}

func (s set) labels() []category.Sensitivity {
	if s == 0 {
		return nil
	}
	var out []category.Sensitivity
	for i, l := range category.Sensitive {
		if s&(1<<i) != 0 {
			out = append(out, l)
		}
	}
	return out
}

// codesOf is the set the codes of m's subject elements state.
func codesOf(m proto.Message) set {
	var s set
	cc := func(c *dtpb.CodeableConcept) {
		for _, cd := range c.GetCoding() {
			s |= codingSet(cd.GetSystem().GetValue(), cd.GetCode().GetValue())
		}
	}
	all := func(cs []*dtpb.CodeableConcept) {
		for _, c := range cs {
			cc(c)
		}
	}
	switch r := m.(type) {
	case *cdpb.Condition:
		cc(r.GetCode())
	case *obpb.Observation:
		cc(r.GetCode())
		cc(r.GetValue().GetCodeableConcept())
	case *prpb.Procedure:
		cc(r.GetCode())
		all(r.GetReasonCode())
	case *drpb.DiagnosticReport:
		cc(r.GetCode())
		all(r.GetConclusionCode())
	case *mspb.MedicationStatement:
		cc(r.GetMedication().GetCodeableConcept())
		all(r.GetReasonCode())
	case *mrpb.MedicationRequest:
		cc(r.GetMedication().GetCodeableConcept())
		all(r.GetReasonCode())
	case *srpb.ServiceRequest:
		cc(r.GetCode())
		all(r.GetReasonCode())
	case *encpb.Encounter:
		all(r.GetReasonCode())
	}
	return s
}

// eachContent calls fn with each reference to a resource m lists as its
// content.
func eachContent(m proto.Message, fn func(*dtpb.Reference)) {
	all := func(rs []*dtpb.Reference) {
		for _, r := range rs {
			fn(r)
		}
	}
	switch r := m.(type) {
	case *encpb.Encounter:
		all(r.GetReasonReference())
		for _, d := range r.GetDiagnosis() {
			fn(d.GetCondition())
		}
	case *cmpb.Composition:
		var sections func([]*cmpb.Composition_Section)
		sections = func(ss []*cmpb.Composition_Section) {
			for _, sec := range ss {
				all(sec.GetEntry())
				sections(sec.GetSection())
			}
		}
		sections(r.GetSection())
	case *drpb.DiagnosticReport:
		all(r.GetResult())
	case *prpb.Procedure:
		all(r.GetReasonReference())
	case *mspb.MedicationStatement:
		all(r.GetReasonReference())
	case *mrpb.MedicationRequest:
		all(r.GetReasonReference())
	case *srpb.ServiceRequest:
		all(r.GetReasonReference())
	case *provpb.Provenance:
		all(r.GetTarget())
	}
}

// EachSource calls fn with each resource that holds what the Provenance m's
// targets hold: its entities whose role is source (the message or document
// they were mapped from, kept as a Binary) or derivation (the
// OperationOutcome of what was not mapped). bundle.Builder labels them so
// when it makes them; LabelSource does so for stored ones.
func EachSource(m proto.Message, fn func(*dtpb.Reference)) {
	p, ok := m.(*provpb.Provenance)
	if !ok {
		return
	}
	for _, e := range p.GetEntity() {
		switch e.GetRole().GetValue() {
		case cpb.ProvenanceEntityRoleCode_SOURCE, cpb.ProvenanceEntityRoleCode_DERIVATION:
			fn(e.GetWhat())
		}
	}
}

// LabelSource adds to src, a source of the Provenance prov (EachSource),
// the sensitivity labels prov carries.
func LabelSource(src, prov proto.Message) {
	category.LabelSensitive(src, category.SensitivityOf(prov)...)
}

// codingSet is what one coding states.
func codingSet(system, code string) set {
	if code == "" {
		return 0
	}
	switch terminology.Canonical(system) {
	case terminology.ICD10, terminology.CIM10, terminology.ICD10CM:
		return ranges(icd10, icdKey(code))
	case terminology.ATC:
		return ranges(atc, strings.ToUpper(strings.TrimSpace(code)))
	case terminology.LOINC:
		return loinc[strings.TrimSpace(code)]
	case terminology.SNOMED:
		return snomed[strings.TrimSpace(code)]
	}
	return 0
}

// icdKey is an ICD-10 code as the table compares it: upper case, without
// the dot and what follows a dagger, asterisk or the CIM-10's "+"
// extensions ("b20.1" and "B201" are "B201").
func icdKey(code string) string {
	var buf [8]byte
	n := 0
	for i := 0; i < len(code) && n < len(buf); i++ {
		c := code[i]
		switch {
		case c == '.' || c == ' ':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !('A' <= c && c <= 'Z' || '0' <= c && c <= '9'):
			i = len(code) // +, *, †: an extension or a marker
			continue
		}
		buf[n] = c
		n++
	}
	return string(buf[:n])
}

// rule labels the codes from..to, compared on len(from) characters (a
// block of ICD-10 categories, an ATC group).
type rule struct {
	from, to string
	label    set
}

func ranges(rules []rule, code string) set {
	var s set
	for _, r := range rules {
		if len(code) < len(r.from) {
			continue
		}
		if k := code[:len(r.from)]; r.from <= k && k <= r.to {
			s |= r.label
		}
	}
	return s
}

var (
	psy = setOf(category.PSY)
	hiv = setOf(category.HIV)
	eth = setOf(category.ETH)
	sex = setOf(category.SEX)
)

// icd10 are the ICD-10 categories (WHO ICD-10 2019; the CIM-10 and
// ICD-10-CM use the same blocks) that are certainly sensitive. Left out on
// purpose: F00-F09 (organic disorders: dementia and delirium, which the
// nurse and the home help of an older person must know; Alzheimer's
// disease itself is G30) and F70-F89 (intellectual disability and
// developmental disorders, which those who help her adapt to); O03
// (miscarriage); Z20.6 and Z71.7 (exposure to HIV, counselling), which
// say nothing certain of the patient.
var icd10 = []rule{
	{"B20", "B24", hiv},   // HIV disease
	{"Z21", "Z21", hiv},   // asymptomatic HIV infection status
	{"R75", "R75", hiv},   // inconclusive laboratory evidence of HIV
	{"O987", "O987", hiv}, // HIV disease complicating pregnancy
	{"F10", "F19", eth},   // mental and behavioural disorders due to psychoactive substance use
	{"F20", "F69", psy},   // schizophrenia to disorders of adult personality and behaviour
	{"F90", "F99", psy},   // behavioural and emotional disorders of childhood; unspecified mental disorder
	{"F52", "F52", sex},   // sexual dysfunction not caused by organic disorder
	{"F64", "F66", sex},   // gender identity, sexual preference, sexual development and orientation
	{"A50", "A64", sex},   // infections with a predominantly sexual mode of transmission
	{"O04", "O04", sex},   // medical abortion
}

// atc are WHO ATC groups used for nothing but the topic. Left out: J05AE
// and J05AF (protease and reverse transcriptase inhibitors, which treat
// hepatitis B, C and COVID-19 too).
var atc = []rule{
	{"J05AG", "J05AG", hiv}, // non-nucleoside reverse transcriptase inhibitors
	{"J05AJ", "J05AJ", hiv}, // integrase inhibitors
	{"J05AR", "J05AR", hiv}, // antivirals for treatment of HIV infections, combinations
	{"N07BB", "N07BB", eth}, // drugs used in alcohol dependence
	{"N07BC", "N07BC", eth}, // drugs used in opioid dependence (methadone, buprenorphine)
}

// loinc are laboratory tests that detect or measure HIV (among the codes of
// the C2S HIV/AIDS LOINC value set, VSAC 2.16.840.1.113762.1.4.1142.25):
// asking for one says the patient was tested.
var loinc = map[string]set{
	"56888-1": hiv, // HIV 1+2 Ab + HIV 1 p24 Ag [Presence] in Serum or Plasma by Immunoassay
	"31201-7": hiv, // HIV 1+2 Ab [Presence] in Serum or Plasma by Immunoassay
	"80387-4": hiv, // HIV 1+2 Ab [Presence] in Serum, Plasma or Blood by Rapid immunoassay
	"80203-3": hiv, // HIV 1 and 2 Ab [Identifier] in Serum, Plasma or Blood by Rapid immunoassay
	"20447-9": hiv, // HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection
	"29541-0": hiv, // HIV 1 RNA [Log #/volume] (viral load) in Serum or Plasma by NAA with probe detection
	"41498-7": hiv, // HIV 1 RNA [#/volume] (viral load) in Cerebral spinal fluid by NAA with probe detection
	"48023-6": hiv, // HIV 1 proviral DNA [Presence] in Serum or Plasma by NAA with probe detection
	"44871-2": hiv, // HIV 1 proviral DNA [Presence] in Blood by NAA with probe detection
	"79380-2": hiv, // HIV 1 RNA+proviral DNA [Presence] in Blood by NAA with probe detection
}

// snomed are SNOMED CT disorders matched exactly (no subsumption).
var snomed = map[string]set{
	"86406008": hiv, // Human immunodeficiency virus infection (disorder)
	"62479008": hiv, // Acquired immune deficiency syndrome (disorder)
}
