package ingest

import (
	"strings"
	"testing"
)

// The INS of the PAM France examples (section 4.4), and two senders.
const (
	insNIR     = "260058815400233"
	insNIRAuth = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
	hopA       = "HOPA&1.2.250.1.999.2.1&ISO"
	hopB       = "HOPB&1.2.250.1.999.2.2&ISO"
)

// idMsg is an HL7 v2 message of sender auth with PID-3 ids and PID-32
// status, and the segments given.
func idMsg(typ, control, auth, ids, status string, segs ...string) []byte {
	s := "MSH|^~\\&|GAM|" + strings.ReplaceAll(auth, "&", "^") + "|RELAIS|RELAIS|20260305090000+0100||" + typ + "|" + control + "|P|2.5\r" +
		"EVN||20260305090000+0100\r" +
		"PID|1||" + ids + "||DARK^JEANNE^^^^^L||19600530|F" + strings.Repeat("|", 24) + status + "\r"
	for _, seg := range segs {
		s += seg + "\r"
	}
	return []byte(s)
}

// TestIdentifiersChanged: the identity source deletes an INS given in
// error (an A47 whose PID-3 sends the INS authority with the null "",
// PAM France section 4.4.3) and changes a patient number (MRG-1 the old
// one, PID-3 the new). The deleted INS leaves the patient, her identity
// is no longer qualified, and its claim goes: another source sending that
// INS no longer adds its data to her. The new number names her, the old
// one no longer does. An A47 about nobody known is AE 204 and one that
// would keep what it retires AR, storing nothing.
func TestIdentifiersChanged(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	ins := insNIR + "^^^" + insNIRAuth + "^INS"
	// who holds a patient number (the Reply names the mapping's ids,
	// before they are resolved)
	holder := func(oid, number string) string {
		t.Helper()
		o, err := st.ClaimOwner("Patient", "urn:oid:"+oid, number)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	patientOf(t, in, idMsg("ADT^A28^ADT_A05", "A1", hopA, "1900068^^^"+hopA+"^PI~"+ins, "VALI"))
	id := holder("1.2.250.1.999.2.1", "1900068")
	patientOf(t, in, idMsg("ADT^A28^ADT_A05", "B1", hopB, "77^^^"+hopB+"^PI~"+ins, "VALI"))
	if got := holder("1.2.250.1.999.2.2", "77"); got != id {
		t.Fatalf("the qualified INS did not link the second sender's patient: %s and %s", id, got)
	}

	r := send(t, in, idMsg("ADT^A47^ADT_A30", "A2", hopA, "1900068^^^"+hopA+`^PI~""^^^`+insNIRAuth+"^INS", "PROV", "MRG|"+ins))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("A47 deleting the INS: %s %v", code, errs)
	}
	rec, err := st.Read("Patient", id)
	if err != nil {
		t.Fatal(err)
	}
	js := string(rec.JSON)
	if strings.Contains(js, insNIR) || strings.Contains(js, "retired-identifier") {
		t.Errorf("the Patient after the INS's deletion: %s", js)
	}
	if !strings.Contains(js, "1900068") || !strings.Contains(js, `"code":"77"`) && !strings.Contains(js, `"value":"77"`) {
		t.Errorf("the deletion of the INS took her other identifiers: %s", js)
	}
	if !strings.Contains(js, "PROV") {
		t.Errorf("her identity status is not the one the A47 states: %s", js)
	}
	if owner, _ := st.ClaimOwner("Patient", "urn:oid:1.2.250.1.213.1.4.8", insNIR); owner != "" {
		t.Errorf("the deleted INS still names Patient/%s", owner)
	}
	patientOf(t, in, idMsg("ADT^A28^ADT_A05", "C1", "HOPC&1.2.250.1.999.2.3&ISO", "5^^^HOPC&1.2.250.1.999.2.3&ISO^PI~"+ins, "VALI"))
	if got := holder("1.2.250.1.999.2.3", "5"); got == id || got == "" {
		t.Errorf("a third source's patient with the deleted INS: %q (she is %s)", got, id)
	}

	// her number at HOPA changes from 1900068 to 1900099
	r = send(t, in, idMsg("ADT^A47^ADT_A30", "A3", hopA, "1900099^^^"+hopA+"^PI", "PROV", "MRG|1900068^^^"+hopA+"^PI"))
	if code, _, errs := ack(t, r.ACK); code != "AA" {
		t.Fatalf("A47 changing the number: %s %v", code, errs)
	}
	if rec, _ := st.Read("Patient", id); strings.Contains(string(rec.JSON), "1900068") || !strings.Contains(string(rec.JSON), "1900099") {
		t.Errorf("the Patient after the change of number: %s", rec.JSON)
	}
	if got := holder("1.2.250.1.999.2.1", "1900099"); got != id {
		t.Errorf("the new number names %q, want %s", got, id)
	}
	if got := holder("1.2.250.1.999.2.1", "1900068"); got != "" {
		t.Errorf("the old number still names Patient/%s", got)
	}

	before := changes(t, st)
	for _, c := range []struct {
		msg       []byte
		code, err string
	}{
		{idMsg("ADT^A47^ADT_A30", "A6", hopA, "42^^^"+hopA+"^PI", "VALI", "MRG|41^^^"+hopA+"^PI"), "AE", "E:204"},
		{idMsg("ADT^A47^ADT_A30", "A7", hopA, "1900099^^^"+hopA+"^PI", "VALI", "MRG|1900099^^^"+hopA+"^PI"), "AR", "E:205"},
		{idMsg("ADT^A47^ADT_A30", "A8", hopA, "1900099^^^"+hopA+"^PI", "VALI"), "AR", "E:100"},
	} {
		code, _, errs := ack(t, send(t, in, c.msg).ACK)
		if code != c.code || strings.Join(errs, " ") != c.err {
			t.Errorf("ACK %s %v, want %s %s", code, errs, c.code, c.err)
		}
	}
	if n := changes(t, st); n != before {
		t.Errorf("%d changes stored by refused A47s", n-before)
	}
}
