package sensitivity

import (
	"slices"
	"testing"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	cdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/condition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/diagnostic_report_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	mrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_request_go_proto"
	mspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/medication_statement_go_proto"
	obpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	prpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/procedure_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/terminology"
)

func concept(system, code string) *dtpb.CodeableConcept {
	return &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: system}, Code: &dtpb.Code{Value: code}}}}
}

func condition(id, system, code string) *cdpb.Condition {
	return &cdpb.Condition{Id: &dtpb.Id{Value: id}, Code: concept(system, code)}
}

func TestOf(t *testing.T) {
	t.Parallel()
	const cim10OID = "urn:oid:2.16.840.1.113883.6.3"
	cases := []struct {
		name string
		res  proto.Message
		want []category.Sensitivity
	}{
		{"HIV disease, ICD-10 with a dot", condition("a", terminology.ICD10, "B20.1"), []category.Sensitivity{category.HIV}},
		{"HIV disease, CIM-10 without dot, lower case", condition("a", terminology.CIM10, "b24"), []category.Sensitivity{category.HIV}},
		{"asymptomatic HIV, ICD-10 by OID", condition("a", cim10OID, "Z21"), []category.Sensitivity{category.HIV}},
		{"HIV in pregnancy", condition("a", terminology.ICD10, "O98.7"), []category.Sensitivity{category.HIV}},
		{"other maternal infection is not", condition("a", terminology.ICD10, "O98.5"), nil},
		{"depressive episode", condition("a", terminology.ICD10CM, "F32.9"), []category.Sensitivity{category.PSY}},
		{"schizophrenia, CIM-10 extension", condition("a", terminology.CIM10, "F200+1"), []category.Sensitivity{category.PSY}},
		{"alcohol dependence is ETH, not PSY", condition("a", terminology.ICD10, "F10.2"), []category.Sensitivity{category.ETH}},
		{"gender identity disorder", condition("a", terminology.ICD10, "F64.0"), []category.Sensitivity{category.PSY, category.SEX}},
		{"syphilis", condition("a", terminology.ICD10, "A51.0"), []category.Sensitivity{category.SEX}},
		{"medical abortion", condition("a", terminology.ICD10, "O04.9"), []category.Sensitivity{category.SEX}},
		{"dementia is not labelled", condition("a", terminology.ICD10, "F03"), nil},
		{"delirium is not labelled", condition("a", terminology.ICD10, "F05.1"), nil},
		{"intellectual disability is not labelled", condition("a", terminology.ICD10, "F72"), nil},
		{"heart failure", condition("a", terminology.ICD10, "I50.0"), nil},
		{"tuberculosis (B20 prefix elsewhere) is not", condition("a", terminology.ICD10, "A15"), nil},
		{"a code in another system is not", condition("a", "urn:x-local", "B20"), nil},
		{"SNOMED CT HIV infection", condition("a", terminology.SNOMED, "86406008"), []category.Sensitivity{category.HIV}},
		{"LOINC HIV viral load", &obpb.Observation{Code: concept(terminology.LOINC, "20447-9")}, []category.Sensitivity{category.HIV}},
		{"LOINC HIV test by OID", &obpb.Observation{Code: concept("urn:oid:2.16.840.1.113883.6.1", "56888-1")}, []category.Sensitivity{category.HIV}},
		{"an Observation whose value is a diagnosis", &obpb.Observation{
			Code:  concept(terminology.LOINC, "29308-4"),
			Value: &obpb.Observation_ValueX{Choice: &obpb.Observation_ValueX_CodeableConcept{CodeableConcept: concept(terminology.ICD10, "F31")}},
		}, []category.Sensitivity{category.PSY}},
		{"a haemoglobin is not", &obpb.Observation{Code: concept(terminology.LOINC, "718-7")}, nil},
		{"a report of an HIV panel", &drpb.DiagnosticReport{Code: concept(terminology.LOINC, "31201-7")}, []category.Sensitivity{category.HIV}},
		{"a procedure for a psychosis", &prpb.Procedure{ReasonCode: []*dtpb.CodeableConcept{concept(terminology.ICD10, "F23")}}, []category.Sensitivity{category.PSY}},
		{"an antiretroviral combination", &mspb.MedicationStatement{Medication: &mspb.MedicationStatement_MedicationX{
			Choice: &mspb.MedicationStatement_MedicationX_CodeableConcept{CodeableConcept: concept(terminology.ATC, "J05AR03")}}}, []category.Sensitivity{category.HIV}},
		{"buprenorphine for opioid dependence", &mrpb.MedicationRequest{Medication: &mrpb.MedicationRequest_MedicationX{
			Choice: &mrpb.MedicationRequest_MedicationX_CodeableConcept{CodeableConcept: concept(terminology.ATC, "N07BC01")}}}, []category.Sensitivity{category.ETH}},
		{"ritonavir (COVID-19 too) is not", &mrpb.MedicationRequest{Medication: &mrpb.MedicationRequest_MedicationX{
			Choice: &mrpb.MedicationRequest_MedicationX_CodeableConcept{CodeableConcept: concept(terminology.ATC, "J05AE03")}}}, nil},
		{"a request whose reason is HIV", &srpb.ServiceRequest{ReasonCode: []*dtpb.CodeableConcept{concept(terminology.ICD10, "B23.8")}}, []category.Sensitivity{category.HIV}},
		{"a stay whose reason is a psychosis", &encpb.Encounter{ReasonCode: []*dtpb.CodeableConcept{concept(terminology.ICD10, "F29")}}, []category.Sensitivity{category.PSY}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Of(c.res); !slices.Equal(got, c.want) {
				t.Errorf("Of = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	hivCond := condition("hiv", terminology.ICD10, "B20")
	psyCond := condition("psy", terminology.ICD10, "I50") // labelled by its source, not by its code
	category.LabelSensitive(psyCond, category.PSY)
	hf := condition("hf", terminology.ICD10, "I50")
	byRef := map[string]proto.Message{"Condition/hiv": hivCond, "Condition/psy": psyCond, "Condition/hf": hf}
	resolve := func(ref *dtpb.Reference) proto.Message { return byRef[resource.RefString(ref)] }

	enc := &encpb.Encounter{Diagnosis: []*encpb.Encounter_Diagnosis{
		{Condition: resource.Ref("Condition", "hf")},
		{Condition: resource.Ref("Condition", "hiv")},
	}, ReasonReference: []*dtpb.Reference{resource.Ref("Condition", "psy")}}
	Label(enc, resolve)
	Label(enc, resolve) // idempotent
	if got := category.SensitivityOf(enc); !slices.Equal(got, []category.Sensitivity{category.PSY, category.HIV}) {
		t.Errorf("Encounter labels %v, want [PSY HIV]", got)
	}
	if got := category.Of(enc); !slices.Equal(got, []category.Code{category.ADM, category.CLIN}) {
		t.Errorf("Encounter categories %v, want [ADM CLIN] (LabelContent)", got)
	}

	comp := &cmpb.Composition{Section: []*cmpb.Composition_Section{{
		Section: []*cmpb.Composition_Section{{Entry: []*dtpb.Reference{resource.Ref("Condition", "hiv")}}},
	}}}
	Label(comp, resolve)
	if got := category.SensitivityOf(comp); !slices.Equal(got, []category.Sensitivity{category.HIV}) {
		t.Errorf("Composition labels %v, want [HIV] from a nested section's entry", got)
	}

	rep := &drpb.DiagnosticReport{Result: []*dtpb.Reference{resource.Ref("Condition", "hf")}}
	Label(rep, resolve)
	if got := category.SensitivityOf(rep); len(got) != 0 {
		t.Errorf("report of nothing sensitive labelled %v", got)
	}

	plain := &encpb.Encounter{Diagnosis: []*encpb.Encounter_Diagnosis{{Condition: resource.Ref("Condition", "hiv")}}}
	Label(plain, nil)
	if got := category.SensitivityOf(plain); len(got) != 0 {
		t.Errorf("without a resolver nothing is looked up, got %v", got)
	}
	Label(hivCond, nil)
	if got := category.SensitivityOf(hivCond); !slices.Equal(got, []category.Sensitivity{category.HIV}) {
		t.Errorf("Condition labels %v, want [HIV]", got)
	}
}

func TestICDKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"B20.1": "B201", "b201": "B201", " F32.9 ": "F329", "F200+1": "F200", "G30.0†": "G300", "F00.0*": "F000", "": ""} {
		if got := icdKey(in); got != want {
			t.Errorf("icdKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCodingSet: any system and code from a source (an HL7 v2 CWE, a CDA
// code, a FHIR coding) is read without panicking, and an ICD-10 key holds
// only upper-case letters and digits.
func FuzzCodingSet(f *testing.F) {
	for _, s := range []string{terminology.ICD10, terminology.CIM10, "urn:oid:2.16.840.1.113883.6.3", terminology.LOINC, terminology.ATC, terminology.SNOMED, ""} {
		f.Add(s, "B20.1")
		f.Add(s, "f200+1")
	}
	f.Add(terminology.LOINC, "20447-9")
	f.Add(terminology.ATC, "j05ar03")
	f.Fuzz(func(t *testing.T, system, code string) {
		_ = codingSet(system, code)
		for _, c := range []byte(icdKey(code)) {
			if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				t.Fatalf("icdKey(%q) = %q", code, icdKey(code))
			}
		}
	})
}
