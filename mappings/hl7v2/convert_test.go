package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cmpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/composition_go_proto"
	drpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/document_reference_go_proto"
	encpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/encounter_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/mappings/bundle"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
	"github.com/relais-health/relais/mappings/terminology"
)

func convert(t *testing.T, path string, opts Options) *Converted {
	t.Helper()
	c, err := Convert(read(t, path), opts)
	if err != nil {
		t.Fatalf("Convert(%s): %v", path, err)
	}
	return c
}

// resources returns the Bundle's resources of one type.
func resources[T proto.Message](c *Converted) []T {
	var out []T
	for _, e := range c.Bundle.Entry {
		if r, ok := resource.Unwrap(e.Resource).(T); ok {
			out = append(out, r)
		}
	}
	return out
}

func one[T proto.Message](t *testing.T, c *Converted) T {
	t.Helper()
	rs := resources[T](c)
	if len(rs) != 1 {
		var zero T
		t.Fatalf("%d resources of type %T, want 1", len(rs), zero)
	}
	return rs[0]
}

// TestAdmitThenDischarge: the A01 and the A03 of one stay update one
// Patient and one Encounter; the A03 finishes it.
func TestAdmitThenDischarge(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{
		{"testdata/pam-fr-a01.hl7", "testdata/pam-fr-a03.hl7"},
		{sharedCorpus + "/ms-ADT-A01-01.hl7", sharedCorpus + "/ms-ADT-A03-01.hl7"},
	}
	for _, p := range pairs {
		t.Run(filepath.Base(p[0]), func(t *testing.T) {
			t.Parallel()
			admit, discharge := convert(t, p[0], testOptions()), convert(t, p[1], testOptions())
			if admit.Header.Patient != discharge.Header.Patient || admit.Header.Patient == "" {
				t.Errorf("patients differ: %s vs %s", admit.Header.Patient, discharge.Header.Patient)
			}
			if admit.Header.Encounter != discharge.Header.Encounter || admit.Header.Encounter == "" {
				t.Errorf("encounters differ: %s vs %s", admit.Header.Encounter, discharge.Header.Encounter)
			}
			a, d := one[*encpb.Encounter](t, admit), one[*encpb.Encounter](t, discharge)
			if got := a.GetStatus().GetValue().String(); got != "IN_PROGRESS" {
				t.Errorf("A01 encounter status %s", got)
			}
			if got := d.GetStatus().GetValue().String(); got != "FINISHED" || d.GetPeriod().GetEnd() == nil {
				t.Errorf("A03 encounter status %s, end %v", got, d.GetPeriod().GetEnd())
			}
			if admit.Header.ControlID != discharge.Header.ControlID && admit.Bundle.Id.Value == discharge.Bundle.Id.Value {
				t.Error("two messages gave the same Bundle (and source Binary) id")
			}
		})
	}
}

func TestPAMFrance(t *testing.T) {
	t.Parallel()
	c := convert(t, "testdata/pam-fr-a01.hl7", testOptions())
	p := one[*ppb.Patient](t, c)
	var ins *dtpb.Identifier
	for _, id := range p.Identifier {
		if id.GetSystem().GetValue() == "urn:oid:1.2.250.1.213.1.4.10" {
			ins = id
		}
	}
	if ins.GetValue().GetValue() != "280057512345642" || ins.GetUse().GetValue().String() != "OFFICIAL" {
		t.Errorf("test INS identifier = %v", ins)
	}
	if len(p.Extension) == 0 || !strings.Contains(fmt.Sprint(p.Extension), "VALI") {
		t.Errorf("PID-32 identity reliability missing: %v", p.Extension)
	}
	if len(p.GeneralPractitioner) != 1 {
		t.Errorf("generalPractitioner = %v, want the PD1-4/ROL ODRP doctor once", p.GeneralPractitioner)
	}
	if got := p.Name[0].GetFamily().GetValue(); got != "DUPONT" {
		t.Errorf("family = %q", got)
	}
	e := one[*encpb.Encounter](t, c)
	if e.ServiceProvider == nil || len(e.Identifier) != 2 || e.Location[0].GetPeriod().GetStart() == nil {
		t.Errorf("ZBE not mapped: provider %v, identifiers %v, location %v", e.ServiceProvider, e.Identifier, e.Location)
	}
	if got := e.GetPeriod().GetStart(); got.GetTimezone() != "+01:00" {
		t.Errorf("PV1-44 without offset read in %q, want the sender's +01:00 (MSH-7)", got.GetTimezone())
	}
	h := c.Header
	want := Header{SendingApplication: "SENDAPP", SendingFacility: "HOPITAL", ReceivingApplication: "RELAIS",
		ReceivingFacility: "RELAIS", ControlID: "PAM0001", MessageCode: "ADT", TriggerEvent: "A01",
		Structure: "ADT_A01", Version: "2.5", ProcessingID: "P"}
	if h.SendingApplication != want.SendingApplication || h.SendingFacility != want.SendingFacility ||
		h.ControlID != want.ControlID || h.TriggerEvent != want.TriggerEvent || h.Version != want.Version ||
		h.Structure != want.Structure || h.ReceivingFacility != want.ReceivingFacility {
		t.Errorf("header = %+v", h)
	}
	if !h.EventTime.Equal(time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC)) || !h.Occurred.Equal(time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("event time %v, occurred %v", h.EventTime, h.Occurred)
	}
}

// TestCharsetsMapped: the same name in ISO 8859-1, 8859-15 and UTF-8 comes
// out as the same UTF-8 text.
func TestCharsetsMapped(t *testing.T) {
	t.Parallel()
	tests := []struct{ file, family, given string }{
		{"charset-8859-1.hl7", "LEFÈVRE", "JOSÉ"},
		{"charset-8859-15.hl7", "ŒUVRE", "ŽELJKO"},
		{"charset-utf8.hl7", "LEFÈVRE", "José"},
		{"charset-undeclared-latin1.hl7", "LEFÈVRE", "JOSÉ"},
		{"escapes.hl7", "O'BRIEN&CO", "ANNE^MARIE"},
	}
	for _, tt := range tests {
		p := one[*ppb.Patient](t, convert(t, "testdata/"+tt.file, testOptions()))
		n := p.Name[0]
		if n.GetFamily().GetValue() != tt.family || n.Given[0].GetValue() != tt.given {
			t.Errorf("%s: name %s %s, want %s %s", tt.file, n.GetFamily().GetValue(), n.Given[0].GetValue(), tt.family, tt.given)
		}
	}
}

// TestBroken: each broken message gives one precise *er7.Error and the
// acknowledgement code it implies.
func TestBroken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		err  string
		ack  er7.AckCode
	}{
		{"unsupported-type.hl7", "hl7v2: MSH-9.1: unsupported message type (ADT, MDM, ORU and REF are)", er7.AR},
		{"unsupported-event.hl7", "hl7v2: MSH-9.2: unsupported trigger event for this message type", er7.AR},
		{"unsupported-version.hl7", "hl7v2: MSH-12.1: unsupported HL7 version (2.3 to 2.8 are)", er7.AR},
		{"no-pid.hl7", "hl7v2: PID: required PID segment missing", er7.AR},
		{"no-patient-id.hl7", "hl7v2: PID-3: no patient identifier in PID-3", er7.AE},
		{"bad-base64.hl7", "hl7v2: OBX-5.5: encapsulated data does not match its encoding (OBX-5.4)", er7.AE},
		{"mdm-without-txa.hl7", "hl7v2: TXA: required TXA segment missing", er7.AR},
		{"bad-escape.hl7", "hl7v2: PID-5.1 at byte 88: unterminated escape sequence", er7.AE},
		{"invalid-utf8.hl7", "hl7v2: PID-5.1 at byte 92: invalid UTF-8", er7.AE},
		{"no-msh.hl7", "hl7v2: segment at byte 0: message does not start with an MSH segment", er7.AR},
		{"bad-encoding-chars.hl7", "hl7v2: MSH-2 at byte 3: invalid or repeated encoding character in MSH-2", er7.AE},
		{"second-msh.hl7", "hl7v2: MSH(2) at byte 77: more than one MSH segment (batches are not supported)", er7.AR},
		// the CI-SIS volet "Transmission de documents CDA en HL7 v2": a
		// deletion's event, ORC-1 and OBX-11 agree (deletion.go)
		{"mdm-t02-deleted.hl7", "hl7v2: OBX-11: a document deletion (ORC-1 CA, OBX-11 D) is sent as MDM T04 or T11, not T02 (CI-SIS volet Transmission de documents CDA en HL7 v2)", er7.AE},
		{"oru-cancelled-final.hl7", "hl7v2: OBX-11: an order cancelled (ORC-1 CA) carries only the documents it deletes, with OBX-11 D (CI-SIS volet Transmission de documents CDA en HL7 v2)", er7.AE},
		{"mdm-t11-without-txa12.hl7", "hl7v2: TXA-12: a document deletion names the document it deletes (TXA-12, unique document number)", er7.AE},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			data := read(t, "testdata/broken/"+tt.file)
			c, err := Convert(data, testOptions())
			var e *er7.Error
			if !errors.As(err, &e) {
				t.Fatalf("Convert = %v, %v; want an *er7.Error", c, err)
			}
			if err.Error() != tt.err {
				t.Errorf("error %q\nwant  %q", err, tt.err)
			}
			if got := er7.CodeFor(false, err); got != tt.ack {
				t.Errorf("ack code %s, want %s", got, tt.ack)
			}
			// The NACK echoes the control ID when MSH could be read.
			nack := string(er7.Nack(data, err))
			if !strings.Contains(nack, "\rMSA|"+string(tt.ack)) && !strings.Contains(nack, "\rMSA|AR") {
				t.Errorf("NACK %q", nack)
			}
		})
	}
}

// TestLabels: every resource carries a data category; restricted and
// psychiatric documents carry their sensitivity labels.
func TestLabels(t *testing.T) {
	t.Parallel()
	for _, s := range samples(t) {
		if _, skip := skipped[s.name]; skip {
			continue
		}
		c := convert(t, s.path, testOptions())
		for _, e := range c.Bundle.Entry {
			r := resource.Unwrap(e.Resource)
			if len(category.Of(r)) == 0 {
				t.Errorf("%s: %s without category", s.name, resource.Type(r))
			}
		}
	}
	doc := one[*drpb.DocumentReference](t, convert(t, "testdata/mdm-t10-pdf.hl7", testOptions()))
	sens := category.SensitivityOf(doc)
	if len(sens) != 2 {
		t.Errorf("T10 psychiatric, restricted document labels = %v, want R and PSY", sens)
	}
	if len(doc.RelatesTo) != 1 || doc.Content[0].Attachment.GetContentType().GetValue() != "application/pdf" {
		t.Errorf("T10: relatesTo %v, content %v", doc.RelatesTo, doc.Content)
	}
	for _, r := range resources[*ppb.Patient](convert(t, sharedCorpus+"/ms-ADT-A01-01.hl7", testOptions())) {
		if len(category.SensitivityOf(r)) == 0 {
			t.Error("ARV (access restriction) did not restrict the Patient")
		}
	}
}

// stubCDA stands in for the CDA mapping: a Patient of its own and a
// Composition about it.
func stubCDA(doc []byte) (*bundle.Result, error) {
	if !strings.Contains(string(doc), "ClinicalDocument") {
		return nil, errors.New("not CDA")
	}
	b := bundle.New(bundle.Mapping{Name: "cda", Version: "test"})
	pid := bundle.ID("cda-patient")
	b.Put(&ppb.Patient{Id: &dtpb.Id{Value: pid}})
	b.Put(&cmpb.Composition{
		Id:      &dtpb.Id{Value: bundle.ID("cda-composition")},
		Status:  &cmpb.Composition_StatusCode{Value: 2},
		Type:    &dtpb.CodeableConcept{Text: &dtpb.String{Value: "Lettre de liaison"}},
		Subject: resource.Ref("Patient", pid),
		Date:    &dtpb.DateTime{ValueUs: 1704880200000000, Timezone: "Z", Precision: dtpb.DateTime_SECOND},
		Author:  []*dtpb.Reference{resource.Ref("Patient", pid)},
		Title:   &dtpb.String{Value: "Lettre de liaison"},
	})
	b.Warn("/ClinicalDocument/component", "stub")
	return b.Finish(bundle.Source{Data: doc, ContentType: CDAContentType}), nil
}

func TestEmbeddedCDA(t *testing.T) {
	t.Parallel()
	plain := convert(t, "testdata/mdm-t02-cda.hl7", testOptions())
	doc := one[*drpb.DocumentReference](t, plain)
	att := doc.Content[0].Attachment
	if att.GetContentType().GetValue() != CDAContentType || !strings.Contains(string(att.GetData().GetValue()), "<ClinicalDocument") {
		t.Fatalf("CDA attachment not decoded: %s", att.GetContentType().GetValue())
	}
	// The same document without its base64 padding, as the ANS's
	// examples of the CI-SIS "Transmission de documents CDA en HL7 v2"
	// send it: the same attachment (RFC 4648 section 3.2).
	msg := read(t, "testdata/mdm-t02-cda.hl7")
	padded := regexp.MustCompile(`=+\|`)
	if !padded.Match(msg) {
		t.Fatal("the test message's base64 has no padding to leave out")
	}
	unpadded, err := Convert(padded.ReplaceAll(msg, []byte("|")), testOptions())
	if err != nil {
		t.Fatalf("unpadded base64: %v", err)
	}
	if got := one[*drpb.DocumentReference](t, unpadded).Content[0].Attachment.GetData().GetValue(); !bytes.Equal(got, att.GetData().GetValue()) {
		t.Errorf("unpadded base64 decodes to %d bytes, padded to %d", len(got), len(att.GetData().GetValue()))
	}
	opts := testOptions()
	opts.EmbeddedCDA = stubCDA
	merged := convert(t, "testdata/mdm-t02-cda.hl7", opts)
	comp := one[*cmpb.Composition](t, merged)
	if got := resource.RefString(comp.Subject); got != merged.Header.Patient {
		t.Errorf("Composition.subject = %s, want the PID patient %s", got, merged.Header.Patient)
	}
	if n := len(resources[*ppb.Patient](merged)); n != 1 {
		t.Errorf("%d Patients after merging, want 1", n)
	}
	doc = one[*drpb.DocumentReference](t, merged)
	if len(doc.GetContext().GetRelated()) != 1 {
		t.Errorf("DocumentReference.context.related = %v", doc.GetContext().GetRelated())
	}
	opts.EmbeddedCDA = func([]byte) (*bundle.Result, error) { return nil, errors.New("boom") }
	failed := convert(t, "testdata/mdm-t02-cda.hl7", opts)
	if !strings.Contains(fmt.Sprint(failed.Issues), "embedded CDA document could not be mapped") {
		t.Errorf("hook failure not reported: %v", failed.Issues)
	}
}

func TestDateTimes(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("", 3600)
	tests := []struct {
		in   string
		ok   bool
		want string
		prec dtpb.DateTime_Precision
	}{
		{"2024", true, "2024-01-01T00:00:00Z", dtpb.DateTime_YEAR},
		{"202402", true, "2024-02-01T00:00:00Z", dtpb.DateTime_MONTH},
		{"20240229", true, "2024-02-29T00:00:00Z", dtpb.DateTime_DAY},
		{"202402291030", true, "2024-02-29T10:30:00+01:00", dtpb.DateTime_SECOND},
		{"20240229103015.123-0500", true, "2024-02-29T10:30:15.123-05:00", dtpb.DateTime_MILLISECOND},
		{"20240229103015.1234", true, "2024-02-29T10:30:15.1234+01:00", dtpb.DateTime_MICROSECOND},
		{"20230229", false, "", 0},
		{"2024022910", true, "2024-02-29T10:00:00+01:00", dtpb.DateTime_SECOND},
		{"20240229106", false, "", 0},
		{"2024-02-29", false, "", 0},
		{"", false, "", 0},
	}
	for _, tt := range tests {
		got, ok := parseDTM(tt.in, paris, nil)
		if ok != tt.ok || (ok && (got.t.Format("2006-01-02T15:04:05.9999Z07:00") != tt.want || got.prec != tt.prec)) {
			t.Errorf("parseDTM(%q) = %v %v %v, want %v %s %v", tt.in, got.t, got.prec, ok, tt.ok, tt.want, tt.prec)
		}
	}
}

// TestSourceZone: with the sender's zone configured (relais serve
// --source-timezone), a time without an offset is read in it, summer
// time included, whatever offset MSH-7 states (HL7 v2.5 section 2A.3.22:
// a DTM without an offset is the sender's local time).
func TestSourceZone(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for admit, want := range map[string]string{"20260110080000": "2026-01-10T08:00:00+01:00", "20260710080000": "2026-07-10T08:00:00+02:00"} {
		msg := "MSH|^~\\&|HIS|CHU|RELAIS|RELAIS|20260710080000+0200||ADT^A01^ADT_A01|Z1|P|2.5\r" +
			"PID|1||IPP-1^^^CHU&1.2.250.1.999.7&ISO^PI||DUPONT^JEAN||19480909|M\r" +
			"PV1|1|I|||||||||||||||||V-1^^^CHU&1.2.250.1.999.8&ISO^VN|||||||||||||||||||||||||" + admit + "\r"
		cv, err := Convert([]byte(msg), Options{Zone: paris})
		if err != nil {
			t.Fatal(err)
		}
		encs := resources[*encpb.Encounter](cv)
		if len(encs) != 1 {
			t.Fatalf("%d Encounters", len(encs))
		}
		start := encs[0].GetPeriod().GetStart()
		got := time.UnixMicro(start.GetValueUs()).In(paris).Format(time.RFC3339)
		if got != want {
			t.Errorf("PV1-44 %s read as %s, want %s", admit, got, want)
		}
		if tz := start.GetTimezone(); tz != want[len(want)-6:] {
			t.Errorf("PV1-44 %s: zone %q, want the offset %s", admit, tz, want[len(want)-6:])
		}
	}
}

// TestBirthPlaceAndCommune: IHE France gives the INSEE (COG) code of a
// commune in XAD-9 (ITI Appendix N France): of the commune of birth on
// the birth place address (XAD-7 BDL, a trait of the INS), which becomes
// the patient-birthPlace extension and not an address of hers, and of
// the commune she lives in on her home address; both carry FR Core's
// INSEE code extension. A foreign country's code (99...) is not a
// commune's, and five digits in a message that is not French are not one.
func TestBirthPlaceAndCommune(t *testing.T) {
	t.Parallel()
	msg := func(country, addresses string) []byte {
		return []byte("MSH|^~\\&|GAM|HOP|RELAIS|RELAIS|20210318151910||ADT^A31^ADT_A05|C1|P|2.5" + country + "\r" +
			"EVN||20210318151910\r" +
			"PID|1||1900068^^^&350000121&M^PI||DARK^JEANNE^^^^^L||19600530|F|||" + addresses + "\r" +
			"PV1|1|N\r")
	}
	insee := func(a *dtpb.Address) string {
		for _, x := range a.GetExtension() {
			if x.GetUrl().GetValue() == terminology.AddressINSEE {
				return x.GetValue().GetCoding().GetCode().GetValue()
			}
		}
		return ""
	}
	born := func(p *ppb.Patient) *dtpb.Address {
		for _, x := range p.GetExtension() {
			if x.GetUrl().GetValue() == "http://hl7.org/fhir/StructureDefinition/patient-birthPlace" {
				return x.GetValue().GetAddress()
			}
		}
		return nil
	}
	c, err := Convert(msg("^FRA^2.10", "^^^^^FRA^BDL^^88154~3 RUE DU CHATEAU^^AMBOISE^^37400^^H^^37003"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := one[*ppb.Patient](t, c)
	if b := born(p); insee(b) != "88154" || b.GetCountry().GetValue() != "FRA" {
		t.Errorf("birth place %v", b)
	}
	if len(p.Address) != 1 || insee(p.Address[0]) != "37003" {
		t.Errorf("addresses %v, want her home in commune 37003", p.Address)
	}
	c, err = Convert(msg("^FRA^2.10", "^^^^^MAR^BDL^^99350"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b := born(one[*ppb.Patient](t, c)); b == nil || insee(b) != "" || b.GetCountry().GetValue() != "MAR" {
		t.Errorf("born abroad: %v", b)
	}
	c, err = Convert(msg("", "1 MAIN ST^^SPRINGFIELD^IL^62701^^H^^17167"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if p := one[*ppb.Patient](t, c); len(p.Address) != 1 || insee(p.Address[0]) != "" {
		t.Errorf("a county code outside France taken as a commune's: %v", p.Address)
	}
}

// TestDischargeDestination: PAM France says where the patient goes in the
// PMSI mode of discharge (ZFM-2, and ZFM-4 for a transfer; section 6.17)
// and the establishment of destination (PV1-37, its FINESS number;
// section 6.10.16): an A03's become the Encounter's discharge disposition
// (FHIR's codes) and destination. The ZFM of a transfer within the
// hospital (A02) ends nothing and is reported as not mapped.
func TestDischargeDestination(t *testing.T) {
	t.Parallel()
	msg := func(ev, pv137, zfm string) []byte {
		return []byte("MSH|^~\\&|GAM|HOP|RELAIS|RELAIS|20260305090000+0100||ADT^" + ev + "^ADT_A03|C1|P|2.5^FRA^2.10\r" +
			"EVN||20260305090000+0100\r" +
			"PID|1||1900068^^^HOP&1.2.250.1.999.1.1&ISO^PI||DARK^JEANNE^^^^^L||19600530|F\r" +
			"PV1|1|I|CARD^210^1||||||||||||||||V-1^^^HOP&1.2.250.1.999.1.1&ISO^VN" + strings.Repeat("|", 37-19) + pv137 + "\r" +
			zfm + "\r")
	}
	disposition := func(e *encpb.Encounter) string {
		for _, c := range e.GetHospitalization().GetDischargeDisposition().GetCoding() {
			if c.GetSystem().GetValue() == DischargeDispositionSystem {
				return c.GetCode().GetValue()
			}
		}
		return ""
	}
	for _, c := range []struct{ ev, zfm, want string }{
		{"A03", "ZFM||9", "exp"},
		{"A03", "ZFM||8", "home"},
		{"A03", "ZFM||7||2", "rehab"},
		{"A02", "ZFM||6", ""},
	} {
		conv, err := Convert(msg(c.ev, "", c.zfm), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if got := disposition(one[*encpb.Encounter](t, conv)); got != c.want {
			t.Errorf("%s %s: discharge disposition %q, want %q", c.ev, c.zfm, got, c.want)
		}
	}
	conv, err := Convert(msg("A03", "590780193", "ZFM||7||1"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d := one[*encpb.Encounter](t, conv).GetHospitalization().GetDestination().GetIdentifier(); d.GetValue().GetValue() != "590780193" {
		t.Errorf("destination %v", d)
	}
}

// TestSourceLabels: the source Binary holds the whole message, what was
// not mapped included, so it is labelled for that too: CLIN when anything
// was left unmapped (as the warnings that name it), and PSY when the
// message carries a psychiatric legal care mode (IHE PAM France section
// 6.19, segment ZFS: care without consent), which is never released
// without a provision naming it; so is the warnings outcome that names
// the segment.
func TestSourceLabels(t *testing.T) {
	t.Parallel()
	msg := func(extra string) []byte {
		return []byte("MSH|^~\\&|GAM|HOP|RELAIS|RELAIS|20260305090000+0100||ADT^A01^ADT_A01|C1|P|2.5^FRA^2.10\r" +
			"EVN||20260305090000+0100\r" +
			"PID|1||1900068^^^HOP&1.2.250.1.999.1.1&ISO^PI||DARK^JEANNE^^^^^L||19600530|F\r" +
			"PV1|1|I|PSY^12^1||||||||||||||||V-1^^^HOP&1.2.250.1.999.1.1&ISO^VN\r" + extra)
	}
	labels := func(conv *Converted, typ string) (cats []category.Code, sens []category.Sensitivity) {
		for _, e := range conv.Bundle.Entry {
			if r := resource.Unwrap(e.Resource); resource.Type(r) == typ {
				return category.Of(r), category.SensitivityOf(r)
			}
		}
		t.Fatalf("no %s", typ)
		return nil, nil
	}
	conv, err := Convert(msg("ZFS|1|12456789^AUTORITE|20260305090000||INSERT|SDT|3\r"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Binary", "OperationOutcome"} {
		cats, sens := labels(conv, typ)
		if !slices.Contains(sens, category.PSY) || !slices.Contains(cats, category.CLIN) {
			t.Errorf("%s of a message with ZFS: %v %v, want CLIN and PSY", typ, cats, sens)
		}
	}
	if _, sens := labels(conv, "Encounter"); len(sens) != 0 {
		t.Errorf("Encounter: %v (ZFS is not mapped to it)", sens)
	}
	conv, err = Convert(msg("ZFP|3|42\r"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if cats, sens := labels(conv, "Binary"); !slices.Contains(cats, category.CLIN) || len(sens) != 0 {
		t.Errorf("Binary of a message with an unmapped segment: %v %v, want CLIN, no sensitivity", cats, sens)
	}
}

// TestNIASupersededByNIR: a PID-3 carrying both the INS-NIA and the
// INS-NIR of a patient (IHE PAM France section 4.4.1, the NIA replaced by
// the NIR) gives the NIR as her INS: the NIA is kept as an old
// identifier, not a second official one.
func TestNIASupersededByNIR(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ nia, nir string }{
		"production": {"1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.8"},
		"test":       {"1.2.250.1.213.1.4.11", "1.2.250.1.213.1.4.10"},
	} {
		msg := "MSH|^~\\&|GAM|HOP|RELAIS|RELAIS|20260305090000+0100||ADT^A31^ADT_A05|C1|P|2.5^FRA^2.10\r" +
			"EVN||20260305090000+0100\r" +
			"PID|1||1900068^^^HOP&1.2.250.1.999.1.1&ISO^PI~260058815400244^^^ASIP-SANTE-INS-NIA&" + c.nia + "&ISO^INS~260058815400233^^^ASIP-SANTE-INS-NIR&" + c.nir + "&ISO^INS||DARK^JEANNE^^^^^L||19600530|F|||||||||||||||||||||N||VALI\r" +
			"PV1|1|N\r"
		conv, err := Convert([]byte(msg), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		uses := map[string]string{}
		for _, id := range one[*ppb.Patient](t, conv).GetIdentifier() {
			uses[id.GetSystem().GetValue()] = id.GetUse().GetValue().String()
		}
		if uses["urn:oid:"+c.nir] != "OFFICIAL" || uses["urn:oid:"+c.nia] != "OLD" {
			t.Errorf("%s: identifier uses %v, want the NIR official and the NIA old", name, uses)
		}
	}
}

// TestDeathCorrected: PID-29/30 (HL7 v2.5 section 3.4.2.29-30) as an A31
// sends them: a death dated or indicated is mapped; an absent field leaves
// the stored value (no deceased[x]); the null `""` deletes it (section
// 2.5.3), which a correction of a death reported in error sends: the
// Patient is then stated not deceased, as PID-30 N states it.
func TestDeathCorrected(t *testing.T) {
	t.Parallel()
	msg := func(death string) []byte {
		return []byte("MSH|^~\\&|GAM|HOP|RELAIS|RELAIS|20260318151910||ADT^A31^ADT_A05|C1|P|2.5\r" +
			"EVN||20260318151910\r" +
			"PID|1||1900068^^^&350000121&M^PI||DARK^JEANNE^^^^^L||19600530|F" + strings.Repeat("|", 21) + death + "\r" +
			"PV1|1|N\r")
	}
	for death, want := range map[string]string{
		"202603171030|Y": `dateTime`,
		"|Y":             "true",
		"|N":             "false",
		`|""`:            "false",
		`""|""`:          "false",
		"":               "absent",
		"|":              "absent",
	} {
		c, err := Convert(msg(death), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		d := one[*ppb.Patient](t, c).GetDeceased()
		got := "absent"
		switch {
		case d.GetDateTime() != nil:
			got = "dateTime"
		case d.GetBoolean() != nil:
			got = strconv.FormatBool(d.GetBoolean().GetValue())
		}
		if got != want {
			t.Errorf("PID-29|PID-30 %q: deceased %s, want %s", death, got, want)
		}
		for _, is := range c.Issues {
			if strings.Contains(fmt.Sprint(is), "PID") {
				t.Errorf("PID-29|PID-30 %q: %v", death, is)
			}
		}
	}
}
