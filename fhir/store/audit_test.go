package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/search"
)

// appendTest appends n read events, patients alternating p0 and p1.
func appendTest(t *testing.T, s *Store, from, n int, at time.Time) [][]byte {
	t.Helper()
	var leaves [][]byte
	for i := from; i < from+n; i++ {
		e := testEvent(fmt.Sprint("e", i), at.Add(time.Duration(i)*time.Second), fmt.Sprint("Patient/p", i%2), "PractitionerRole/gp")
		if err := s.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, LeafHash(audit.Render(nil, &e)))
	}
	return leaves
}

// refRoot is RFC 6962's MTH, computed recursively (section 2.1).
func refRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return hasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return hasher.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

// TestAuditTreeProofs: the root is RFC 6962's for every size, and every
// inclusion and consistency proof the store serves verifies with
// transparency-dev/merkle's verifier, before and after pruning.
func TestAuditTreeProofs(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var leaves [][]byte
	for _, n := range []int{1, 6, 13, 17} { // separate moves
		leaves = append(leaves, appendTest(t, s, len(leaves), n, at)...)
		size, root, err := s.AuditTree()
		if err != nil || size != uint64(len(leaves)) || !bytes.Equal(root, refRoot(leaves)) {
			t.Fatalf("tree of %d: size %d, root %x (%v); want %x", len(leaves), size, root, err, refRoot(leaves))
		}
	}
	check := func() {
		t.Helper()
		for size := uint64(1); size <= uint64(len(leaves)); size++ {
			for i := uint64(0); i < size; i++ {
				p, err := s.AuditInclusion(i, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(hasher, i, size, leaves[i], p.Path, refRoot(leaves[:size])); err != nil {
					t.Fatalf("inclusion %d in %d: %v", i, size, err)
				}
			}
			for s1 := uint64(1); s1 <= size; s1++ {
				path, r1, r2, err := s.AuditConsistency(s1, size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(hasher, s1, size, path, r1, r2); err != nil || !bytes.Equal(r1, refRoot(leaves[:s1])) {
					t.Fatalf("consistency %d to %d: %v", s1, size, err)
				}
			}
		}
	}
	check()
	if _, err := s.AuditInclusion(3, uint64(len(leaves)+1)); err == nil {
		t.Error("a proof for a size beyond the log's was served")
	}
	// Prune the first 20 (one chunk of 8, then the rest).
	cut := at.Add(20 * time.Second)
	total := 0
	for calls := 0; ; calls++ {
		n, done, err := s.PruneAudit(context.Background(), audit.KindDisclosure, cut, 8)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if done {
			break
		}
		if calls > 10 {
			t.Fatal("pruning never done")
		}
	}
	if total != 20 {
		t.Errorf("pruned %d, want 20", total)
	}
	if got := listAudit(t, s, AuditQuery{Patient: "Patient/p0"}); len(got) != 9 || got[len(got)-1] != "e20" {
		t.Errorf("after pruning, p0's entries: %v", got)
	}
	if _, _, err := s.AuditEvent("e3"); err == nil {
		t.Error("a pruned entry is still served")
	}
	check()
}

// TestAuditQuery: queries select by patient, agent, entity, subtype, kind
// and time, newest first, through the patient and agent indexes or the
// entries themselves.
func TestAuditQuery(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	appendTest(t, s, 0, 6, at)
	d := audit.Decision{ID: "dec", Time: at.Add(time.Hour), Patient: "Patient/p0", Actor: "PractitionerRole/nurse", Basis: []string{"Consent/c1"}, Policy: "care-team", BreakGlass: true}
	if err := s.AppendAudit(context.Background(), audit.DecisionEvent(&d)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    AuditQuery
		want string
	}{
		{AuditQuery{Patient: "Patient/p0"}, "[dec e4 e2 e0]"},
		{AuditQuery{Patient: "Patient/p0", Subtypes: []string{"read"}}, "[e4 e2 e0]"},
		{AuditQuery{Agent: "PractitionerRole/nurse"}, "[dec]"},
		{AuditQuery{Entity: "Consent/c1"}, "[dec]"},
		{AuditQuery{Kinds: []audit.Kind{audit.KindDecision}}, "[dec]"},
		{AuditQuery{BreakGlass: true}, "[dec]"},
		{AuditQuery{Outcomes: []string{"8"}}, "[dec]"},
		{AuditQuery{Since: at.Add(2 * time.Second), Until: at.Add(4 * time.Second)}, "[e3 e2]"},
		{AuditQuery{Patient: "Patient/p1", Since: at.Add(2 * time.Second)}, "[e5 e3]"},
	} {
		if got := fmt.Sprint(listAudit(t, s, c.q)); got != c.want {
			t.Errorf("%+v: %s, want %s", c.q, got, c.want)
		}
	}
	_, js, err := s.AuditEvent("dec")
	if err != nil {
		t.Fatal(err)
	}
	back, err := audit.DecisionOf(js)
	if err != nil || back.Policy != "care-team" || !back.BreakGlass || back.Basis[0] != "Consent/c1" || back.Actor != d.Actor {
		t.Errorf("decision read back: %+v, %v", back, err)
	}
}

// TestMigrateDecisionsToAudit: a version 7 file's decision records are
// audit entries after Open, in time order, and its decision buckets gone.
func TestMigrateDecisionsToAudit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketAudit, bucketAuditNode, bucketAuditIdx, bucketAuditID, bucketAuditCheckpoint} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		b, _ := tx.CreateBucket(bucketConsentLog)
		if _, err := tx.CreateBucket(bucketConsentLogIdx); err != nil {
			return err
		}
		for i := range 3 {
			d := audit.Decision{ID: fmt.Sprint("old", i), Time: at.Add(time.Duration(-i) * time.Minute), Patient: "Patient/p1", Actor: "PractitionerRole/gp", Permit: i != 1, Policy: "care-team"}
			js, _ := json.Marshal(d)
			if err := b.Put(decisionKey(d.Time, d.ID), js); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyStorageVersion, binary.BigEndian.AppendUint64(nil, 7))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := fmt.Sprint(listAudit(t, s, AuditQuery{Patient: "Patient/p1"})); got != "[old0 old1 old2]" {
		t.Errorf("migrated: %s", got)
	}
	if got := fmt.Sprint(listAudit(t, s, AuditQuery{Outcomes: []string{audit.OutcomeSerious}})); got != "[old1]" {
		t.Errorf("migrated denies: %s", got)
	}
	_ = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketConsentLog) != nil {
			t.Error("consentlog still there")
		}
		return nil
	})
}

// TestAuditSizePer1000Reads measures what 1,000 consent-filtered reads
// add to the audit log: one audit.ReadEvent each, as a GP's read of a
// clinical Observation records it (decision, token jti, Consent basis,
// the client's and the server's addresses),
// in bbolt (the pages the audit buckets use) and in the journal (the
// bytes each read's sync writes). The README quotes the figures.
func TestAuditSizePer1000Reads(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	journal := 0
	for i := range 1000 {
		d := audit.Decision{ID: fmt.Sprintf("6c0f3e2a9b1d4c57-%s", strconv.FormatInt(int64(100000+i), 36)), Time: time.Now(),
			Actor: "PractitionerRole/gp-" + strconv.Itoa(i%20), Patient: "Patient/p" + strconv.Itoa(i%200), Permit: true,
			Basis: []string{"Consent/c" + strconv.Itoa(i%200)}, Policy: "care-team", Purpose: "TREAT", Action: "access",
			Resource: "search", Permitted: 1, Token: "Xb3m1qT0_4nQ9f2LkV8sZA",
			Peers: audit.Peers{ClientAddr: "10.20.30.40", ClientID: "gp-software", ServerURL: "https://relais.example.org/fhir"}}
		e := audit.ReadEvent(&d, audit.SubRead, "Observation/o"+strconv.Itoa(i))
		r, err := auditRecordOf(&e)
		if err != nil {
			t.Fatal(err)
		}
		journal += len(r.encode(nil))
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.decisions.flush(); err != nil {
		t.Fatal(err)
	}
	var pages, used int
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketAudit, bucketAuditNode, bucketAuditIdx, bucketAuditID} {
			st := tx.Bucket(name).Stats()
			pages += (st.BranchPageN + st.LeafPageN + st.LeafOverflowN + st.BranchOverflowN) * tx.DB().Info().PageSize
			used += st.BranchInuse + st.LeafInuse
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("per 1,000 reads: journal %d bytes; bbolt %d bytes in use in %d bytes of pages", journal, used, pages)
	// about 500 bytes per read (the event's stored form, its head, its
	// index keys and tree nodes) where its JSON is 2.4 KB: a regression
	// past 1 KB per read is one.
	if used > 1000*1000 || journal > 1000*1000 {
		t.Errorf("1,000 reads take %d bytes in bbolt, %d in the journal: over 1 MB", used, journal)
	}
}

// TestPruneRareKind: pruning a kind that no entry has walks the log in
// commits of at most 64 × max entries, and says when it is done.
func TestPruneRareKind(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200 {
		if err := s.AppendAudit(context.Background(), testEvent(fmt.Sprint("e", i), at.Add(time.Duration(i)*time.Second), "Patient/p1", "PractitionerRole/gp")); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	for done := false; !done; calls++ {
		n, d, err := s.PruneAudit(context.Background(), audit.KindSecurity, at.Add(time.Hour), 1)
		if err != nil || n != 0 {
			t.Fatalf("pruned %d: %v", n, err)
		}
		done = d
		if calls > 10 {
			t.Fatal("never done")
		}
	}
	if calls != 4 { // 64, 128, 192, then the last 8 and the end
		t.Errorf("%d calls, want 4", calls)
	}
}

// TestAuditJSONBodies: entries stored before version 9 hold their JSON
// and stay readable, verifiable and prunable beside the entries stored
// as their fields; both serve the same JSON and hash it the same way.
func TestAuditJSONBodies(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "relais.db")
	s, err := Open(path, Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	leaves := appendTest(t, s, 0, 2, at)
	old := testEvent("v8", at.Add(2*time.Second), "Patient/p0", "PractitionerRole/gp")
	r, err := auditRecordOf(&old)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := decodeAuditValue(r.value)
	r.value = encodeAuditValue(&h, audit.Render(nil, &old)) // as version 8 stored it
	if err := s.decisions.flush(); err != nil {             // e0 and e1 first
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putAudit(tx, []auditRecord{r}) }); err != nil {
		t.Fatal(err)
	}
	leaves = append(leaves, LeafHash(audit.Render(nil, &old)))
	leaves = append(leaves, appendTest(t, s, 3, 2, at)...)
	for i, id := range []string{"e0", "e1", "v8", "e3", "e4"} {
		_, js, err := s.AuditEvent(id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(LeafHash(js), leaves[i]) {
			t.Errorf("%s: served JSON is not what its leaf hashes", id)
		}
	}
	if _, root, err := s.AuditTree(); err != nil || !bytes.Equal(root, refRoot(leaves)) {
		t.Fatalf("root %x (%v), want RFC 6962's over the rendered JSON", root, err)
	}
	if got := listAudit(t, s, AuditQuery{Patient: "Patient/p0"}); len(got) != 3 || got[1] != "v8" {
		t.Errorf("p0's entries %v, want e4 v8 e0", got)
	}
	if n, _, err := s.PruneAudit(context.Background(), audit.KindDisclosure, at.Add(time.Hour), 100); err != nil || n != 5 {
		t.Fatalf("pruned %d (%v), want 5", n, err)
	}
	if _, _, err := s.AuditEvent("v8"); err == nil {
		t.Error("a pruned version 8 entry is still served")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyAudit(path)
	if err != nil || len(rep.Problems) != 0 || rep.Pruned != 5 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// TestAuditClauses: a search's clauses are ANDed and each one's values
// ORed, through several index ranges merged newest first; a reference
// without a version matches every version, a bare id any type; date
// clauses bound the walk with R4 date semantics; Before resumes a walk
// after a position, on the index and on the entries alike.
func TestAuditClauses(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	appendTest(t, s, 0, 6, at) // e0..e5: Patient/p0 even, p1 odd; agent gp
	two := testEvent("two", at.Add(10*time.Second), "Patient/p2", "PractitionerRole/gp")
	two.Agents = append(two.Agents, audit.Requester("Practitioner/x", "jti"))
	two.Entities = append(two.Entities, audit.Entity{What: "Consent/c1/_history/3", Type: audit.EntityObject, Role: audit.RoleSecurity})
	if err := s.AppendAudit(context.Background(), two); err != nil {
		t.Fatal(err)
	}
	day := func(cmp, v string) search.Cond {
		lo, hi, err := search.ParseDate(v)
		if err != nil {
			t.Fatal(err)
		}
		return search.Cond{Tag: 'd', Cmp: cmp, Start: lo, End: hi}
	}
	refs := func(f AuditField, r ...string) AuditClause { return AuditClause{Field: f, Refs: r} }
	for name, c := range map[string]struct {
		q    AuditQuery
		want string
	}{
		"or":              {AuditQuery{Clauses: []AuditClause{refs(AuditPatient, "Patient/p2", "Patient/p1")}}, "[two e5 e3 e1]"},
		"and":             {AuditQuery{Clauses: []AuditClause{refs(AuditAgent, "PractitionerRole/gp"), refs(AuditAgent, "Practitioner/x")}}, "[two]"},
		"or once":         {AuditQuery{Clauses: []AuditClause{refs(AuditAgent, "PractitionerRole/gp", "Practitioner/x"), refs(AuditPatient, "Patient/p2")}}, "[two]"},
		"bare id":         {AuditQuery{Clauses: []AuditClause{refs(AuditPatient, "p2")}}, "[two]"},
		"any version":     {AuditQuery{Clauses: []AuditClause{refs(AuditEntity, "Consent/c1")}}, "[two]"},
		"no prefix match": {AuditQuery{Clauses: []AuditClause{refs(AuditEntity, "Consent/c")}}, "[]"},
		"no value":        {AuditQuery{Clauses: []AuditClause{refs(AuditPatient)}}, "[]"},
		"outcome and":     {AuditQuery{Clauses: []AuditClause{{Field: AuditOutcome, Codes: []string{"0"}}, {Field: AuditOutcome, Codes: []string{"8"}}}}, "[]"},
		"second":          {AuditQuery{Clauses: []AuditClause{{Field: AuditDate, Dates: []search.Cond{day("eq", "2026-03-01T08:00:02Z")}}}}, "[e2]"},
		"gt excludes":     {AuditQuery{Clauses: []AuditClause{refs(AuditPatient, "Patient/p0", "Patient/p1"), {Field: AuditDate, Dates: []search.Cond{day("gt", "2026-03-01T08:00:03Z")}}}}, "[e5 e4]"},
		"le includes":     {AuditQuery{Clauses: []AuditClause{{Field: AuditDate, Dates: []search.Cond{day("le", "2026-03-01T08:00:01Z")}}}}, "[e1 e0]"},
		"before index":    {AuditQuery{Clauses: []AuditClause{refs(AuditPatient, "Patient/p0", "Patient/p1")}, Before: AuditPos{Time: at.Add(3 * time.Second).UnixMicro(), Index: 3}}, "[e2 e1 e0]"},
		"before entries":  {AuditQuery{Before: AuditPos{Time: at.Add(3 * time.Second).UnixMicro(), Index: 3}}, "[e2 e1 e0]"},
	} {
		if got := fmt.Sprint(listAudit(t, s, c.q)); got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
}
