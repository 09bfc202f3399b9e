package fhirjson

import (
	"bytes"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestMatchesJSONFormat covers what the corpus tests may not: escaping,
// every primitive form, time zones, typed and literal references, contained
// resources, and the fallback for primitives carrying extensions. direct
// says whether the direct printer must print the case by itself.
func TestMatchesJSONFormat(t *testing.T) {
	t.Parallel()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	ext := &dtpb.Extension{Url: &dtpb.Uri{Value: "http://example.org/x"},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}}}
	contained, err := anypb.New(&bcrpb.ContainedResource{OneofResource: &bcrpb.ContainedResource_Patient{Patient: &ppb.Patient{
		Id:        &dtpb.Id{Value: "c1"},
		BirthDate: &dtpb.Date{ValueUs: -86_400_000_000, Timezone: "UTC", Precision: dtpb.Date_MONTH}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		res    proto.Message
		direct bool
	}{
		{"escaping", &ppb.Patient{Id: &dtpb.Id{Value: "p1"}, Name: []*dtpb.HumanName{{
			Text: &dtpb.String{Value: "a\"b\\c\n\t\r\b\f\x01 <&> \u2028\u2029 é \xff end"}}}}, true},
		{"primitives", &obspb.Observation{
			Id:     &dtpb.Id{Value: "o1"},
			Status: &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_ENTERED_IN_ERROR},
			Code:   &dtpb.CodeableConcept{Text: &dtpb.String{Value: "x"}},
			Issued: &dtpb.Instant{ValueUs: 1_700_000_000_123_456, Timezone: "+05:30", Precision: dtpb.Instant_MICROSECOND},
			Effective: &obspb.Observation_EffectiveX{Choice: &obspb.Observation_EffectiveX_DateTime{
				DateTime: &dtpb.DateTime{ValueUs: 1_700_000_000_000_000, Timezone: "Z", Precision: dtpb.DateTime_MILLISECOND}}},
			Value: &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Quantity{Quantity: &dtpb.Quantity{
				Value: &dtpb.Decimal{Value: "-0.50"}, Comparator: &dtpb.Quantity_ComparatorCode{Value: cpb.QuantityComparatorCode_LESS_THAN}}}},
			Subject:   &dtpb.Reference{Reference: &dtpb.Reference_PatientId{PatientId: &dtpb.ReferenceId{Value: "p1"}}, Display: &dtpb.String{Value: "P"}},
			Focus:     []*dtpb.Reference{{Reference: &dtpb.Reference_Fragment{Fragment: &dtpb.String{Value: "c1"}}}, {Reference: &dtpb.Reference_Uri{Uri: &dtpb.String{Value: "urn:uuid:1"}}}},
			Performer: []*dtpb.Reference{{Reference: &dtpb.Reference_PractitionerRoleId{PractitionerRoleId: &dtpb.ReferenceId{Value: "r1", History: &dtpb.Id{Value: "2"}}}}},
			Contained: []*anypb.Any{contained},
		}, true},
		{"dates in UTC and at an offset", &ppb.Patient{Id: &dtpb.Id{Value: "p3"},
			BirthDate: &dtpb.Date{ValueUs: 631_152_000_000_000, Timezone: "UTC", Precision: dtpb.Date_DAY},
			Deceased: &ppb.Patient_DeceasedX{Choice: &ppb.Patient_DeceasedX_DateTime{
				DateTime: &dtpb.DateTime{ValueUs: 1_700_000_000_000_000, Timezone: "-00:00", Precision: dtpb.DateTime_SECOND}}}}, true},
		{"time of day", &obspb.Observation{Id: &dtpb.Id{Value: "o2"},
			Value: &obspb.Observation_ValueX{Choice: &obspb.Observation_ValueX_Time{Time: &dtpb.Time{ValueUs: 45_296_789_000, Precision: dtpb.Time_MILLISECOND}}}}, true},
		{"named time zone falls back", &ppb.Patient{Id: &dtpb.Id{Value: "p4"},
			BirthDate: &dtpb.Date{ValueUs: 631_148_400_000_000, Timezone: "Europe/Paris", Precision: dtpb.Date_DAY}}, false},
		{"primitive extension falls back", &ppb.Patient{Id: &dtpb.Id{Value: "p2"},
			BirthDate: &dtpb.Date{ValueUs: 0, Timezone: "Z", Precision: dtpb.Date_DAY, Extension: []*dtpb.Extension{ext}},
			Active:    &dtpb.Boolean{Value: true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Marshal(tt.res) // before jsonformat, which rewrites references
			if err != nil {
				t.Fatal(err)
			}
			want, err := ref.MarshalResource(proto.Clone(tt.res))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			_, err = p.MarshalDirect(tt.res)
			if direct := err == nil; direct != tt.direct {
				t.Errorf("printed directly: %v (%v), want %v", direct, err, tt.direct)
			}
		})
	}
}

// Every typed reference field read without reflection has its prefix.
func TestFastRefPrefixes(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for i, prefix := range p.fastRefs {
		if prefix == "" {
			t.Errorf("%s: no Type/ prefix", fastRefNames[i])
		}
	}
}
