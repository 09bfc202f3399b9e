package relabel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/relabel"
	"github.com/relais-health/relais/gateway/routing"
	"github.com/relais-health/relais/mappings/sensitivity"
)

const (
	actCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	icd10   = "http://hl7.org/fhir/sid/icd-10"
)

// old is what an earlier Relais stored, before the labelling rules named
// these codes: written to the store directly, as its writes were, without
// sensitivity.Label. Codes from WHO ICD-10 2019, LOINC and WHO ATC.
var old = []string{
	`{"resourceType":"Patient","id":"p1"}`,
	cond("hiv", "B20.7", ""),
	cond("hf", "I50.0", ""),
	cond("schizo", "F20.0", ""),
	cond("syphilis", "A51.0", ""),
	// a consent administrator restricted it: R stays
	cond("restricted", "B24", `"meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},`),
	cond("gone", "Z21", ""),
	`{"resourceType":"Observation","id":"load","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"20447-9"}]},"valueQuantity":{"value":40,"unit":"copies/mL"}}`,
	`{"resourceType":"DiagnosticReport","id":"panel","status":"final","subject":{"reference":"Patient/p1"},"code":{"text":"virology"},"result":[{"reference":"Observation/load"}]}`,
	`{"resourceType":"MedicationStatement","id":"methadone","status":"active","subject":{"reference":"Patient/p1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"N07BC02"}]}}`,
	`{"resourceType":"Encounter","id":"stay","status":"finished","class":{"system":"` + actCode + `","code":"IMP"},"subject":{"reference":"Patient/p1"},"diagnosis":[{"condition":{"reference":"Condition/hf"}},{"condition":{"reference":"Condition/hiv"}}]}`,
	`{"resourceType":"Encounter","id":"hf-stay","status":"finished","class":{"system":"` + actCode + `","code":"IMP"},"subject":{"reference":"Patient/p1"},"diagnosis":[{"condition":{"reference":"Condition/hf"}}]}`,
	`{"resourceType":"Composition","id":"letter","status":"final","type":{"coding":[{"system":"http://loinc.org","code":"18842-5"}]},"subject":{"reference":"Patient/p1"},"date":"2024-03-01","author":[{"display":"CH"}],"title":"Discharge summary",
	  "section":[{"title":"Diagnoses","section":[{"title":"Active","entry":[{"reference":"DiagnosticReport/panel"}]}]}]}`,
	`{"resourceType":"ServiceRequest","id":"order","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"code":{"text":"home visit"},"reasonReference":[{"reference":"Condition/syphilis"}]}`,
	// routing's request to the nurse: its reasons are references she
	// cannot follow; one shaped like it but coded as an HIV test is
	// labelled by its code
	`{"resourceType":"ServiceRequest","id":"plan1-lab","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"20447-9"}]},"basedOn":[{"reference":"CarePlan/plan1"}]}`,
	`{"resourceType":"ServiceRequest","id":"plan1-nurse","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"code":{"text":"nurse visit"},"basedOn":[{"reference":"CarePlan/plan1"}],"reasonReference":[{"reference":"Condition/hiv"}]}`,
	`{"resourceType":"Binary","id":"msg","contentType":"x-application/hl7-v2+er7","data":"TVNIfF5+XCZ8"}`,
	`{"resourceType":"OperationOutcome","id":"warnings","issue":[{"severity":"warning","code":"informational","diagnostics":"PID-11 not mapped"}]}`,
	`{"resourceType":"Provenance","id":"prov","target":[{"reference":"Condition/hiv"},{"reference":"Encounter/stay"}],"recorded":"2024-03-01T10:00:00Z",
	  "agent":[{"who":{"display":"mapping"}}],
	  "entity":[{"role":"source","what":{"reference":"Binary/msg"}},{"role":"derivation","what":{"reference":"OperationOutcome/warnings"}}]}`,
}

func cond(id, code, meta string) string {
	return `{"resourceType":"Condition","id":"` + id + `",` + meta + `"subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"` + icd10 + `","code":"` + code + `"}]}}`
}

// want are the sensitivity labels each resource must carry afterwards;
// those not listed carry none.
var want = map[string][]string{
	"Condition/hiv":                 {"HIV"},
	"Condition/schizo":              {"PSY"},
	"Condition/syphilis":            {"SEX"},
	"Condition/restricted":          {"R", "HIV"},
	"Observation/load":              {"HIV"},
	"DiagnosticReport/panel":        {"HIV"},
	"MedicationStatement/methadone": {"ETH"},
	"Encounter/stay":                {"HIV"},
	"Composition/letter":            {"HIV"},
	"ServiceRequest/order":          {"SEX"},
	"ServiceRequest/plan1-lab":      {"HIV"},
	"Provenance/prov":               {"HIV"},
	"Binary/msg":                    {"HIV"},
	"OperationOutcome/warnings":     {"HIV"},
}

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seed writes old to a new store at path, deletes Condition/gone, and
// closes it.
func seed(t *testing.T, path string) {
	t.Helper()
	st := open(t, path)
	defer st.Close()
	c := codec.MustNew()
	ctx := context.Background()
	for _, js := range old {
		m, err := c.Decode([]byte(js))
		if err != nil {
			t.Fatalf("%.60s: %v", js, err)
		}
		e := store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m}
		if _, err := st.TransactionWith(ctx, []store.TxEntry{e}, store.TxOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Delete(ctx, "Condition", "gone", 0); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, ctx context.Context, st *store.Store, cfg relabel.Config) (relabel.Summary, string, error) {
	t.Helper()
	var log bytes.Buffer
	cfg.Store, cfg.Codec, cfg.CodesOnly = st, codec.MustNew(), routing.PlanRequest
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	sum, err := relabel.Run(ctx, cfg)
	return sum, log.String(), err
}

// sensitivityOf is the codes of the sensitivity labels of the current
// version of key, and that version.
func sensitivityOf(t *testing.T, st *store.Store, key string) ([]string, uint64, *store.Record) {
	t.Helper()
	typ, id, _ := strings.Cut(key, "/")
	rec, err := st.Read(typ, id)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return labelsIn(t, rec.JSON), rec.Version, rec
}

func labelsIn(t *testing.T, js []byte) []string {
	t.Helper()
	var r struct {
		Meta struct {
			Security []struct{ System, Code string }
		}
	}
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range r.Meta.Security {
		if s.System != "https://relais-health.github.io/fhir/CodeSystem/data-category" {
			out = append(out, s.Code)
		}
	}
	return out
}

// check verifies that every resource of old carries what want says, in a
// second version when it gained a label (the first kept as it was
// stored), else still in its first.
func check(t *testing.T, st *store.Store) {
	t.Helper()
	c := codec.MustNew()
	for _, js := range old {
		m, _ := c.Decode([]byte(js))
		key := resource.Type(m) + "/" + resource.ID(m)
		if key == "Condition/gone" {
			if _, err := st.Read("Condition", "gone"); err == nil {
				t.Errorf("the deleted Condition was written again")
			}
			continue
		}
		got, ver, rec := sensitivityOf(t, st, key)
		w := want[key]
		if !slices.Equal(got, w) {
			t.Errorf("%s labels %v, want %v", key, got, w)
		}
		wantVer := uint64(1)
		if len(w) > 0 && !(len(w) == 1 && w[0] == "R") {
			wantVer = 2
		}
		if ver != wantVer {
			t.Errorf("%s at version %d, want %d", key, ver, wantVer)
		}
		if ver == 2 {
			first, err := st.VRead(rec.Type, rec.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := labelsIn(t, first.JSON); slices.Contains(got, w[len(w)-1]) {
				t.Errorf("%s: version 1 rewritten (labels %v): history must stay as it was", key, got)
			}
			if !rec.LastUpdated.After(first.LastUpdated) {
				t.Errorf("%s: lastUpdated %v not after the first version's %v", key, rec.LastUpdated, first.LastUpdated)
			}
		}
	}
}

// TestRelabelsStoredData: data stored before the rules named its codes is
// labelled by the pass in new versions (history kept, a label a consent
// administrator set kept, a deleted resource left deleted, routing's
// request left as routing wrote it), with the source and warnings of its
// Provenance; the log line holds counts only.
func TestRelabelsStoredData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	seed(t, path)
	st := open(t, path)
	defer st.Close()
	sum, log, err := run(t, context.Background(), st, relabel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, st)
	wantCounts := map[string]int{"Condition": 4, "Observation": 1, "DiagnosticReport": 1, "MedicationStatement": 1,
		"Encounter": 1, "Composition": 1, "ServiceRequest": 2, "Provenance": 1, "Binary": 1, "OperationOutcome": 1}
	for typ, n := range wantCounts {
		if sum.Relabelled[typ] != n {
			t.Errorf("%s relabelled %d, want %d (%v)", typ, sum.Relabelled[typ], n, sum.Relabelled)
		}
	}
	if sum.Total() != 14 {
		t.Errorf("relabelled %d in all, want 14", sum.Total())
	}
	if !strings.Contains(log, "sensitivity labels brought up to date") || !strings.Contains(log, "relabelled=14") || !strings.Contains(log, "Condition=4") {
		t.Errorf("log %q, want the summary with counts", log)
	}
	for _, phi := range []string{"hiv", "B20", "Patient/p1", "schizo", "20447-9"} {
		if strings.Contains(log, phi) {
			t.Errorf("log names %q: %s", phi, log)
		}
	}
}

// TestRelabelOncePerVersion: a second start reads nothing and writes
// nothing: the rules' version is recorded.
func TestRelabelOncePerVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	seed(t, path)
	st := open(t, path)
	if _, _, err := run(t, context.Background(), st, relabel.Config{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, path)
	defer st.Close()
	if v, err := st.Cursor(relabel.DoneCursor); err != nil || v != sensitivity.Version {
		t.Fatalf("recorded rules version %d (%v), want %d", v, err, sensitivity.Version)
	}
	sum, log, err := run(t, context.Background(), st, relabel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Current || sum.Scanned != 0 || sum.Total() != 0 {
		t.Errorf("second pass %+v, want nothing read", sum)
	}
	if !strings.Contains(log, "sensitivity labels current") {
		t.Errorf("log %q", log)
	}
	check(t, st)
}

// TestRelabelResumes: a pass stopped after its first chunk (its context
// ended: a signal; the store then closed as a crash leaves it) has
// committed whole chunks only; the next start goes on from there, writes
// each new version once, and records the rules' version.
func TestRelabelResumes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	seed(t, path)
	st := open(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	var first relabel.Summary
	sum, _, err := run(t, ctx, st, relabel.Config{Chunk: 2, Progress: func(s relabel.Summary) {
		first = s
		cancel()
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped pass: %v, want context.Canceled", err)
	}
	if first.Scanned == 0 || sum.Scanned != first.Scanned {
		t.Fatalf("stopped after %+v, summary %+v: want one chunk", first, sum)
	}
	if v, _ := st.Cursor(relabel.DoneCursor); v != 0 {
		t.Errorf("a stopped pass recorded the rules version %d", v)
	}
	// the first chunk (the first two Conditions written) is committed
	if got, ver, _ := sensitivityOf(t, st, "Condition/hiv"); ver != 2 || !slices.Equal(got, []string{"HIV"}) {
		t.Errorf("after the first chunk Condition/hiv is version %d labelled %v, want 2 with HIV", ver, got)
	}
	// and, as if the process died between the chunk's commit and the
	// record of its position, the position is lost: the chunk is read
	// again and finds nothing left to write
	if err := st.SetCursor(context.Background(), relabel.ProgressCursor("Condition"), 0); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = open(t, path)
	defer st.Close()
	second, _, err := run(t, context.Background(), st, relabel.Config{Chunk: 2})
	if err != nil {
		t.Fatal(err)
	}
	check(t, st)
	if first.Total()+second.Total() != 14 {
		t.Errorf("relabelled %d then %d, want 14 in all", first.Total(), second.Total())
	}
	if second.Relabelled["Condition"] != 3 {
		t.Errorf("second pass relabelled %d Conditions, want 3: the first chunk's were done", second.Relabelled["Condition"])
	}
	if v, _ := st.Cursor(relabel.DoneCursor); v != sensitivity.Version {
		t.Errorf("rules version %d recorded, want %d", v, sensitivity.Version)
	}
}

// relabelEvents are the audit log's label-change events (DICOM 110135
// Object Security Attributes Changed), newest first.
func relabelEvents(t *testing.T, st *store.Store) []map[string]any {
	t.Helper()
	var out []map[string]any
	err := st.AuditEvents(store.AuditQuery{Subtypes: []string{"110135"}}, func(_ store.AuditHead, js []byte) (bool, error) {
		var ev map[string]any
		if err := json.Unmarshal(js, &ev); err != nil {
			return false, err
		}
		out = append(out, ev)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRelabelAudited: each new version the pass writes is recorded, in
// the chunk's own transaction, as a change of the resource's security
// attributes (DICOM 110113 Security Alert, subtype 110135 Object Security
// Attributes Changed, action U), naming the version written and the
// patient it is about, so that a consent officer sees which labels of a
// patient's data the rules changed, and when; by reference only: the
// event holds neither the labels nor the codes that gave them. A pass
// resumed after a stop records each version once.
func TestRelabelAudited(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	seed(t, path)
	st := open(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, err := run(t, ctx, st, relabel.Config{Chunk: 2, Progress: func(relabel.Summary) { cancel() }}); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped pass: %v", err)
	}
	if _, _, err := run(t, context.Background(), st, relabel.Config{Chunk: 2}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs := relabelEvents(t, st)
	var versions []string
	for _, ev := range evs {
		js, _ := json.Marshal(ev)
		for _, leak := range []string{"HIV", "B20", "20447-9", "PSY", "v3-ActCode"} {
			if strings.Contains(string(js), leak) {
				t.Errorf("the event holds %q: %s", leak, js)
			}
		}
		if ev["action"] != "U" || ev["outcome"] != "0" || ev["type"].(map[string]any)["code"] != "110113" {
			t.Errorf("event %s", js)
		}
		var what, patient string
		for _, en := range ev["entity"].([]any) {
			en := en.(map[string]any)
			ref, _ := en["what"].(map[string]any)["reference"].(string)
			switch en["role"].(map[string]any)["code"] {
			case "1":
				patient = ref
			case "4":
				what = ref
			}
		}
		versions = append(versions, what)
		// named as the consent engine reads a resource's patient
		// (consent.FactsOf); a source, warnings and a Provenance name none
		if typ, _, _ := strings.Cut(what, "/"); slices.Contains([]string{"Condition", "Observation", "Encounter", "MedicationStatement", "ServiceRequest"}, typ) &&
			patient != "Patient/p1" {
			t.Errorf("%s: patient %q, want Patient/p1", what, patient)
		}
	}
	var wantVersions []string
	for key, labels := range want {
		if !(len(labels) == 1 && labels[0] == "R") {
			wantVersions = append(wantVersions, key+"/_history/2")
		}
	}
	slices.Sort(versions)
	slices.Sort(wantVersions)
	if !slices.Equal(versions, wantVersions) {
		t.Errorf("label changes recorded for\n%q\nwant\n%q", versions, wantVersions)
	}
	var hiv []string
	_ = st.AuditEvents(store.AuditQuery{Patient: "Patient/p1", Subtypes: []string{"110135"}}, func(_ store.AuditHead, js []byte) (bool, error) {
		if strings.Contains(string(js), "Condition/hiv/_history/2") {
			hiv = append(hiv, string(js))
		}
		return true, nil
	})
	if len(hiv) != 1 {
		t.Errorf("p1's log lists the change of Condition/hiv %d times", len(hiv))
	}
}
