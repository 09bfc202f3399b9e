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
	log.Debug("mllp connection", "remote", c.remote)
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(cfg.ReadTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			log.Warn("mllp TLS handshake failed", "remote", c.remote, "error", err.Error())
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
			return
		}
		if err := fr.waitStart(); err != nil {
			c.noteFraming(fr)
			c.ended(err, "waiting for a message")
			return
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(cfg.ReadTimeout))
		frame, err := fr.readFrame()
		c.noteFraming(fr)
		if err != nil && !errors.Is(err, errTooLarge) {
			c.ended(err, "reading a message")
			return
		}
		if !c.begin() {
			return
		}
		out = out[:0]
		if errors.Is(err, errTooLarge) {
			log.Warn("mllp message over the size limit refused", "remote", c.remote, "limit", cfg.MaxMessage)
			out = appendFrame(out, er7.Nack(frame, errTooLargeNack))
		} else {
			start := time.Now()
			reply, err := cfg.Ingester.HL7v2(work, bytes.Clone(frame), nil)
			if err != nil {
				// Not stored: no ACK, so that the sender keeps the message.
				log.Warn("mllp message not acknowledged; closing", "remote", c.remote, "status", outcome.KindOf(err).Status())
				return
			}
			log.Debug("mllp message", "remote", c.remote, "msg", reply.LogID, "ack", string(reply.Code),
				"resent", reply.Resent, "ms", time.Since(start).Milliseconds())
			if reply.SendACK && reply.ACK != nil {
				out = appendFrame(out, reply.ACK)
			}
			if reply.SendAppACK && reply.AppACK != nil {
				out = appendFrame(out, reply.AppACK)
			}
		}
		if len(out) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout))
			if _, err := c.nc.Write(out); err != nil {
				c.ended(err, "writing an ACK")
				return
			}
		}
		if !c.end() {
			return
		}
	}
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

// ended logs why a connection ends; a clean close or shutdown is not news.
func (c *conn) ended(err error, doing string) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.stopping():
		c.srv.log.Debug("mllp connection closed", "remote", c.remote)
	case errors.As(err, &ne) && ne.Timeout():
		c.srv.log.Info("mllp connection timed out", "remote", c.remote, "while", doing)
	default:
		c.srv.log.Info("mllp connection failed", "remote", c.remote, "while", doing, "error", err.Error())
	}
}
