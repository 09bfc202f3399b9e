package ingest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/store"
)

// pamMsg is an IHE PAM France 2.11 ITI-31 message of Mme Leroy's stay
// (visit number NDA-55 of the CHU), event ev (structure st) recorded at
// hour h of 3 Dec 2026, its movement ZBE-1 mvt.
func pamMsg(ev, st, control string, h int, mvt, action string, pv1Extra ...string) []byte {
	at := "20261203" + twoDigits(h) + "0000+0100"
	pv1 := "PV1||I|CARDIO^112^1^CHU&1.2.250.1.999.30&ISO||||||||||||||||NDA-55^^^CHU&1.2.250.1.999.30&ISO^VN"
	for _, x := range pv1Extra {
		pv1 += x
	}
	return []byte("MSH|^~\\&|GAM|CHU|RELAIS|RELAIS|" + at + "||ADT^" + ev + "^" + st + "|" + control + "|P|2.5^FRA^2.11|||||FRA|8859/1\r" +
		"EVN||" + at + "|||DUPONT|" + at + "\r" +
		"PID|||IPP-55^^^CHU&1.2.250.1.999.30&ISO^PI||LEROY^MARIE^^^^^L||19410220|F\r" +
		pv1 + "\r" +
		"ZBE|" + mvt + "^CHU^1.2.250.1.999.30^ISO|" + at + "||" + action + "|N||UF-CARDIO^^^^^CHU&1.2.250.1.999.30&ISO^UF^^^4401||HMS\r")
}

// TestMovementOfUnknownStay: a movement of a stay Relais never received
// (a transfer, a cancelled discharge, a pending discharge, a leave, a
// correction, a cancelled admission) is refused with AE, ERR 204 (unknown
// key identifier) at PV1-19, and stores nothing; the events that open a
// stay (A01, A04, A05, A14, and the discharge A03) are accepted; once the
// admission is in, the same transfer is accepted, sent right behind it.
func TestMovementOfUnknownStay(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	before := changes(t, st)
	for _, m := range []struct{ ev, st, action string }{
		{"A02", "ADT_A02", "INSERT"}, {"A13", "ADT_A01", "CANCEL"}, {"A16", "ADT_A16", "INSERT"},
		{"A25", "ADT_A21", "CANCEL"}, {"A21", "ADT_A21", "INSERT"}, {"A22", "ADT_A21", "INSERT"},
		{"A06", "ADT_A06", "INSERT"}, {"A12", "ADT_A12", "CANCEL"}, {"A11", "ADT_A09", "CANCEL"},
		{"A38", "ADT_A38", "CANCEL"}, {"A54", "ADT_A54", "INSERT"}, {"Z99", "ADT_A01", "UPDATE"},
	} {
		r := send(t, in, pamMsg(m.ev, m.st, "U-"+m.ev, 9, "MVT-9", m.action))
		code, ctl, errs := ack(t, r.ACK)
		if code != "AE" || ctl != "U-"+m.ev || !slices.Equal(errs, []string{"E:204"}) {
			t.Errorf("%s of an unknown stay: ACK %s %s %v, want AE with ERR 204 at PV1-19", m.ev, code, ctl, errs)
		}
		if r.Writes != nil {
			t.Errorf("%s of an unknown stay writes %v", m.ev, r.Writes)
		}
		if !strings.Contains(string(r.ACK), "PV1^1^19") {
			t.Errorf("%s: the ERR does not locate PV1-19:\n%s", m.ev, r.ACK)
		}
	}
	in.Sync()
	if n := changes(t, st); n != before {
		t.Fatalf("refused movements stored %d versions", n-before)
	}
	// Without a PV1, a movement names no stay at all.
	noPV1 := strings.Replace(string(pamMsg("A02", "ADT_A02", "U-NOPV1", 9, "MVT-9", "INSERT")), "PV1||I|", "XXX||I|", 1)
	if code, _, errs := ack(t, send(t, in, []byte(noPV1)).ACK); code != "AR" || !slices.Equal(errs, []string{"E:100"}) {
		t.Errorf("an A02 without PV1: %s %v, want AR 100 at PV1", code, errs)
	}

	for i, m := range []struct{ ev, st string }{{"A05", "ADT_A05"}, {"A14", "ADT_A05"}, {"A04", "ADT_A01"}, {"A03", "ADT_A03"}, {"A01", "ADT_A01"}} {
		msg := strings.Replace(string(pamMsg(m.ev, m.st, "O-"+m.ev, 10, "MVT-1", "INSERT")), "NDA-55", "NDA-6"+twoDigits(i), 1)
		if code, _, errs := ack(t, send(t, in, []byte(msg)).ACK); code != "AA" {
			t.Errorf("%s of a new stay: %s %v, want AA", m.ev, code, errs)
		}
	}

	// The admission, then its transfer right behind it (not written yet
	// when the transfer arrives): accepted.
	if _, err := in.HL7v2(context.Background(), pamMsg("A01", "ADT_A01", "K-1", 8, "MVT-1", "INSERT"), nil); err != nil {
		t.Fatal(err)
	}
	r := send(t, in, pamMsg("A02", "ADT_A02", "K-2", 9, "MVT-2", "INSERT"))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("A02 after its A01: %s %v", code, errs)
	}
	if got := field(t, st, "Encounter", written(t, st, r, "Encounter").ID, "status"); got != "in-progress" {
		t.Errorf("the stay after its transfer: %s", got)
	}
}

// TestDischargedStayStaysDischarged: once the A03 is in, a later movement
// that is not its cancellation (a pending discharge, its cancellation, a
// transfer, a leave: PAM France section 5.3.6 has the A16 always before
// the A03) does not take the stay back to in progress, which would
// withdraw its hand-over: the stay keeps its status, end and discharge,
// and no expected discharge; only the A13 reopens it.
func TestDischargedStayStaysDischarged(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	r := send(t, in, pamMsg("A01", "ADT_A01", "D-1", 8, "MVT-1", "INSERT"))
	enc := written(t, st, r, "Encounter").ID
	send(t, in, pamMsg("A03", "ADT_A03", "D-2", 10, "MVT-2", "INSERT", "|||||||||||||||||||||||||20261203080000+0100|20261203100000+0100"))
	end := field(t, st, "Encounter", enc, "period.end")
	if got := field(t, st, "Encounter", enc, "status"); got != "finished" || end == "" {
		t.Fatalf("after the A03: %s, end %q", got, end)
	}
	for i, m := range []struct{ ev, st, extra string }{
		{"A16", "ADT_A16", ""}, {"A25", "ADT_A21", ""}, {"A02", "ADT_A02", ""},
		{"A21", "ADT_A21", ""}, {"A22", "ADT_A21", ""}, {"A54", "ADT_A54", ""},
	} {
		msg := pamMsg(m.ev, m.st, "D-"+m.ev, 11+i, "MVT-"+m.ev, "INSERT")
		if m.ev == "A16" {
			msg = append(msg, "PV2|||||||||20261210120000+0100\r"...)
		}
		if code, _, errs := ack(t, send(t, in, msg).ACK); code != "AA" {
			t.Fatalf("%s: %s %v", m.ev, code, errs)
		}
		if got := field(t, st, "Encounter", enc, "status"); got != "finished" {
			t.Errorf("a %s after the discharge takes the stay back to %s", m.ev, got)
		}
		if got := field(t, st, "Encounter", enc, "period.end"); got != end {
			t.Errorf("after a %s the stay ends at %q, want %q", m.ev, got, end)
		}
		if rec, _ := st.Read("Encounter", enc); strings.Contains(string(rec.JSON), "expected-discharge") {
			t.Errorf("after a %s the discharged stay has an expected discharge", m.ev)
		}
	}
	send(t, in, pamMsg("A13", "ADT_A01", "D-A13", 20, "MVT-2", "CANCEL"))
	if got := field(t, st, "Encounter", enc, "status"); got != "in-progress" {
		t.Errorf("after the A13: %s, want in-progress", got)
	}
}

// locationsOf lists the locations of the stored Encounter enc as "name
// status start..end", names read from the Locations, "(temporary)" after
// a temporary one.
func locationsOf(t *testing.T, st *store.Store, enc string) []string {
	t.Helper()
	rec, err := st.Read("Encounter", enc)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Location []struct {
			Location  struct{ Reference string }
			Status    string
			Period    struct{ Start, End string }
			Extension []json.RawMessage
		}
	}
	if err := json.Unmarshal(rec.JSON, &e); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range e.Location {
		_, id, _ := strings.Cut(l.Location.Reference, "/")
		s := field(t, st, "Location", id, "name") + " " + l.Status + " " + hour(l.Period.Start) + ".." + hour(l.Period.End)
		if len(l.Extension) > 0 && strings.Contains(string(l.Extension[0]), `"temporary"`) {
			s += " (temporary)"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// hour is the day and hour of a FHIR dateTime of Dec 2026 ("03T09"), or "".
func hour(dt string) string {
	if len(dt) < 13 {
		return ""
	}
	return dt[8:13]
}

// TestLocationHistory: the stay keeps where the patient has been (R4
// Encounter.location): a transfer (A02) that leaves PV1-6 out completes
// her previous location, ending when she moved (ZBE-2); a second one keeps
// the first stint; the temporary (PV1-11), prior temporary (PV1-43) and
// pending (PV1-42) locations are kept, active, completed and reserved
// (HL7 v2-to-FHIR, PV1 to Encounter); a cancelled transfer (A12, ZBE-4
// CANCEL) puts her back and drops the location she never was in; the
// discharge completes every location and drops the pending one.
func TestLocationHistory(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	loc := func(unit, room string) string { return unit + "^" + room + "^1^CHU&1.2.250.1.999.30&ISO" }
	// transfer is a message whose PV1 is fields (by number) and the visit
	transfer := func(ev, st, control string, h int, mvt, action string, fields map[int]string) []byte {
		pv1 := make([]string, 46)
		pv1[0], pv1[2], pv1[19] = "PV1", "I", "NDA-55^^^CHU&1.2.250.1.999.30&ISO^VN"
		for f, v := range fields {
			pv1[f] = v
		}
		m := string(pamMsg(ev, st, control, h, mvt, action))
		i := strings.Index(m, "PV1|")
		j := i + strings.Index(m[i:], "\r")
		return []byte(m[:i] + strings.TrimRight(strings.Join(pv1, "|"), "|") + m[j:])
	}
	r := send(t, in, pamMsg("A01", "ADT_A01", "L-1", 8, "MVT-1", "INSERT"))
	enc := written(t, st, r, "Encounter").ID
	step := func(name string, msg []byte, want ...string) {
		t.Helper()
		if code, _, errs := ack(t, send(t, in, msg).ACK); code != "AA" {
			t.Fatalf("%s: %s %v", name, code, errs)
		}
		slices.Sort(want)
		if got := locationsOf(t, st, enc); !slices.Equal(got, want) {
			t.Errorf("after %s:\n got %q\nwant %q", name, got, want)
		}
	}
	step("the transfer without PV1-6",
		transfer("A02", "ADT_A02", "L-2", 9, "MVT-2", "INSERT", map[int]string{3: loc("USIC", "201")}),
		"CARDIO 112 1 completed 03T08..03T09", "USIC 201 1 active 03T09..")
	step("a second transfer, with her temporary and pending locations",
		transfer("A02", "ADT_A02", "L-3", 11, "MVT-3", "INSERT", map[int]string{3: loc("CARDIO", "105"), 6: loc("USIC", "201"), 11: loc("RADIO", "2")}),
		"CARDIO 112 1 completed 03T08..03T09", "USIC 201 1 completed 03T09..03T11", "CARDIO 105 1 active 03T11..", "RADIO 2 1 active .. (temporary)")
	step("a pending transfer, back from radiology",
		transfer("A02", "ADT_A02", "L-4", 12, "MVT-4", "INSERT", map[int]string{3: loc("CARDIO", "105"), 42: loc("CARDIO", "110"), 43: loc("RADIO", "2")}),
		"CARDIO 112 1 completed 03T08..03T09", "USIC 201 1 completed 03T09..03T11", "CARDIO 105 1 active 03T11..",
		"RADIO 2 1 completed .. (temporary)", "CARDIO 110 1 reserved ..")
	step("the cancelled transfer",
		transfer("A12", "ADT_A12", "L-5", 13, "MVT-3", "CANCEL", map[int]string{3: loc("USIC", "201")}),
		"CARDIO 112 1 completed 03T08..03T09", "USIC 201 1 active 03T09..", "RADIO 2 1 completed .. (temporary)", "CARDIO 110 1 reserved ..")
	step("the discharge",
		transfer("A03", "ADT_A03", "L-6", 15, "MVT-6", "INSERT", map[int]string{3: loc("USIC", "201"), 45: "20261203150000+0100"}),
		"CARDIO 112 1 completed 03T08..03T09", "USIC 201 1 completed 03T09..03T15", "RADIO 2 1 completed .. (temporary)")
}

// TestCorrectionOfUnknownMovement: a correction (Z99) or a cancellation
// that names a movement (ZBE-1) the stay does not have, in a stay that
// records its movements, is refused with AE, ERR 204 at ZBE-1, and
// stores nothing; naming one it has is applied. A stay that records no
// movement (its admission had no ZBE) takes them as before.
func TestCorrectionOfUnknownMovement(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	for i, m := range [][]byte{
		pamMsg("A01", "ADT_A01", "M-1", 8, "MVT-1", "INSERT"),
		pamMsg("A02", "ADT_A02", "M-2", 9, "MVT-2", "INSERT"),
	} {
		if code, _, errs := ack(t, send(t, in, m).ACK); code != "AA" {
			t.Fatalf("movement %d: %s %v", i, code, errs)
		}
	}
	in.Sync()
	before := changes(t, st)
	for _, m := range []struct{ ev, st, action string }{
		{"Z99", "ADT_A01", "UPDATE"}, {"A12", "ADT_A12", "CANCEL"},
	} {
		r := send(t, in, pamMsg(m.ev, m.st, "U-"+m.ev, 10, "MVT-404", m.action))
		code, _, errs := ack(t, r.ACK)
		if code != "AE" || !slices.Equal(errs, []string{"E:204"}) || !strings.Contains(string(r.ACK), "ZBE^1^1") {
			t.Errorf("%s of an unknown movement: ACK %s %v, want AE with ERR 204 at ZBE-1:\n%s", m.ev, code, errs, r.ACK)
		}
		if r.Writes != nil {
			t.Errorf("%s of an unknown movement writes %v", m.ev, r.Writes)
		}
	}
	in.Sync()
	if n := changes(t, st); n != before {
		t.Fatalf("refused corrections stored %d versions", n-before)
	}
	for _, m := range []struct{ ev, st, mvt, action string }{
		{"Z99", "ADT_A01", "MVT-1", "UPDATE"}, {"A12", "ADT_A12", "MVT-2", "CANCEL"},
	} {
		if code, _, errs := ack(t, send(t, in, pamMsg(m.ev, m.st, "K-"+m.ev, 11, m.mvt, m.action)).ACK); code != "AA" {
			t.Errorf("%s of the stay's movement %s: %s %v, want AA", m.ev, m.mvt, code, errs)
		}
	}

	// A stay whose admission carried no ZBE records no movement.
	noZBE := func(b []byte) []byte { s := string(b); return []byte(s[:strings.Index(s, "ZBE|")]) }
	a01 := strings.ReplaceAll(string(noZBE(pamMsg("A01", "ADT_A01", "N-1", 8, "", ""))), "NDA-55", "NDA-77")
	if code, _, errs := ack(t, send(t, in, []byte(a01)).ACK); code != "AA" {
		t.Fatalf("admission without ZBE: %s %v", code, errs)
	}
	z99 := strings.ReplaceAll(string(pamMsg("Z99", "ADT_A01", "N-2", 9, "MVT-9", "UPDATE")), "NDA-55", "NDA-77")
	if code, _, errs := ack(t, send(t, in, []byte(z99)).ACK); code != "AA" {
		t.Errorf("Z99 of a stay without movements: %s %v, want AA", code, errs)
	}
}
