package routing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/routing"
)

// routingOf lists the routing resources of type typ stored for the world's
// patient, as id -> status (and, for a Task, its status reason's code).
func routingOf(t *testing.T, st *store.Store, typ string) map[string]string {
	t.Helper()
	q, err := search.Parse(typ, map[string][]string{"patient": {"Patient/p1"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(q, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range hits {
		if !strings.HasPrefix(h.ID, "route-") {
			continue
		}
		rec, err := st.Read(typ, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Status       string
			StatusReason struct{ Coding []struct{ Code string } }
		}
		if err := json.Unmarshal(rec.JSON, &v); err != nil {
			t.Fatal(err)
		}
		out[h.ID] = v.Status
		if len(v.StatusReason.Coding) > 0 {
			out[h.ID] += " " + v.StatusReason.Coding[0].Code
		}
	}
	return out
}

// TestCancelledDischargeWithdrawsPlan: a stay routed, then taken back to
// in progress (HL7 v2 A13), has its plan withdrawn in the same write: the
// CarePlan and ServiceRequests revoked, every Task not done cancelled with
// the reason discharge-cancelled, a Task already done left as it is. A
// discharge again is routed into a plan of its own; the withdrawn one
// stays withdrawn.
func TestCancelledDischargeWithdrawsPlan(t *testing.T) {
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	st.Follow(pl)
	ctx := context.Background()
	put := func(js string) { t.Helper(); putJSON(t, st, js) }
	if n, err := pl.RouteFinished(ctx); err != nil || n != 1 { // e1, finished in world
		t.Fatalf("routing the world's stay: %d, %v", n, err)
	}
	tasks := routingOf(t, st, "Task")
	if len(tasks) < 3 {
		t.Fatalf("the plan's Tasks: %v", tasks)
	}
	// The GP has already done hers: a Task done is not withdrawn.
	var gpTask string
	for id := range tasks {
		if strings.Contains(id, "-gp-") {
			gpTask = id
		}
	}
	rec, err := st.Read("Task", gpTask)
	if err != nil {
		t.Fatal(err)
	}
	done := strings.Replace(string(rec.JSON), `"status":"requested"`, `"status":"completed"`, 1)
	put(done)

	const stay = `{"resourceType":"Encounter","id":"e1","status":"%s","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z"%s}}`
	put(strings.Replace(strings.Replace(stay, "%s", "in-progress", 1), "%s", "", 1)) // A13
	for id, s := range routingOf(t, st, "Task") {
		switch {
		case id == gpTask && s != "completed":
			t.Errorf("the GP's Task done: %s after the cancelled discharge", s)
		case id != gpTask && s != "cancelled "+routing.DischargeCancelled && !strings.HasPrefix(s, "on-hold") && s != "cancelled":
			t.Errorf("Task/%s: %s after the cancelled discharge", id, s)
		case id != gpTask && strings.HasPrefix(s, "requested"):
			t.Errorf("Task/%s still requested", id)
		}
	}
	for typ, want := range map[string]string{"CarePlan": "revoked", "ServiceRequest": "revoked"} {
		got := routingOf(t, st, typ)
		if len(got) == 0 {
			t.Errorf("no routing %s", typ)
		}
		for id, s := range got {
			if s != want {
				t.Errorf("%s/%s: %s after the cancelled discharge, want %s", typ, id, s, want)
			}
		}
	}
	withdrawn := routingOf(t, st, "CarePlan")
	if os.Getenv("RELAIS_VALIDATE") != "" {
		// the withdrawn plan as stored, for the independent validator
		dir := t.TempDir()
		for _, typ := range []string{"CarePlan", "ServiceRequest", "Task"} {
			for id := range routingOf(t, st, typ) {
				rec, err := st.Read(typ, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, typ+"-"+id+".json"), rec.JSON, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		fhirtest.RunValidator(t, dir)
	}

	put(strings.Replace(strings.Replace(stay, "%s", "finished", 1), "%s", `,"end":"2026-03-08T10:00:00Z"`, 1)) // A03 again
	plans := routingOf(t, st, "CarePlan")
	active := 0
	for id, s := range plans {
		if _, old := withdrawn[id]; old {
			if s != "revoked" {
				t.Errorf("the withdrawn CarePlan/%s is %s again", id, s)
			}
			continue
		}
		if s == "active" {
			active++
		}
	}
	if active != 1 {
		t.Errorf("after the discharge again: CarePlans %v, want one more, active", plans)
	}
	requested := 0
	for _, s := range routingOf(t, st, "Task") {
		if s == "requested" {
			requested++
		}
	}
	if requested == 0 {
		t.Error("no Task requested by the new plan")
	}
}

// TestCancelledPendingDischargeWithdrawsDraft: a draft prepared for an
// expected discharge (A16) is withdrawn when the expected discharge is
// cancelled (A25).
func TestCancelledPendingDischargeWithdrawsDraft(t *testing.T) {
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	ctx := context.Background()
	if _, err := pl.RouteFinished(ctx); err != nil { // e1: the world's other stay
		t.Fatal(err)
	}
	st.Follow(pl)
	put := func(js string) { t.Helper(); putJSON(t, st, js) }
	put(`{"resourceType":"Condition","id":"c6","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e6"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`)
	put(`{"resourceType":"Encounter","id":"e6","status":"in-progress","extension":[{"url":"` + routing.ExpectedDischargeURL + `","valueDateTime":"2026-04-09T10:00:00Z"}],"class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"}}`)
	drafts := 0
	for _, s := range routingOf(t, st, "CarePlan") {
		if s == "draft" {
			drafts++
		}
	}
	if drafts != 1 {
		t.Fatalf("the draft for the expected discharge: %v", routingOf(t, st, "CarePlan"))
	}
	put(`{"resourceType":"Encounter","id":"e6","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"}}`)
	for id, s := range routingOf(t, st, "CarePlan") {
		if s == "draft" {
			t.Errorf("CarePlan/%s still a draft after the expected discharge was cancelled", id)
		}
	}
}

// TestCorrectedDischargeNotHomeWithdrawsPlan: a stay routed when it was
// discharged home, then corrected to say the patient left for another
// establishment or died (IHE PAM France Z99 with ZBE-6 A03: ZFM-2 7 and
// PV1-37, or ZFM-2 9), has its plan withdrawn in the same write, as a plan
// for her would not be made: nobody in the community is asked to care for
// a patient who did not go home. Corrected back to home, she is routed
// into a plan of its own.
func TestCorrectedDischargeNotHomeWithdrawsPlan(t *testing.T) {
	for name, hosp := range map[string]string{
		"transfer":    `,"hospitalization":{"destination":{"identifier":{"system":"https://finess.esante.gouv.fr","value":"590000000"}},"dischargeDisposition":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/discharge-disposition","code":"hosp"}]}}`,
		"death":       `,"hospitalization":{"dischargeDisposition":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/discharge-disposition","code":"exp"}]}}`,
		"destination": `,"hospitalization":{"destination":{"identifier":{"system":"https://finess.esante.gouv.fr","value":"590000000"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, st := world(t)
			pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
			st.Follow(pl)
			ctx := context.Background()
			if n, err := pl.RouteFinished(ctx); err != nil || n != 1 { // e1, finished in world
				t.Fatalf("routing the world's stay: %d, %v", n, err)
			}
			const stay = `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-05T10:00:00Z"}%s}`
			putJSON(t, st, strings.Replace(stay, "%s", hosp, 1)) // Z99 of the A03
			tasks := routingOf(t, st, "Task")
			if len(tasks) == 0 {
				t.Fatal("no routing Task")
			}
			for id, s := range tasks {
				if s != "cancelled "+routing.NotGoingHome {
					t.Errorf("Task/%s: %q after the discharge was corrected, want cancelled %s", id, s, routing.NotGoingHome)
				}
			}
			withdrawn := routingOf(t, st, "CarePlan")
			for typ := range map[string]bool{"CarePlan": true, "ServiceRequest": true} {
				for id, s := range routingOf(t, st, typ) {
					if s != "revoked" {
						t.Errorf("%s/%s: %s after the discharge was corrected, want revoked", typ, id, s)
					}
				}
			}
			putJSON(t, st, strings.Replace(stay, "%s", "", 1)) // corrected back: home
			active := 0
			for id, s := range routingOf(t, st, "CarePlan") {
				if _, old := withdrawn[id]; !old && s == "active" {
					active++
				}
			}
			if active != 1 {
				t.Errorf("corrected back to home: CarePlans %v, want one more, active", routingOf(t, st, "CarePlan"))
			}
		})
	}
}

// TestDeathWithdrawsPlan: a patient whose death is written after her stay
// was routed (Patient.deceased[x], as an HL7 v2 A31 with PID-29/30 or a
// FHIR write gives it) has the plan of the stay withdrawn in the same
// write, with the reason patient-deceased; a Task already done stays so.
// A death dated before the stay began is an error of the record for that
// stay (diedDuring) and withdraws nothing. A write that both corrects the
// discharge and reports the death withdraws the plan once.
func TestDeathWithdrawsPlan(t *testing.T) {
	const stay = `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-03-01T08:00:00Z","end":"2026-03-05T10:00:00Z"}%s}`
	for name, c := range map[string]struct {
		deceased string // Patient.deceased[x] as JSON members
		with     string // the stay written in the same transaction, if any
		want     string // each Task not done: status and reason
	}{
		"date after the discharge": {deceased: `"deceasedDateTime":"2026-03-07T06:15:00+01:00"`, want: "cancelled " + routing.PatientDeceased},
		"date during the stay":     {deceased: `"deceasedDateTime":"2026-03-03"`, want: "cancelled " + routing.PatientDeceased},
		// a date is its whole day: not before a stay that began at 08:00
		"the day the stay began": {deceased: `"deceasedDateTime":"2026-03-01"`, want: "cancelled " + routing.PatientDeceased},
		"the day before":         {deceased: `"deceasedDateTime":"2026-02-28"`, want: "requested"},
		"boolean":                {deceased: `"deceasedBoolean":true`, want: "cancelled " + routing.PatientDeceased},
		"before the stay":        {deceased: `"deceasedDateTime":"2008-08-25"`, want: "requested"},
		"not deceased":           {deceased: `"deceasedBoolean":false`, want: "requested"},
		"with a corrected discharge": {deceased: `"deceasedBoolean":true`,
			with: strings.Replace(stay, "%s", `,"hospitalization":{"dischargeDisposition":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/discharge-disposition","code":"exp"}]}}`, 1),
			want: "cancelled " + routing.NotGoingHome},
	} {
		t.Run(name, func(t *testing.T) {
			_, st := world(t)
			pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
			st.Follow(pl)
			ctx := context.Background()
			if n, err := pl.RouteFinished(ctx); err != nil || n != 1 { // e1, finished in world
				t.Fatalf("routing the world's stay: %d, %v", n, err)
			}
			tasks := routingOf(t, st, "Task")
			var gpTask string
			for id := range tasks {
				if strings.Contains(id, "-gp-") {
					gpTask = id
				}
			}
			rec, err := st.Read("Task", gpTask)
			if err != nil {
				t.Fatal(err)
			}
			putJSON(t, st, strings.Replace(string(rec.JSON), `"status":"requested"`, `"status":"completed"`, 1)) // the GP came
			rec, err = st.Read("Patient", "p1")
			if err != nil {
				t.Fatal(err)
			}
			var entries []store.TxEntry
			for _, js := range []string{strings.Replace(string(rec.JSON), `"resourceType":"Patient"`, `"resourceType":"Patient",`+c.deceased, 1), c.with} {
				if js == "" {
					continue
				}
				m, err := testCodec.Decode([]byte(js))
				if err != nil {
					t.Fatal(err)
				}
				entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
			}
			if _, err := st.Transaction(ctx, entries); err != nil {
				t.Fatal(err)
			}
			for id, s := range routingOf(t, st, "Task") {
				switch {
				case id == gpTask:
					if s != "completed" {
						t.Errorf("the GP's Task done: %s after the death", s)
					}
				case c.want == "requested":
					if s != tasks[id] {
						t.Errorf("Task/%s: %q, was %q", id, s, tasks[id])
					}
				case s != c.want:
					t.Errorf("Task/%s: %q, want %q", id, s, c.want)
				}
			}
			want := "revoked"
			if c.want == "requested" {
				want = "active"
			}
			for _, typ := range []string{"CarePlan", "ServiceRequest"} {
				for id, s := range routingOf(t, st, typ) {
					if s != want {
						t.Errorf("%s/%s: %s, want %s", typ, id, s, want)
					}
				}
			}
			if os.Getenv("RELAIS_VALIDATE") != "" && want == "revoked" {
				dir := t.TempDir()
				for _, typ := range []string{"CarePlan", "ServiceRequest", "Task"} {
					for id := range routingOf(t, st, typ) {
						rec, err := st.Read(typ, id)
						if err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(filepath.Join(dir, typ+"-"+id+".json"), rec.JSON, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				fhirtest.RunValidator(t, dir)
			}
		})
	}
}

// TestDischargeSupersedesDraftOfAnotherPathway: a draft prepared for an
// expected discharge (A16) along one pathway (an older person's, before
// any diagnosis) is withdrawn when the discharge comes with a diagnosis
// that routes the stay along another (COPD): the stay has one plan, the
// discharge's, and no draft Task is left waiting in anyone's list.
func TestDischargeSupersedesDraftOfAnotherPathway(t *testing.T) {
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	st.Follow(pl)
	put := func(js string) { t.Helper(); putJSON(t, st, js) }
	const stay = `{"resourceType":"Encounter","id":"e7","status":"%s","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},"subject":{"reference":"Patient/p1"},"serviceProvider":{"reference":"Organization/chu"},"period":{"start":"2026-04-01T08:00:00Z"%s}%s}`
	put(fmt.Sprintf(stay, "in-progress", "", `,"extension":[{"url":"`+routing.ExpectedDischargeURL+`","valueDateTime":"2026-04-09T10:00:00Z"}]`)) // A16
	drafts := routingOf(t, st, "CarePlan")
	if len(drafts) != 1 {
		t.Fatalf("the draft for the expected discharge: %v", drafts)
	}
	put(`{"resourceType":"Condition","id":"c7","subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e7"},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"J44.1"}]}}`)
	put(fmt.Sprintf(stay, "finished", `,"end":"2026-04-09T10:00:00Z"`, "")) // A03
	plans := routingOf(t, st, "CarePlan")
	active := 0
	for id, s := range plans {
		switch {
		case s == "active":
			active++
		case s == "draft":
			t.Errorf("CarePlan/%s is still a draft beside the discharge's plan", id)
		}
	}
	if active != 1 {
		t.Errorf("CarePlans %v: want the discharge's, active", plans)
	}
	for typ, none := range map[string]string{"ServiceRequest": "draft", "Task": "draft"} {
		for id, s := range routingOf(t, st, typ) {
			if s == none {
				t.Errorf("%s/%s is still %s after the discharge", typ, id, s)
			}
		}
	}
}

// TestCorrectedDeathRoutesAgain: a death reported in error after the stay
// was routed (an HL7 v2 A31 or A08 with PID-30 Y) withdraws the plan;
// its correction (an A31 or A08 with PID-30 N; a FHIR write of
// Patient.deceased[x] without it, false, or dated before the stay, which
// diedDuring takes as an error of the record) routes the stay again, into
// a plan of its own, in the write that corrects it, so that she is not
// left at home without the follow-up her discharge asked for. A write of
// the Patient that leaves her dead routes nothing.
func TestCorrectedDeathRoutesAgain(t *testing.T) {
	for name, c := range map[string]struct {
		corrected string // Patient.deceased[x] as JSON members after the correction, "" none
		again     bool
	}{
		"no longer deceased":      {again: true},
		"deceasedBoolean false":   {corrected: `"deceasedBoolean":false`, again: true},
		"a death before the stay": {corrected: `"deceasedDateTime":"2008-08-25"`, again: true},
		"still deceased":          {corrected: `"deceasedDateTime":"2026-03-07"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, st := world(t)
			pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
			st.Follow(pl)
			ctx := context.Background()
			if n, err := pl.RouteFinished(ctx); err != nil || n != 1 { // e1, finished in world
				t.Fatalf("routing the world's stay: %d, %v", n, err)
			}
			rec, err := st.Read("Patient", "p1")
			if err != nil {
				t.Fatal(err)
			}
			alive := string(rec.JSON)
			with := func(members string) string {
				if members == "" {
					return alive
				}
				return strings.Replace(alive, `"resourceType":"Patient"`, `"resourceType":"Patient",`+members, 1)
			}
			putJSON(t, st, with(`"deceasedBoolean":true`))
			withdrawn := routingOf(t, st, "CarePlan")
			if len(withdrawn) != 1 {
				t.Fatalf("CarePlans after the death: %v", withdrawn)
			}
			for id, s := range withdrawn {
				if s != "revoked" {
					t.Fatalf("CarePlan/%s after the death: %s", id, s)
				}
			}
			cancelled := routingOf(t, st, "Task")
			putJSON(t, st, with(c.corrected))
			plans := routingOf(t, st, "CarePlan")
			active := 0
			for id, s := range plans {
				if _, old := withdrawn[id]; old && s != "revoked" {
					t.Errorf("the withdrawn CarePlan/%s: %s", id, s)
				}
				if _, old := withdrawn[id]; !old && s == "active" {
					active++
				}
			}
			if want := map[bool]int{true: 1}[c.again]; active != want {
				t.Errorf("after the correction: CarePlans %v, want %d new and active", plans, want)
			}
			requested := 0
			for id, s := range routingOf(t, st, "Task") {
				if _, old := cancelled[id]; old && s != cancelled[id] {
					t.Errorf("the cancelled Task/%s: %s", id, s)
				}
				if _, old := cancelled[id]; !old && (s == "requested" || s == "on-hold "+routing.PermitRequiredCode) {
					requested++
				}
			}
			if c.again && requested != len(cancelled) {
				t.Errorf("after the correction: %d Tasks asked again, want %d: %v", requested, len(cancelled), routingOf(t, st, "Task"))
			}
			// Writing her again changes nothing more.
			putJSON(t, st, with(c.corrected))
			if got := routingOf(t, st, "CarePlan"); len(got) != len(plans) {
				t.Errorf("the Patient written again: CarePlans %v, were %v", got, plans)
			}
		})
	}
}

// TestCorrectedDeathRoutesUnplannedStay: a discharge that reported the
// death itself (an A03 with PID-30 Y) is not planned; the death corrected
// (an A31 with PID-30 N), the stay is routed in the write that corrects it.
func TestCorrectedDeathRoutesUnplannedStay(t *testing.T) {
	_, st := world(t)
	pl := plannerWith(t, st, routing.Config{RouteOnWrite: true})
	st.Follow(pl)
	ctx := context.Background()
	rec, err := st.Read("Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	alive := string(rec.JSON)
	putJSON(t, st, strings.Replace(alive, `"resourceType":"Patient"`, `"resourceType":"Patient","deceasedDateTime":"2026-03-05T09:00:00Z"`, 1))
	if n, err := pl.RouteFinished(ctx); err != nil || n != 0 {
		t.Fatalf("routing the stay of a patient who died: %d, %v", n, err)
	}
	if got := routingOf(t, st, "CarePlan"); len(got) != 0 {
		t.Fatalf("CarePlans of the stay she died in: %v", got)
	}
	putJSON(t, st, strings.Replace(alive, `"resourceType":"Patient"`, `"resourceType":"Patient","deceasedBoolean":false`, 1))
	plans := routingOf(t, st, "CarePlan")
	if len(plans) != 1 {
		t.Fatalf("after the correction: CarePlans %v, want one", plans)
	}
	for id, s := range plans {
		if s != "active" {
			t.Errorf("CarePlan/%s: %s", id, s)
		}
	}
}
