package routing_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
)

// plans lists the routing CarePlans stored, by pathway (the PlanDefinition's
// id), as their status and the code of their withdrawal, and their Tasks as
// status and status reason code.
func plans(t *testing.T, st *store.Store) (cps map[string]string, tasks map[string][]string) {
	t.Helper()
	cps, tasks = map[string]string{}, map[string][]string{}
	byPlan := map[string]string{}
	for _, typ := range []string{"CarePlan", "ServiceRequest", "Task"} {
		q, err := search.Parse(typ, url.Values{}, true)
		if err != nil {
			t.Fatal(err)
		}
		hits, err := st.Search(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if !strings.HasPrefix(h.ID, "route-") {
				continue
			}
			rec, err := st.Read(typ, h.ID)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Status                string
				InstantiatesCanonical []string
				Extension             []struct {
					URL         string
					ValueCoding struct{ Code string }
				}
				BasedOn      []struct{ Reference string }
				Focus        struct{ Reference string }
				StatusReason struct{ Coding []struct{ Code string } }
			}
			if err := json.Unmarshal(rec.JSON, &v); err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "CarePlan":
				pw := strings.TrimPrefix(strings.Split(v.InstantiatesCanonical[0], "|")[0], pathways.Base+"/PlanDefinition/")
				byPlan["CarePlan/"+h.ID] = pw
				s := v.Status
				for _, e := range v.Extension {
					if e.URL == routing.ExtWithdrawn {
						s += " " + e.ValueCoding.Code
					}
				}
				cps[pw] = s
			case "ServiceRequest":
				byPlan["ServiceRequest/"+h.ID] = byPlan[v.BasedOn[0].Reference]
			case "Task":
				s := v.Status
				if len(v.StatusReason.Coding) > 0 {
					s += " " + v.StatusReason.Coding[0].Code
				}
				pw := byPlan[v.Focus.Reference]
				tasks[pw] = append(tasks[pw], s)
			}
		}
	}
	return cps, tasks
}

// TestCorrectedLetterReroutes: the hospital's discharge letter says heart
// failure (I50), and the stay is routed along the heart-failure pathway;
// then the letter is corrected (version 2, RPLC naming version 1: CDA R2
// section 4.2.3.1), and the heart failure was a mistake. The first
// version's diagnosis is withdrawn (entered-in-error), so the plan made on
// it is no longer supported: it is withdrawn in the transaction that
// stores the correction (the CarePlan revoked with the code
// diagnosis-withdrawn, its Tasks cancelled with that status reason, which
// push delivery tells their owners), and the stay is routed along what
// the correction supports: COPD (J44), or nothing when the correction
// states no pathway's diagnosis (R06.0, dyspnoea: she is 73, too young for
// the older-person pathway). The correction comes posted as CDA or in an
// MDM T10.
func TestCorrectedLetterReroutes(t *testing.T) {
	v1 := ingesttest.Liaison("LDL-V1", 1, "20260305140000+0100", "", true, "I50.0")
	for _, c := range []struct {
		name, diagnosis, want string
		mdm                   bool
	}{
		{"COPD by CDA", "J44.1", "copd", false},
		{"COPD by MDM", "J44.1", "copd", true},
		{"no pathway", "R06.0", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, _, in := routedIngest(t)
			if _, err := in.CDA(context.Background(), v1, nil); err != nil {
				t.Fatal(err)
			}
			if cps, tasks := plans(t, st); cps["heart-failure"] != "active" || len(tasks["heart-failure"]) == 0 {
				t.Fatalf("the first letter's plan: %v %v", cps, tasks)
			}
			v2 := ingesttest.Liaison("LDL-V2", 2, "20260306100000+0100", "LDL-V1", false, c.diagnosis)
			if c.mdm {
				r, err := in.HL7v2(context.Background(), ingesttest.MDM("T10", "MDM-2", "20260306100500+0100", "LDL-V2", "LDL-V1", v2), nil)
				if err != nil || !strings.Contains(string(r.ACK), "MSA|AA") {
					t.Fatalf("MDM: %v %s", err, r.ACK)
				}
				in.Sync()
			} else if _, err := in.CDA(context.Background(), v2, nil); err != nil {
				t.Fatal(err)
			}
			cps, tasks := plans(t, st)
			if cps["heart-failure"] != "revoked "+routing.DiagnosisWithdrawn {
				t.Errorf("the heart-failure plan is %q, want revoked %s", cps["heart-failure"], routing.DiagnosisWithdrawn)
			}
			for _, s := range tasks["heart-failure"] {
				if s != "cancelled "+routing.DiagnosisWithdrawn {
					t.Errorf("a heart-failure Task is %q, want cancelled %s (%v)", s, routing.DiagnosisWithdrawn, tasks)
				}
			}
			for pw, s := range cps {
				switch {
				case pw == "heart-failure":
				case pw == c.want && s == "active":
				default:
					t.Errorf("plan %s is %q; want only %q active beside the withdrawn one", pw, s, c.want)
				}
			}
			if c.want != "" {
				if len(tasks[c.want]) == 0 {
					t.Errorf("no Task along %s: %v", c.want, tasks)
				}
				for _, s := range tasks[c.want] {
					if s != "requested" && s != "on-hold "+routing.PermitRequiredCode {
						t.Errorf("a %s Task is %q", c.want, s)
					}
				}
			}
			if os.Getenv("RELAIS_VALIDATE") != "" {
				dir := t.TempDir()
				for _, typ := range []string{"CarePlan", "ServiceRequest", "Task", "Condition", "Composition", "DocumentReference"} {
					q, _ := search.Parse(typ, url.Values{}, true)
					hits, _ := st.Search(q, nil)
					for _, h := range hits {
						rec, err := st.Read(typ, h.ID)
						if err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(filepath.Join(dir, typ+"-"+h.ID+".json"), rec.JSON, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				fhirtest.RunValidator(t, dir)
			}
		})
	}
}

// routedIngest is the world's store, routing each stay on the write that
// finishes it, and an ingester writing to it.
func routedIngest(t *testing.T) (*store.Store, *routing.Planner, *ingest.Ingester) {
	t.Helper()
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	st.Follow(pl)
	in, err := ingest.New(ingest.Config{Store: st, Logger: quiet(), Options: ingest.Options{Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return st, pl, in
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
