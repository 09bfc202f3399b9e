package auditlog_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/relais-health/relais/fhir/audit"
	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/auditlog"
)

var testCodec = codec.MustNew()

// openLog is a store in a temp data directory with n read events, the
// i-th recorded i days after t0, and the Log over it.
func openLog(t *testing.T, n int, t0 time.Time, cfg auditlog.Config) (*store.Store, *auditlog.Log, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, auditlog.DBFile), store.Options{Codec: testCodec, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := range n {
		d := audit.Decision{ID: fmt.Sprintf("d-%d", i), Time: t0.Add(time.Duration(i) * 24 * time.Hour), Actor: "PractitionerRole/gp",
			Patient: "Patient/p1", Permit: true}
		if err := st.AppendAudit(context.Background(), audit.ReadEvent(&d, audit.SubRead, "Observation/o1")); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Store, cfg.DataDir = st, dir
	l, err := auditlog.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st, l, dir
}

// TestCheckpoint: a checkpoint is signed over its C2SP body with the key
// PublicKey serves, kept (Latest), and sent to the witness; an inclusion
// proof of an entry verifies against its root.
func TestCheckpoint(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var witnessed []auditlog.Checkpoint
	witness := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c auditlog.Checkpoint
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &c); err != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		witnessed = append(witnessed, c)
		mu.Unlock()
	}))
	defer witness.Close()
	st, l, _ := openLog(t, 5, time.Now(), auditlog.Config{Witness: witness.URL})
	c, err := l.Checkpoint(context.Background())
	if err != nil || c.TreeSize != 5 {
		t.Fatalf("checkpoint %+v: %v", c, err)
	}
	pub, _ := base64.StdEncoding.DecodeString(l.PublicKey()["publicKey"])
	if err := c.Verify(ed25519.PublicKey(pub)); err != nil {
		t.Errorf("the checkpoint does not verify with the served key: %v", err)
	}
	if c.KeyID != l.PublicKey()["keyId"] {
		t.Errorf("key id %s, served %s", c.KeyID, l.PublicKey()["keyId"])
	}
	if latest, ok, err := l.Latest(); err != nil || !ok || latest.TreeSize != 5 {
		t.Errorf("latest: %+v %v %v", latest, ok, err)
	}
	mu.Lock()
	if len(witnessed) != 1 || witnessed[0].TreeSize != 5 || string(witnessed[0].RootHash) != string(c.RootHash) {
		t.Errorf("witness got %+v", witnessed)
	}
	mu.Unlock()
	p, err := st.AuditInclusion(3, c.TreeSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 3, c.TreeSize, p.LeafHash, p.Path, c.RootHash); err != nil {
		t.Errorf("inclusion proof against the checkpoint: %v", err)
	}
	tampered := c
	tampered.TreeSize = 4
	if tampered.Verify(ed25519.PublicKey(pub)) == nil {
		t.Error("a checkpoint with another size verified")
	}
}

// TestPrune: entries past their kind's retention become tombstones in
// chunks; the tree, its checkpoint and the other entries' proofs do not
// change, and the log still verifies offline.
func TestPrune(t *testing.T) {
	t.Parallel()
	now := time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)
	t0 := now.Add(-10 * 24 * time.Hour) // entries 0..9: 10 to 1 days old
	keep := auditlog.Retention{audit.KindDisclosure: 5*24*time.Hour + time.Hour}
	st, l, dir := openLog(t, 10, t0, auditlog.Config{Retention: keep, Now: func() time.Time { return now }})
	size, root, _ := st.AuditTree()
	n, err := l.Prune(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("pruned %d (%v), want 5: the entries 6 days old or more", n, err)
	}
	var kept int
	_ = st.AuditEvents(store.AuditQuery{Patient: "Patient/p1"}, func(store.AuditHead, []byte) (bool, error) { kept++; return true, nil })
	if kept != 5 {
		t.Errorf("%d entries still readable, want 5", kept)
	}
	if n, _ := l.Prune(context.Background()); n != 0 {
		t.Errorf("a second prune pruned %d", n)
	}
	size2, root2, _ := st.AuditTree()
	if size2 != size || string(root2) != string(root) {
		t.Errorf("pruning changed the tree: %d %x -> %d %x", size, root, size2, root2)
	}
	p, err := st.AuditInclusion(7, size)
	if err != nil || proof.VerifyInclusion(rfc6962.DefaultHasher, 7, size, p.LeafHash, p.Path, root) != nil {
		t.Errorf("the proof of an entry kept: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, problems, err := auditlog.Verify(dir, nil, nil)
	if err != nil || len(problems) != 0 || rep.Pruned != 5 || rep.Entries != 5 {
		t.Errorf("verify after pruning: %+v %v %v", rep, problems, err)
	}
}

func TestParseRetention(t *testing.T) {
	t.Parallel()
	r, err := auditlog.ParseRetention("security=90d, ingest=0,change=48h")
	if err != nil {
		t.Fatal(err)
	}
	if r[audit.KindSecurity] != 90*24*time.Hour || r[audit.KindIngest] != 0 || r[audit.KindChange] != 48*time.Hour ||
		r[audit.KindDisclosure] != 6*365*24*time.Hour {
		t.Errorf("%v", r)
	}
	for _, bad := range []string{"nothing=1y", "security", "security=-1d", "security=soon"} {
		if _, err := auditlog.ParseRetention(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestNewWarnsOfAnotherKey: a database restored into a data directory
// without its audit key (a backup holds the database only) gets a new key
// at the start, against which the checkpoints it keeps do not verify; the
// start says so in the log, where relais audit verify found it later, as
// it would a forged key. The directory's own key logs nothing.
func TestNewWarnsOfAnotherKey(t *testing.T) {
	t.Parallel()
	st, l, dir := openLog(t, 3, time.Now(), auditlog.Config{})
	if _, err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := auditlog.New(auditlog.Config{Store: st, DataDir: dir, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("the directory's own key: %s", logs.String())
	}
	restored := t.TempDir() // a data directory without the key
	if _, err := auditlog.New(auditlog.Config{Store: st, DataDir: restored, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "signed with another key than "+auditlog.KeyFile) {
		t.Errorf("a new key over the kept checkpoints: %q", logs.String())
	}
}
