package ingest

import (
	"context"
	"strings"
	"testing"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
)

// importEvents are the ingestion AuditEvents of st, newest first.
func importEvents(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	err := st.AuditEvents(store.AuditQuery{Kinds: []audit.Kind{audit.KindIngest}}, func(_ store.AuditHead, js []byte) (bool, error) {
		out = append(out, string(js))
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIngestAudited: an HL7 v2 message written and a CDA document stored
// are each one Import AuditEvent (DICOM 110107) naming the patient and
// the source Binary and Provenance by reference, never the content.
func TestIngestAudited(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	r := send(t, in, ingesttest.Admit(1))
	p := written(t, st, r, "Patient")
	in.Close() // everything accepted is written
	evs := importEvents(t, st)
	if len(evs) != 1 {
		t.Fatalf("%d import events after one message, want 1", len(evs))
	}
	for _, want := range []string{`"code":"110107"`, `"action":"C"`, `"reference":"Patient/` + p.ID + `"`, `"reference":"Binary/`,
		`"reference":"Provenance/`, `"name":"HL7v2 ADT^A01"`} {
		if !strings.Contains(evs[0], want) {
			t.Errorf("HL7 v2 import event lacks %s: %s", want, evs[0])
		}
	}
	if strings.Contains(evs[0], "PID|") {
		t.Errorf("the message's content was recorded: %s", evs[0])
	}
	if _, err := in.CDA(context.Background(), read(t, "testdata/hl7-ccda21-discharge-summary.xml"), nil); err != nil {
		t.Fatal(err)
	}
	evs = importEvents(t, st)
	if len(evs) != 2 || !strings.Contains(evs[0], `"name":"CDA"`) || !strings.Contains(evs[0], `"reference":"Binary/`) {
		t.Errorf("CDA import event: %d %s", len(evs), evs[0])
	}
}

// TestImportNamesResolvedPatient: a message whose first identifier is new
// but that identity resolution links, by another of its identifiers, to a
// stored Patient names that Patient in its import event, not the one its
// identifiers alone would have made.
func TestImportNamesResolvedPatient(t *testing.T) {
	t.Parallel()
	in, st := newTest(t)
	r := send(t, in, ingesttest.Admit(1))
	p := written(t, st, r, "Patient")
	in.Sync()
	msg := strings.Replace(string(ingesttest.ADT{Event: "A08", N: 1, Control: "A08-linked"}.Bytes()),
		"PID|1||P0000001^^^HOPITAL&1.2.250.1.999.1.1&ISO^PI",
		"PID|1||NEW0001^^^AUTRE&1.2.250.1.999.9.9&ISO^PI~P0000001^^^HOPITAL&1.2.250.1.999.1.1&ISO^PI", 1)
	if !strings.Contains(msg, "NEW0001") {
		t.Fatal("the PID of ingesttest changed: update the test")
	}
	send(t, in, []byte(msg))
	in.Close()
	evs := importEvents(t, st)
	if len(evs) != 2 || !strings.Contains(evs[0], `"reference":"Patient/`+p.ID+`"`) {
		t.Errorf("the linked message's import event does not name Patient/%s: %s", p.ID, evs[0])
	}
}
