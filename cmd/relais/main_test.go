package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTokenServeShutdown runs the newcomer's path in-process: serve --dev
// --demo, a token from `relais token` in the same directory, a read of the
// demo patient, then a clean shutdown that leaves a database that reopens.
func TestTokenServeShutdown(t *testing.T) {
	t.Chdir(t.TempDir())
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--demo", "--addr", addr, "--data", "data", "--log-level", "warn"}, &out, &logs)
	}()
	waitReady(t, "http://"+addr+"/readyz")

	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "--scope", "user/Patient.rs", "--fhir-user", "PractitionerRole/demo-gp-role"}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/fhir/Patient/demo-patient", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"family":"Dupont"`)) {
		t.Fatalf("read demo patient with minted token = %d %s", res.StatusCode, body)
	}
	if !strings.Contains(out.String(), "export TOKEN=") || !strings.Contains(out.String(), "curl -s") {
		t.Errorf("demo banner missing: %q", out.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
	st, err := store.Open(filepath.Join("data", "relais.db"), store.Options{Codec: codec.MustNew()})
	if err != nil {
		t.Fatalf("database not closed cleanly: %v", err)
	}
	st.Close()

	// relais backup works on the stopped server's data.
	var backup bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--data", "data"}, &backup, io.Discard); err != nil || backup.Len() == 0 {
		t.Fatalf("backup: %v (%d bytes)", err, backup.Len())
	}
	if err := os.WriteFile("copy.db", backup.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := store.Open("copy.db", store.Options{Codec: codec.MustNew()})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if _, err := cp.Read("Patient", "demo-patient"); err != nil {
		t.Errorf("backup lacks the demo patient: %v", err)
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("server never became ready")
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"serve", "--no-such-flag"},
		{"serve", "--initial-mmap", "0"}, {"serve", "--initial-mmap", "1TB"}, {"serve", "--initial-mmap", "-1MiB"}} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("relais %v succeeded", args)
		}
	}
	// serve without any trusted key refuses to start.
	t.Chdir(t.TempDir())
	err := run(context.Background(), []string{"serve", "--data", "d", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no token signing key") {
		t.Errorf("serve without keys = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int{"32768": 32768, "32KiB": 32 << 10, "64MiB": 64 << 20, "1GiB": 1 << 30} {
		var b byteSize
		if err := b.Set(in); err != nil || int(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
}

func TestCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"certs", "--dir", dir}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "server.crt", "server.key", "client.crt", "dev-jwt-es256.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
}

// TestBackupWithoutDatabase: relais backup of a directory that holds no
// database (a mistyped --data, a volume not mounted) fails and creates
// none; it used to print the backup of an empty database it had just made,
// and exit 0.
func TestBackupWithoutDatabase(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := run(context.Background(), []string{"backup", "--data", dir}, &out, io.Discard)
	if err == nil || out.Len() != 0 {
		t.Errorf("backup of an empty directory: %v, %d bytes written", err, out.Len())
	}
	if _, err := os.Stat(filepath.Join(dir, "relais.db")); err == nil {
		t.Error("backup created a database")
	}
}

// TestOfflineCommandsWhileServing: the commands that need a stopped
// server say, when a server holds the database, that it is in use and
// what to do instead (each its own way: the hint was the client
// registration's for a directory import, and every error, a corrupt file's
// too, got the backup's hint).
func TestOfflineCommandsWhileServing(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "relais.db"), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the parallel subtests
	dirFile := filepath.Join(t.TempDir(), "directory.json")
	if err := os.WriteFile(dirFile, []byte(`{"resourceType":"Bundle","type":"collection"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		hint string
	}{
		{[]string{"backup", "--data", dir}, "GET /admin/backup"},
		{[]string{"client", "list", "--data", dir}, "GET /admin/clients"},
		{[]string{"directory", "import", "--data", dir, dirFile}, "stop it first"},
		{[]string{"audit", "verify", "--data", dir}, ""},
	} {
		t.Run(c.args[0], func(t *testing.T) {
			t.Parallel()
			err := run(context.Background(), c.args, io.Discard, io.Discard)
			if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), c.hint) {
				t.Errorf("relais %v: %v; want the database in use, and %q", c.args, err, c.hint)
			}
		})
	}
}

// TestBackupDoesNotUpgrade: relais backup of a data directory an earlier
// relais wrote (the backup the README asks for before an upgrade) leaves
// the file at its storage version and says how to copy it; it used to
// upgrade the file in place and back up the upgraded one.
func TestBackupDoesNotUpgrade(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relais.db")
	st, err := store.Open(path, store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// the storage version an earlier relais wrote (schema.go: meta
	// "storage-version", uint64 big-endian)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var earlier uint64
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		earlier = binary.BigEndian.Uint64(meta.Get([]byte("storage-version"))) - 1
		return meta.Put([]byte("storage-version"), binary.BigEndian.AppendUint64(nil, earlier))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = run(context.Background(), []string{"backup", "--data", dir}, &out, io.Discard)
	if !errors.Is(err, store.ErrUpgradeNeeded) || !strings.Contains(err.Error(), "cp -a") || out.Len() != 0 {
		t.Errorf("backup of storage version %d: %v (%d bytes written)", earlier, err, out.Len())
	}
	if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
		t.Errorf("the backup changed the file (%v)", err)
	}
}

// TestBackupWithQueuedMessages: a stopped server that left accepted HL7
// v2 messages unwritten (a crash) cannot be backed up offline; relais
// backup says so at once and what to do, where it waited 10 s and said
// "try again", which never succeeds with no server to write them.
func TestBackupWithQueuedMessages(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "relais.db"), store.Options{Codec: codec.MustNew(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Enqueue(context.Background(), []byte("MSH|^~\\&|A"), nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	start := time.Now()
	var out bytes.Buffer
	err = run(context.Background(), []string{"backup", "--data", dir}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "start relais serve once") || out.Len() != 0 {
		t.Errorf("backup with a queued message: %v (%d bytes written)", err, out.Len())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("backup took %v to refuse", d)
	}
}

// TestServeRefusesNumbersItWouldIgnore: a size or a duration the server
// would take for its default (0, or a negative one where negative means
// nothing) is refused before anything starts, every one named, where
// --task-timeout -1h or --max-body 0 ran with 24 h and 16 MiB.
func TestServeRefusesNumbersItWouldIgnore(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--max-body", "0"}, []string{"--max-body 0"}},
		{[]string{"--max-body", "-5", "--task-timeout", "-1h", "--route-interval", "0"},
			[]string{"--max-body -5", "--task-timeout -1h0m0s", "--route-interval 0"}},
		{[]string{"--delivery-give-up", "0s"}, []string{"--delivery-give-up 0s"}},
		{[]string{"--audit-checkpoint-interval", "-1s"}, []string{"--audit-checkpoint-interval -1s"}},
		{[]string{"--hl7-ack-retention", "0"}, []string{"--hl7-ack-retention 0"}},
	} {
		args := append([]string{"serve", "--data", "d", "--addr", "127.0.0.1:0"}, c.args...)
		err := run(context.Background(), args, io.Discard, io.Discard)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("relais %v: %v; want %q named", args, err, w)
			}
		}
	}
	if _, err := os.Stat("d"); err == nil {
		t.Error("the data directory was created")
	}
}
