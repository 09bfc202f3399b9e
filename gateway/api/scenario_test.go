package api_test

// Discharge-routing scenarios, end to end through the HTTP API with real
// signed tokens: a directory of community professionals, a patient with a
// French address, a finished stay that makes her eligible for a pathway
// (gateway/pathways), POST /fhir/Encounter/{id}/$route with a system
// token, then what each recipient finds with her own token. The expected
// behaviour is DESIGN.md's "Pathways" and "Consent model"; the resources
// are FHIR R4 CarePlan, ServiceRequest and Task
// (https://hl7.org/fhir/R4/task.html, "Task state machine").

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	cppb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/care_plan_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
	"github.com/relais-health/relais/mappings/terminology"
)

// The stay every scenario discharges: Lille (INSEE 59350, département 59,
// région 32), the hospital its serviceProvider.
const (
	scenDischarge = "2026-03-05T10:00:00Z"
	scenHospital  = "Organization/chu-lille"
	scenGP        = "PractitionerRole/gp-own" // Patient.generalPractitioner
	scenOfficer   = "PractitionerRole/consent-officer"
	lilleAddress  = `{"use":"home","line":["1 rue Nationale"],"city":"Lille","postalCode":"59000","country":"FR"}`
)

var scenDischargeAt = time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)

// Codings of the roles the directory reads (gateway/directory RoleCodes).
func g15(code string) string { return coding(terminology.TREG15, code) }
func r38(code string) string { return coding(directory.TRER38, code) }
func r85(code string) string { return coding(terminology.TRER85, code) }
func r94(code string) string { return coding(terminology.TRER94, code) }
func coding(system, code string) string {
	return `{"system":"` + system + `","code":"` + code + `"}`
}

// territory is a ROR ror-territorial-division extension: level 2
// (département) or 3 (commune) of JDV_J223, and the COG code.
func territory(level, code string) string {
	return `{"url":"` + directory.ExtTerritorialDivision + `","extension":[` +
		`{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR","code":"` + level + `"}]}},` +
		`{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune","code":"` + code + `"}]}}]}`
}

// scenario is an API env holding the default pathways and a directory
// built by its methods.
type scenario struct {
	*env
	t       *testing.T
	entries []string // directory resources not written yet
}

// newScenario is an env with the default pathways, the hospital, its
// consent officer, and the patient's own GP.
func newScenario(t *testing.T) *scenario {
	t.Helper()
	e := newEnv(t, 0)
	if err := pathways.Load(context.Background(), e.store, testCodec); err != nil {
		t.Fatal(err)
	}
	s := &scenario{env: e, t: t}
	s.org("chu-lille")
	s.add(`{"resourceType":"PractitionerRole","id":"consent-officer","active":true,"organization":{"reference":"Organization/chu-lille"},` +
		`"code":[{"coding":[{"system":"https://relais-health.github.io/fhir/CodeSystem/role","code":"consent-administrator"}]}]}`)
	s.org("cabinet-lille", territory("3", "59350"))
	s.professional("gp-own", "cabinet-lille", nil, []string{g15("10")}, r38("SM54"))
	return s
}

// add queues a resource for the next write.
func (s *scenario) add(res string) { s.entries = append(s.entries, res) }

// org queues an active Organization covering territories.
func (s *scenario) org(id string, territories ...string) {
	s.add(`{"resourceType":"Organization","id":"` + id + `","active":true,"name":"` + id + `"` + list("extension", territories) + `}`)
}

// professional queues a PractitionerRole of org (and its Practitioner,
// speaking langs) with the codes and specialties given.
func (s *scenario) professional(id, org string, langs []string, codes []string, specialties ...string) {
	comm := make([]string, len(langs))
	for i, l := range langs {
		comm[i] = `{"coding":[{"system":"urn:ietf:bcp:47","code":"` + l + `"}]}`
	}
	s.add(`{"resourceType":"Practitioner","id":"` + id + `-p","name":[{"family":"` + id + `"}]` + list("communication", comm) + `}`)
	spec := ""
	if len(specialties) > 0 {
		spec = `,"specialty":[{"coding":[` + strings.Join(specialties, ",") + `]}]`
	}
	s.add(`{"resourceType":"PractitionerRole","id":"` + id + `","active":true,"practitioner":{"reference":"Practitioner/` + id + `-p"},` +
		`"organization":{"reference":"Organization/` + org + `"},"code":[{"coding":[` + strings.Join(codes, ",") + `]}]` + spec + `}`)
}

// list is a JSON array property of the elements given, none when empty
// (FHIR JSON has no empty arrays).
func list(name string, elements []string) string {
	if len(elements) == 0 {
		return ""
	}
	return `,"` + name + `":[` + strings.Join(elements, ",") + `]`
}

// write stores what was queued, in one transaction of PUTs.
func (s *scenario) write() {
	s.t.Helper()
	if len(s.entries) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"transaction","entry":[`)
	for i, res := range s.entries {
		m, err := testCodec.Decode([]byte(res))
		if err != nil {
			s.t.Fatalf("fixture %s: %v", res, err)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"resource":%s,"request":{"method":"PUT","url":"%s/%s"}}`, res, resource.Type(m), resource.ID(m))
	}
	b.WriteString(`]}`)
	s.entries = nil
	if r := s.do("POST", "/fhir", b.String()); r.status != 200 {
		s.t.Fatalf("writing the fixture: %d %s", r.status, r.body)
	}
}

// stay describes a discharge.
type stay struct {
	patient, encounter string
	birthDate, gender  string
	address            string // JSON Address
	languages          []string
	diagnoses          []string // ICD-10 codes of the stay's Conditions
	procedures         []string // SNOMED CT codes of the stay's Procedures
}

// discharge queues the patient (whose GP is scenGP), the finished
// Encounter and its Conditions and Procedures, and writes everything
// queued.
func (s *scenario) discharge(st stay) {
	s.t.Helper()
	if st.address == "" {
		st.address = lilleAddress
	}
	if st.gender == "" {
		st.gender = "female"
	}
	comm := make([]string, len(st.languages))
	for i, l := range st.languages {
		comm[i] = `{"language":{"coding":[{"system":"urn:ietf:bcp:47","code":"` + l + `"}]}}`
	}
	s.add(`{"resourceType":"Patient","id":"` + st.patient + `","name":[{"family":"` + st.patient + `"}],"gender":"` + st.gender + `","birthDate":"` + st.birthDate + `",` +
		`"address":[` + st.address + `]` + list("communication", comm) + `,"generalPractitioner":[{"reference":"` + scenGP + `"}]}`)
	s.add(`{"resourceType":"Encounter","id":"` + st.encounter + `","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},` +
		`"subject":{"reference":"Patient/` + st.patient + `"},"serviceProvider":{"reference":"` + scenHospital + `"},"period":{"start":"2026-03-01T08:00:00Z","end":"` + scenDischarge + `"}}`)
	for i, code := range st.diagnoses {
		s.add(fmt.Sprintf(`{"resourceType":"Condition","id":"%s-c%d","subject":{"reference":"Patient/%s"},"encounter":{"reference":"Encounter/%s"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"%s"}]}}`,
			st.encounter, i, st.patient, st.encounter, code))
	}
	for i, code := range st.procedures {
		s.add(fmt.Sprintf(`{"resourceType":"Procedure","id":"%s-p%d","status":"completed","subject":{"reference":"Patient/%s"},"encounter":{"reference":"Encounter/%s"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"%s"}]}}`,
			st.encounter, i, st.patient, st.encounter, code))
	}
	s.write()
}

// plan is what routing a stay left in the store.
type plan struct {
	route    []byte // the $route answer
	carePlan *cppb.CarePlan
	requests map[string]*srpb.ServiceRequest // by pathway action id
	tasks    map[string][]*tpb.Task          // by ServiceRequest id, in id order
	raw      map[string][]byte               // "Type/id" -> JSON as served
}

// route POSTs $route for the stay with the system token and reads back
// what exists afterwards (an automatic routing may have written it first:
// the ids are the same).
func (s *scenario) route(encounter string) *plan {
	s.t.Helper()
	r := s.do("POST", "/fhir/Encounter/"+encounter+"/$route", "")
	if r.status != 200 {
		s.t.Fatalf("$route %s: %d %s", encounter, r.status, r.body)
	}
	p := s.planOf(encounter)
	p.route = r.body
	return p
}

// planOf reads the stay's one CarePlan, its ServiceRequests (the
// activities) and the Tasks of each, as the system caller.
func (s *scenario) planOf(encounter string) *plan {
	s.t.Helper()
	p := &plan{requests: map[string]*srpb.ServiceRequest{}, tasks: map[string][]*tpb.Task{}, raw: map[string][]byte{}}
	cps := s.search("/fhir/CarePlan?encounter=Encounter/"+encounter, p.raw)
	if len(cps) != 1 {
		s.t.Fatalf("the stay %s has %d CarePlans, want one", encounter, len(cps))
	}
	p.carePlan = cps[0].(*cppb.CarePlan)
	cpID := p.carePlan.GetId().GetValue()
	for _, act := range p.carePlan.GetActivity() {
		ref := resource.RefString(act.GetReference())
		srs := s.search("/fhir/ServiceRequest?_id="+strings.TrimPrefix(ref, "ServiceRequest/"), p.raw)
		if len(srs) != 1 {
			s.t.Fatalf("the CarePlan's activity %s: %d ServiceRequests", ref, len(srs))
		}
		sr := srs[0].(*srpb.ServiceRequest)
		p.requests[strings.TrimPrefix(sr.GetId().GetValue(), cpID+"-")] = sr
		for _, m := range s.search("/fhir/Task?focus="+ref, p.raw) {
			p.tasks[sr.GetId().GetValue()] = append(p.tasks[sr.GetId().GetValue()], m.(*tpb.Task))
		}
		sort.Slice(p.tasks[sr.GetId().GetValue()], func(i, j int) bool {
			ts := p.tasks[sr.GetId().GetValue()]
			return taskSeq(ts[i]) < taskSeq(ts[j])
		})
	}
	return p
}

// taskSeq is the rank of a routing Task among its request's: the "-n"
// routing gives the first Task and each that follows a refusal.
func taskSeq(t *tpb.Task) int {
	id := t.GetId().GetValue()
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	return n
}

// search GETs a search as the system caller and returns its matches,
// keeping each one's JSON in raw when raw is not nil.
func (s *scenario) search(path string, raw map[string][]byte, headers ...string) []proto.Message {
	s.t.Helper()
	r := s.do("GET", path+sep(path)+"_count=1000", "", headers...)
	if r.status != 200 {
		s.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	m, err := testCodec.DecodeStored(r.body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	var out []proto.Message
	for _, en := range m.(*bcrpb.Bundle).GetEntry() {
		if en.GetSearch().GetMode().GetValue() == codes.SearchEntryModeCode_OUTCOME {
			continue
		}
		res := resource.Unwrap(en.GetResource())
		out = append(out, res)
		if raw != nil {
			js, err := testCodec.Encode(res)
			if err != nil {
				s.t.Fatal(err)
			}
			raw[resource.Type(res)+"/"+resource.ID(res)] = js
		}
	}
	return out
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// task reads Task/id as the system caller.
func (s *scenario) task(id string) *tpb.Task {
	s.t.Helper()
	r := s.do("GET", "/fhir/Task/"+id, "")
	if r.status != 200 {
		s.t.Fatalf("GET Task/%s: %d %s", id, r.status, r.body)
	}
	m, err := testCodec.DecodeStored(r.body)
	if err != nil {
		s.t.Fatal(err)
	}
	return m.(*tpb.Task)
}

// myWork is the recipient's own search for her Tasks, with her token.
func (s *scenario) myWork(who string) []string {
	s.t.Helper()
	var out []string
	for _, m := range s.search("/fhir/Task?owner="+who, nil, "Authorization", s.as(who)) {
		out = append(out, "Task/"+resource.ID(m))
	}
	sort.Strings(out)
	return out
}

// reject is the owner's JSON Patch of her Task to rejected, with a reason.
func (s *scenario) reject(id, owner, why string) {
	s.t.Helper()
	r := s.do("PATCH", "/fhir/Task/"+id, `[{"op":"replace","path":"/status","value":"rejected"},{"op":"add","path":"/statusReason","value":{"text":"`+why+`"}}]`,
		"Authorization", s.as(owner), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		s.t.Fatalf("%s rejects Task/%s: %d %s", owner, id, r.status, r.body)
	}
}

// consent has the hospital's consent officer record the patient's
// Consent (OPTIN, a permit; OPTOUT, an objection) naming actor.
func (s *scenario) consent(patient, rule, actor string) (id string) {
	s.t.Helper()
	r := s.do("POST", "/fhir/Consent", consentJSON("", "Patient/"+patient, rule, actor, ""), "Authorization", s.as(scenOfficer))
	if r.status != 201 {
		s.t.Fatalf("the consent officer records %s for %s: %d %s", rule, actor, r.status, r.body)
	}
	id, _, _ = strings.Cut(strings.TrimPrefix(r.header.Get("Location"), s.url+"/fhir/Consent/"), "/")
	return id
}

// request is the ServiceRequest of action in p, failing when absent.
func (p *plan) request(t *testing.T, action string) *srpb.ServiceRequest {
	t.Helper()
	sr, ok := p.requests[action]
	if !ok {
		t.Fatalf("no ServiceRequest for action %s; have %v", action, keys(p.requests))
	}
	return sr
}

// only is the one Task of the request of action, failing unless there
// is exactly one.
func (p *plan) only(t *testing.T, action string) *tpb.Task {
	t.Helper()
	sr := p.request(t, action)
	ts := p.tasks[sr.GetId().GetValue()]
	if len(ts) != 1 {
		t.Fatalf("action %s: %d Tasks, want one: %v", action, len(ts), taskIDs(ts))
	}
	return ts[0]
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func taskIDs(ts []*tpb.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.GetId().GetValue() + " (" + taskStatus(t) + ", " + resource.RefString(t.GetOwner()) + ")"
	}
	return out
}

func taskStatus(t *tpb.Task) string {
	return strings.ReplaceAll(strings.ToLower(t.GetStatus().GetValue().String()), "_", "-")
}

func noteOf(t *tpb.Task) string {
	var out []string
	for _, n := range t.GetNote() {
		out = append(out, n.GetText().GetValue())
	}
	return strings.Join(out, "\n")
}

// follows is the Task a routing Task follows (routing.ExtReplaces).
func follows(t *tpb.Task) string {
	for _, e := range t.GetExtension() {
		if e.GetUrl().GetValue() == routing.ExtReplaces {
			return resource.RefString(e.GetValue().GetReference())
		}
	}
	return ""
}

// checkWindow checks a period from the discharge to within after it, or
// to the same day months on (calendar months, as routing reads UCUM mo).
func checkWindow(t *testing.T, what string, p *dtpb.Period, within time.Duration, months int) {
	t.Helper()
	start, end := time.UnixMicro(p.GetStart().GetValueUs()).UTC(), time.UnixMicro(p.GetEnd().GetValueUs()).UTC()
	want := scenDischargeAt.Add(within)
	if months > 0 {
		want = scenDischargeAt.AddDate(0, months, 0)
	}
	if p.GetStart() == nil || p.GetEnd() == nil || !start.Equal(scenDischargeAt) || !end.Equal(want) {
		t.Errorf("%s: period %s – %s, want %s – %s", what, start, end, scenDischargeAt, want)
	}
}

// validate runs the independent FHIR validator over the resources named
// (RELAIS_VALIDATE, as make test sets it).
func validate(t *testing.T, raw map[string][]byte) {
	t.Helper()
	if os.Getenv("RELAIS_VALIDATE") == "" {
		return
	}
	dir := t.TempDir()
	for ref, js := range raw {
		if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(ref, "/", "-")+".json"), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fhirtest.RunValidator(t, dir)
}

// community queues one recipient of each directory role around Lille,
// and a few who must not be chosen: a GP of the directory who is not the
// patient's, and a nurse in Lyon.
func (s *scenario) community() {
	s.org("nord", territory("2", "59"))
	s.org("cabinet-lyon", territory("2", "69"))
	s.professional("a-gp-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM54"))
	s.professional("nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("a-nurse-lyon", "cabinet-lyon", nil, []string{g15("60")})
	s.professional("physio-lille", "cabinet-lille", nil, []string{g15("70")})
	s.professional("midwife-lille", "cabinet-lille", nil, []string{g15("50")})
	s.professional("pharma-lille", "cabinet-lille", nil, []string{g15("21")})
	s.professional("speech-lille", "cabinet-lille", nil, []string{g15("91")})
	s.professional("cardio-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM04"))
	s.professional("pneumo-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM41"))
	s.professional("neuro-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM32"))
	s.professional("geria-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM18"))
	s.professional("paed-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM40"))
	s.professional("casemgr-nord", "nord", nil, []string{r85("309")})
	s.professional("apa-nord", "nord", nil, []string{r85("310")})
	s.professional("social-nord", "nord", nil, []string{r94("41")})
	s.professional("homehelp-nord", "nord", nil, []string{r85("372")})
}

const day = 24 * time.Hour

// recipient is what a pathway action must produce.
type recipient struct {
	action, role string
	owner        string        // who the Task goes to
	within       time.Duration // the window from discharge
	months       int           // or this many calendar months
	// social: a recipient of kind social, whose request carries no
	// diagnosis and whose Task waits on-hold for the patient's permit
	// (unless it goes to the hospital)
	social bool
}

// pathwayScenarios: one stay per default pathway, eligible by its
// diagnoses, procedures or age, and who each action must go to.
var pathwayScenarios = []struct {
	pathway string
	stay    stay
	want    []recipient
}{
	{"maternity", stay{birthDate: "1994-06-01", diagnoses: []string{"O80", "Z37.0"}}, []recipient{
		{action: "midwife", role: "midwife", owner: "PractitionerRole/midwife-lille", within: 48 * time.Hour},
		{action: "newborn-doctor", role: "paediatrician", owner: "PractitionerRole/paed-lille", within: 8 * day},
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		// No directory role fills these: the hospital follows up.
		{action: "family-social-technician", role: "family-social-technician", owner: scenHospital, within: 14 * day, social: true},
		{action: "mother-child-protection", role: "mother-child-protection", owner: scenHospital, within: 14 * day, social: true},
	}},
	{"orthopaedic-surgery", stay{birthDate: "1960-02-01", diagnoses: []string{"S72.0"}, procedures: []string{"52734007"}}, []recipient{
		{action: "physiotherapist", role: "physiotherapist", owner: "PractitionerRole/physio-lille", within: 7 * day},
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 48 * time.Hour},
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		{action: "home-help", role: "home-help", owner: "PractitionerRole/homehelp-nord", within: 48 * time.Hour, social: true},
	}},
	{"heart-failure", stay{birthDate: "1950-01-01", diagnoses: []string{"I50.9"}}, []recipient{
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 7 * day},
		{action: "cardiologist", role: "cardiologist", owner: "PractitionerRole/cardio-lille", months: 2},
		{action: "pharmacist", role: "pharmacist", owner: "PractitionerRole/pharma-lille", within: 7 * day},
		{action: "home-help", role: "home-help", owner: "PractitionerRole/homehelp-nord", within: 7 * day, social: true},
		{action: "meals", role: "meals", owner: scenHospital, within: 7 * day, social: true},
	}},
	{"copd", stay{birthDate: "1955-01-01", diagnoses: []string{"J44.1"}}, []recipient{
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		{action: "physiotherapist", role: "physiotherapist", owner: "PractitionerRole/physio-lille", within: 7 * day},
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 48 * time.Hour},
		{action: "pulmonologist", role: "pulmonologist", owner: "PractitionerRole/pneumo-lille", months: 2},
		{action: "home-help", role: "home-help", owner: "PractitionerRole/homehelp-nord", within: 7 * day, social: true},
	}},
	{"stroke-tia", stay{birthDate: "1958-01-01", diagnoses: []string{"I63.9"}}, []recipient{
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		{action: "neurologist", role: "neurologist", owner: "PractitionerRole/neuro-lille", months: 2},
		{action: "physiotherapist", role: "physiotherapist", owner: "PractitionerRole/physio-lille", within: 7 * day},
		{action: "speech-therapist", role: "speech-therapist", owner: "PractitionerRole/speech-lille", within: 14 * day},
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 48 * time.Hour},
		{action: "social-worker", role: "social-worker", owner: "PractitionerRole/social-nord", within: 14 * day, social: true},
		{action: "home-help", role: "home-help", owner: "PractitionerRole/homehelp-nord", within: 7 * day, social: true},
	}},
	{"older-person", stay{birthDate: "1944-01-01", diagnoses: []string{"R29.6"}}, []recipient{
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 48 * time.Hour},
		{action: "pharmacist", role: "pharmacist", owner: "PractitionerRole/pharma-lille", within: 7 * day},
		{action: "geriatrician", role: "geriatrician", owner: "PractitionerRole/geria-lille", months: 2},
		{action: "case-manager", role: "case-manager", owner: "PractitionerRole/casemgr-nord", within: 14 * day, social: true},
		{action: "apa-team", role: "apa-team", owner: "PractitionerRole/apa-nord", within: 14 * day, social: true},
		{action: "home-help", role: "home-help", owner: "PractitionerRole/homehelp-nord", within: 48 * time.Hour, social: true},
	}},
	{"other-surgery", stay{birthDate: "1985-01-01", diagnoses: []string{"K35.8"}, procedures: []string{"80146002"}}, []recipient{
		{action: "nurse", role: "nurse", owner: "PractitionerRole/nurse-lille", within: 48 * time.Hour},
		{action: "gp", role: "gp", owner: scenGP, within: 7 * day},
	}},
}

// TestScenarioPathways: for each default pathway, a stay eligible for it
// is routed to a CarePlan instantiating its PlanDefinition, one
// ServiceRequest per action (performerType, occurrencePeriod from the
// discharge) and one Task per request (requested, or on-hold for a social
// recipient without the patient's permit), each owned by the recipient
// the directory, the patient's GP or the hospital gives; each recipient
// finds her Task with her own token.
func TestScenarioPathways(t *testing.T) {
	t.Parallel()
	if len(pathwayScenarios) != 7 {
		t.Fatalf("%d pathway scenarios, want one per default pathway", len(pathwayScenarios))
	}
	for _, sc := range pathwayScenarios {
		t.Run(sc.pathway, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.community()
			st := sc.stay
			st.patient, st.encounter = "p-"+sc.pathway, "e-"+sc.pathway
			s.discharge(st)
			p := s.route(st.encounter)
			checkPathway(t, s, p, sc.pathway, st, sc.want)
		})
	}
}

func checkPathway(t *testing.T, s *scenario, p *plan, pathway string, st stay, want []recipient) {
	t.Helper()
	patient, hospital := "Patient/"+st.patient, scenHospital
	cp := p.carePlan
	cpID := cp.GetId().GetValue()
	version, _ := s.do("GET", "/fhir/PlanDefinition/"+pathway, "").json(t)["version"].(string)
	canonical := pathways.Base + "/PlanDefinition/" + pathway + "|" + version
	if got := cp.GetInstantiatesCanonical(); len(got) != 1 || got[0].GetValue() != canonical {
		t.Errorf("CarePlan.instantiatesCanonical = %v, want %s", got, canonical)
	}
	if !strings.HasPrefix(cpID, "route-") || cp.GetStatus().GetValue() != codes.RequestStatusCode_ACTIVE ||
		cp.GetIntent().GetValue().String() != "PLAN" || resource.RefString(cp.GetSubject()) != patient ||
		resource.RefString(cp.GetEncounter()) != "Encounter/"+st.encounter || resource.RefString(cp.GetAuthor()) != hospital {
		t.Errorf("CarePlan/%s: %s", cpID, p.raw["CarePlan/"+cpID])
	}
	if !strings.Contains(string(p.route), "pathway "+pathway+": ") {
		t.Errorf("the $route explanation does not name pathway %s: %s", pathway, p.route)
	}
	var activities, wantActivities []string
	for _, a := range cp.GetActivity() {
		activities = append(activities, resource.RefString(a.GetReference()))
	}
	for _, w := range want {
		wantActivities = append(wantActivities, "ServiceRequest/"+cpID+"-"+w.action)
	}
	if !slices.Equal(activities, wantActivities) || len(p.requests) != len(want) {
		t.Fatalf("CarePlan activities %v, want one per action %v", activities, wantActivities)
	}
	var diagnoses []string
	for i := range st.diagnoses {
		diagnoses = append(diagnoses, fmt.Sprintf("Condition/%s-c%d", st.encounter, i))
	}
	for _, w := range want {
		t.Run(w.action, func(t *testing.T) {
			sr := p.request(t, w.action)
			srRef := "ServiceRequest/" + sr.GetId().GetValue()
			// the action's role first, then its alternatives in order
			if pt := sr.GetPerformerType().GetCoding(); len(pt) == 0 || pt[0].GetSystem().GetValue() != pathways.RoleSystem || pt[0].GetCode().GetValue() != w.role {
				t.Errorf("performerType = %v, want %s|%s", pt, pathways.RoleSystem, w.role)
			}
			if sr.GetStatus().GetValue() != codes.RequestStatusCode_ACTIVE || sr.GetIntent().GetValue() != codes.RequestIntentCode_ORDER ||
				resource.RefString(sr.GetSubject()) != patient || resource.RefString(sr.GetRequester()) != hospital ||
				len(sr.GetBasedOn()) != 1 || resource.RefString(sr.GetBasedOn()[0]) != "CarePlan/"+cpID {
				t.Errorf("%s: %s", srRef, p.raw[srRef])
			}
			checkWindow(t, srRef+".occurrencePeriod", sr.GetOccurrence().GetPeriod(), w.within, w.months)
			var reasons []string
			for _, r := range sr.GetReasonReference() {
				reasons = append(reasons, resource.RefString(r))
			}
			if wantReasons := diagnoses; w.social {
				if len(reasons) != 0 {
					t.Errorf("%s for a social recipient carries the diagnoses %v", srRef, reasons)
				}
			} else if !slices.Equal(reasons, wantReasons) {
				t.Errorf("%s.reasonReference = %v, want the stay's diagnoses %v", srRef, reasons, wantReasons)
			}
			task := p.only(t, w.action)
			id := task.GetId().GetValue()
			if id != sr.GetId().GetValue()+"-1" {
				t.Errorf("Task id %s, want %s-1", id, sr.GetId().GetValue())
			}
			if task.GetIntent().GetValue().String() != "ORDER" || resource.RefString(task.GetFocus()) != srRef ||
				resource.RefString(task.GetForValue()) != patient || resource.RefString(task.GetRequester()) != hospital ||
				resource.RefString(task.GetEncounter()) != "Encounter/"+st.encounter {
				t.Errorf("Task/%s: %s", id, p.raw["Task/"+id])
			}
			checkWindow(t, "Task/"+id+".restriction.period", task.GetRestriction().GetPeriod(), w.within, w.months)
			switch {
			case w.social && w.owner != hospital:
				if taskStatus(task) != "on-hold" || task.GetStatusReason().GetText().GetValue() != routing.PermitRequired {
					t.Errorf("Task/%s of a social recipient without a permit: %s, %q", id, taskStatus(task), task.GetStatusReason().GetText().GetValue())
				}
			case taskStatus(task) != "requested" || task.GetStatusReason() != nil:
				t.Errorf("Task/%s: %s, %q; want requested", id, taskStatus(task), task.GetStatusReason().GetText().GetValue())
			}
			if w.owner == hospital {
				if task.GetBusinessStatus().GetText().GetValue() != "no candidate" || !strings.Contains(noteOf(task), "no candidate in the directory for role "+w.role) {
					t.Errorf("Task/%s to the hospital: businessStatus %q, note %q", id, task.GetBusinessStatus().GetText().GetValue(), noteOf(task))
				}
			}
			t.Run("owner", func(t *testing.T) {
				if got := resource.RefString(task.GetOwner()); got != w.owner {
					t.Fatalf("Task/%s goes to %s, want %s (%s)", id, got, w.owner, noteOf(task))
				}
				if w.role == "gp" && !strings.Contains(noteOf(task), "Patient.generalPractitioner") {
					t.Errorf("the GP's Task does not say she is the patient's GP: %s", noteOf(task))
				}
				if !strings.HasPrefix(w.owner, "PractitionerRole/") {
					return
				}
				// Her own search, with her token: a social recipient
				// waiting for the permit is shown nothing yet.
				mine, wantMine := s.myWork(w.owner), []string{"Task/" + id}
				if w.social {
					wantMine = nil
				}
				if !slices.Equal(mine, wantMine) {
					t.Errorf("GET Task?owner=%s with her token: %v, want %v", w.owner, mine, wantMine)
				}
			})
		})
	}
	// The GP receives the whole plan.
	if r := s.do("GET", "/fhir/CarePlan/"+cpID, "", "Authorization", s.as(scenGP)); r.status != 200 {
		t.Errorf("the GP reads the CarePlan: %d %s", r.status, r.body)
	}
	validate(t, p.raw)
}

// surgery is a stay of the other-surgery pathway (a nurse within 48 hours
// and the GP) for a patient of 41 living at address.
func surgery(patient, address string, languages ...string) stay {
	return stay{patient: patient, encounter: "e-" + patient, birthDate: "1985-01-01", address: address, languages: languages,
		diagnoses: []string{"K35.8"}, procedures: []string{"80146002"}}
}

// orthopaedic is a stay of the orthopaedic-surgery pathway (a
// physiotherapist, a nurse, the GP and a home help) for a patient of 66
// in Lille.
func orthopaedic(patient string) stay {
	return stay{patient: patient, encounter: "e-" + patient, birthDate: "1960-02-01",
		diagnoses: []string{"S72.0"}, procedures: []string{"52734007"}}
}

// TestScenarioTerritory: a candidate whose territory does not cover the
// patient's commune, département or région is skipped and the explanation
// says so; of those in territory, the most precise match is chosen (a
// commune before a département, whatever the references' order); a
// patient whose address carries an INSEE code is placed by it.
func TestScenarioTerritory(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.org("nord", territory("2", "59"))
	s.org("arras", territory("2", "62"))
	s.org("roubaix", territory("3", "59512"))
	s.professional("nurse-arras", "arras", nil, []string{g15("60")})
	s.professional("nurse-roubaix", "roubaix", nil, []string{g15("60")})
	s.professional("a-nurse-nord", "nord", nil, []string{g15("60")})
	s.professional("nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.discharge(surgery("p-lille", lilleAddress))
	s.discharge(surgery("p-arras", `{"use":"home","city":"Arras","postalCode":"62000","country":"FR",`+
		`"extension":[{"url":"`+terminology.AddressINSEE+`","valueCoding":{"system":"https://mos.esante.gouv.fr/NOS/TRE_R13-Commune/FHIR/TRE-R13-Commune","code":"62041"}}]}`))

	lille := s.route("e-p-lille")
	task := lille.only(t, "nurse")
	if got := resource.RefString(task.GetOwner()); got != "PractitionerRole/nurse-lille" {
		t.Errorf("the Lille patient's nurse: %s, want PractitionerRole/nurse-lille (%s)", got, noteOf(task))
	}
	for _, want := range []string{
		"PractitionerRole/nurse-lille (covers the patient's commune 59350)",
		"PractitionerRole/nurse-arras (out of territory: covers d:62)",
		"PractitionerRole/nurse-roubaix (out of territory: covers c:59512)",
	} {
		if !strings.Contains(noteOf(task), want) || !strings.Contains(string(lille.route), want) {
			t.Errorf("the explanation lacks %q: Task note %q", want, noteOf(task))
		}
	}
	if got := s.myWork("PractitionerRole/nurse-lille"); !slices.Equal(got, []string{"Task/" + task.GetId().GetValue()}) {
		t.Errorf("nurse-lille's Tasks: %v", got)
	}
	for _, outside := range []string{"PractitionerRole/nurse-arras", "PractitionerRole/nurse-roubaix"} {
		if got := s.myWork(outside); len(got) != 0 {
			t.Errorf("%s, out of territory, has Tasks %v", outside, got)
		}
	}

	arras := s.route("e-p-arras").only(t, "nurse")
	if got := resource.RefString(arras.GetOwner()); got != "PractitionerRole/nurse-arras" {
		t.Errorf("the Arras patient's nurse: %s, want PractitionerRole/nurse-arras (%s)", got, noteOf(arras))
	}
	if !strings.Contains(noteOf(arras), "PractitionerRole/nurse-arras (covers the patient's département 62)") ||
		!strings.Contains(noteOf(arras), "PractitionerRole/nurse-lille (out of territory: covers c:59350)") {
		t.Errorf("the Arras explanation: %s", noteOf(arras))
	}
}

// TestScenarioLanguage: a patient who speaks only Arabic gets the nurse
// whose Practitioner.communication includes it, though another comes
// first; a French speaker, and a patient who states no language, get the
// first.
func TestScenarioLanguage(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.professional("nurse-a-fr", "cabinet-lille", []string{"fr-FR"}, []string{g15("60")})
	s.professional("nurse-b-ar", "cabinet-lille", []string{"fr", "ar-MA"}, []string{g15("60")})
	s.discharge(surgery("p-ar", lilleAddress, "ar"))
	s.discharge(surgery("p-fr", lilleAddress, "fr"))
	s.discharge(surgery("p-none", lilleAddress))
	for _, tc := range []struct{ patient, want, why string }{
		{"p-ar", "PractitionerRole/nurse-b-ar", "PractitionerRole/nurse-a-fr (speaks fr, not ar)"},
		{"p-fr", "PractitionerRole/nurse-a-fr", ""},
		{"p-none", "PractitionerRole/nurse-a-fr", ""},
	} {
		task := s.route("e-"+tc.patient).only(t, "nurse")
		if got := resource.RefString(task.GetOwner()); got != tc.want {
			t.Errorf("%s's nurse: %s, want %s (%s)", tc.patient, got, tc.want, noteOf(task))
		}
		if tc.why != "" && !strings.Contains(noteOf(task), tc.why) {
			t.Errorf("%s: the explanation lacks %q: %s", tc.patient, tc.why, noteOf(task))
		}
	}
	want := []string{"Task/" + s.planOf("e-p-ar").only(t, "nurse").GetId().GetValue()}
	if got := s.myWork("PractitionerRole/nurse-b-ar"); !slices.Equal(got, want) {
		t.Errorf("nurse-b-ar's Tasks: %v, want %v", got, want)
	}
}

// rejectByPut is the owner's rejection as a whole-resource update: she
// reads her Task and PUTs it back rejected, with a reason, If-Match the
// version she read.
func (s *scenario) rejectByPut(id, owner, why string) {
	s.t.Helper()
	tok := s.as(owner)
	r := s.do("GET", "/fhir/Task/"+id, "", "Authorization", tok)
	if r.status != 200 {
		s.t.Fatalf("%s reads her Task/%s: %d %s", owner, id, r.status, r.body)
	}
	m, err := testCodec.DecodeStored(r.body)
	if err != nil {
		s.t.Fatal(err)
	}
	task := m.(*tpb.Task)
	task.Status.Value = codes.TaskStatusCode_REJECTED
	task.StatusReason = &dtpb.CodeableConcept{Text: &dtpb.String{Value: why}}
	js, err := testCodec.Encode(task)
	if err != nil {
		s.t.Fatal(err)
	}
	if r := s.do("PUT", "/fhir/Task/"+id, string(js), "Authorization", tok, "If-Match", r.header.Get("ETag")); r.status != 200 {
		s.t.Fatalf("%s PUTs Task/%s rejected: %d %s", owner, id, r.status, r.body)
	}
}

// TestScenarioRejectionChain: each nurse who refuses (by JSON Patch or by
// PUT, with a statusReason) has the request asked of the next candidate in
// a new Task that follows hers, and is never asked again; when every
// candidate in territory has refused, the Task goes to the discharging
// organisation with a businessStatus saying no candidate is left. The
// GP's Task is not touched and the CarePlan shows each refusal.
func TestScenarioRejectionChain(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.org("nord", territory("2", "59"))
	s.org("cabinet-lyon", territory("2", "69"))
	s.professional("nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("a-nurse-nord", "nord", nil, []string{g15("60")})
	s.professional("b-nurse-nord", "nord", nil, []string{g15("60")})
	s.professional("a-nurse-lyon", "cabinet-lyon", nil, []string{g15("60")})
	s.discharge(surgery("p1", lilleAddress))
	p := s.route("e-p1")
	first := p.only(t, "nurse")
	gpTask := p.only(t, "gp")
	sr := first.GetFocus()
	base := strings.TrimPrefix(resource.RefString(sr), "ServiceRequest/")

	type step struct {
		owner  string
		reject func(id, owner, why string)
	}
	chain := []step{
		{"PractitionerRole/nurse-lille", s.reject},
		{"PractitionerRole/a-nurse-nord", s.rejectByPut},
		{"PractitionerRole/b-nurse-nord", s.reject},
	}
	for i, st := range chain {
		id := fmt.Sprintf("%s-%d", base, i+1)
		cur := s.task(id)
		if got := resource.RefString(cur.GetOwner()); got != st.owner || taskStatus(cur) != "requested" {
			t.Fatalf("Task/%s: %s for %s, want requested for %s (%s)", id, taskStatus(cur), got, st.owner, noteOf(cur))
		}
		if got := s.myWork(st.owner); !slices.Equal(got, []string{"Task/" + id}) {
			t.Errorf("%s's Tasks: %v, want [Task/%s]", st.owner, got, id)
		}
		why := fmt.Sprintf("no availability (%d)", i+1)
		st.reject(id, st.owner, why)
		if done := s.task(id); taskStatus(done) != "rejected" || done.GetStatusReason().GetText().GetValue() != why {
			t.Errorf("Task/%s after the refusal: %s, %q", id, taskStatus(done), done.GetStatusReason().GetText().GetValue())
		}
		next := s.task(fmt.Sprintf("%s-%d", base, i+2))
		if follows(next) != "Task/"+id || resource.RefString(next.GetFocus()) != resource.RefString(sr) ||
			resource.RefString(next.GetForValue()) != "Patient/p1" || resource.RefString(next.GetRequester()) != scenHospital {
			t.Errorf("the Task after Task/%s: follows %q, focus %s", id, follows(next), resource.RefString(next.GetFocus()))
		}
		if !strings.Contains(noteOf(next), st.owner+" (refused this request before)") {
			t.Errorf("the Task after Task/%s does not say %s refused: %s", id, st.owner, noteOf(next))
		}
	}
	last := s.task(base + "-4")
	if got := resource.RefString(last.GetOwner()); got != scenHospital || taskStatus(last) != "requested" ||
		last.GetBusinessStatus().GetText().GetValue() != "no candidate" {
		t.Errorf("after every nurse refused: %s for %s, businessStatus %q; want requested for %s, no candidate",
			taskStatus(last), got, last.GetBusinessStatus().GetText().GetValue(), scenHospital)
	}
	for _, want := range []string{"no candidate in the directory for role nurse", "the discharging organisation follows up",
		"PractitionerRole/nurse-lille (refused this request before)", "PractitionerRole/a-nurse-nord (refused this request before)",
		"PractitionerRole/b-nurse-nord (refused this request before)", "PractitionerRole/a-nurse-lyon (out of territory"} {
		if !strings.Contains(noteOf(last), want) {
			t.Errorf("the hospital's Task does not say %q: %s", want, noteOf(last))
		}
	}
	// One Task per candidate, each asked once, none after the hospital.
	after := s.planOf("e-p1")
	var owners []string
	for _, tk := range after.tasks[base] {
		owners = append(owners, resource.RefString(tk.GetOwner()))
	}
	if want := []string{"PractitionerRole/nurse-lille", "PractitionerRole/a-nurse-nord", "PractitionerRole/b-nurse-nord", scenHospital}; !slices.Equal(owners, want) {
		t.Errorf("the nurse's request was asked of %v, want %v", owners, want)
	}
	if g := after.only(t, "gp"); g.GetMeta().GetVersionId().GetValue() != gpTask.GetMeta().GetVersionId().GetValue() || taskStatus(g) != "requested" {
		t.Errorf("the GP's Task moved: %s v%s", taskStatus(g), g.GetMeta().GetVersionId().GetValue())
	}
	// The plan the GP reads shows each refusal on the nurse's activity.
	plan := string(after.raw["CarePlan/"+after.carePlan.GetId().GetValue()])
	for i, st := range chain {
		if want := fmt.Sprintf("Task/%s-%d rejected by %s", base, i+1, st.owner); !strings.Contains(plan, want) {
			t.Errorf("the CarePlan lacks %q: %s", want, plan)
		}
	}
	validate(t, after.raw)
}

// laterPlanner is a routing Planner over the env's store whose clock reads
// now+ahead: the server's routing loop (routing.Planner.Run) calls its
// TimeOut, and the API test env runs no loop and cannot move the API's
// clock, so a scenario calls TimeOut on a Planner configured as the
// server configures its own, with the clock moved.
func (s *scenario) laterPlanner(ahead time.Duration) *routing.Planner {
	s.t.Helper()
	communes, err := directory.LoadCommunes()
	if err != nil {
		s.t.Fatal(err)
	}
	pl, err := routing.New(routing.Config{Store: s.store, Codec: testCodec, Directory: directory.New(s.store, testCodec),
		Communes: communes, Consent: s.cfg.Consent, Now: func() time.Time { return time.Now().Add(ahead) }})
	if err != nil {
		s.t.Fatal(err)
	}
	return pl
}

// TestScenarioTimeOut: the nurse who does not answer within her action's
// time to answer (12 h for the orthopaedic pathway's 48-hour nurse visit,
// pathway-answer-within, shorter than routing.DefaultTaskTimeout) has her
// Task cancelled with a reason and the next candidate asked, once; the physiotherapist who accepted in
// time, the GP and the home help waiting for the permit are left alone.
func TestScenarioTimeOut(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.professional("b-nurse-nord", "nord", nil, []string{g15("60")})
	s.discharge(orthopaedic("p1"))
	p := s.route("e-p1")
	nurse, physio, gp, help := p.only(t, "nurse"), p.only(t, "physiotherapist"), p.only(t, "gp"), p.only(t, "home-help")
	r := s.do("PATCH", "/fhir/Task/"+physio.GetId().GetValue(), `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", s.as("PractitionerRole/physio-lille"), "Content-Type", "application/json-patch+json")
	if r.status != 200 {
		t.Fatalf("the physiotherapist accepts: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	// Before the deadline, the API's own planner times nothing out.
	if n, err := s.cfg.Routing.TimeOut(ctx); err != nil || n != 0 {
		t.Fatalf("before the deadline: %d timed out, %v", n, err)
	}
	later := s.laterPlanner(13 * time.Hour)
	if n, err := later.TimeOut(ctx); err != nil || n != 1 {
		t.Fatalf("after the deadline: %d timed out, %v; want the nurse's Task only", n, err)
	}
	id := nurse.GetId().GetValue()
	cancelled := s.task(id)
	if taskStatus(cancelled) != "cancelled" || cancelled.GetStatusReason().GetText().GetValue() != "no answer within 12h0m0s" {
		t.Errorf("the unanswered Task/%s: %s, %q", id, taskStatus(cancelled), cancelled.GetStatusReason().GetText().GetValue())
	}
	next := s.task(strings.TrimSuffix(id, "-1") + "-2")
	if got := resource.RefString(next.GetOwner()); got != "PractitionerRole/b-nurse-nord" || taskStatus(next) != "requested" || follows(next) != "Task/"+id {
		t.Errorf("the next Task: %s for %s following %q, want requested for PractitionerRole/b-nurse-nord following Task/%s (%s)",
			taskStatus(next), got, follows(next), id, noteOf(next))
	}
	if !strings.Contains(noteOf(next), "PractitionerRole/nurse-lille (did not answer this request in time)") {
		t.Errorf("the next Task does not say nurse-lille did not answer: %s", noteOf(next))
	}
	if got := s.myWork("PractitionerRole/b-nurse-nord"); !slices.Equal(got, []string{"Task/" + next.GetId().GetValue()}) {
		t.Errorf("b-nurse-nord's Tasks: %v", got)
	}
	for want, task := range map[string]*tpb.Task{"accepted": physio, "requested": gp, "on-hold": help} {
		if got := s.task(task.GetId().GetValue()); taskStatus(got) != want {
			t.Errorf("Task/%s: %s after the time-out, want %s", task.GetId().GetValue(), taskStatus(got), want)
		}
	}
	// Once only: the next nurse's own deadline runs from her Task.
	if n, err := later.TimeOut(ctx); err != nil || n != 0 {
		t.Errorf("timing out again: %d, %v", n, err)
	}
	after := s.planOf("e-p1")
	if n := len(after.tasks[strings.TrimSuffix(id, "-1")]); n != 2 {
		t.Errorf("the nurse's request has %d Tasks, want 2", n)
	}
	t.Run("explanation", func(t *testing.T) {
		if n := noteOf(next); !strings.Contains(n, "Task/"+id) || strings.Contains(n, "was rejected") {
			t.Errorf("the next Task's note says the unanswered Task was rejected: %s", n)
		}
	})
	t.Run("care plan", func(t *testing.T) {
		if plan, want := string(after.raw["CarePlan/"+after.carePlan.GetId().GetValue()]), "Task/"+id+" cancelled"; !strings.Contains(plan, want) {
			t.Errorf("the CarePlan lacks %q: %s", want, plan)
		}
	})
}

// TestScenarioPermitReleasesHomeHelp: the home help's Task waits on-hold
// with a status reason, and the service sees nothing of the patient; the
// consent officer records the patient's permit naming the service's
// PractitionerRole, or its Organization (R4 Consent actors name no
// HealthcareService); the same write releases the Task to requested. The
// home help then finds her Task and its request, which carries no
// diagnosis, and still cannot read the stay's diagnoses.
func TestScenarioPermitReleasesHomeHelp(t *testing.T) {
	t.Parallel()
	for name, actor := range map[string]string{
		"naming the role":         "PractitionerRole/homehelp-nord",
		"naming its organization": "Organization/nord",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newScenario(t)
			s.community()
			s.discharge(orthopaedic("p1"))
			p := s.route("e-p1")
			help := p.only(t, "home-help")
			id, helper := help.GetId().GetValue(), "PractitionerRole/homehelp-nord"
			srID := resource.RefString(help.GetFocus())
			if taskStatus(help) != "on-hold" || help.GetStatusReason().GetText().GetValue() != routing.PermitRequired ||
				resource.RefString(help.GetOwner()) != helper {
				t.Fatalf("the home help's Task before the permit: %s for %s, %q", taskStatus(help), resource.RefString(help.GetOwner()), help.GetStatusReason().GetText().GetValue())
			}
			tok := s.as(helper)
			for _, path := range []string{"/fhir/Task/" + id, "/fhir/" + srID, "/fhir/Condition/e-p1-c0", "/fhir/Patient/p1"} {
				if r := s.do("GET", path, "", "Authorization", tok); r.status != 404 {
					t.Errorf("the home help reads %s before the permit: %d", path, r.status)
				}
			}
			if got := s.myWork(helper); len(got) != 0 {
				t.Errorf("the home help's Tasks before the permit: %v", got)
			}

			permit := s.consent("p1", "OPTIN", actor)

			released := s.task(id)
			// The plan shows the Task asked again of her, not done by her.
			cp := s.do("GET", "/fhir/CarePlan/"+p.carePlan.GetId().GetValue(), "")
			if !strings.Contains(string(cp.body), "Task/"+id+" requested of "+helper) {
				t.Errorf("the plan's progress after the release: %s", cp.body)
			}
			// The release's decision names the permit that decided it.
			if r := s.do("GET", "/admin/decisions?actor="+helper, ""); !strings.Contains(string(r.body), `"Consent/`+permit+`"`) || strings.Contains(string(r.body), `"Consent/"`) {
				t.Errorf("the release's decision does not name Consent/%s: %s", permit, r.body)
			}
			if taskStatus(released) != "requested" || released.GetStatusReason() != nil || resource.RefString(released.GetOwner()) != helper {
				t.Fatalf("the home help's Task after the permit: %s for %s, %q", taskStatus(released), resource.RefString(released.GetOwner()), released.GetStatusReason().GetText().GetValue())
			}
			if got := s.myWork(helper); !slices.Equal(got, []string{"Task/" + id}) {
				t.Errorf("the home help's Tasks after the permit: %v, want [Task/%s]", got, id)
			}
			r := s.do("GET", "/fhir/"+srID, "", "Authorization", tok)
			if r.status != 200 || strings.Contains(string(r.body), "reasonReference") || strings.Contains(string(r.body), "Condition/") {
				t.Errorf("the home help reads her request: %d %s", r.status, r.body)
			}
			if r := s.do("GET", "/fhir/Condition/e-p1-c0", "", "Authorization", tok); r.status != 404 {
				t.Errorf("the home help reads the diagnosis after the permit: %d %s", r.status, r.body)
			}
			if _, got := ids(t, s.do("GET", "/fhir/Condition?patient=Patient/p1", "", "Authorization", tok).body); len(got) != 0 {
				t.Errorf("the home help finds diagnoses: %v", got)
			}
			// The other recipients' Tasks did not move.
			for _, action := range []string{"nurse", "physiotherapist", "gp"} {
				if got := s.task(p.only(t, action).GetId().GetValue()); taskStatus(got) != "requested" || got.GetMeta().GetVersionId().GetValue() != "1" {
					t.Errorf("the %s's Task: %s v%s", action, taskStatus(got), got.GetMeta().GetVersionId().GetValue())
				}
			}
		})
	}
}

// TestScenarioObjection: the patient's objections to candidates
// (Consent denies naming a PractitionerRole, or its Organization, recorded
// by the consent officer) remove them though they come first: the next
// candidate is chosen, for a health recipient and for a social one, and
// the explanation says why.
func TestScenarioObjection(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.org("sud-lille", territory("3", "59350"))
	s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.professional("a-homehelp-lille", "sud-lille", nil, []string{r85("372")})
	s.professional("b-homehelp-lille", "cabinet-lille", nil, []string{r85("372")})
	s.professional("z-homehelp-lille", "cabinet-lille", nil, []string{r85("372")})
	s.discharge(orthopaedic("p1"))
	s.consent("p1", "OPTOUT", "PractitionerRole/nurse-lille")
	s.consent("p1", "OPTOUT", "Organization/sud-lille")
	s.consent("p1", "OPTOUT", "PractitionerRole/b-homehelp-lille")
	p := s.route("e-p1")

	nurse := p.only(t, "nurse")
	if got := resource.RefString(nurse.GetOwner()); got != "PractitionerRole/z-nurse-lille" || taskStatus(nurse) != "requested" {
		t.Errorf("the nurse's Task: %s for %s, want requested for PractitionerRole/z-nurse-lille (%s)", taskStatus(nurse), got, noteOf(nurse))
	}
	if !strings.Contains(noteOf(nurse), "PractitionerRole/nurse-lille (the patient objected") {
		t.Errorf("the explanation does not say the patient objected to nurse-lille: %s", noteOf(nurse))
	}
	if got := s.myWork("PractitionerRole/nurse-lille"); len(got) != 0 {
		t.Errorf("the nurse she objected to has Tasks: %v", got)
	}
	if got := s.myWork("PractitionerRole/z-nurse-lille"); !slices.Equal(got, []string{"Task/" + nurse.GetId().GetValue()}) {
		t.Errorf("z-nurse-lille's Tasks: %v", got)
	}

	help := p.only(t, "home-help")
	if got := resource.RefString(help.GetOwner()); got != "PractitionerRole/z-homehelp-lille" || taskStatus(help) != "on-hold" {
		t.Errorf("the home help's Task: %s for %s, want on-hold for PractitionerRole/z-homehelp-lille (%s)", taskStatus(help), got, noteOf(help))
	}
	for _, who := range []string{"PractitionerRole/a-homehelp-lille", "PractitionerRole/b-homehelp-lille"} {
		if !strings.Contains(noteOf(help), who+" (the patient objected") {
			t.Errorf("the explanation does not say the patient objected to %s: %s", who, noteOf(help))
		}
	}
}

// state is every routing resource of the patient's stay, with its
// version: the CarePlan, its requests and all their Tasks, and every Task
// about the patient (a Task of another plan would show there).
func (s *scenario) state(patient, encounter string) map[string]string {
	s.t.Helper()
	p := s.planOf(encounter)
	out := map[string]string{}
	for ref, js := range p.raw {
		m, err := testCodec.DecodeStored(js)
		if err != nil {
			s.t.Fatal(err)
		}
		out[ref] = resource.Meta(m).GetVersionId().GetValue()
	}
	for _, m := range s.search("/fhir/Task?patient=Patient/"+patient, nil) {
		ref := "Task/" + resource.ID(m)
		if v := resource.Meta(m).GetVersionId().GetValue(); out[ref] != v {
			out[ref+" (by patient)"] = v
		}
	}
	return out
}

// TestScenarioRouteAgain: routing a stay again, on demand or by the
// automatic routing of finished stays, after the hospital resent the same
// discharge, never duplicates a CarePlan, request or Task, nor resets
// what a recipient answered or a permit released.
func TestScenarioRouteAgain(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.community()
	s.professional("z-nurse-lille", "cabinet-lille", nil, []string{g15("60")})
	s.discharge(orthopaedic("p1"))
	ctx := context.Background()
	again := func(when string, want map[string]string) {
		t.Helper()
		r := s.do("POST", "/fhir/Encounter/e-p1/$route", "")
		if r.status != 200 || strings.Contains(string(r.body), "201 Created") {
			t.Errorf("%s: $route again: %d %s", when, r.status, r.body)
		}
		if _, err := s.cfg.Routing.RouteFinished(ctx); err != nil {
			t.Fatal(err)
		}
		// The hospital sends the same discharge again.
		s.discharge(orthopaedic("p1"))
		if _, err := s.cfg.Routing.RouteFinished(ctx); err != nil {
			t.Fatal(err)
		}
		s.route("e-p1")
		if got := s.state("p1", "e-p1"); !maps.Equal(got, want) {
			t.Errorf("%s: routing again changed the plan:\n got %v\nwant %v", when, got, want)
		}
	}
	first := s.route("e-p1")
	if n := len(first.tasks); n != 4 {
		t.Fatalf("%d requests with Tasks, want 4", n)
	}
	routed := s.state("p1", "e-p1")
	again("just routed", routed)

	// Recipients answer: the nurse refuses (her next candidate is asked),
	// the physiotherapist accepts, the patient permits the home help.
	nurse, physio := first.only(t, "nurse").GetId().GetValue(), first.only(t, "physiotherapist").GetId().GetValue()
	s.reject(nurse, "PractitionerRole/nurse-lille", "on leave")
	if r := s.do("PATCH", "/fhir/Task/"+physio, `[{"op":"replace","path":"/status","value":"accepted"}]`,
		"Authorization", s.as("PractitionerRole/physio-lille"), "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Fatalf("the physiotherapist accepts: %d %s", r.status, r.body)
	}
	s.consent("p1", "OPTIN", "PractitionerRole/homehelp-nord")
	answered := s.state("p1", "e-p1")
	if len(answered) != len(routed)+1 {
		t.Fatalf("after the answers: %v, want one Task more than %v", answered, routed)
	}
	again("after the answers", answered)
	for id, want := range map[string]string{nurse: "rejected", strings.TrimSuffix(nurse, "-1") + "-2": "requested",
		physio: "accepted", first.only(t, "home-help").GetId().GetValue(): "requested"} {
		if got := taskStatus(s.task(id)); got != want {
			t.Errorf("Task/%s: %s, want %s", id, got, want)
		}
	}
}

// TestScenarioStrokeRehabPhysician: the stroke pathway's second action
// asks for a "neurologist or rehabilitation physician" (DESIGN.md,
// Pathways); with no neurologist in territory, a rehabilitation physician
// (TRE_R38 SM29) of the patient's commune should receive it.
func TestScenarioStrokeRehabPhysician(t *testing.T) {
	t.Parallel()
	s := newScenario(t)
	s.professional("rehab-lille", "cabinet-lille", nil, []string{g15("10")}, r38("SM29"))
	s.discharge(stay{patient: "p1", encounter: "e-p1", birthDate: "1958-01-01", diagnoses: []string{"I63.9"}})
	task := s.route("e-p1").only(t, "neurologist")
	if got := resource.RefString(task.GetOwner()); got != "PractitionerRole/rehab-lille" {
		t.Errorf("the neurologist-or-rehabilitation action goes to %s, want PractitionerRole/rehab-lille (%s)", got, noteOf(task))
	}
}
