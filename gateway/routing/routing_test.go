package routing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	codes "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/codes_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	srpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/service_request_go_proto"
	tpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/task_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/delivery"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
	"github.com/relais-health/relais/mappings/terminology"
)

var testCodec = codec.MustNew()

const ror = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division"

// territory is the ROR extension of an Organization covering département dep.
func territory(dep string) string {
	return `"extension":[{"url":"` + ror + `","extension":[` +
		`{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR","code":"2"}]}},` +
		`{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G09-DepartementOM/FHIR/TRE-G09-DepartementOM","code":"` + dep + `"}]}}]}]`
}

// world stores a heart-failure stay of a patient of Lille, her GP, an
// objection to one of the two Lille nurses, and a directory around her.
func world(t testing.TB) (*routing.Planner, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := pathways.Load(ctx, st, testCodec); err != nil {
		t.Fatal(err)
	}
	role := func(id, org, system, code string) string {
		return `{"resourceType":"PractitionerRole","id":"` + id + `","active":true,"organization":{"reference":"Organization/` + org + `"},"code":[{"coding":[{"system":"` + system + `","code":"` + code + `"}]}]}`
	}
	var entries []store.TxEntry
	for _, js := range []string{
		`{"resourceType":"Organization","id":"chu","active":true,"name":"CHU"}`,
		`{"resourceType":"Organization","id":"cabinet-lille","active":true,"name":"Cabinet Lille",` + territory("59") + `}`,
		`{"resourceType":"Organization","id":"cabinet-lyon","active":true,"name":"Cabinet Lyon",` + territory("69") + `}`,
		`{"resourceType":"Organization","id":"aide-lille","active":true,"name":"Aide Lille",` + territory("59") + `}`,
		role("gp", "cabinet-lille", terminology.TREG15, "10"),
		role("nurse-a", "cabinet-lille", terminology.TREG15, "60"),
		role("nurse-b", "cabinet-lille", terminology.TREG15, "60"),
		role("nurse-c", "cabinet-lille", terminology.TREG15, "60"),
		role("nurse-lyon", "cabinet-lyon", terminology.TREG15, "60"),
		role("pharmacist", "cabinet-lille", terminology.TREG15, "21"),
		`{"resourceType":"HealthcareService","id":"home-help","active":true,"providedBy":{"reference":"Organization/aide-lille"},"type":[{"coding":[{"system":"` + terminology.TRER85 + `","code":"372"}]}]}`,
		`{"resourceType":"Patient","id":"p1","birthDate":"1942-03-15","address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}],"generalPractitioner":[{"reference":"PractitionerRole/gp"}]}`,
		`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-05T10:00:00Z"}}`,
		`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I50.9"}]}}`,
		`{"resourceType":"Consent","id":"obj","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"PractitionerRole/nurse-a"}}]}}`,
	} {
		m, err := testCodec.Decode([]byte(js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
	}
	if _, err := st.Transaction(ctx, entries); err != nil {
		t.Fatal(err)
	}
	return planner(t, st, time.Date(2026, 3, 5, 11, 0, 0, 0, time.UTC)), st
}

// planner is a Planner over st whose clock stands at now.
func planner(t testing.TB, st *store.Store, now time.Time) *routing.Planner {
	return plannerWith(t, st, routing.Config{Now: func() time.Time { return now }})
}

// plannerWith is a planner over st configured as cfg (Store, Codec,
// Directory, Communes and Consent are set here).
// putJSON stores the resource js by PUT, in a transaction of its own.
func putJSON(t *testing.T, st *store.Store, js string) {
	t.Helper()
	m, err := testCodec.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transaction(context.Background(), []store.TxEntry{{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m}}); err != nil {
		t.Fatal(err)
	}
}

func plannerWith(t testing.TB, st *store.Store, cfg routing.Config) *routing.Planner {
	t.Helper()
	src := consent.NewStoreSource(st, testCodec, nil)
	engine, err := consent.New(consent.Config{Directory: src, CareTeams: src, Consents: src, HashKey: []byte("test-hmac-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	communes, err := directory.LoadCommunes()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Codec, cfg.Directory, cfg.Communes, cfg.Consent = st, testCodec, directory.New(st, testCodec), communes, engine
	pl, err := routing.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// TestHeartFailure: the stay follows the heart-failure pathway; the GP is
// hers; the nurse she objected to is skipped for the other one; the
// home-help waits for her permit; an action with nobody in the directory
// goes to the discharging hospital; routing again writes nothing new.
func TestHeartFailure(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	plan, err := pl.Plan(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plan.Pathway, pathways.Base+"/PlanDefinition/heart-failure|") {
		t.Fatalf("pathway %s (%v)", plan.Pathway, plan.Reasons)
	}
	byRole := map[string]*tpb.Task{}
	for i, sr := range plan.Requests {
		byRole[sr.GetPerformerType().GetCoding()[0].GetCode().GetValue()] = plan.Tasks[i]
	}
	owner := func(role string) string { return resource.RefString(byRole[role].GetOwner()) }
	status := func(role string) string { return byRole[role].GetStatus().GetValue().String() }
	for _, c := range []struct{ role, owner, status string }{
		{"gp", "PractitionerRole/gp", "REQUESTED"},
		{"nurse", "PractitionerRole/nurse-b", "REQUESTED"},
		{"pharmacist", "PractitionerRole/pharmacist", "REQUESTED"},
		{"home-help", "HealthcareService/home-help", "ON_HOLD"},
		{"cardiologist", "Organization/chu", "REQUESTED"},
	} {
		if byRole[c.role] == nil || owner(c.role) != c.owner || status(c.role) != c.status {
			t.Errorf("%s: owner %s, status %s; want %s, %s", c.role, owner(c.role), status(c.role), c.owner, c.status)
		}
	}
	if note := byRole["nurse"].GetNote()[0].GetText().GetValue(); !strings.Contains(note, "nurse-a") || !strings.Contains(note, "objected") {
		t.Errorf("the nurse's explanation does not say why nurse-a was skipped: %s", note)
	}
	if byRole["home-help"].GetStatusReason() == nil {
		t.Error("the home-help's Task says nothing of the permit it waits for")
	}
	res, err := pl.Write(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != "201 Created" {
			t.Errorf("first routing: %s %s/%s", r.Status, r.Record.Type, r.Record.ID)
		}
	}
	// relabelling (gateway/relabel) knows the plan's requests from a
	// hospital's own
	for _, m := range plan.Resources() {
		if _, isSR := m.(*srpb.ServiceRequest); isSR != routing.PlanRequest(m) {
			t.Errorf("%s/%s: PlanRequest = %v", resource.Type(m), resource.ID(m), !isSR)
		}
	}
	again, err := pl.Plan(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	res, err = pl.Write(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != "200 OK" || r.Record.Version != 1 {
			t.Errorf("routing again wrote %s %s/%s v%d", r.Status, r.Record.Type, r.Record.ID, r.Record.Version)
		}
	}
	if os.Getenv("RELAIS_VALIDATE") != "" {
		dir := t.TempDir()
		for i, m := range plan.Resources() {
			js, err := testCodec.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			var pretty json.RawMessage = js
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.json", i)), pretty, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fhirtest.RunValidator(t, dir)
	}
	_ = st
}

// TestNoPathway: a stay that fits no pathway is refused with the reason.
func TestNoPathway(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	m, _ := testCodec.Decode([]byte(`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/young"},"period":{"end":"2026-03-05T10:00:00Z"}}`))
	p, _ := testCodec.Decode([]byte(`{"resourceType":"Patient","id":"young","birthDate":"1990-01-01"}`))
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Patient", ID: "young", Resource: p}, {Method: "PUT", Type: "Encounter", ID: "e2", Resource: m}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Plan(ctx, "e2"); err == nil || !strings.Contains(err.Error(), "fits no pathway") {
		t.Errorf("a stay of no pathway: %v", err)
	}
	if _, err := pl.Plan(ctx, "nothing"); err == nil {
		t.Error("an absent Encounter was planned")
	}
}

// TestRouteFinished: a stay is routed once it is finished, once: calling
// again (or after a restart, from the stored cursor) routes nothing more.
func TestRouteFinished(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	// e1 is finished in world: routed on the first pass.
	n, err := pl.RouteFinished(ctx)
	if err != nil || n != 1 {
		t.Fatalf("first pass: %d, %v", n, err)
	}
	tasks := func() int {
		hits, err := st.Search(&search.Query{Type: "Task"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(hits)
	}
	before := tasks()
	if n, err := pl.RouteFinished(ctx); err != nil || n != 0 || tasks() != before {
		t.Errorf("second pass: %d routed, %v, %d Tasks then %d", n, err, before, tasks())
	}
	// A stay in progress is not routed until it is finished.
	in, _ := testCodec.Decode([]byte(`{"resourceType":"Encounter","id":"e3","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"}}`))
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Encounter", ID: "e3", Resource: in}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := pl.RouteFinished(ctx); n != 0 {
		t.Errorf("an in-progress stay was routed")
	}
	fin, _ := testCodec.Decode([]byte(`{"resourceType":"Encounter","id":"e3","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-03-06T10:00:00Z"}}`))
	cond, _ := testCodec.Decode([]byte(`{"resourceType":"Condition","id":"c3","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e3"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`))
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Condition", ID: "c3", Resource: cond}, {Method: "PUT", Type: "Encounter", ID: "e3", Resource: fin}}); err != nil {
		t.Fatal(err)
	}
	if n, err := pl.RouteFinished(ctx); err != nil || n != 1 {
		t.Errorf("the finished stay: %d, %v", n, err)
	}
}

// TestRejectionAsksTheNext: a rejected Task's request goes to the next
// candidate, never back to one who refused it; when none is left, to the
// hospital.
func TestRejectionAsksTheNext(t *testing.T) {
	pl, st, plan := routed(t)
	ctx := context.Background()
	var nurse *tpb.Task
	for i, sr := range plan.Requests {
		if sr.GetPerformerType().GetCoding()[0].GetCode().GetValue() == "nurse" {
			nurse = plan.Tasks[i]
		}
	}
	reject := func(task *tpb.Task) {
		t.Helper()
		task.Status.Value = codes.TaskStatusCode_REJECTED
		if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Task", ID: resource.ID(task), Resource: task}}); err != nil {
			t.Fatal(err)
		}
	}
	reject(nurse)
	next, err := pl.Next(ctx, nurse)
	if err != nil || resource.RefString(next.GetOwner()) != "PractitionerRole/nurse-c" {
		t.Fatalf("after nurse-b refused: %v, %v", next.GetOwner(), err)
	}
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Task", ID: resource.ID(next), Resource: next}}); err != nil {
		t.Fatal(err)
	}
	reject(next)
	last, err := pl.Next(ctx, next)
	if err != nil || resource.RefString(last.GetOwner()) != "Organization/chu" || last.GetBusinessStatus() == nil {
		t.Fatalf("after nurse-c refused too (nurse-a objected to): %v, %v", last.GetOwner(), err)
	}
	if n := last.GetNote()[0].GetText().GetValue(); !strings.Contains(n, "refused this request before") {
		t.Errorf("the explanation does not say who refused: %s", n)
	}
	if os.Getenv("RELAIS_VALIDATE") != "" {
		dir := t.TempDir()
		for i, m := range []*tpb.Task{next, last} {
			js, err := testCodec.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("next%d.json", i)), js, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fhirtest.RunValidator(t, dir)
	}
}

// TestTimeOut: a recipient who does not answer within the timeout has her
// Task cancelled, and the next candidate asked, once; the GP's Task and the
// hospital's own follow-up do not time out.
func TestTimeOut(t *testing.T) {
	pl, st, plan := routed(t)
	ctx := context.Background()
	if n, err := pl.TimeOut(ctx); err != nil || n != 0 {
		t.Fatalf("before the deadline: %d, %v", n, err)
	}
	// A day and an hour later (the default timeout is 24 h).
	later := planner(t, st, time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC))
	n, err := later.TimeOut(ctx)
	if err != nil || n != 2 { // the nurse and the pharmacist
		t.Fatalf("after the deadline: %d timed out, %v", n, err)
	}
	rec, err := st.Read("Task", resource.ID(plan.Tasks[1]))
	if err != nil || !strings.Contains(string(rec.JSON), `"cancelled"`) {
		t.Errorf("the nurse's Task after the deadline: %s", rec.JSON)
	}
	next, err := st.Read("Task", strings.TrimSuffix(resource.ID(plan.Tasks[1]), "-1")+"-2")
	if err != nil || !strings.Contains(string(next.JSON), "nurse-c") {
		t.Errorf("the next nurse: %v %s", err, next.JSON)
	}
}

// routed is world with e1 planned and written.
func routed(t *testing.T) (*routing.Planner, *store.Store, *routing.Plan) {
	t.Helper()
	pl, st := world(t)
	plan, err := pl.Plan(context.Background(), "e1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Write(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	return pl, st, plan
}

// TestPendingDischargeDraft: an A16's expected discharge prepares the plan
// as a draft, asking nothing of anyone; the discharge turns the draft into
// the plan.
func TestPendingDischargeDraft(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	put := func(js string) { t.Helper(); putJSON(t, st, js) }
	if _, err := pl.RouteFinished(ctx); err != nil { // e1, finished in world
		t.Fatal(err)
	}
	put(`{"resourceType":"Condition","id":"c4","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e4"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`)
	put(`{"resourceType":"Encounter","id":"e4","status":"in-progress","extension":[{"url":"` + routing.ExpectedDischargeURL + `","valueDateTime":"2026-03-09T10:00:00Z"}],"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"}}`)
	if n, err := pl.RouteFinished(ctx); err != nil || n != 1 {
		t.Fatalf("the pending discharge: %d, %v", n, err)
	}
	plan, err := pl.Plan(ctx, "e4")
	if err != nil || !plan.Draft {
		t.Fatalf("draft plan: %v, %v", plan, err)
	}
	cp, err := st.Read("CarePlan", resource.ID(plan.CarePlan))
	if err != nil || !strings.Contains(string(cp.JSON), `"draft"`) {
		t.Fatalf("the draft CarePlan: %v %s", err, cp.JSON)
	}
	social := 0
	for _, task := range plan.Tasks {
		if task.GetStatusReason().GetText().GetValue() == routing.PermitRequired {
			social++
		}
		if got := task.GetStatus().GetValue(); got != codes.TaskStatusCode_DRAFT {
			t.Errorf("a draft plan's Task %s is %v (%s)", resource.ID(task), got, task.GetStatusReason().GetText().GetValue())
		}
	}
	if social == 0 {
		t.Errorf("no social recipient waiting for a permit in the draft: the case is not covered")
	}
	put(`{"resourceType":"Encounter","id":"e4","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-03-09T11:00:00Z"}}`)
	if n, err := pl.RouteFinished(ctx); err != nil || n != 1 {
		t.Fatalf("the discharge: %d, %v", n, err)
	}
	cp, _ = st.Read("CarePlan", resource.ID(plan.CarePlan))
	if !strings.Contains(string(cp.JSON), `"active"`) || cp.Version != 2 {
		t.Errorf("the CarePlan after the discharge: v%d %s", cp.Version, cp.JSON)
	}
	task, _ := st.Read("Task", resource.ID(plan.Tasks[0]))
	if !strings.Contains(string(task.JSON), `"requested"`) {
		t.Errorf("the GP's Task after the discharge: %s", task.JSON)
	}
}

// TestPlannedStayNotPrepared: a pre-admission (HL7 v2 A05: a planned
// Encounter) announcing its discharge gets no draft: nothing is prepared
// until the stay begins; once under way with that expected discharge, it
// does.
func TestPlannedStayNotPrepared(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	if _, err := pl.RouteFinished(ctx); err != nil { // e1, finished in world
		t.Fatal(err)
	}
	put := func(js string) { t.Helper(); putJSON(t, st, js) }
	put(`{"resourceType":"Condition","id":"c5","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e5"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`)
	enc := func(status string) string {
		return `{"resourceType":"Encounter","id":"e5","status":"` + status + `","extension":[{"url":"` + routing.ExpectedDischargeURL + `","valueDateTime":"2026-04-09T10:00:00Z"}],"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"}}`
	}
	put(enc("planned"))
	if n, err := pl.RouteFinished(ctx); err != nil || n != 0 {
		t.Fatalf("a planned stay: %d prepared, %v", n, err)
	}
	put(enc("in-progress"))
	if n, err := pl.RouteFinished(ctx); err != nil || n != 1 {
		t.Fatalf("the stay under way: %d prepared, %v", n, err)
	}
}

// TestDischargeRoutedInItsTransaction: with the planner following the
// store, the write that finishes a stay commits its plan with it, in one
// commit, whichever write path stores it; writing the stay again adds
// nothing; a stay that fits no pathway is stored unrouted and not refused.
func TestDischargeRoutedInItsTransaction(t *testing.T) {
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	st.Follow(pl)
	ctx := context.Background()
	put := func(jss ...string) {
		t.Helper()
		var entries []store.TxEntry
		for _, js := range jss {
			m, err := testCodec.Decode([]byte(js))
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
		}
		if _, err := st.TransactionWith(ctx, entries, store.TxOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(typ, enc string) int {
		t.Helper()
		q, err := search.Parse(typ, map[string][]string{"encounter": {"Encounter/" + enc}}, true)
		if typ == "Task" {
			q, err = search.Parse(typ, map[string][]string{"patient": {"Patient/p1"}}, true)
		}
		if err != nil {
			t.Fatal(err)
		}
		hits, err := st.Search(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(hits)
	}
	if _, err := pl.RouteFinished(ctx); err != nil { // the world's stay, stored before
		t.Fatal(err)
	}
	tasks := count("Task", "")
	commits := st.Stats().Commits
	put(`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-04-05T10:00:00Z"}}`,
		`{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e2"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`)
	if n := st.Stats().Commits - commits; n != 1 {
		t.Errorf("the discharge and its plan took %d commits, want 1", n)
	}
	if count("CarePlan", "e2") != 1 {
		t.Fatalf("no CarePlan committed with the discharge")
	}
	after := count("Task", "")
	if after <= tasks {
		t.Fatalf("no Task committed with the discharge: %d then %d", tasks, after)
	}
	put(`{"resourceType":"Encounter","id":"e2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"end":"2026-04-05T10:00:00Z"}}`)
	if n := count("Task", ""); n != after {
		t.Errorf("writing the stay again: %d Tasks, then %d", after, n)
	}
	// the background router finds it routed and adds nothing
	if _, err := pl.RouteFinished(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count("Task", ""); n != after {
		t.Errorf("the router routed a stay routed already: %d Tasks, then %d", after, n)
	}
	put(`{"resourceType":"Encounter","id":"e3","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/nobody"},"period":{"end":"2026-04-05T10:00:00Z"}}`)
	if count("CarePlan", "e3") != 0 {
		t.Errorf("a stay without a stored Patient was planned")
	}
}

// TestDischargeRequestsJoinThePlan: a request the discharge carries (a
// letter's "Suites à donner") is an activity of the CarePlan, left as the
// hospital wrote it, beside the pathway's own.
func TestDischargeRequestsJoinThePlan(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	m, err := testCodec.Decode([]byte(`{"resourceType":"ServiceRequest","id":"letter-sr","status":"active","intent":"order","code":{"text":"Bilan biologique à J7"},"subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "ServiceRequest", ID: "letter-sr", Resource: m}}); err != nil {
		t.Fatal(err)
	}
	plan, err := pl.Plan(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	acts := plan.CarePlan.GetActivity()
	if n := len(acts); n != len(plan.Requests)+1 || resource.RefString(acts[n-1].GetReference()) != "ServiceRequest/letter-sr" {
		t.Fatalf("the letter's request is not an activity of the plan: %v", acts)
	}
	if _, err := pl.Write(ctx, plan); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Read("ServiceRequest", "letter-sr")
	if err != nil || rec.Version != 1 {
		t.Errorf("the letter's request was changed: %v %+v", err, rec)
	}
}

// TestNoCandidateListed: the Tasks nobody in the directory could take are
// found by their coded businessStatus, for the hospital's follow-up.
func TestNoCandidateListed(t *testing.T) {
	_, st, plan := routed(t)
	q, err := search.Parse("Task", map[string][]string{"business-status": {routing.RoutingStatus + "|no-candidate"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, task := range plan.Tasks {
		if task.GetBusinessStatus() != nil {
			want = append(want, resource.ID(task))
		}
	}
	if len(want) == 0 || len(hits) != len(want) {
		t.Errorf("no-candidate Tasks found %d, want %v", len(hits), want)
	}
}

// TestUndeliveredAsksNext: a Task whose notification push delivery gave up
// on is not waited for: it is cancelled, saying why, and the next
// candidate asked at once, who is told the first could not be reached.
func TestUndeliveredAsksNext(t *testing.T) {
	pl, st, plan := routed(t)
	ctx := context.Background()
	nurse := proto.Clone(plan.Tasks[1]).(*tpb.Task)
	rec, err := st.Read("Task", resource.ID(nurse))
	if err != nil {
		t.Fatal(err)
	}
	m, err := testCodec.DecodeStored(rec.JSON)
	if err != nil {
		t.Fatal(err)
	}
	nurse = m.(*tpb.Task)
	nurse.BusinessStatus = &dtpb.CodeableConcept{Coding: []*dtpb.Coding{{System: &dtpb.Uri{Value: delivery.DeliveryStatusSystem}, Code: &dtpb.Code{Value: "undelivered"}}}}
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "Task", ID: resource.ID(nurse), Resource: nurse}}); err != nil {
		t.Fatal(err)
	}
	if n, err := pl.TimeOut(ctx); err != nil || n != 1 {
		t.Fatalf("moved %d, %v; want the undelivered nurse's Task", n, err)
	}
	old, _ := st.Read("Task", resource.ID(nurse))
	if !strings.Contains(string(old.JSON), `"cancelled"`) || !strings.Contains(string(old.JSON), "could not be delivered") {
		t.Errorf("the undelivered Task: %s", old.JSON)
	}
	next, err := st.Read("Task", strings.TrimSuffix(resource.ID(nurse), "-1")+"-2")
	if err != nil || !strings.Contains(string(next.JSON), "could not be reached for this request") {
		t.Errorf("the next Task: %v %s", err, next.JSON)
	}
}

// TestNotGoingHome: a patient who died, or who left the hospital for
// another establishment, is handed over to nobody in the community: the
// stay is not planned, and the reason says why. Her stay discharged home
// is planned.
func TestNotGoingHome(t *testing.T) {
	pl, st := world(t)
	ctx := context.Background()
	enc := func(hosp string) string {
		return `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-05T10:00:00Z"}` + hosp + `}`
	}
	why := func(err error) string {
		var oe *outcome.Error
		if !errors.As(err, &oe) {
			return ""
		}
		return fmt.Sprint(oe.Issues)
	}
	disposition := func(system, code string) string {
		return `,"hospitalization":{"dischargeDisposition":{"coding":[{"system":"` + system + `","code":"` + code + `"}]}}`
	}
	for _, c := range []struct{ name, hosp, why string }{
		{"died", disposition("http://terminology.hl7.org/CodeSystem/discharge-disposition", "exp"), "died"},
		{"rehabilitation", disposition("http://terminology.hl7.org/CodeSystem/discharge-disposition", "rehab"), "another establishment"},
		{"HL7 v2 expired", disposition("http://terminology.hl7.org/CodeSystem/v2-0112", "20"), "died"},
		{"HL7 v2 skilled nursing", disposition("http://terminology.hl7.org/CodeSystem/v2-0112", "03"), "another establishment"},
		// C-CDA R2.1 discharge summary: NUBC UB-04 FL17 patient status, by URI or by OID
		{"NUBC expired", disposition("https://www.nubc.org/CodeSystem/PatDischargeStatus", "20"), "died"},
		{"NUBC expired by OID", disposition("urn:oid:2.16.840.1.113883.6.301.5", "20"), "died"},
		{"NUBC short-term hospital", disposition("urn:oid:2.16.840.1.113883.6.301.5", "02"), "another establishment"},
		{"NUBC rehabilitation, readmission planned", disposition("https://www.nubc.org/CodeSystem/PatDischargeStatus", "90"), "another establishment"},
		{"HL7 v2 expired by OID", disposition("urn:oid:2.16.840.1.113883.12.112", "41"), "died"},
		{"destination", `,"hospitalization":{"destination":{"identifier":{"system":"https://finess.esante.gouv.fr","value":"590780193"}}}`, "another establishment"},
	} {
		putJSON(t, st, enc(c.hosp))
		if _, err := pl.Plan(ctx, "e1"); err == nil || !strings.Contains(why(err), c.why) {
			t.Errorf("%s: planned, or not for the reason: %v %s", c.name, err, why(err))
		}
	}
	for _, home := range []string{
		disposition("http://terminology.hl7.org/CodeSystem/discharge-disposition", "home"),
		disposition("https://www.nubc.org/CodeSystem/PatDischargeStatus", "06"), // home health service
	} {
		putJSON(t, st, enc(home))
		if _, err := pl.Plan(ctx, "e1"); err != nil {
			t.Fatalf("discharged home (%s): %v", home, err)
		}
	}
	// a death recorded before the stay contradicts it: an error of the record
	putJSON(t, st, `{"resourceType":"Patient","id":"p1","birthDate":"1942-03-15","deceasedDateTime":"2008-08-25T11:16:30+01:15","address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}]}`)
	if _, err := pl.Plan(ctx, "e1"); err != nil {
		t.Errorf("a death recorded years before the stay stopped its plan: %v", err)
	}
	for _, dead := range []string{`"deceasedDateTime":"2026-03-05T09:00:00Z"`, `"deceasedBoolean":true`} {
		putJSON(t, st, `{"resourceType":"Patient","id":"p1","birthDate":"1942-03-15",`+dead+`,"address":[{"use":"home","city":"Lille","postalCode":"59000","country":"FR"}]}`)
		if _, err := pl.Plan(ctx, "e1"); err == nil || !strings.Contains(why(err), "died") {
			t.Errorf("a deceased patient's stay (%s): %v", dead, err)
		}
	}
}
