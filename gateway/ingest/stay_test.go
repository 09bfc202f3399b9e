package ingest

import (
	"context"
	"strings"
	"testing"
)

// stayMsg is an ADT message of one stay (visit V-7 of the CHU), event ev
// at hour h of 1 Dec 2026, with the extra segments given.
func stayMsg(ev, control string, h int, segs ...string) []byte {
	at := "202612" + "01" + twoDigits(h) + "0000+0100"
	s := "MSH|^~\\&|HIS|CHU|RELAIS|RELAIS|" + at + "||ADT^" + ev + "^ADT_A01|" + control + "|P|2.5\r" +
		"EVN|" + ev + "|" + at + "\r" +
		"PID|1||IPP-7^^^CHU&1.2.250.1.999.7&ISO^PI||ROUSSEAU^GERARD||19480909|M\r"
	for _, seg := range segs {
		s += seg + "\r"
	}
	return []byte(s)
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

const stayPV1 = "PV1|1|I|CARD^210^1^CHU||||10003456789^MARTIN^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS||||||||||||V-7^^^CHU&1.2.250.1.999.8&ISO^VN"

// TestUpdateLeavesWhatItOmits: a transfer (A02) without PV2 and DG1 keeps
// the expected discharge and the diagnoses the A01 gave the stay, and its
// responsible unit (ZBE-7) when a later message names only its sending
// facility (HL7 v2.5 section 2.5.3: a field not present is left as it
// is); the null `""` in PV2-9 deletes the expected discharge, and so does
// an A25. Sent one by one, or back to back (planned before the previous
// one is written).
func TestUpdateLeavesWhatItOmits(t *testing.T) {
	t.Parallel()
	for _, backToBack := range []bool{false, true} {
		in, st := newTest(t)
		apply := func(msgs ...[]byte) *Reply {
			t.Helper()
			var r *Reply
			for i, m := range msgs {
				if backToBack && i < len(msgs)-1 {
					if _, err := in.HL7v2(context.Background(), m, nil); err != nil {
						t.Fatal(err)
					}
					continue
				}
				r = send(t, in, m)
				if code, _, errs := ack(t, r.ACK); code != "AA" {
					t.Fatalf("ACK %s %v", code, errs)
				}
			}
			return r
		}
		r := apply(stayMsg("A01", "M1", 8, stayPV1, "PV2|||^Dyspnée||||||20261208",
			"ZBE|MVT-1^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||INSERT|N||Cardiologie^^^^^CHU^UF^^^4101",
			"DG1|1||I50.1^Insuffisance ventriculaire gauche^I10|||A"))
		unit := field(t, st, "Encounter", written(t, st, r, "Encounter").ID, "serviceProvider.reference")
		r = apply(
			stayMsg("A02", "M2", 9, strings.Replace(stayPV1, "CARD^210^1^CHU", "CARD^305^2^CHU", 1),
				"ZBE|MVT-2^CHU^1.2.250.1.999.9^ISO|20261201090000+0100||INSERT|N||Cardiologie^^^^^CHU^UF^^^4101"),
			stayMsg("A08", "M3", 10, stayPV1),
		)
		enc := written(t, st, r, "Encounter").ID
		get := func(path string) string { return field(t, st, "Encounter", enc, path) }
		rec, err := st.Read("Encounter", enc)
		if err != nil {
			t.Fatal(err)
		}
		js := string(rec.JSON)
		for _, want := range []string{"expected-discharge", `"Condition/`, "Dyspnée", "MVT-1", "MVT-2"} {
			if !strings.Contains(js, want) {
				t.Errorf("back to back %v: the stay lost %s: %s", backToBack, want, js)
			}
		}
		if got := get("serviceProvider.reference"); unit == "" || got != unit {
			t.Errorf("back to back %v: service provider %q, want the responsible unit %q", backToBack, got, unit)
		}
		if got := get("status"); got != "in-progress" {
			t.Errorf("back to back %v: status %s", backToBack, got)
		}
		// The null deletes it.
		apply(stayMsg("A08", "M4", 11, stayPV1, `PV2|||||||||""`))
		if rec, _ := st.Read("Encounter", enc); strings.Contains(string(rec.JSON), "expected-discharge") {
			t.Errorf("back to back %v: PV2-9 \"\" left the expected discharge", backToBack)
		}
		apply(stayMsg("A08", "M5", 12, stayPV1, "PV2|||||||||20261209"), stayMsg("A25", "M6", 13, stayPV1))
		if rec, _ := st.Read("Encounter", enc); strings.Contains(string(rec.JSON), "expected-discharge") {
			t.Errorf("back to back %v: the A25 left the expected discharge", backToBack)
		}
	}
}

// TestCancelledTransferLeavesNoTrace: a transfer (A02, movement MVT-2 to
// intensive care) cancelled by an A12 whose ZBE repeats it (IHE PAM
// France, ZBE-4 CANCEL, ZBE-6 A02): the stay keeps its first movement and
// loses the cancelled one, and its service provider is not the unit of
// the transfer that did not happen.
func TestCancelledTransferLeavesNoTrace(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	card := "ZBE|MVT-1^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||INSERT|N||Cardiologie^^^^^CHU^UF^^^4101"
	send(t, in, stayMsg("A01", "C1", 8, stayPV1, card))
	rea := "Reanimation^^^^^CHU^UF^^^4301"
	send(t, in, stayMsg("A02", "C2", 9, strings.Replace(stayPV1, "CARD^210^1^CHU", "REA^1^1^CHU", 1),
		"ZBE|MVT-2^CHU^1.2.250.1.999.9^ISO|20261201090000+0100||INSERT|N||"+rea))
	r := send(t, in, stayMsg("A12", "C3", 10, stayPV1, "ZBE|MVT-2^CHU^1.2.250.1.999.9^ISO|20261201090000+0100||CANCEL|N|A02|"+rea))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("A12: %s %v", code, errs)
	}
	enc := written(t, st, r, "Encounter").ID
	rec, err := st.Read("Encounter", enc)
	if err != nil {
		t.Fatal(err)
	}
	js := string(rec.JSON)
	if !strings.Contains(js, "MVT-1") || strings.Contains(js, "MVT-2") {
		t.Errorf("the stay's movements after the cancellation: %s", js)
	}
	if strings.Contains(js, "2026-12-01T09:00:00") {
		t.Errorf("the cancelled transfer's time is on the stay: %s", js)
	}
	prov := field(t, st, "Encounter", enc, "serviceProvider.reference")
	org, err := st.Read("Organization", strings.TrimPrefix(prov, "Organization/"))
	if err != nil || strings.Contains(string(org.JSON), "4301") {
		t.Errorf("the stay's service provider is the cancelled transfer's unit: %v %s", err, org.JSON)
	}
}

// TestOverlongFieldRefused: a name of more than 1 MB, which FHIR cannot
// hold in a string (R4 datatypes.html), is refused with an AE naming the
// element (HL7 table 0357, 102 data type error), and nothing is stored.
func TestOverlongFieldRefused(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	before := changes(t, st)
	msg := stayMsg("A01", "L1", 8, stayPV1)
	msg = []byte(strings.Replace(string(msg), "ROUSSEAU^GERARD", strings.Repeat("X", 1<<20+10)+"^GERARD", 1))
	r := send(t, in, msg)
	code, _, errs := ack(t, r.ACK)
	if code != "AE" || strings.Join(errs, " ") != "E:102" || !strings.Contains(string(r.ACK), "Patient.name.family") {
		t.Errorf("ACK %s %v, want AE 102 naming Patient.name.family: %.300s", code, errs, r.ACK)
	}
	in.Sync()
	if n := changes(t, st); n != before {
		t.Errorf("%d changes stored", n-before)
	}
}

// TestMovementCorrected: IHE PAM France corrects a movement with a Z99
// (ZBE-4 UPDATE, ZBE-6 the event that inserted it; PAM France section
// 5.3.2), where HL7 would send an A08. A correction of a past movement
// (ZBE-5 Y: the admission, after a transfer) corrects the stay's data
// (its admission time) without taking the patient back to that
// movement's room and unit; a correction of the discharge (the current
// movement) moves its time and leaves the stay discharged; a correction
// without PV1-45 leaves the discharge as it was; a correction of a
// pre-admission leaves the stay planned.
func TestMovementCorrected(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	apply := func(msg []byte) *Reply {
		t.Helper()
		r := send(t, in, msg)
		if code, _, errs := ack(t, r.ACK); code != "AA" {
			t.Fatalf("ACK %s %v: %s", code, errs, r.ACK)
		}
		return r
	}
	card := "Cardiologie^^^^^CHU^UF^^^4101"
	rea := "Reanimation^^^^^CHU^UF^^^4301"
	pv1At := func(loc, admit, discharge string) string {
		s := strings.Replace(stayPV1, "CARD^210^1^CHU", loc, 1) + strings.Repeat("|", 44-19) + admit
		if discharge != "" {
			s += "|" + discharge
		}
		return s
	}
	r := apply(stayMsg("A01", "Z1", 8, pv1At("CARD^210^1^CHU", "202612010800", ""), "ZBE|MVT-1^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||INSERT|N||"+card))
	enc := written(t, st, r, "Encounter").ID
	get := func(path string) string { return field(t, st, "Encounter", enc, path) }
	apply(stayMsg("A02", "Z2", 9, pv1At("REA^1^1^CHU", "", ""), "ZBE|MVT-2^CHU^1.2.250.1.999.9^ISO|20261201090000+0100||INSERT|N||"+rea))
	loc, unit := get("location.location.reference"), get("serviceProvider.reference")

	// the admission corrected: 07:30 in room 212, a past movement
	apply(stayMsg("Z99", "Z3", 10, pv1At("CARD^212^1^CHU", "202612010730", ""), "ZBE|MVT-1^CHU^1.2.250.1.999.9^ISO|20261201073000+0100||UPDATE|Y|A01|"+card))
	if got := get("period.start"); !strings.HasPrefix(got, "2026-12-01T07:30") {
		t.Errorf("admission after the correction: %s", got)
	}
	if got := get("location.location.reference"); got != loc {
		t.Errorf("the correction of the admission moved the patient: location %s, want %s", got, loc)
	}
	if got := get("serviceProvider.reference"); got != unit {
		t.Errorf("the correction of the admission changed the unit: %s, want %s", got, unit)
	}
	if got := get("status"); got != "in-progress" {
		t.Errorf("status after the correction: %s", got)
	}

	apply(stayMsg("A03", "Z4", 12, pv1At("REA^1^1^CHU", "", "202612011200"), "ZBE|MVT-3^CHU^1.2.250.1.999.9^ISO|20261201120000+0100||INSERT|N||"+rea))
	// the discharge corrected: 11:30
	apply(stayMsg("Z99", "Z5", 13, pv1At("REA^1^1^CHU", "", "202612011130"), "ZBE|MVT-3^CHU^1.2.250.1.999.9^ISO|20261201120000+0100||UPDATE|N|A03|"+rea))
	if got, end := get("status"), get("period.end"); got != "finished" || !strings.HasPrefix(end, "2026-12-01T11:30") {
		t.Errorf("after the discharge's correction: status %s, end %s", got, end)
	}
	// a correction of the discharge that does not restate its time
	apply(stayMsg("Z99", "Z6", 14, pv1At("REA^1^1^CHU", "", ""), "ZBE|MVT-3^CHU^1.2.250.1.999.9^ISO|20261201120000+0100||UPDATE|N|A03|"+rea))
	if got, end := get("status"), get("period.end"); got != "finished" || !strings.HasPrefix(end, "2026-12-01T11:30") {
		t.Errorf("after a correction without PV1-45: status %s, end %s", got, end)
	}

	// a pre-admission corrected stays planned
	pre := strings.Replace(strings.Replace(stayPV1, "V-7^", "V-8^", 1), "|I|", "|P|", 1)
	r = apply(stayMsg("A05", "Z7", 8, pre, "ZBE|MVT-9^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||INSERT|N||"+card))
	planned := written(t, st, r, "Encounter").ID
	apply(stayMsg("Z99", "Z8", 9, strings.Replace(pre, "CARD^210", "CARD^214", 1), "ZBE|MVT-9^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||UPDATE|N|A05|"+card))
	if got := field(t, st, "Encounter", planned, "status"); got != "planned" {
		t.Errorf("a corrected pre-admission is %s", got)
	}
}

// TestLocationPeriods: the stay's locations say when she was in each
// (FHIR R4 Encounter.location.period). A message names her location and
// the one she left but dates only its own movement (IHE PAM France ZBE-2,
// the effective time of the movement's event): an update (A16) keeps when
// she came to her location; a transfer (A02) ends the location she left
// when the new one begins; the discharge (A03) ends her last location at
// the discharge rather than starting it there.
func TestLocationPeriods(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	geria := strings.Replace(stayPV1, "CARD^210^1^CHU||||", "GER^12^1^CHU|||CARD^210^1^CHU|", 1)
	var r *Reply
	for _, m := range [][]byte{
		stayMsg("A01", "L1", 8, stayPV1, "ZBE|MVT-1^CHU^1.2.250.1.999.9^ISO|20261201080000+0100||INSERT|N"),
		stayMsg("A02", "L2", 10, geria, "ZBE|MVT-2^CHU^1.2.250.1.999.9^ISO|20261201100000+0100||INSERT|N"),
		stayMsg("A16", "L3", 11, strings.Replace(stayPV1, "CARD^210^1^CHU|", "GER^12^1^CHU|", 1), "PV2|||||||||20261203"),
	} {
		r = send(t, in, m)
		if code, _, errs := ack(t, r.ACK); code != "AA" {
			t.Fatalf("ACK %s %v", code, errs)
		}
	}
	enc := written(t, st, r, "Encounter").ID
	get := func(path string) string { return field(t, st, "Encounter", enc, path) }
	if got := get("location.period.start"); got != "2026-12-01T10:00:00+01:00" {
		t.Errorf("after the A16, her location since %q, want the transfer's 10:00", got)
	}
	r = send(t, in, stayMsg("A03", "L4", 12, strings.Replace(stayPV1, "CARD^210^1^CHU|", "GER^12^1^CHU|", 1)+"|||||||||||||||||||||||||20261201080000|20261201120000",
		"ZBE|MVT-3^CHU^1.2.250.1.999.9^ISO|20261201120000+0100||INSERT|N"))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("ACK %s %v", code, errs)
	}
	for path, want := range map[string]string{
		"status":                "finished",
		"location.status":       "completed",
		"location.period.start": "2026-12-01T10:00:00+01:00",
		"location.period.end":   "2026-12-01T12:00:00+01:00",
	} {
		if got := get(path); got != want {
			t.Errorf("after the A03, %s = %q, want %q", path, got, want)
		}
	}
	// the transfer's message: the location she left ends when she moved
	var versions []string
	for v := uint64(1); ; v++ {
		rec, err := st.VRead("Encounter", enc, v)
		if err != nil {
			break
		}
		versions = append(versions, string(rec.JSON))
	}
	if len(versions) < 2 || !strings.Contains(versions[1], `"period":{"end":"2026-12-01T10:00:00+01:00","start":"2026-12-01T08:00:00+01:00"},"status":"completed"`) {
		t.Errorf("after the A02, the location she left: %s", versions)
	}
}

// TestStayReasonIsClinical: a stay whose message gives a reason (PV2-3)
// is labelled CLIN besides ADM, so that a recipient allowed only ADM (a
// social role's permit) does not read the reason there; and it stays so
// after a transfer that leaves the reason out (which the stay keeps).
func TestStayReasonIsClinical(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	var r *Reply
	for _, m := range [][]byte{
		stayMsg("A01", "R1", 8, stayPV1, "PV2|||^Episode dépressif majeur"),
		stayMsg("A02", "R2", 9, strings.Replace(stayPV1, "CARD^210^1^CHU", "CARD^305^2^CHU", 1)),
	} {
		r = send(t, in, m)
		if code, _, errs := ack(t, r.ACK); code != "AA" {
			t.Fatalf("ACK %s %v", code, errs)
		}
		js := string(written(t, st, r, "Encounter").JSON)
		if !strings.Contains(js, "dépressif") || !strings.Contains(js, `"code":"CLIN"`) || !strings.Contains(js, `"code":"ADM"`) {
			t.Errorf("the stay with its reason is not labelled ADM and CLIN: %s", js)
		}
	}
}
