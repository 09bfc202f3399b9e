package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"
	ppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/parameters_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/fhir/strictjson"
	"github.com/relais-health/relais/gateway/access"
	"github.com/relais-health/relais/gateway/auth"
	"github.com/relais-health/relais/gateway/consent"
)

// evaluateConsent: POST /fhir/Consent/$evaluate. It takes and answers a
// Parameters resource: may actor receive this resource of patient
// for purpose? A draft Consent is evaluated as if saved, for administrators'
// what-ifs. Needs read access to Consents.
func (a *API) evaluateConsent(w http.ResponseWriter, r *http.Request) error {
	// The answer tells, for any actor, what a patient's Consents say and
	// which labels a resource carries: the consent office's application
	// (a system scope reading Consent) asks, not a professional.
	self, err := a.consentOffice(r, "Consent", auth.Read,
		"$evaluate is for the consent office (a system scope that reads Consent, or a consent administrator) and for the patient about herself")
	if err != nil {
		return err
	}
	if err := checkContentType(r); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	params, embedded, err := a.decodeParameters(body)
	if err != nil {
		return err
	}
	req, err := a.evaluationRequest(r, params, embedded)
	if err != nil {
		return err
	}
	if self != "" && req.Patient != self {
		return outcome.New(outcome.Forbidden, "a patient evaluates her own Consents only")
	}
	p := callOf(r).p
	req.EvaluatedBy, req.Token, req.Client = p.FHIRUser, p.TokenID, p.ClientID
	if req.EvaluatedBy == "" && p.ClientID != "" {
		req.EvaluatedBy = "client:" + p.ClientID
	}
	if req.EvaluatedBy == "" {
		req.EvaluatedBy = "unidentified" // recorded as an unidentified requester
	}
	d, err := a.consent.Decide(r.Context(), req)
	if err != nil {
		return err
	}
	out, err := a.codec.Encode(decisionParameters(d))
	if err != nil {
		return err
	}
	w.Header().Set(headerDecision, d.ID)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decodeParameters decodes a Parameters resource. google/fhir v0.7.4's
// jsonformat reads an Any only under "contained", not Parameters.parameter
// .resource, so the embedded resources are lifted out of the JSON and
// decoded on their own; they are returned by parameter index.
func (a *API) decodeParameters(body []byte) (*ppb.Parameters, map[int]proto.Message, error) {
	// Checked here, not only by Decode: the maps below would keep the last
	// of two equal keys.
	if err := strictjson.Check(body); err != nil {
		return nil, nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, outcome.New(outcome.Invalid, "invalid JSON")
	}
	var params []map[string]json.RawMessage
	if raw, ok := doc["parameter"]; ok {
		if err := json.Unmarshal(raw, &params); err != nil {
			return nil, nil, outcome.New(outcome.Invalid, "Parameters.parameter must be an array of objects")
		}
	}
	embedded := map[int]proto.Message{}
	for i, p := range params {
		raw, ok := p["resource"]
		if !ok {
			continue
		}
		m, err := a.codec.Decode(raw)
		if err != nil {
			return nil, nil, err
		}
		embedded[i] = m
		delete(p, "resource")
	}
	if len(embedded) > 0 {
		rest, err := json.Marshal(params)
		if err != nil {
			return nil, nil, err
		}
		doc["parameter"] = rest
		if body, err = json.Marshal(doc); err != nil {
			return nil, nil, err
		}
	}
	m, err := a.codec.Decode(body)
	if err != nil {
		return nil, nil, err
	}
	params2, ok := m.(*ppb.Parameters)
	if !ok {
		return nil, nil, outcome.New(outcome.Invalid, "the body must be a Parameters resource")
	}
	return params2, embedded, nil
}

// evaluationRequest reads the input parameters into an engine request.
func (a *API) evaluationRequest(r *http.Request, in *ppb.Parameters, embedded map[int]proto.Message) (consent.Request, error) {
	req, resourceRef, err := readEvaluation(in, embedded)
	if err != nil {
		return req, err
	}
	if resourceRef != "" {
		if err := a.resourceFacts(r, &req, resourceRef); err != nil {
			return req, err
		}
	}
	switch {
	case !strings.HasPrefix(req.Patient, "Patient/"):
		return req, badEvaluation("patient", "patient is required, as a reference to a Patient")
	case req.Actor == "":
		return req, badEvaluation("actor", "actor is required")
	case req.Resource.Type == "" || !resource.Known(req.Resource.Type):
		return req, badEvaluation("resourceType", "give resource, or resourceType with securityLabel, code and date")
	}
	return req, nil
}

func badEvaluation(name, text string) error {
	return outcome.New(outcome.Invalid, "invalid $evaluate parameters",
		outcome.Issue{Severity: outcome.SevError, Path: "Parameters.parameter." + name, Text: text})
}

// readEvaluation reads the $evaluate parameters into a request, and the
// stored resource it names, if any (evaluationRequest reads it).
func readEvaluation(in *ppb.Parameters, embedded map[int]proto.Message) (req consent.Request, resourceRef string, err error) {
	req = consent.Request{Action: consent.ActionAccess, Purpose: consent.PurposeTreat}
	for i, p := range in.GetParameter() {
		v := p.GetValue()
		name := p.GetName().GetValue()
		// Each parameter has its types (R4 parameters.html, value[x]); one
		// sent as another type is refused, not read as absent, which would
		// answer for the defaults (access, TREAT, no date) a question that
		// was not asked.
		if want, known := evaluateTypes[name]; known && !valueIs(v, want) {
			return req, "", badEvaluation(name, name+" takes "+strings.Join(want, " or "))
		}
		switch name {
		case "patient":
			req.Patient = resource.RefString(v.GetReference())
		case "actor":
			req.Actor = resource.RefString(v.GetReference())
		case "action":
			req.Action = v.GetCode().GetValue()
		case "purpose":
			req.Purpose = v.GetCoding().GetCode().GetValue()
		case "resource":
			resourceRef = resource.RefString(v.GetReference())
		case "resourceType":
			req.Resource.Type = v.GetCode().GetValue()
		case "securityLabel":
			c := v.GetCoding()
			if c.GetSystem().GetValue() == category.System {
				req.Resource.Categories = append(req.Resource.Categories, category.Code(c.GetCode().GetValue()))
			} else {
				req.Resource.Labels = append(req.Resource.Labels, category.Sensitivity{System: c.GetSystem().GetValue(), Code: c.GetCode().GetValue()})
			}
		case "code":
			// As the search index holds a resource's codes, which code
			// provisions are matched against.
			codings := v.GetCodeableConcept().GetCoding()
			if c := v.GetCoding(); c != nil {
				codings = []*dtpb.Coding{c}
			}
			for _, c := range codings {
				req.Resource.Codes = append(req.Resource.Codes, c.GetSystem().GetValue()+"|"+c.GetCode().GetValue())
			}
		case "date":
			if dt := v.GetDateTime(); dt != nil {
				req.Resource.Date = time.UnixMicro(dt.GetValueUs())
			} else {
				req.Resource.Date = time.UnixMicro(v.GetDate().GetValueUs())
			}
		case "explain":
			req.Explain = v.GetBoolean().GetValue()
		case "consent":
			draft, ok := embedded[i].(*cpb.Consent)
			if !ok {
				return req, "", badEvaluation(name, "consent must carry a Consent resource")
			}
			if err := validateWrite(draft); err != nil {
				return req, "", err
			}
			req.Draft = draft
		default:
			return req, "", badEvaluation(name, "unknown parameter "+strconv.Quote(name))
		}
	}
	return req, resourceRef, nil
}

// evaluateTypes are the value types each $evaluate parameter takes
// (consent, a resource, is checked apart).
var evaluateTypes = map[string][]string{
	"patient": {"valueReference"}, "actor": {"valueReference"}, "resource": {"valueReference"},
	"action": {"valueCode"}, "purpose": {"valueCoding"}, "resourceType": {"valueCode"},
	"securityLabel": {"valueCoding"}, "code": {"valueCoding", "valueCodeableConcept"},
	"date": {"valueDateTime", "valueDate"}, "explain": {"valueBoolean"},
}

// valueIs reports whether v is of one of the types.
func valueIs(v *ppb.Parameters_Parameter_ValueX, types []string) bool {
	for _, t := range types {
		var ok bool
		switch t {
		case "valueReference":
			ok = v.GetReference() != nil
		case "valueCode":
			ok = v.GetCode() != nil
		case "valueCoding":
			ok = v.GetCoding() != nil
		case "valueCodeableConcept":
			ok = v.GetCodeableConcept() != nil
		case "valueDateTime":
			ok = v.GetDateTime() != nil
		case "valueDate":
			ok = v.GetDate() != nil
		case "valueBoolean":
			ok = v.GetBoolean() != nil
		}
		if ok {
			return true
		}
	}
	return false
}

// resourceFacts fills the request from a stored resource, which the
// caller must be able to read: the answer depends on what the resource
// holds (its labels, its codes against a draft Consent's provisions), so
// one the caller may not read is answered as one that does not exist.
func (a *API) resourceFacts(r *http.Request, req *consent.Request, ref string) error {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok || !resource.Known(typ) {
		return outcome.New(outcome.Invalid, "resource must be a Type/id reference")
	}
	rec, err := a.readAsCaller(r, typ, id)
	if err != nil {
		return err
	}
	m, err := a.codec.DecodeStored(rec.JSON)
	if err != nil {
		return outcome.Wrap(outcome.Internal, "stored resource unreadable", err)
	}
	x := consent.FactsOf(m)
	req.Resource = x.Facts
	if req.Patient == "" && len(x.Patients) > 0 {
		req.Patient = x.Patients[0]
	}
	return nil
}

// decisionParameters renders a decision as the output Parameters.
func decisionParameters(d consent.Decision) *ppb.Parameters {
	out := &ppb.Parameters{}
	add := func(name string, v *ppb.Parameters_Parameter_ValueX) {
		out.Parameter = append(out.Parameter, &ppb.Parameters_Parameter{Name: &dtpb.String{Value: name}, Value: v})
	}
	str := func(s string) *ppb.Parameters_Parameter_ValueX {
		return &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_StringValue{StringValue: &dtpb.String{Value: s}}}
	}
	outcomeCode := "deny"
	if d.Permit {
		outcomeCode = "permit"
	}
	add("decision", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Code{Code: &dtpb.Code{Value: outcomeCode}}})
	add("decisionId", str(d.ID))
	for _, b := range d.Basis {
		ref := &dtpb.Reference{}
		resource.SetRefString(ref, b)
		add("basis", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Reference{Reference: ref}})
	}
	if d.Provision != "" {
		add("provision", str(d.Provision))
	}
	if d.Policy != "" {
		add("policy", str(d.Policy))
	}
	for _, c := range d.Obligations {
		add("obligation", &ppb.Parameters_Parameter_ValueX{Choice: &ppb.Parameters_Parameter_ValueX_Coding{Coding: c.Coding()}})
	}
	if len(d.Trace) > 0 {
		ex := &ppb.Parameters_Parameter{Name: &dtpb.String{Value: "explanation"}}
		for _, line := range d.Trace {
			ex.Part = append(ex.Part, &ppb.Parameters_Parameter{Name: &dtpb.String{Value: "step"}, Value: str(line)})
		}
		out.Parameter = append(out.Parameter, ex)
	}
	return out
}

// decisions: GET /admin/decisions?patient=&actor=&breakGlass=true&since=&until=&_count=
// lists decision records, newest first, for administrators (those who may
// read AuditEvents). The answer is JSON, not FHIR: {"decisions": [...]},
// and "next", the URL of the next page, when more follow; its cursor
// (_before) is sealed for the caller and the query, as the audit log's
// search pages are (writeAuditBundle).
func (a *API) listDecisions(w http.ResponseWriter, r *http.Request) error {
	// The log names every caller's decisions and break-the-glass reasons:
	// a professional's user scope does not open it, a system one does.
	self, err := a.consentOffice(r, "AuditEvent", auth.Search,
		"the decision log is for a system scope that searches AuditEvent, a consent administrator, and the patient about herself")
	if err != nil {
		return err
	}
	v := r.URL.Query()
	q := consent.Query{Patient: v.Get("patient"), Actor: v.Get("actor"), BreakGlass: v.Get("breakGlass") == "true", Limit: 100}
	if self != "" {
		if q.Patient != "" && q.Patient != self {
			return outcome.New(outcome.Forbidden, "a patient reads the decisions about herself only")
		}
		q.Patient = self // who accessed her data
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return outcome.New(outcome.Invalid, name+" must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	if s := v.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return outcome.New(outcome.Invalid, "_count must be a positive integer")
		}
		q.Limit = min(n, search.MaxCount)
	}
	query := url.Values{}
	for _, k := range []string{"patient", "actor", "breakGlass", "since", "until"} {
		if s := v.Get(k); s != "" {
			query.Set(k, s)
		}
	}
	bound := pageOwner(r) + "\x00/admin/decisions\x00" + query.Encode()
	if s := v.Get("_before"); s != "" {
		pos, ok := openAuditCursor(a.cursors, s, bound)
		if !ok {
			return outcome.New(outcome.Gone, "decision log cursor expired or unknown; list again")
		}
		q.Before = pos
	}
	recs, next, err := a.decisions.Page(q)
	if err != nil {
		return err
	}
	out := map[string]any{"decisions": recs}
	if next != (store.AuditPos{}) {
		query.Set("_count", strconv.Itoa(q.Limit))
		query.Set("_before", sealAuditCursor(a.cursors, next, bound))
		out["next"] = a.base(r) + "/admin/decisions?" + query.Encode()
	}
	return writePlainJSON(w, out)
}

// consentOffice admits the callers of the consent office's routes: a
// system scope granting op on typ, a consent administrator whose scopes
// grant it, or a patient (or her legal representative) whose scopes grant
// it, about herself only: self is then her "Patient/id", which the route
// must hold the request to.
func (a *API) consentOffice(r *http.Request, typ string, op auth.Op, refusal string) (self string, err error) {
	p, _ := auth.FromContext(r.Context())
	if grantsAsSystem(p, typ, op) {
		return "", nil
	}
	if allow(r, typ, op) == nil && p.FHIRUser != "" {
		who, err := a.callerOf(r)
		if err != nil {
			return "", err
		}
		switch who.Class {
		case access.ConsentAdministrator:
			return "", nil
		case access.Patient, access.Representative:
			return who.Patient, nil
		}
	}
	return "", outcome.New(outcome.Forbidden, refusal)
}
