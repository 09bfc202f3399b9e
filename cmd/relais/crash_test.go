package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/server"
)

// TestServeChild is `relais serve` in a process of its own for
// TestCrashKeepsAcknowledged; it does nothing unless that test starts it.
func TestServeChild(t *testing.T) {
	args := os.Getenv("RELAIS_SERVE_CHILD")
	if args == "" {
		t.Skip("started by TestCrashKeepsAcknowledged only")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Fields(args), io.Discard, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// TestCrashKeepsAcknowledged: the server process is killed (SIGKILL) while
// four MLLP connections send admissions; some acknowledged messages are then
// only in the inbox. After a restart every acknowledged admission has its
// Encounter, and the inbox is empty.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr, mllpAddr := freeAddr(t), freeAddr(t)
	starts := 0
	start := func() *exec.Cmd {
		starts++
		return startServer(t, dir, starts, "serve --dev --addr "+addr+" --data "+data+" --mllp-addr "+mllpAddr+" --log-level warn", "http://"+addr)
	}

	child := start()
	const killAfter = 600
	var acked sync.Map // stay number -> true
	var n atomic.Int64
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", mllpAddr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for i := c; ; i += 4 {
				msg := ingesttest.ADT{Event: "A01", N: i}.Bytes()
				if _, err := conn.Write(append(append([]byte{0x0b}, msg...), 0x1c, 0x0d)); err != nil {
					return // the server is gone
				}
				_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
				frame, err := r.ReadBytes(0x1c)
				if err != nil {
					return
				}
				if !bytes.Contains(frame, []byte(fmt.Sprintf("MSA|AA|A01-%d\r", i))) {
					t.Errorf("stay %d: ACK %q", i, frame)
					return
				}
				acked.Store(i, true)
				if n.Add(1) == killAfter {
					_ = child.Process.Kill()
				}
			}
		}()
	}
	wg.Wait()
	_ = child.Wait()
	if n.Load() < killAfter {
		t.Fatalf("only %d messages acknowledged before the connections failed", n.Load())
	}

	st := openStore(t, data)
	queued, err := st.Queued()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) == 0 {
		t.Fatal("the kill left nothing in the inbox: the test did not exercise recovery")
	}

	child = start()
	_ = child.Process.Signal(syscall.SIGTERM)
	if err := child.Wait(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
	st = openStore(t, data)
	defer st.Close()
	var ns []int
	acked.Range(func(k, _ any) bool { ns = append(ns, k.(int)); return true })
	missing, err := ingesttest.MissingEncounters(st, ns)
	if err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged admissions have no Encounter after the crash (%d were queued at the kill)", missing, n.Load(), len(queued))
	}
	if q, err := st.Queued(); err != nil || len(q) != 0 {
		t.Errorf("inbox after restart: %d %v", len(q), err)
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
	t.Logf("%d acknowledged, %d only in the inbox at the kill, all stored after the restart", n.Load(), len(queued))
}

func openStore(t *testing.T, data string) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(data, server.DBFile), store.Options{Codec: codec.MustNew()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startServer starts `relais ARGS` as a child process (TestServeChild) in
// dir (where --dev keeps its key), its output in server-N.log, shown if
// the test fails, and waits until base answers /readyz.
func startServer(t *testing.T, dir string, n int, args, base string) *exec.Cmd {
	t.Helper()
	log := filepath.Join(dir, fmt.Sprintf("server-%d.log", n))
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		if b, _ := os.ReadFile(log); t.Failed() && len(b) > 0 {
			t.Logf("%s:\n%s", filepath.Base(log), b)
		}
	})
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeChild$")
	cmd.Env = append(os.Environ(), "RELAIS_SERVE_CHILD="+args)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, base+"/readyz")
	return cmd
}
