package server_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDischargeIsRouted: an HL7 v2 A03 of a heart-failure stay, sent to a
// running server, is routed along its pathway without anyone asking, once.
func TestDischargeIsRouted(t *testing.T) {
	t.Parallel()
	call := letterServer(t)
	do := func(method, path, ct string, body []byte) []byte {
		t.Helper()
		_, b := call(method, path, ct, string(body))
		return b
	}
	a03 := strings.Join([]string{
		`MSH|^~\&|HIS|CHU|RELAIS|RELAIS|20260305100000||ADT^A03^ADT_A03|A03-1|P|2.5`,
		`EVN|A03|20260305100000`,
		`PID|1||IPP-77^^^HIS&1.2.250.1.999.1&ISO^PI||DURAND^MARCEL^^^^^L||19380101|M|||3 RUE NATIONALE^^LILLE^^59000^FRA^H`,
		`PV1|1|I|||||||||||||||||V-77|||||||||||||||||||||||||20260301080000|20260305100000`,
		`DG1|1||I50.9^Insuffisance cardiaque^I10||20260301|F`,
	}, "\r") + "\r"
	if ack := do("POST", "/ingest/hl7v2", "x-application/hl7-v2+er7", []byte(a03)); !bytes.Contains(ack, []byte("MSA|AA")) {
		t.Fatalf("A03: %s", ack)
	}
	count := func() int {
		var b struct{ Total int }
		_ = json.Unmarshal(do("GET", "/fhir/Task?_summary=count", "", nil), &b)
		return b.Total
	}
	deadline := time.Now().Add(10 * time.Second)
	for count() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	n := count()
	if n == 0 {
		t.Fatal("the discharge was not routed")
	}
	if !bytes.Contains(do("GET", "/fhir/CarePlan", "", nil), []byte("heart-failure")) {
		t.Error("no CarePlan of the heart-failure pathway")
	}
	// Sent again, the A03 routes nothing more.
	do("POST", "/ingest/hl7v2", "x-application/hl7-v2+er7", []byte(a03))
	time.Sleep(200 * time.Millisecond)
	if got := count(); got != n {
		t.Errorf("resending the A03: %d Tasks, then %d", n, got)
	}
}
