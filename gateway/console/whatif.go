package console

import (
	"net/http"
	"strings"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	consentpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/parameters_go_proto"
	ptpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/patient_go_proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/resource"
)

// The what-if panel: "could the physiotherapist see the discharge
// letter?", asked of the API's $evaluate operation (README, "Consent")
// with its explanation. It is a GET form: it changes nothing.

// subject is a kind of data the panel asks about: a resource type and the
// data category it carries.
type subject struct {
	Key, Type string
	Cat       category.Code
}

var subjects = []subject{
	{"letter", "DocumentReference", category.CLIN},
	{"diagnoses", "Condition", category.CLIN},
	{"medication", "MedicationRequest", category.MED},
	{"tasks", "Task", category.ORD},
	{"autonomy", "QuestionnaireResponse", category.FUNC},
	{"social", "Observation", category.SOC},
	{"identity", "Patient", category.ADM},
}

type whatIfData struct {
	Directory []party
	Subjects  []subject
	Actor     string
	Subject   string
	Asked     bool
	Permit    bool
	Basis     []string // the deciding Consents, as the consents page says them
	Provision string
	Policy    string // the base rule, in words
	Passes    []string
	Steps     []string
}

func (c *Console) whatIf(w http.ResponseWriter, r *http.Request, s *session) error {
	k := c.callerOf(r, s)
	dir := directoryOf(k)
	p, err := c.loadPatient(k, r, dir)
	if err != nil {
		return err
	}
	v := c.newView(r, s, "title.whatif")
	v.Patient, v.Tab = p, "what-if"
	d := whatIfData{Directory: dir.recipients(), Subjects: subjects, Actor: r.URL.Query().Get("actor"), Subject: r.URL.Query().Get("what")}
	var sub *subject
	for i := range subjects {
		if subjects[i].Key == d.Subject {
			sub = &subjects[i]
		}
	}
	if d.Actor != "" && sub != nil {
		if err := c.evaluate(k, p.ID, *sub, dir, v.lang, &d); err != nil {
			return err
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "whatif", v)
	return nil
}

// evaluate asks $evaluate whether d.Actor may receive sub of the patient.
func (c *Console) evaluate(k caller, patient string, sub subject, dir *directory, l lang, d *whatIfData) error {
	in := &ppb.Parameters{}
	add := func(name string, v *ppb.Parameters_Parameter_ValueX) {
		in.Parameter = append(in.Parameter, &ppb.Parameters_Parameter{Name: &dtpb.String{Value: name}, Value: v})
	}
	ref := func(s string) *ppb.Parameters_Parameter_ValueX {
		r := &dtpb.Reference{}
		resource.SetRefString(r, s)
		return &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Reference{Reference: r}}
	}
	add("patient", ref("Patient/"+patient))
	add("actor", ref(d.Actor))
	add("resourceType", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Code{Code: &dtpb.Code{Value: sub.Type}}})
	add("securityLabel", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Coding{Coding: &dtpb.Coding{
		System: &dtpb.Uri{Value: category.System}, Code: &dtpb.Code{Value: string(sub.Cat)}}}})
	add("explain", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Boolean{Boolean: &dtpb.Boolean{Value: true}}})
	body, err := c.api.codec.Encode(in)
	if err != nil {
		return err
	}
	res, err := k.do("POST", "/fhir/Consent/$evaluate", body, http.Header{"Content-Type": {"application/fhir+json"}})
	if err != nil {
		return err
	}
	m, err := c.api.codec.Decode(res.body)
	if err != nil {
		return err
	}
	out, _ := m.(*ppb.Parameters)
	patientName := ""
	if pm, _, err := k.read("/fhir/Patient/" + patient); err == nil {
		if p, ok := pm.(*ptpb.Patient); ok {
			patientName = humanName(p.GetName())
		}
	}
	d.Asked = true
	for _, prm := range out.GetParameter() {
		val := prm.GetValue()
		switch prm.GetName().GetValue() {
		case "decision":
			d.Permit = val.GetCode().GetValue() == "permit"
		case "basis":
			d.Basis = append(d.Basis, c.consentSentence(k, resource.RefString(val.GetReference()), patientName, dir, l))
		case "provision":
			d.Provision = val.GetStringValue().GetValue()
		case "policy":
			d.Policy = l.t("policy." + val.GetStringValue().GetValue())
		case "obligation":
			d.Passes = append(d.Passes, l.t("cat."+val.GetCoding().GetCode().GetValue()))
		case "explanation":
			for _, part := range prm.GetPart() {
				d.Steps = append(d.Steps, part.GetValue().GetStringValue().GetValue())
			}
		}
	}
	return nil
}

// consentSentence says the Consent at ref in plain words, as the consents
// page does; a Consent the caller may not read stays a reference.
func (c *Console) consentSentence(k caller, ref, patient string, dir *directory, l lang) string {
	if !strings.HasPrefix(ref, "Consent/") {
		return ref
	}
	m, _, err := k.read("/fhir/" + ref)
	cn, ok := m.(*consentpb.Consent)
	if err != nil || !ok {
		return ref
	}
	return sentence(l, patient, cn, dir)
}
