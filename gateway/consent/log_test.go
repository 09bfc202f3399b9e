package consent

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogRecordsDecisions(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	storeWorld(t, st, 0)
	log := NewLog(st)
	e := storeEngine(t, st, log)
	ctx := context.Background()
	decide := func(actor, purpose, reason string) Decision {
		t.Helper()
		d, err := e.Decide(ctx, Request{Patient: "Patient/p1", Actor: actor, Purpose: purpose, BreakGlassReason: reason, Resource: obs})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := decide("PractitionerRole/nurse-role", "", "")
	d2 := decide("PractitionerRole/physio-role", "", "")
	d3 := decide("PractitionerRole/physio-role", "ETREAT", "found unconscious")
	sys, err := e.Decide(ctx, Request{System: true, Resource: obs})
	if err != nil || !sys.Permit {
		t.Fatal(sys, err)
	}

	all, err := log.List(Query{Patient: "Patient/p1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); got != ids([]Record{{ID: d3.ID}, {ID: d2.ID}, {ID: d1.ID}}) {
		t.Errorf("patient log %s, want newest first %s %s %s", got, d3.ID, d2.ID, d1.ID)
	}
	if all[2].Permit != true || all[1].Permit || all[1].Policy != PolicyOutsideTeam || all[2].Resource != "Observation/o1" {
		t.Errorf("records %+v", all)
	}
	physio, _ := log.List(Query{Actor: "PractitionerRole/physio-role"})
	if ids(physio) != ids([]Record{{ID: d3.ID}, {ID: d2.ID}}) {
		t.Errorf("actor log %s", ids(physio))
	}
	glass, _ := log.List(Query{BreakGlass: true})
	if len(glass) != 1 || glass[0].ID != d3.ID || glass[0].Reason != "found unconscious" || !glass[0].Expires.Equal(testNow.Add(4*time.Hour)) {
		t.Errorf("break-glass review list %+v", glass)
	}
	everything, _ := log.List(Query{})
	if len(everything) != 4 || !everything[0].System && !everything[len(everything)-1].System {
		t.Errorf("full log %+v", everything)
	}
	if none, _ := log.List(Query{Patient: "Patient/p1", Until: testNow}); len(none) != 0 {
		t.Errorf("records before now: %d", len(none))
	}
	if some, _ := log.List(Query{Patient: "Patient/p1", Since: testNow, Limit: 2}); len(some) != 2 {
		t.Errorf("limit 2: %d", len(some))
	}
}

func TestLogTimeRange(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	log := NewLog(st)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		r := Record{ID: "d" + string(rune('0'+i)), Time: base.Add(time.Duration(i) * time.Hour), Actor: "PractitionerRole/a", Patient: "Patient/p"}
		if err := log.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := log.List(Query{Actor: "PractitionerRole/a", Since: base.Add(3 * time.Hour), Until: base.Add(6 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if ids(got) != "d5 d4 d3" {
		t.Errorf("hours [3,6): %s", ids(got))
	}
	if got, _ := log.List(Query{Patient: "Patient/other"}); len(got) != 0 {
		t.Errorf("other patient: %d records", len(got))
	}
	if err := log.Record(ctx, Record{ID: "x"}); err == nil {
		t.Error("record without time accepted")
	}
}

func ids(rs []Record) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return strings.Join(out, " ")
}

func TestBreakGlassGrant(t *testing.T) {
	t.Parallel()
	m := world()
	now := testNow
	e, err := New(Config{Directory: m, CareTeams: m, Consents: m, HashKey: []byte("k"), Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ask := func(reason string) Decision {
		d, err := e.Decide(ctx, Request{Patient: "Patient/p1", Actor: physio, Purpose: "ETREAT", BreakGlassReason: reason, Resource: obs})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := ask(""); d.Permit {
		t.Fatal("emergency purpose without reason or grant permitted")
	}
	opened := ask("cardiac arrest at home")
	if !opened.Permit || !opened.BreakGlass || !opened.Expires.Equal(testNow.Add(4*time.Hour)) {
		t.Fatalf("break glass: %+v", opened)
	}
	now = testNow.Add(2 * time.Hour)
	if d := ask(""); !d.Permit || !d.BreakGlass || !d.Expires.Equal(opened.Expires) {
		t.Errorf("within the grant without reason: %+v", d)
	}
	if d := ask("again"); !d.Expires.Equal(opened.Expires) {
		t.Errorf("a new reason extended the grant to %v", d.Expires)
	}
	d, _ := e.Decide(ctx, Request{Patient: "Patient/p1", Actor: physio, Resource: obs})
	if d.Permit {
		t.Error("grant leaked to the TREAT purpose")
	}
	now = testNow.Add(4 * time.Hour)
	if d := ask(""); d.Permit {
		t.Errorf("grant outlived its 4 hours: %+v", d)
	}
	if d := ask("still unconscious"); !d.Permit || !d.Expires.Equal(now.Add(4*time.Hour)) {
		t.Errorf("new grant after expiry: %+v", d)
	}
}

func TestDraftWhatIf(t *testing.T) {
	t.Parallel()
	m := world()
	m.set("Patient/p1", parseConsent(t, c("c1", "OPTIN", actor(sw))))
	e := newEngine(t, m, testNow)
	ctx := context.Background()
	req := Request{Patient: "Patient/p1", Actor: sw, Resource: task}
	if d, _ := e.Decide(ctx, req); !d.Permit {
		t.Fatal("stored opt-in not applied")
	}
	req.Draft = parseConsent(t, consentJSON("c1", "inactive", "OPTIN", actor(sw)))
	if d, _ := e.Decide(ctx, req); d.Permit {
		t.Error("draft revoking c1 still permits")
	}
	req.Draft = parseConsent(t, c("c2", "OPTOUT", typeClass("Task")))
	if d, _ := e.Decide(ctx, req); d.Permit || d.Provision != "Consent/c2#provision" {
		t.Errorf("draft objection: %+v", d)
	}
	req.Draft = nil
	if d, _ := e.Decide(ctx, req); !d.Permit {
		t.Error("a draft was cached as if saved")
	}
}
