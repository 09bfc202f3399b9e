package api_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../ingest/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stored counts the versions in the store.
func (e *env) stored() int {
	e.t.Helper()
	h, err := e.store.TypeHistory("", store.HistoryOptions{Count: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(h.Records)
}

func msa(t testing.TB, r resp) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "x-application/hl7-v2+er7" {
		t.Fatalf("Content-Type %q (status %d, %s)", ct, r.status, r.body)
	}
	m, err := er7.Parse(r.body)
	if err != nil {
		t.Fatalf("ACK does not parse: %v", err)
	}
	return m.First("MSA").Field(1).Text() + " " + m.First("MSA").Field(2).Text()
}

func TestIngestHL7v2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	const ct = "x-application/hl7-v2+er7"
	r := e.do("POST", "/ingest/hl7v2", string(ingesttest.Admit(1)), "Content-Type", ct)
	if r.status != 200 || msa(t, r) != "AA A01-1" {
		t.Fatalf("A01: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/ingest/hl7v2", string(ingesttest.Discharge(1)), "Content-Type", ct)
	if r.status != 200 || msa(t, r) != "AA A03-1" {
		t.Fatalf("A03: %d %s", r.status, r.body)
	}
	s := e.do("GET", "/fhir/Encounter?status=finished", "")
	if total := s.json(t)["total"]; total != 1.0 {
		t.Errorf("finished encounters: %v, want 1", total)
	}
	// A resend gets the same bytes.
	first := e.do("POST", "/ingest/hl7v2", string(ingesttest.Admit(2)), "Content-Type", ct)
	again := e.do("POST", "/ingest/hl7v2", string(ingesttest.Admit(2)), "Content-Type", ct)
	if string(first.body) != string(again.body) {
		t.Errorf("resend ACK differs:\n%q\n%q", first.body, again.body)
	}
	// A token that may not ingest learns nothing of a message received
	// before: a resend, and another message under its control ID, get
	// what a new message gets.
	issues := func(r resp) string { // less the error id
		var out []any
		for _, is := range r.json(t)["issue"].([]any) {
			m := is.(map[string]any)
			out = append(out, m["code"], m["details"])
		}
		return fmt.Sprint(out)
	}
	for _, tok := range []string{e.mint("system/*.rs", ""), e.mint("user/*.cruds", "PractitionerRole/gp")} {
		fresh := e.do("POST", "/ingest/hl7v2", string(ingesttest.Admit(90)), "Content-Type", ct, "Authorization", "Bearer "+tok)
		for _, msg := range [][]byte{ingesttest.Admit(2), ingesttest.ADT{N: 2, Family: "OTHER"}.Bytes()} {
			r := e.do("POST", "/ingest/hl7v2", string(msg), "Content-Type", ct, "Authorization", "Bearer "+tok)
			if r.status != 403 || r.status != fresh.status || issues(r) != issues(fresh) {
				t.Errorf("sent again by a token that may not ingest: %d %s; a new message: %d %s", r.status, r.body, fresh.status, fresh.body)
			}
		}
	}
	// Another message under the same control ID is refused, with ERR 205.
	reused := e.do("POST", "/ingest/hl7v2", string(ingesttest.ADT{N: 2, Family: "OTHER"}.Bytes()), "Content-Type", ct)
	if reused.status != 200 || msa(t, reused) != "AR A01-2" || !strings.Contains(string(reused.body), "205") {
		t.Errorf("reused control ID over HTTP: %d %q", reused.status, reused.body)
	}
	// Enhanced mode: the application ACK.
	r = e.do("POST", "/ingest/hl7v2", string(ingesttest.ADT{N: 3, Accept: "AL", App: "AL"}.Bytes()), "Content-Type", ct)
	if msa(t, r) != "AA A01-3" {
		t.Errorf("enhanced mode over HTTP: %s", r.body)
	}
	// The operator's view of the inbox: once a read has waited for them,
	// every accepted message is written.
	e.do("GET", "/fhir/Encounter", "")
	r = e.do("GET", "/admin/inbox", "")
	if r.status != 200 || string(r.body) != `{"queued":0,"failed":[]}` {
		t.Errorf("inbox report = %d %s", r.status, r.body)
	}
}

// TestIngestRefused: bad input gets a clear answer and stores nothing.
func TestIngestRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 64<<10)
	readOnly := e.mint("system/*.rs", "")
	tests := []struct {
		name, path, body, ct string
		headers              []string
		status               int
		want                 string // in the body: MSA-1, or an OperationOutcome path or code
	}{
		{"hl7 garbage", "/ingest/hl7v2", "not a message", "x-application/hl7-v2+er7", nil, 200, "MSA|AR"},
		{"hl7 empty", "/ingest/hl7v2", "", "x-application/hl7-v2+er7", nil, 200, "MSA|AR"},
		{"hl7 unsupported", "/ingest/hl7v2", "MSH|^~\\&|A|B|C|D|20260301||SIU^S12^SIU_S12|X1|P|2.5\rPID|1||1^^^H^PI\r", "text/plain", nil, 200, "MSA|AR|X1"},
		{"hl7 no patient id", "/ingest/hl7v2", "MSH|^~\\&|A|B|C|D|20260301||ADT^A01^ADT_A01|X4|P|2.5\rEVN||20260301\rPID|1||\rPV1|1|I\r", "x-application/hl7-v2+er7", nil, 200, "MSA|AE|X4"},
		{"hl7 no token", "/ingest/hl7v2", string(ingesttest.Admit(1)), "x-application/hl7-v2+er7", []string{"Authorization", ""}, 401, "login"},
		{"hl7 read-only scope", "/ingest/hl7v2", string(ingesttest.Admit(1)), "x-application/hl7-v2+er7", []string{"Authorization", "Bearer " + readOnly}, 403, "forbidden"},
		{"hl7 media type", "/ingest/hl7v2", string(ingesttest.Admit(1)), "application/json", nil, 415, "not-supported"},
		{"hl7 too large", "/ingest/hl7v2", string(ingesttest.Admit(1)) + strings.Repeat("Z", 70<<10), "x-application/hl7-v2+er7", nil, 413, "too-costly"},
		{"cda not cda", "/ingest/cda", "<html><body/></html>", "application/xml", nil, 400, "invalid"},
		{"cda empty", "/ingest/cda", "", "application/hl7-cda+xml", nil, 400, "invalid"},
		{"cda read-only scope", "/ingest/cda", fixture(t, "cisis-ldl-ses.xml"), "application/xml", []string{"Authorization", "Bearer " + readOnly}, 403, "forbidden"},
		{"assessment invalid", "/ingest/assessment", fixture(t, "needs-invalid.json"), "application/json", nil, 400, `"expression":["`},
		{"assessment not json", "/ingest/assessment", "{", "application/fhir+json", nil, 400, "invalid"},
		{"assessment media type", "/ingest/assessment", "{}", "text/csv", nil, 415, "not-supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			headers := append([]string{"Content-Type", tc.ct}, tc.headers...)
			r := e.do("POST", tc.path, tc.body, headers...)
			if r.status != tc.status || !strings.Contains(strings.ReplaceAll(string(r.body), "\r", "\n"), strings.ReplaceAll(tc.want, "\r", "\n")) {
				t.Errorf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.want)
			}
		})
	}
	if n := e.stored(); n != 0 {
		t.Errorf("refused input stored %d versions", n)
	}
}

func TestIngestCDA(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	r := e.do("POST", "/ingest/cda", fixture(t, "hl7-ccda21-discharge-summary.xml"), "Content-Type", "application/hl7-cda+xml")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	b := r.json(t)
	if b["type"] != "transaction-response" {
		t.Fatalf("type %v", b["type"])
	}
	entries := b["entry"].([]any)
	var composition, warnings bool
	for _, x := range entries {
		en := x.(map[string]any)
		loc, _ := en["response"].(map[string]any)["location"].(string)
		composition = composition || strings.HasPrefix(loc, "Composition/")
		if res, ok := en["resource"].(map[string]any); ok && res["resourceType"] == "OperationOutcome" {
			warnings = len(res["issue"].([]any)) > 0
		}
	}
	if !composition || !warnings {
		t.Errorf("response lacks the Composition (%v) or the warnings (%v): %d entries", composition, warnings, len(entries))
	}
	if e.stored() < len(entries)-1 {
		t.Errorf("stored %d versions for %d entries", e.stored(), len(entries))
	}
}

func TestIngestAssessment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	for _, f := range []string{"aggir-variables.json", "tddui-qualifiers.json", "needs-minimal.json"} {
		r := e.do("POST", "/ingest/assessment", fixture(t, f), "Content-Type", "application/json")
		if r.status != 200 || r.json(t)["type"] != "transaction-response" {
			t.Errorf("%s: %d %s", f, r.status, r.body)
		}
	}
	s := e.do("GET", "/fhir/Observation?code=MED-346", "")
	if total := s.json(t)["total"]; total != 2.0 {
		t.Errorf("GIR observations: %v, want 2", total)
	}
}

// setAside puts data in the store's inboxfailed bucket as the ingest queue
// does with a message it could not write (its payload: format 1, the
// arrival time in Unix µs, the message).
func (e *env) setAside(data []byte) uint64 {
	e.t.Helper()
	ctx := context.Background()
	payload := binary.BigEndian.AppendUint64([]byte{1}, uint64(time.Now().UnixMicro()))
	seq, err := e.store.Enqueue(ctx, append(payload, data...), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.ApplyQueued(ctx, []uint64{seq}, func(b *store.Batch) error { b.Reject(seq); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return seq
}

// TestInboxFailedRoutes: the operator lists the set-aside messages, writes
// one again, and drops one that cannot be written; each route needs its
// system scope.
func TestInboxFailedRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	good := e.setAside(ingesttest.Admit(41))
	bad := e.setAside([]byte("not HL7"))
	ro := "Bearer " + e.mint("system/*.rs", "")

	r := e.do("GET", "/admin/inbox", "")
	want := fmt.Sprintf(`"seq":%d,`, good)
	if r.status != 200 || !strings.Contains(string(r.body), want) || !strings.Contains(string(r.body), `"maps":true`) || !strings.Contains(string(r.body), `"maps":false`) {
		t.Fatalf("inbox report = %d %s", r.status, r.body)
	}
	tests := []struct {
		name, method, path, auth string
		status                   int
	}{
		{"retry read-only", "POST", fmt.Sprintf("/admin/inbox/failed/%d/retry", good), ro, 403},
		{"discard read-only", "DELETE", fmt.Sprintf("/admin/inbox/failed/%d", bad), ro, 403},
		{"bad number", "DELETE", "/admin/inbox/failed/x1", "", 400},
		{"zero", "POST", "/admin/inbox/failed/0/retry", "", 400},
		{"unknown", "POST", "/admin/inbox/failed/999/retry", "", 404},
		{"retry unmappable", "POST", fmt.Sprintf("/admin/inbox/failed/%d/retry", bad), "", 422},
		{"retry", "POST", fmt.Sprintf("/admin/inbox/failed/%d/retry", good), "", 200},
		{"retry again", "POST", fmt.Sprintf("/admin/inbox/failed/%d/retry", good), "", 404},
		{"discard", "DELETE", fmt.Sprintf("/admin/inbox/failed/%d", bad), "", 204},
		{"discard again", "DELETE", fmt.Sprintf("/admin/inbox/failed/%d", bad), "", 404},
	}
	for _, tt := range tests {
		var h []string
		if tt.auth != "" {
			h = []string{"Authorization", tt.auth}
		}
		if r := e.do(tt.method, tt.path, "", h...); r.status != tt.status {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.status, r.body)
		}
	}
	if s := e.do("GET", "/fhir/Encounter", ""); s.json(t)["total"] != 1.0 {
		t.Errorf("encounters after the retry: %s", s.body)
	}
	if r := e.do("GET", "/admin/inbox", ""); string(r.body) != `{"queued":0,"failed":[]}` {
		t.Errorf("inbox report at the end = %s", r.body)
	}
}
