package fhirjson

import (
	"bytes"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
)

// TestMatchesJSONFormat covers what the corpus test may not: escaping,
// every primitive form, typed and literal references, and the fallback for
// primitives carrying extensions.
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
	tests := []struct {
		name string
		res  proto.Message
	}{
		{"escaping", &ppb.Patient{Id: &dtpb.Id{Value: "p1"}, Name: []*dtpb.HumanName{{
			Text: &dtpb.String{Value: "a\"b\\c\n\t\r\b\f\x01 <&> \u2028\u2029 é \xff end"}}}}},
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
		}},
		{"primitive extension falls back", &ppb.Patient{Id: &dtpb.Id{Value: "p2"},
			BirthDate: &dtpb.Date{ValueUs: 0, Timezone: "Z", Precision: dtpb.Date_DAY, Extension: []*dtpb.Extension{ext}},
			Active:    &dtpb.Boolean{Value: true}}},
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
		})
	}
}
