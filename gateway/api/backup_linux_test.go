package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	binpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/binary_go_proto"

	"github.com/relais-health/relais/fhir/store"
)

// TestBackupOutlivesWriteTimeout: a backup that takes longer than the
// server's write timeout (a large database, a slow client) is sent whole:
// the timeout, set once for the response, cut it and left a truncated
// file. Here a 10 MB database, a 300 ms write timeout and a client that
// reads 16 KiB every 2 ms through a small receive buffer.
func TestBackupOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	ctx := context.Background()
	noise := make([]byte, 128<<10)
	for i := range 80 {
		rand.Read(noise) // incompressible: stored at its size
		bin := &binpb.Binary{Id: &dtpb.Id{Value: fmt.Sprintf("b%d", i)},
			ContentType: &binpb.Binary_ContentTypeCode{Value: "application/octet-stream"}, Data: &dtpb.Base64Binary{Value: noise}}
		if _, _, err := e.store.Update(ctx, bin, 0); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewUnstartedServer(e.api)
	srv.Config.WriteTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
	req, _ := http.NewRequest("GET", srv.URL+"/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got bytes.Buffer
	buf := make([]byte, 16<<10)
	start := time.Now()
	for {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("backup cut after %d bytes, %v: %v", got.Len(), time.Since(start).Round(time.Millisecond), err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if took := time.Since(start); took < srv.Config.WriteTimeout {
		t.Fatalf("the backup took %v, under the write timeout: the test proves nothing", took)
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(path, got.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{Codec: testCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Read("Binary", "b79"); err != nil {
		t.Errorf("the restored backup: %v", err)
	}
}
