package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relais-health/relais/gateway/devcert"
	"github.com/relais-health/relais/gateway/ingest/ingesttest"
	"github.com/relais-health/relais/gateway/metrics/metricstest"
)

// TestServeMLLP: serve --mllp-addr with TLS and required client
// certificates; a message over MLLP is acknowledged, the same message over
// HTTP is recognised as a resend (same ACK bytes), --metrics-addr counts
// the ACK without a token, and shutdown is clean.
func TestServeMLLP(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := run(context.Background(), []string{"certs", "--dir", "certs"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	addr, mllpAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--addr", addr, "--data", "data", "--log-level", "warn",
			"--mllp-addr", mllpAddr, "--mllp-tls-cert", "certs/server.crt", "--mllp-tls-key", "certs/server.key",
			"--mllp-client-ca", "certs/ca.crt", "--metrics-addr", metricsAddr}, io.Discard, io.Discard)
	}()
	waitReady(t, "http://"+addr+"/readyz")

	cfg, err := devcert.ClientTLS("certs")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", mllpAddr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := ingesttest.Admit(1)
	if _, err := conn.Write(append(append([]byte{0x0b}, msg...), 0x1c, 0x0d)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	frame, err := bufio.NewReader(conn).ReadBytes(0x1c)
	if err != nil {
		t.Fatal(err)
	}
	ack := bytes.TrimPrefix(frame[:len(frame)-1], []byte{0x0b})
	if !bytes.Contains(ack, []byte("MSA|AA|A01-1")) {
		t.Fatalf("MLLP ACK %q", ack)
	}

	var tok bytes.Buffer
	if err := run(context.Background(), []string{"token", "--scope", "system/*.cu"}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/ingest/hl7v2", bytes.NewReader(msg))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.String()))
	req.Header.Set("Content-Type", "x-application/hl7-v2+er7")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, ack) {
		t.Errorf("HTTP resend = %d %q, want the MLLP ACK %q", res.StatusCode, body, ack)
	}

	// An ACK is counted once written: the count may trail its arrival.
	var v float64
	var ok bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		res, err = http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		fams := metricstest.Parse(t, res.Body)
		res.Body.Close()
		if v, ok = fams.Value("relais_mllp_messages_total", "ack", "AA"); ok && v == 1 {
			break
		}
	}
	if !ok || v != 1 {
		t.Errorf("relais_mllp_messages_total{ack=AA} = %v (present %v), want 1", v, ok)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
