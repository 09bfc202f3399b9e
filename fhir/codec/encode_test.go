package codec_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	obspb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/observation_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/codec/codectest"
	"github.com/relais-health/relais/fhir/resource"
)

const corpus = "../../../shared/corpus/fhir"

// viaJSONFormat lists the corpus files in which the direct printer hands a
// resource to jsonformat, and why; the others it prints entirely by itself.
var viaJSONFormat = map[string]string{
	"r4-Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json": "an extension on Patient.gender",
	"r4-Patient-example.json":                             "extensions on birthDate and name.family",
	"r4-Patient-newborn.json":                             "an extension on birthDate",
}

// TestEncodeMatchesJSONFormatCorpus prints every resource of the FHIR
// corpus, and every resource inside one (Bundle entries, contained
// resources), with Encode and EncodeIndent and compares the bytes with
// jsonformat's.
func TestEncodeMatchesJSONFormatCorpus(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	k := codectest.MustNew(c)
	files, err := filepath.Glob(filepath.Join(corpus, "*.json"))
	if err != nil || len(files) != 94 {
		t.Fatalf("want the 94 corpus files in %s, got %d: %v", corpus, len(files), err)
	}
	total, direct := 0, 0
	for _, f := range files {
		name := filepath.Base(f)
		fellBack := false
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, r := range codectest.Resources(m) {
			ok, err := k.Check(r)
			if err != nil {
				t.Errorf("%s resource %d (%s): %v", name, i, resource.Type(r), err)
			}
			total++
			if ok {
				direct++
			} else {
				fellBack = true
			}
		}
		if why, listed := viaJSONFormat[name]; fellBack != listed {
			t.Errorf("%s: printed with jsonformat's help: %v; listed: %v %s", name, fellBack, listed, why)
		}
	}
	t.Logf("%d resources, %d printed by the direct printer alone", total, direct)
}

// TestEncodeDoesNotModify: jsonformat's Marshaller rewrites typed
// references as URIs and removes the extensions that stand for a missing
// primitive value or a base64 layout; Encode and EncodeIndent must leave
// their argument as it was, on the direct path and through the fallback.
func TestEncodeDoesNotModify(t *testing.T) {
	t.Parallel()
	c := codec.MustNew()
	k := codectest.MustNew(c)
	ref, err := jsonformat.NewMarshaller(false, "", "", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(js string) proto.Message {
		m, err := c.Decode([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// A missing primitive value with an extension: the JSON decoder does not
	// accept the nulls that stand for it, the mappings could build it.
	noValue := &dtpb.String{Extension: []*dtpb.Extension{{
		Url:   &dtpb.Uri{Value: "https://g.co/fhir/StructureDefinition/primitiveHasNoValue"},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}},
	}, {
		Url:   &dtpb.Uri{Value: "http://example.org/x"},
		Value: &dtpb.Extension_ValueX{Choice: &dtpb.Extension_ValueX_StringValue{StringValue: &dtpb.String{Value: "y"}}},
	}}}
	tests := []struct {
		name   string
		res    proto.Message
		direct bool
	}{
		{"typed references", decode(`{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},` +
			`"subject":{"reference":"Patient/p1/_history/2"},"performer":[{"reference":"Practitioner/pr1","display":"Dr"}],` +
			`"contained":[{"resourceType":"Patient","id":"c1","managingOrganization":{"reference":"Organization/o1"}}],` +
			`"focus":[{"reference":"#c1"}]}`), true},
		{"primitive extensions", decode(`{"resourceType":"Patient","id":"p","managingOrganization":{"reference":"Organization/o1"},` +
			`"birthDate":"1990-01-01","_birthDate":{"id":"b1"}}`), false},
		{"missing primitive value", &ppb.Patient{Id: &dtpb.Id{Value: "p"},
			ManagingOrganization: &dtpb.Reference{Reference: &dtpb.Reference_OrganizationId{OrganizationId: &dtpb.ReferenceId{Value: "o1"}}},
			Name:                 []*dtpb.HumanName{{Given: []*dtpb.String{noValue, {Value: "Jo"}}}}}, false},
		{"base64 layout", decode(`{"resourceType":"Binary","id":"b","contentType":"text/plain","data":"aGVs bG8g d29y bGQ="}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.res
			// The hazard is real: jsonformat changes what it prints.
			clone := proto.Clone(m)
			if _, err := ref.MarshalResource(clone); err != nil {
				t.Fatal(err)
			}
			if proto.Equal(clone, m) {
				t.Fatal("jsonformat left this resource as it was; the case tests nothing")
			}
			direct, err := k.Check(m)
			if err != nil {
				t.Fatal(err)
			}
			if direct != tt.direct {
				t.Errorf("printed directly: %v, want %v", direct, tt.direct)
			}
		})
	}
}

// TestEncodeTypedReferences prints a reference of every typed form, with
// and without a version, as jsonformat does.
func TestEncodeTypedReferences(t *testing.T) {
	t.Parallel()
	k := codectest.MustNew(codec.MustNew())
	fields := (&dtpb.Reference{}).ProtoReflect().Descriptor().Oneofs().ByName("reference").Fields()
	obs := &obspb.Observation{Id: &dtpb.Id{Value: "o"}}
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.Message().Name() != "ReferenceId" {
			continue
		}
		for _, hist := range []*dtpb.Id{nil, {Value: "3"}} {
			r := &dtpb.Reference{}
			r.ProtoReflect().Set(f, protoreflect.ValueOfMessage((&dtpb.ReferenceId{Value: "x-1", History: hist}).ProtoReflect()))
			obs.Focus = append(obs.Focus, r)
			// The general path: a reference with a type is not a plain one.
			typed := proto.Clone(r).(*dtpb.Reference)
			typed.Type = &dtpb.Uri{Value: "Patient"}
			obs.BasedOn = append(obs.BasedOn, typed)
		}
	}
	if len(obs.Focus) < 200 {
		t.Fatalf("only %d typed references", len(obs.Focus))
	}
	direct, err := k.Check(obs)
	if err != nil {
		t.Fatal(err)
	}
	if !direct {
		t.Error("typed references went through the fallback")
	}
}

// FuzzEncode decodes arbitrary JSON and prints whatever decodes, and every
// resource inside it, as jsonformat does.
func FuzzEncode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"text":"a\"b\\c\n\t\u0001 <&> \u2028 é \ud83d\ude00"}],"birthDate":"2001-02"}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-0.50e3},"effectiveDateTime":"2020-01-02T03:04:05.678901-11:30","issued":"2020-01-02T03:04:05Z"}`,
		`{"resourceType":"HealthcareService","availableTime":[{"availableStartTime":"08:30:00","availableEndTime":"17:00:00.125"}]}`,
		`{"resourceType":"Provenance","target":[{"reference":"Patient/p/_history/1"}],"recorded":"2016-10-31T08:25:05+10:00","agent":[{"who":{"reference":"#x"}}]}`,
	} {
		f.Add([]byte(s))
	}
	c := codec.MustNew()
	k := codectest.MustNew(c)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := c.Decode(b)
		if err != nil {
			return
		}
		for _, r := range codectest.Resources(m) {
			if _, err := k.Check(r); err != nil {
				t.Fatalf("%s: %v", resource.Type(r), err)
			}
		}
	})
}

// TestEncodeChoiceNames prints an extension value of every type, so every
// value[x] name (valueBase64Binary, valueUnsignedInt...) is compared.
func TestEncodeChoiceNames(t *testing.T) {
	t.Parallel()
	k := codectest.MustNew(codec.MustNew())
	oneof := (&dtpb.Extension_ValueX{}).ProtoReflect().Descriptor().Oneofs().Get(0)
	direct := 0
	for i := 0; i < oneof.Fields().Len(); i++ {
		f := oneof.Fields().Get(i)
		v := &dtpb.Extension_ValueX{}
		v.ProtoReflect().Set(f, protoreflect.ValueOfMessage(v.ProtoReflect().NewField(f).Message()))
		obs := &obspb.Observation{Id: &dtpb.Id{Value: "o"}, Extension: []*dtpb.Extension{{
			Url: &dtpb.Uri{Value: "http://example.org/" + string(f.Name())}, Value: v}}}
		ok, err := k.Check(obs)
		if err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
		if ok {
			direct++
		}
	}
	t.Logf("%d of %d value types printed directly", direct, oneof.Fields().Len())
	// Empty dates and times have no precision: jsonformat prints those.
	if direct < oneof.Fields().Len()-6 {
		t.Errorf("only %d of %d value types printed directly", direct, oneof.Fields().Len())
	}
}
