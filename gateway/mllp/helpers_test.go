package mllp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/codec"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/gateway/mllp"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

var testCodec = codec.MustNew()

// env is an MLLP server on loopback over a real store.
type env struct {
	t      testing.TB
	addr   string
	dir    string // the data directory: the store's file and nothing else
	store  *store.Store
	ingest *ingest.Ingester
	srv    *mllp.Server
	stop   func() error // cancels the server and returns Serve's error
	close  func()       // stops the server, checks and closes the store (once)
}

type envOptions struct {
	sync bool // fsync on (durable ACKs, as in production)
	cfg  mllp.Config
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "relais.db"), store.Options{Codec: testCodec, NoSync: !o.sync})
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.New(ingest.Config{Store: st, Logger: quiet(), Options: ingest.Options{Codec: testCodec}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := o.cfg
	cfg.Ingester = in
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	srv, err := mllp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	e := &env{t: t, addr: ln.Addr().String(), dir: dir, store: st, ingest: in, srv: srv}
	var stopped bool
	var stopErr error
	e.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-done
		}
		return stopErr
	}
	var once sync.Once
	e.close = func() {
		once.Do(func() {
			if err := e.stop(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			in.Close()
			if err := st.Check(); err != nil {
				t.Errorf("bbolt integrity: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(e.close)
	return e
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// client is a sender on one connection.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func (e *env) dial() *client {
	e.t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &client{t: e.t, nc: nc, r: bufio.NewReader(nc)}
}

func (e *env) dialTLS(cfg *tls.Config) (*client, error) {
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addr, cfg)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { nc.Close() })
	return &client{t: e.t, nc: nc, r: bufio.NewReader(nc)}, nil
}

// write sends raw bytes.
func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// send frames msg.
func (c *client) send(msg []byte) {
	c.t.Helper()
	c.write(append(append([]byte{0x0b}, msg...), 0x1c, 0x0d))
}

// read reads one framed reply.
func (c *client) read() ([]byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if b, err := c.r.ReadByte(); err != nil {
		return nil, err
	} else if b != 0x0b {
		return nil, errors.New("reply does not start with VT")
	}
	body, err := c.r.ReadBytes(0x1c)
	if err != nil {
		return nil, err
	}
	if cr, err := c.r.ReadByte(); err != nil || cr != 0x0d {
		return nil, errors.New("reply does not end with FS CR")
	}
	return body[:len(body)-1], nil
}

func (c *client) mustRead() []byte {
	c.t.Helper()
	b, err := c.read()
	if err != nil {
		c.t.Fatalf("reading the ACK: %v", err)
	}
	return b
}

// msa returns MSA-1 and MSA-2 of an ACK.
func msa(t testing.TB, ack []byte) (string, string) {
	t.Helper()
	m, err := er7.Parse(ack)
	if err != nil {
		t.Fatalf("ACK does not parse: %v: %q", err, ack)
	}
	return m.First("MSA").Field(1).Text(), m.First("MSA").Field(2).Text()
}

// closed reports whether the server closed the connection (within d).
func (c *client) closed(d time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}
