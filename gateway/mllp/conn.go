package mllp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// conn is one sender's connection, served in order.
type conn struct {
	srv    *Server
	nc     net.Conn
	remote string // logged: an address, never message content

	mu      sync.Mutex
	busy    bool // a message is being processed: shutdown lets it finish
	closing bool
}

// interrupt asks the connection to end: at once when it is waiting for or
// reading a message, after the ACK when it is processing one.
func (c *conn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	if !c.busy {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// begin marks a message as being processed, unless the server is closing.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = !c.closing
	return c.busy
}

// end marks the message done and reports whether to go on.
func (c *conn) end() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	return !c.closing
}

var errTooLargeNack = &er7.Error{Offset: -1, Condition: er7.ApplicationError, Reason: "message exceeds the size limit"}

func (c *conn) serve(ctx context.Context) {
	defer c.srv.untrack(c)
	defer c.nc.Close()
	cfg, log := &c.srv.cfg, c.srv.log
	// Operators see every connection come and go, and the ACK codes sent
	// for each message (named by its log id, never by its content).
	tlsOn := cfg.TLS != nil
	log.Info("mllp connection opened", "remote", c.remote, "tls", tlsOn)
	messages, why := 0, "closed by the sender"
	defer func() {
		log.Info("mllp connection closed", "remote", c.remote, "tls", tlsOn, "messages", messages, "reason", why)
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(cfg.ReadTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("mllp TLS handshake failed", "remote", c.remote, "error", err.Error())
			why = "TLS handshake failed"
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	// Messages being processed finish even when ctx ends: their commit is
	// under way and the sender must get its ACK.
	work := context.WithoutCancel(ctx)
	fr := newFrameReader(c.nc, cfg.MaxMessage)
	var out []byte
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		if c.stopping() {
			why = "shutdown"
			return
		}
		if err := fr.waitStart(); err != nil {
			c.noteFraming(fr)
			why = c.ended(err, "waiting for a message")
			return
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		frame, err := fr.readFrame()
		c.noteFraming(fr)
		if err != nil && !errors.Is(err, errTooLarge) {
			why = c.ended(err, "reading a message")
			return
		}
		if !c.begin() {
			why = "shutdown"
			return
		}
		messages++
		var sent sentACKs
		if out, err = c.answer(work, frame, err, &sent, out[:0]); err != nil {
			why = "message not acknowledged"
			return
		}
		if len(out) > 0 {
			// Counted before the write: a sender holding its ACK must find
			// it in the counters (a failed write is counted all the same,
			// and its connection's end is logged).
			c.srv.count(&sent)
			_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if _, err := c.nc.Write(out); err != nil {
				why = c.ended(err, "writing an ACK")
				return
			}
		}
		if !c.end() {
			why = "shutdown"
			return
		}
	}
}

// answer hands a frame to the Ingester and appends to out the ACK frames
// to send, or returns the error for which nothing may be acknowledged.
// readErr is errTooLarge for a frame over the size limit, which is refused
// with a NACK instead.
func (c *conn) answer(ctx context.Context, frame []byte, readErr error, sent *sentACKs, out []byte) ([]byte, error) {
	log := c.srv.log
	if errors.Is(readErr, errTooLarge) {
		out = sent.frame(out, er7.Nack(frame, errTooLargeNack))
		log.Warn("mllp message over the size limit refused", "remote", c.remote, "limit", c.srv.cfg.MaxMessage, "ack", sent.String())
		return out, nil
	}
	start := time.Now()
	reply, err := c.srv.cfg.Ingester.HL7v2(ctx, bytes.Clone(frame), nil)
	if err != nil {
		// Not stored: no ACK, so that the sender keeps the message.
		log.Warn("mllp message not acknowledged; closing", "remote", c.remote, "status", outcome.KindOf(err).Status(), "error", outcome.Summary(err))
		return out, err
	}
	if reply.SendACK && reply.ACK != nil {
		out = sent.frame(out, reply.ACK)
	}
	if reply.SendAppACK && reply.AppACK != nil {
		out = sent.frame(out, reply.AppACK)
	}
	log.Info("mllp message", "remote", c.remote, "msg", reply.LogID, "ack", sent.String(),
		"resent", reply.Resent, "ms", time.Since(start).Milliseconds())
	return out, nil
}

// sentACKs are the MSA-1 codes of the ACKs answering one message (two in
// enhanced mode), counted once they are written.
type sentACKs struct {
	codes [2]er7.AckCode
	n     int
}

// frame appends ack framed to out and notes its code.
func (s *sentACKs) frame(out, ack []byte) []byte {
	if s.n < len(s.codes) {
		s.codes[s.n] = er7.CodeOf(ack)
		s.n++
	}
	return appendFrame(out, ack)
}

// String is the codes for the log: "AA", "CA,AA", or "none" when MSH-15
// and MSH-16 asked for no answer.
func (s *sentACKs) String() string {
	switch s.n {
	case 0:
		return "none"
	case 1:
		return string(s.codes[0])
	}
	return string(s.codes[0]) + "," + string(s.codes[1])
}

func (c *conn) stopping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// noteFraming logs bytes skipped outside frames and frames dropped.
func (c *conn) noteFraming(fr *frameReader) {
	if fr.junk > 0 || fr.dropped > 0 {
		c.srv.log.Warn("mllp framing error: data skipped", "remote", c.remote, "bytes_outside_frames", fr.junk, "frames_cut_short", fr.dropped)
		fr.junk, fr.dropped = 0, 0
	}
}

// ended says why a connection ends, for its closing log line.
func (c *conn) ended(err error, doing string) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "closed by the sender"
	case c.stopping() || errors.Is(err, net.ErrClosed):
		return "shutdown"
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out " + doing
	}
	return "failed " + doing + ": " + err.Error()
}
