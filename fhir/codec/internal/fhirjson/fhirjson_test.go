package fhirjson

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestMatchesJSONFormat covers what the corpus tests may not: escaping,
// every primitive form, time zones, typed and literal references, contained
// resources, and the fallback for primitives carrying extensions. direct
// says whether the direct printer must print the case by itself.
func TestMatchesJSONFormat(t *testing.T) {
	t.Parallel()
	p, ref := printers(t)
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
		{"unset code omitted, empty element kept", &obspb.Observation{Id: &dtpb.Id{Value: "o3"},
			Status:         &obspb.Observation_StatusCode{},
			Code:           &dtpb.CodeableConcept{},
			Category:       []*dtpb.CodeableConcept{},
			ReferenceRange: []*obspb.Observation_ReferenceRange{{Id: &dtpb.String{Value: "rr1"}, Text: &dtpb.String{Value: "<5 & >1"}}},
			Component: []*obspb.Observation_Component{{
				Code: &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{Code: &dtpb.Code{Value: "c"}, Id: &dtpb.String{Value: "cd1"}}}},
				Value: &obspb.Observation_Component_ValueX{Choice: &obspb.Observation_Component_ValueX_StringValue{
					StringValue: &dtpb.String{Value: "v"}}}}},
			Extension: []*dtpb.Extension{ext},
		}, true},
		{"code extension falls back", &obspb.Observation{Id: &dtpb.Id{Value: "o4"},
			Status: &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_FINAL, Extension: []*dtpb.Extension{ext}},
			Code:   &dtpb.CodeableConcept{Text: &dtpb.String{Value: "x"}}}, false},
		{"code id falls back", &obspb.Observation{Id: &dtpb.Id{Value: "o5"},
			Status: &obspb.Observation_StatusCode{Value: cpb.ObservationStatusCode_FINAL, Id: &dtpb.String{Value: "s"}},
			Code:   &dtpb.CodeableConcept{Text: &dtpb.String{Value: "x"}}}, false},
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

// TestChoiceKeysEveryResource prints every resource type with each member
// of each of its top-level choice fields in turn, as jsonformat does: the
// plans place a choice key among the others by its possible names.
func TestChoiceKeysEveryResource(t *testing.T) {
	t.Parallel()
	p, ref := printers(t)
	resources := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs().ByName("oneof_resource").Fields()
	cases := 0
	for i := 0; i < resources.Len(); i++ {
		rd := resources.Get(i).Message()
		fs := rd.Fields()
		for j := 0; j < fs.Len(); j++ {
			fd := fs.Get(j)
			if fd.IsList() || fd.Message() == nil || !isChoice(fd.Message()) {
				continue
			}
			members := fd.Message().Oneofs().Get(0).Fields()
			for k := 0; k < members.Len(); k++ {
				mf := members.Get(k)
				res := (&bcrpb.ContainedResource{}).ProtoReflect().NewField(resources.Get(i)).Message()
				res.Set(fs.ByName("id"), protoreflect.ValueOfMessage((&dtpb.Id{Value: "x"}).ProtoReflect()))
				choice := res.NewField(fd).Message()
				choice.Set(mf, choice.NewField(mf))
				res.Set(fd, protoreflect.ValueOfMessage(choice))
				got, gotErr := p.Marshal(res.Interface())
				want, wantErr := ref.MarshalResource(proto.Clone(res.Interface()))
				if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
					t.Errorf("%s.%s %s: got %s (%v)\nwant %s (%v)", rd.Name(), fd.Name(), mf.Name(), got, gotErr, want, wantErr)
				}
				cases++
			}
		}
	}
	if cases < 150 {
		t.Errorf("only %d cases", cases)
	}
}

// TestStringsAndBytesAsEncodingJSON compares the string escaper and the
// base64 encoder, which take 8 and 6 bytes at a time, with encoding/json
// (jsonformat's printer, HTML escaping off) at every length and offset.
func TestStringsAndBytesAsEncodingJSON(t *testing.T) {
	t.Parallel()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	reference := func(v any) []byte {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	specials := []string{"\"", "\\", "\n", "\x00", "\x1f", "\x7f", "<", ">", "&", "é", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", " "}
	for n := 0; n < 24; n++ {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				s := strings.Repeat("a", at) + sp + strings.Repeat("b", n-at)
				w := &writer{p: p}
				w.str(s)
				if want := reference(s); !bytes.Equal(w.buf, want) {
					t.Errorf("%q: got %s, want %s", s, w.buf, want)
				}
			}
		}
		data := make([]byte, n*7)
		for i := range data {
			data[i] = byte(i*151 + n)
		}
		w := &writer{p: p, buf: []byte("x")}
		w.base64(data)
		if want := append([]byte("x"), reference(data)...); !bytes.Equal(w.buf, want) {
			t.Errorf("%d bytes: got %s, want %s", len(data), w.buf, want)
		}
	}
}

func BenchmarkBase64(b *testing.B) {
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("<ClinicalDocument xmlns=\"urn:hl7-org:v3\">é\n"), 2000)
	w := &writer{p: p, buf: make([]byte, 0, 2*len(data))}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		w.buf = w.buf[:0]
		w.base64(data)
	}
}

func BenchmarkString(b *testing.B) {
	p, err := New()
	if err != nil {
		b.Fatal(err)
	}
	s := strings.Repeat(`<div xmlns="http://www.w3.org/1999/xhtml"><table><tr><td>Pression artérielle</td></tr></table></div>`, 50)
	w := &writer{p: p, buf: make([]byte, 0, 2*len(s))}
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		w.buf = w.buf[:0]
		w.str(s)
	}
}

// printers returns the direct printer and jsonformat's marshaller, the
// reference it must match.
func printers(t *testing.T) (*Printer, *jsonformat.Marshaller) {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	return p, ref
}
