// Package mllp receives HL7 v2 messages over the Minimal Lower Layer
// Protocol (HL7 v2.5.1 Transport Specification: MLLP, release 2): each
// message framed as <VT> message <FS><CR> on a TCP (optionally TLS, with
// client certificates) connection, each answered on the same connection.
//
// Messages go to package ingest, which stores them and builds the ACK; the
// ACK is written only after the data is durably committed. Many connections
// are served at once, and their commits are grouped by the store's writer.
//
// # Acknowledgement modes
//
// Original mode (MSH-15 and MSH-16 empty): one ACK, AA, AE or AR. Enhanced
// mode: the accept acknowledgement (CA, CE, CR) when MSH-15 asks for it,
// then the application acknowledgement (AA, AE, AR) when MSH-16 does, both
// on the same connection (AL always, NE never, SU on success, ER on error;
// empty means AL). An ACK received from the sender (its accept
// acknowledgement of our application ACK) is read and not answered.
//
// # Monitoring
//
// Every connection is logged when it opens and closes (remote address,
// TLS or not, how many messages, why it closed), and every message with
// the MSA-1 codes of the ACKs sent, naming the message by its log id (a
// hash of sender and control ID), never by its content. Stats counts the
// ACKs sent by code.
//
// # Caveats
//
// A connection is served in order: a sender that pipelines messages gets
// their ACKs in order. Bytes outside a frame are skipped; a frame cut short
// by a new start block is dropped unanswered (the sender times out and
// resends); a frame over the size limit is refused with an AR (CR) NACK.
// None of these closes the connection. When the store cannot take a message
// (shutting down) the connection is closed without an ACK, so the sender
// keeps the message and resends it. There is no authentication besides TLS
// client certificates: restrict the listener to the hospital's network or
// require client certificates.
package mllp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relais-health/relais/gateway/ingest"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// Ingester stores a message and builds its reply (ingest.Ingester).
type Ingester interface {
	HL7v2(ctx context.Context, data []byte, authz ingest.Authorize) (*ingest.Reply, error)
}

// Config configures a Server.
type Config struct {
	Ingester Ingester     // required
	Logger   *slog.Logger // default slog.Default()
	// TLS, when set, makes every connection TLS (set ClientAuth and
	// ClientCAs to require client certificates).
	TLS *tls.Config
	// MaxMessage bounds a message, in bytes (default 16 MiB).
	MaxMessage int
	// IdleTimeout closes a connection on which no message starts for this
	// long (default 5 minutes): half-open connections go away.
	IdleTimeout time.Duration
	// ReadTimeout bounds the reception of one message from its start block
	// (default 30 s), and the TLS handshake: slow senders are cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing an ACK (default 30 s).
	WriteTimeout time.Duration
	// MaxConns bounds concurrent connections (default 1024); more are
	// closed at once.
	MaxConns int
	// ShutdownTimeout bounds how long Serve waits, once its context ends,
	// for messages being processed to be committed and acknowledged
	// (default 30 s).
	ShutdownTimeout time.Duration
}

// Server is an MLLP listener.
type Server struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup

	acks [len(ackCodes)]atomic.Uint64 // ACKs sent, by ackCodes index
}

// ackCodes are the MSA-1 codes (HL7 table 0008) Stats counts.
var ackCodes = [...]er7.AckCode{er7.AA, er7.AE, er7.AR, er7.CA, er7.CE, er7.CR}

// Stats counts what a Server has sent since New.
type Stats struct {
	// ACKs counts the acknowledgements answered, by MSA-1 code, counted as
	// they are written (a sender holding its ACK finds it counted); every code
	// of HL7 table 0008 is present, zero or not.
	ACKs map[er7.AckCode]uint64
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{ACKs: make(map[er7.AckCode]uint64, len(ackCodes))}
	for i, code := range ackCodes {
		st.ACKs[code] = s.acks[i].Load()
	}
	return st
}

// count adds the ACKs just written to the counters.
func (s *Server) count(sent *sentACKs) {
	for _, code := range sent.codes[:sent.n] {
		for i, c := range ackCodes {
			if c == code {
				s.acks[i].Add(1)
			}
		}
	}
}

// New checks cfg and fills in the defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Ingester == nil {
		return nil, errors.New("mllp: Config.Ingester is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 5*time.Minute)
	def(&cfg.ReadTimeout, 30*time.Second)
	def(&cfg.WriteTimeout, 30*time.Second)
	def(&cfg.ShutdownTimeout, 30*time.Second)
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 16 << 20
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	return &Server{cfg: cfg, log: cfg.Logger, conns: map[*conn]struct{}{}}, nil
}

// ListenAndServe listens on addr and serves until ctx ends. ready, when not
// nil, gets the bound address.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mllp listen: %w", err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends. Then it stops accepting,
// closes idle connections, lets messages being processed be committed and
// acknowledged (up to ShutdownTimeout), and returns once every connection
// is closed. ln is closed on return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return s.shutdown()
			}
			// Resource exhaustion (EMFILE...) is temporary: back off, as
			// net/http does.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.shutdown()
			return fmt.Errorf("mllp accept: %w", err)
		}
		delay = 0
		c := s.track(nc)
		if c == nil {
			s.log.Warn("mllp connection refused: too many connections", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		go c.serve(ctx)
	}
}

func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) >= s.cfg.MaxConns {
		return nil
	}
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String()}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// shutdown interrupts every connection's reads (a message being processed
// still gets its ACK) and waits for them to end.
func (s *Server) shutdown() error {
	s.mu.Lock()
	for c := range s.conns {
		c.interrupt()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.ShutdownTimeout):
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return errors.New("mllp: shutdown timed out; connections closed")
	}
}
