package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func listDecisions(t *testing.T, s *Store, q DecisionQuery) []string {
	t.Helper()
	var out []string
	err := s.Decisions(q, func(v []byte) (bool, error) { out = append(out, string(v)); return true, nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJournalRecovery: the records a crash left in the journal files are
// in the decision log after Open, indexed, up to a torn last record or a
// zero tail; the files are then empty.
func TestJournalRecovery(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var files [2][]byte
	for i := range 3 {
		r := journalRecord{key: decisionKey(at.Add(time.Duration(i)*time.Second), fmt.Sprint("d", i)),
			record: []byte(fmt.Sprint(`{"n":`, i, `}`)), patient: "Patient/p1", actor: fmt.Sprint("PractitionerRole/r", i%2)}
		files[i%2] = r.encode(files[i%2])
	}
	torn := journalRecord{key: decisionKey(at.Add(time.Hour), "torn"), record: []byte(`{"torn":true}`), patient: "Patient/p1"}
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
	if got := listDecisions(t, s, DecisionQuery{Patient: "Patient/p1"}); fmt.Sprint(got) != `[{"n":2} {"n":1} {"n":0}]` {
		t.Errorf("recovered by patient: %v", got)
	}
	if got := listDecisions(t, s, DecisionQuery{Actor: "PractitionerRole/r1"}); fmt.Sprint(got) != `[{"n":1}]` {
		t.Errorf("recovered by actor: %v", got)
	}
	for i := range files {
		if fi, err := os.Stat(path + journalSuffix + fmt.Sprint(i)); err != nil || fi.Size() != 0 {
			t.Errorf("journal file %d after recovery: %v, %v", i, fi.Size(), err)
		}
	}
}

// TestJournalMovesAndReopens: appends are listed at once (Decisions moves
// them first), whether or not a move ran meanwhile, and after a reopen.
func TestJournalMovesAndReopens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	n := journalMoveMax + 10 // one move by size, the rest by Decisions
	for i := range n {
		d := Decision{ID: fmt.Sprint("d", i), Time: time.Now(), Actor: "PractitionerRole/gp", Record: []byte(`{}`)}
		if err := s.AppendDecisions(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(listDecisions(t, s, DecisionQuery{Actor: "PractitionerRole/gp"})); got != n {
		t.Errorf("%d decisions listed, want %d", got, n)
	}
	d := Decision{ID: "last", Time: time.Now(), Patient: "Patient/p9", Record: []byte(`{"last":true}`)}
	if err := s.AppendDecisions(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendDecisions(ctx, d); err != ErrClosed {
		t.Errorf("append after Close = %v, want ErrClosed", err)
	}
	s, err = Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listDecisions(t, s, DecisionQuery{Patient: "Patient/p9"}); fmt.Sprint(got) != `[{"last":true}]` {
		t.Errorf("after reopen: %v", got)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
