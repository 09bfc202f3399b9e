package pathways_test

import (
	"context"
	"google.golang.org/protobuf/proto"
	"os"
	"path/filepath"
	"testing"

	pdpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/plan_definition_go_proto"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/pathways"
)

var testCodec = codec.MustNew()

// TestDefaults: every pathway of DESIGN.md is there, with a priority, at
// least one eligibility and one GP action (the GP always receives the
// whole plan), each action with a role, a window and its recipient kind.
func TestDefaults(t *testing.T) {
	ms, err := pathways.Defaults(testCodec)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"maternity": true, "stroke-tia": true, "heart-failure": true, "copd": true,
		"orthopaedic-surgery": true, "older-person": true, "other-surgery": true}
	for _, m := range ms {
		p := m.(*pdpb.PlanDefinition)
		id := resource.ID(p)
		if !want[id] {
			t.Errorf("unexpected pathway %s", id)
		}
		delete(want, id)
		var prio, elig int
		for _, e := range p.GetExtension() {
			switch e.GetUrl().GetValue() {
			case pathways.ExtPriority:
				prio++
			case pathways.ExtEligibility:
				if len(e.GetExtension()) == 0 {
					t.Errorf("%s: an empty eligibility", id)
				}
				elig++
			}
		}
		if prio != 1 || elig == 0 {
			t.Errorf("%s: %d priorities, %d eligibilities", id, prio, elig)
		}
		gp := false
		for _, a := range p.GetAction() {
			role := a.GetCode()[0].GetCoding()[0]
			if role.GetSystem().GetValue() != pathways.RoleSystem || a.GetTiming().GetRange().GetHigh() == nil {
				t.Errorf("%s/%s: role %v, window %v", id, a.GetId().GetValue(), role, a.GetTiming())
			}
			gp = gp || role.GetCode().GetValue() == "gp"
			kinds := 0
			for _, e := range a.GetExtension() {
				if e.GetUrl().GetValue() == pathways.ExtKind {
					kinds++
				}
			}
			if kinds != 1 {
				t.Errorf("%s/%s: %d recipient kinds", id, a.GetId().GetValue(), kinds)
			}
		}
		if !gp {
			t.Errorf("%s: no GP action", id)
		}
	}
	for id := range want {
		t.Errorf("pathway %s missing", id)
	}
}

// TestLoad: the defaults are stored once; a replacement by a system
// caller, or a removal, survives the next start.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := pathways.Load(ctx, st, testCodec); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Read("PlanDefinition", "heart-failure")
	if err != nil || rec.Version != 1 {
		t.Fatalf("heart-failure: %v %v", rec, err)
	}
	// The hospital replaces heart failure and removes COPD.
	m, err := testCodec.Decode(rec.JSON)
	if err != nil {
		t.Fatal(err)
	}
	m.(*pdpb.PlanDefinition).Title.Value = "Insuffisance cardiaque (CHU)"
	if _, err := st.Transaction(ctx, []store.TxEntry{
		{Method: "PUT", Type: "PlanDefinition", ID: "heart-failure", Resource: m},
		{Method: "DELETE", Type: "PlanDefinition", ID: "copd"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := pathways.Load(ctx, st, testCodec); err != nil {
		t.Fatal(err)
	}
	if rec, err := st.Read("PlanDefinition", "heart-failure"); err != nil || rec.Version != 2 {
		t.Errorf("the replacement was overwritten: %v %v", rec, err)
	}
	if _, err := st.Read("PlanDefinition", "copd"); err == nil {
		t.Error("a removed pathway came back")
	}
}

// TestValidates runs the independent FHIR R4 validator over the defaults
// when RELAIS_VALIDATE is set (make test sets it).
func TestValidates(t *testing.T) {
	if os.Getenv("RELAIS_VALIDATE") == "" {
		t.Skip("set RELAIS_VALIDATE=1 to run the npm FHIR validator")
	}
	fhirtest.RunValidator(t, "defaults")
}

// TestLoadUpgradesEarlierDefault: a default stored by an earlier release
// (another PlanDefinition.version, never replaced) becomes this release's;
// the hospital's replacement of another version string is kept.
func TestLoadUpgradesEarlierDefault(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "relais.db"), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := pathways.Defaults(testCodec)
	if err != nil {
		t.Fatal(err)
	}
	var entries []store.TxEntry
	shipped := map[string]string{}
	for _, m := range ms {
		pd := m.(*pdpb.PlanDefinition)
		shipped[pd.GetId().GetValue()] = pd.GetVersion().GetValue()
		old := proto.Clone(pd).(*pdpb.PlanDefinition)
		old.Version.Value = "0.9.0" // an earlier release's
		entries = append(entries, store.TxEntry{Method: "PUT", Type: "PlanDefinition", ID: pd.GetId().GetValue(), Resource: old})
	}
	if _, err := st.Transaction(ctx, entries); err != nil {
		t.Fatal(err)
	}
	// The hospital replaced heart failure (a second stored version).
	hf := proto.Clone(entries[0].Resource).(*pdpb.PlanDefinition)
	for _, e := range entries {
		if e.ID == "heart-failure" {
			hf = proto.Clone(e.Resource).(*pdpb.PlanDefinition)
		}
	}
	hf.Version.Value = "chu-2"
	if _, err := st.Transaction(ctx, []store.TxEntry{{Method: "PUT", Type: "PlanDefinition", ID: "heart-failure", Resource: hf}}); err != nil {
		t.Fatal(err)
	}
	if err := pathways.Load(ctx, st, testCodec); err != nil {
		t.Fatal(err)
	}
	for id, version := range shipped {
		rec, err := st.Read("PlanDefinition", id)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := testCodec.DecodeStored(rec.JSON)
		got := m.(*pdpb.PlanDefinition).GetVersion().GetValue()
		want := version
		if id == "heart-failure" {
			want = "chu-2"
		}
		if got != want {
			t.Errorf("%s after Load: version %s, want %s", id, got, want)
		}
	}
}
