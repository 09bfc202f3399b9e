package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/mappings/bundle"
)

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func types(res *bundle.Result) map[string]int {
	out := map[string]int{}
	for _, e := range res.Bundle.GetEntry() {
		out[resource.Type(resource.Unwrap(e.GetResource()))]++
	}
	return out
}

func TestMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from Format
		file string
		want []string // resource types that must be there
	}{
		{HL7v2, "testdata/pam-fr-a03.hl7", []string{"Patient", "Encounter", "Provenance", "Binary"}},
		// MDM carrying a CDA document goes through the CDA mapping too.
		{HL7v2, "testdata/mdm-t02-cda.hl7", []string{"DocumentReference", "Composition"}},
		{CDA, "testdata/cisis-ldl-ses.xml", []string{"Composition", "Patient", "Provenance"}},
		{AGGIR, "testdata/aggir-variables.json", []string{"Observation", "QuestionnaireResponse"}},
		{Assessment, "testdata/needs-minimal.json", []string{"ServiceRequest"}},
		{Assessment, "testdata/tddui-qualifiers.json", []string{"Observation"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.from)+"/"+tc.file[strings.LastIndex(tc.file, "/")+1:], func(t *testing.T) {
			t.Parallel()
			res, err := Map(tc.from, read(t, tc.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := types(res)
			for _, typ := range tc.want {
				if got[typ] == 0 {
					t.Errorf("no %s in %v", typ, got)
				}
			}
		})
	}
}

func TestMapRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from Format
		data string
	}{
		{HL7v2, "not a message"},
		{CDA, "<html/>"},
		{AGGIR, `{"type":"needs-assessment"}`},
		{Assessment, `{"type":"aggir","variables":{}}`},
		{"fax", "x"},
	}
	for _, tc := range tests {
		if _, err := Map(tc.from, []byte(tc.data), Options{}); err == nil {
			t.Errorf("%s accepted %q", tc.from, tc.data)
		}
	}
}

func TestStoreCDA(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	doc := read(t, "testdata/hl7-ccda21-discharge-summary.xml")
	s, err := in.CDA(context.Background(), doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := Map(CDA, doc, Options{})
	if len(s.Results) != len(res.Bundle.Entry) || len(s.Issues) != len(res.Issues) {
		t.Errorf("%d results, %d issues; the mapping has %d entries, %d issues", len(s.Results), len(s.Issues), len(res.Bundle.Entry), len(res.Issues))
	}
	comp := record(t, s, "Composition")
	if _, err := st.Read("Composition", comp.ID); err != nil {
		t.Error(err)
	}
	// The same document again changes nothing but the per-run resources.
	before := changes(t, st)
	if _, err := in.CDA(context.Background(), doc, nil); err != nil {
		t.Fatal(err)
	}
	if again := changes(t, st) - before; again > 3 {
		t.Errorf("the same document again wrote %d versions", again)
	}
}

func TestStoreRefusesBadInput(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ctx := context.Background()
	_, err := in.CDA(ctx, []byte("<ClinicalDocument/>"), nil)
	if outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("CDA without patient: %v, want Invalid", err)
	}
	_, err = in.Assessment(ctx, read(t, "testdata/needs-invalid.json"), nil)
	var oe *outcome.Error
	if !asOutcome(err, &oe) || oe.Kind != outcome.Invalid || len(oe.Issues) < 2 || oe.Issues[0].Path == "" {
		t.Errorf("invalid needs assessment: %v, want Invalid with field paths", err)
	}
	if n := changes(t, st); n != 0 {
		t.Errorf("%d versions stored", n)
	}
}

func asOutcome(err error, oe **outcome.Error) bool {
	e, ok := err.(*outcome.Error)
	*oe = e
	return ok
}

// TestNeedsLinkToCarePlan: a needs assessment for a patient with an active
// CarePlan gets ServiceRequests basedOn it.
func TestNeedsLinkToCarePlan(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ctx := context.Background()
	input := read(t, "testdata/needs-minimal.json")
	first, err := in.Assessment(ctx, input, nil)
	if err != nil {
		t.Fatal(err)
	}
	sr := record(t, first, "ServiceRequest")
	if bytes.Contains(sr.JSON, []byte("basedOn")) {
		t.Fatal("basedOn without a CarePlan")
	}
	pat := record(t, first, "Patient")
	plan, err := testCodec.Decode([]byte(`{"resourceType":"CarePlan","id":"plan1","status":"active","intent":"plan","subject":{"reference":"Patient/` + pat.ID + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Update(ctx, plan, 0); err != nil {
		t.Fatal(err)
	}
	second, err := in.Assessment(ctx, input, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sr := record(t, second, "ServiceRequest"); !bytes.Contains(sr.JSON, []byte(`"CarePlan/plan1"`)) {
		t.Errorf("ServiceRequest not based on the active CarePlan: %s", sr.JSON)
	}
}

// TestLifecycle: HL7v2 is refused, storing nothing, before Start and after
// Close; Start runs once; Close is idempotent and harmless before Start.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	in, err := New(Config{Store: st, Logger: quietLogger(), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.HL7v2(ctx, ingesttest.Admit(1), nil); !errors.Is(err, ErrNotStarted) {
		t.Errorf("HL7v2 before Start: %v, want ErrNotStarted", err)
	}
	if q, err := st.Queued(); err != nil || len(q) != 0 {
		t.Errorf("inbox after a refused message: %d %v", len(q), err)
	}
	if _, err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	if _, err := in.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	send(t, in, ingesttest.Admit(2))
	in.Close()
	in.Close()
	if _, err := in.HL7v2(ctx, ingesttest.Admit(3), nil); !errors.Is(err, ErrClosed) || outcome.KindOf(err) != outcome.Busy {
		t.Errorf("HL7v2 after Close: %v, want ErrClosed (Busy: not acknowledged)", err)
	}
	if _, err := in.Start(ctx); err == nil {
		t.Error("Start after Close succeeded")
	}

	never, err := New(Config{Store: st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	never.Close() // never started: nothing to stop
}

// TestCloseWritesAccepted: a message acknowledged and still waiting in the
// queue when Close is called is written before Close returns. A sender in
// the middle of a message (accepting) makes the queue linger, so the
// message is still queued when Close starts.
func TestCloseWritesAccepted(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	in, err := New(Config{Store: st, Logger: quietLogger(), Options: Options{Now: tick(), Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	in.q.accepting.Add(1)
	var r *Reply
	for i := 1; ; i++ {
		r = send(t, in, ingesttest.Admit(i))
		if q, err := st.Queued(); err != nil {
			t.Fatal(err)
		} else if len(q) > 0 {
			break // acknowledged, not written yet
		}
		if i == 5 {
			t.Fatal("every message was written before Close: the queue did not linger")
		}
	}
	in.Close()
	if q, err := st.Queued(); err != nil || len(q) != 0 {
		t.Fatalf("inbox after Close: %d %v, want empty", len(q), err)
	}
	written(t, st, r, "Encounter")
}
