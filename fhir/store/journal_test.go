package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/audit"
)

// testEvent is a small read AuditEvent about patient by agent.
func testEvent(id string, at time.Time, patient, agent string) audit.Event {
	return audit.Event{ID: id, Time: at, Kind: audit.KindDisclosure, Type: audit.TypeRest, Subtype: []audit.Code{audit.SubRead},
		Action: audit.ActionRead, Outcome: audit.OutcomeSuccess, Agents: []audit.Agent{audit.Requester(agent, "jti-"+id)},
		Entities: []audit.Entity{audit.PatientEntity(patient), {What: "Observation/o1", Type: audit.EntityObject, Role: audit.RoleResource}}}
}

func listAudit(t *testing.T, s *Store, q AuditQuery) []string {
	t.Helper()
	var out []string
	err := s.AuditEvents(q, func(h AuditHead, js []byte) (bool, error) { out = append(out, auditIDOf(js)); return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// legacyJournalRecord is a decision record as storage version 7's journal
// wrote it.
func legacyJournalRecord(d audit.Decision) []byte {
	rec, _ := json.Marshal(d)
	body := []byte{}
	for _, f := range [][]byte{decisionKey(d.Time, d.ID), rec, []byte(d.Patient), []byte(d.Actor)} {
		body = binary.AppendUvarint(body, uint64(len(f)))
		body = append(body, f...)
	}
	body = append(body, 0)
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

// TestJournalRecovery: the records a crash left in the journal files,
// audit entries and decision records of storage version 7 alike, are in
// the audit log after Open, indexed, up to a torn last record or a zero
// tail; the files are then empty.
func TestJournalRecovery(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var files [2][]byte
	for i := range 3 {
		e := testEvent(fmt.Sprint("d", i), at.Add(time.Duration(i)*time.Second), "Patient/p1", fmt.Sprint("PractitionerRole/r", i%2))
		r, err := auditRecordOf(&e)
		if err != nil {
			t.Fatal(err)
		}
		files[i%2] = r.encode(files[i%2])
	}
	files[1] = append(files[1], legacyJournalRecord(audit.Decision{ID: "old", Time: at.Add(time.Minute), Patient: "Patient/p1", Actor: "PractitionerRole/r1", Permit: true})...)
	te := testEvent("torn", at.Add(time.Hour), "Patient/p1", "")
	torn, _ := auditRecordOf(&te)
	files[0] = append(files[0], make([]byte, 64)...) // a tail never written
	files[1] = append(files[1], torn.encode(nil)[:20]...)
	for i, b := range files {
		if err := os.WriteFile(path+journalSuffix+fmt.Sprint(i), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listAudit(t, s, AuditQuery{Patient: "Patient/p1"}); fmt.Sprint(got) != `[old d2 d1 d0]` {
		t.Errorf("recovered by patient: %v", got)
	}
	if got := listAudit(t, s, AuditQuery{Agent: "PractitionerRole/r1"}); fmt.Sprint(got) != `[old d1]` {
		t.Errorf("recovered by agent: %v", got)
	}
	if size, _, err := s.AuditTree(); err != nil || size != 4 {
		t.Errorf("tree size %d, %v; want 4", size, err)
	}
	for i := range files {
		if fi, err := os.Stat(path + journalSuffix + fmt.Sprint(i)); err != nil || fi.Size() != 0 {
			t.Errorf("journal file %d after recovery: %v, %v", i, fi.Size(), err)
		}
	}
}

// TestJournalMovesAndReopens: appends are listed at once (AuditEvents
// moves them first), whether or not a move ran meanwhile, and after a
// reopen; a record moved twice is one leaf.
func TestJournalMovesAndReopens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := journalMoveMax + 10 // one move by size, the rest by AuditEvents
	for i := range n {
		if err := s.AppendAudit(ctx, testEvent(fmt.Sprint("d", i), time.Now(), "Patient/p1", "PractitionerRole/gp")); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(listAudit(t, s, AuditQuery{Agent: "PractitionerRole/gp"})); got != n {
		t.Errorf("%d entries listed, want %d", got, n)
	}
	last := testEvent("last", time.Now(), "Patient/p9", "PractitionerRole/gp")
	if err := s.AppendAudit(ctx, last); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, last); err != ErrClosed {
		t.Errorf("append after Close = %v, want ErrClosed", err)
	}
	// The last record again in a journal file, as after a crash between
	// its move and the file's truncation.
	r, _ := auditRecordOf(&last)
	if err := os.WriteFile(path+journalSuffix+"0", r.encode(nil), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listAudit(t, s, AuditQuery{Patient: "Patient/p9"}); fmt.Sprint(got) != `[last]` {
		t.Errorf("after reopen: %v", got)
	}
	if size, _, _ := s.AuditTree(); size != uint64(n+1) {
		t.Errorf("tree size %d, want %d", size, n+1)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
