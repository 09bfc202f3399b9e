package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/store"
)

// worker delivers one Subscription's events, one at a time, in order.
type worker struct {
	s    *Service
	id   string
	wake chan struct{}
	stop chan struct{}
	// lastSent is when something last went to the endpoint (heartbeats).
	lastSent time.Time
}

// worker returns the Subscription's worker, started on first use.
func (s *Service) worker(id string) *worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.workers[id]; ok {
		return w
	}
	w := &worker{s: s, id: id, wake: make(chan struct{}, 1), stop: make(chan struct{}), lastSent: s.cfg.Now()}
	if s.ctx.Err() != nil {
		return w // closing: a worker that never runs
	}
	s.workers[id] = w
	s.wg.Add(1)
	go w.run()
	return w
}

// poke tells the worker there may be work: an event being committed, or a
// Subscription changed.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// exit removes the worker; a later poke starts another.
func (w *worker) exit() {
	w.s.mu.Lock()
	if w.s.workers[w.id] == w {
		delete(w.s.workers, w.id)
	}
	w.s.mu.Unlock()
}

// run is the worker's loop. It is poked once the write of an event has
// committed (Follow), so a poke finds the event there; without pokes it
// looks again every Config.Poll, for what it was not told of.
func (w *worker) run() {
	defer w.s.wg.Done()
	defer w.exit()
	for {
		wait, done := w.step()
		if done {
			return
		}
		if wait < 0 { // something was done: look again at once
			continue
		}
		if wait == 0 {
			wait = w.s.cfg.Poll
		}
		t := time.NewTimer(wait)
		select {
		case <-w.s.ctx.Done():
			t.Stop()
			return
		case <-w.stop:
			t.Stop()
			return
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// step does the next thing the Subscription needs: a handshake, the
// attempt of its oldest pending event, or a heartbeat. It returns how long
// to wait before the next step (negative: none; zero: the idle wait), or
// done when the worker is no longer needed.
func (w *worker) step() (wait time.Duration, done bool) {
	s := w.s
	set, err := s.load()
	if err != nil {
		return w.failed("load Subscriptions", err), false
	}
	sub := set.byID[w.id]
	if sub == nil {
		return 0, true // deleted: Follow cancelled its events
	}
	if sub.status == requestedStatus {
		if err := s.handshake(s.ctx, sub); err != nil {
			return w.failed("handshake", err), false
		}
		return -1, false
	}
	if !sub.matching() {
		return 0, true
	}
	e, ok, err := s.st.OutboxHead(w.id)
	if err != nil {
		return w.failed("read outbox", err), false
	}
	now := s.cfg.Now()
	if !ok {
		if sub.heartbeat > 0 {
			if due := w.lastSent.Add(sub.heartbeat); !now.Before(due) {
				w.heartbeat(sub)
				return sub.heartbeat, false
			} else if due.Sub(now) < s.cfg.Poll {
				return due.Sub(now), false
			}
		}
		return 0, false
	}
	if e.Next.After(now) {
		return e.Next.Sub(now), false
	}
	if err := s.attempt(s.ctx, sub, e); err != nil {
		if outcome.KindOf(err) == outcome.Conflict {
			return -1, false // cancelled meanwhile (the Subscription was deleted or set off)
		}
		return w.failed("attempt", err), false
	}
	w.lastSent = s.cfg.Now()
	return -1, false
}

// failed logs a failure of the worker's own (not the endpoint's) and
// waits a poll period before trying again.
func (w *worker) failed(what string, err error) time.Duration {
	if w.s.ctx.Err() == nil {
		w.s.log.Error("delivery: "+what, "subscription", w.id, "err", err)
	}
	return w.s.cfg.Poll
}

// heartbeat sends a heartbeat notification; a failure is only logged: the
// next event's attempts tell whether the endpoint is down.
func (w *worker) heartbeat(sub *subscription) {
	s := w.s
	c, err := s.st.OutboxCounts(sub.id)
	if err != nil {
		w.failed("heartbeat", err)
		return
	}
	n := &notification{kind: typeHeartbeat, sub: sub, status: sub.status, since: c.Last}
	w.lastSent = s.cfg.Now()
	if err := s.post(s.ctx, sub, n); err != nil {
		s.log.Warn("delivery: heartbeat failed", "subscription", sub.id, "err", err)
	}
}

// attempt tries event e once: the consent decision, then the POST, and
// records the outcome.
func (s *Service) attempt(ctx context.Context, sub *subscription, e store.Event) error {
	d, err := s.decide(ctx, sub, e)
	if err != nil {
		// Nothing was decided, so nothing is sent: the attempt fails and is
		// retried as if the endpoint had.
		return s.fail(ctx, sub, e, "", "consent decision failed", false)
	}
	if !d.permit {
		_, err := s.st.RecordAttempt(ctx, sub.id, e.Number, store.Attempt{Time: s.cfg.Now(), State: store.EventWithheld, Decision: d.id})
		return err
	}
	c, err := s.st.OutboxCounts(sub.id)
	if err != nil {
		return err
	}
	n := &notification{kind: typeEvent, sub: sub, status: sub.status, since: c.Last, events: []notified{{
		number: e.Number, time: e.Time, typ: e.Type, id: e.ID, version: e.Version, res: d.res, method: d.method,
		created: d.created,
	}}}
	if err := s.post(ctx, sub, n); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: not the endpoint's failure
		}
		var ee *endpointError
		return s.fail(ctx, sub, e, d.id, err.Error(), errors.As(err, &ee))
	}
	if err := s.auditPush(ctx, sub, e, &d); err != nil {
		// Not recorded as delivered: sent again, at least once.
		return err
	}
	if _, err := s.st.RecordAttempt(ctx, sub.id, e.Number, store.Attempt{Time: s.cfg.Now(), State: store.EventDelivered, Decision: d.id}); err != nil {
		return err
	}
	if sub.status != statusActive {
		return s.setStatus(ctx, sub.id, statusActive, "")
	}
	return nil
}

// fail records a failed attempt: retried after the backoff, or a dead
// letter once that would pass Config.GiveUp, or at once when final (the
// endpoint is refused by policy).
func (s *Service) fail(ctx context.Context, sub *subscription, e store.Event, decision, reason string, final bool) error {
	now := s.cfg.Now()
	next := now.Add(s.backoff(e.Attempts + 1))
	a := store.Attempt{Time: now, State: store.EventPending, Next: next, Decision: decision, Error: reason}
	if final || next.Sub(e.Since) > s.cfg.GiveUp {
		a.State, a.Next = store.EventDead, time.Time{}
	}
	if _, err := s.st.RecordAttempt(ctx, sub.id, e.Number, a); err != nil {
		return err
	}
	if a.State != store.EventDead {
		return nil
	}
	s.log.Warn("delivery: dead letter", "subscription", sub.id, "event", e.Number, "err", reason)
	msg := fmt.Sprintf("event %d undelivered after %d attempts: %s", e.Number, e.Attempts+1, reason)
	if err := s.setStatus(ctx, sub.id, statusError, msg); err != nil {
		return err
	}
	if e.Type == "Task" {
		return s.flagTask(ctx, e.ID)
	}
	return nil
}

// backoff is the wait before attempt n+1 (n ≥ 1 attempts made): RetryBase
// doubled n-1 times, at most RetryMax, less up to half of it at random, so
// that the retries of events that failed together spread out.
func (s *Service) backoff(n uint32) time.Duration {
	d := s.cfg.RetryBase
	for i := uint32(1); i < n && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RetryMax)
	return d - time.Duration(rand.Int64N(int64(d/2)+1))
}

// errStatus is an endpoint's answer other than 2xx.
var errStatus = errors.New("endpoint answered")

// SignatureHeader carries the notification's HMAC-SHA256 (RFC 2104) under
// the Subscription's secret (ExtSecret): "sha256=" and the lower-case hex
// of the MAC of the exact body bytes.
const SignatureHeader = "X-Relais-Signature"

// Sign is the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// post sends n to sub's endpoint; an error says why it was not accepted,
// without anything of the body (it may hold patient data) or of the URL
// (it may hold the recipient's token). An *endpointError is a refusal of
// the endpoint by policy, which no retry can change.
func (s *Service) post(ctx context.Context, sub *subscription, n *notification) error {
	if err := s.cfg.Endpoints.check(sub.endpoint); err != nil {
		return err
	}
	body, err := s.cfg.Codec.Encode(bundle(n, s.cfg.BaseURL, s.cfg.Now()))
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.endpoint, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad endpoint URL")
	}
	if req.URL.Scheme == "http" {
		req = req.WithContext(context.WithValue(ctx, plainKey{}, true))
	}
	for _, h := range sub.headers {
		req.Header.Add(h[0], h[1])
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if sub.secret != "" {
		req.Header.Set(SignatureHeader, Sign(sub.secret, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ee *endpointError
		if errors.As(err, &ee) {
			return ee
		}
		return fmt.Errorf("no answer from the endpoint (%s)", netKind(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w HTTP %d", errStatus, resp.StatusCode)
	}
	return nil
}

// netKind names a transport error without its text, which may echo the
// URL (and so whatever a recipient put in it).
func netKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "connection failed"
}

// handshake sends the handshake of a requested Subscription (backport IG,
// "Handshake"): a 2xx makes it active, anything else error with the
// reason. A Subscription delivery cannot serve goes to error at once.
func (s *Service) handshake(ctx context.Context, sub *subscription) error {
	if sub.invalid != "" {
		return s.setStatus(ctx, sub.id, statusError, sub.invalid)
	}
	err := s.post(ctx, sub, &notification{kind: typeHandshake, sub: sub, status: sub.status})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return s.setStatus(ctx, sub.id, statusError, "handshake failed: "+err.Error())
	}
	return s.setStatus(ctx, sub.id, statusActive, "")
}
