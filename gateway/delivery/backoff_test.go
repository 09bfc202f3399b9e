package delivery

import (
	"testing"
	"time"
)

// TestBackoffSchedule: with the defaults, the first retry comes within 2 s
// (1–2 s with its jitter), each later one waits up to twice as long, never
// more than 10 minutes apart, and an event keeps being retried for 72 h:
// about 440 attempts at the longest waits.
func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: Config{RetryBase: 2 * time.Second, RetryMax: 10 * time.Minute, GiveUp: DefaultGiveUp}}
	for i := 0; i < 200; i++ {
		if d := s.backoff(1); d < time.Second || d > 2*time.Second {
			t.Fatalf("first retry after %v, want 1–2 s", d)
		}
	}
	var prevMax time.Duration = 2 * time.Second
	for n := uint32(2); n < 20; n++ {
		max := min(prevMax*2, 10*time.Minute)
		for i := 0; i < 50; i++ {
			if d := s.backoff(n); d < max/2 || d > max {
				t.Fatalf("retry %d after %v, want %v–%v", n, d, max/2, max)
			}
		}
		prevMax = max
	}
	if d := s.backoff(1000); d > 10*time.Minute {
		t.Errorf("a late retry waits %v, more than 10 minutes", d)
	}
	// The clock an event's attempts run on, to its dead letter.
	start := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	at, attempts := start, uint32(0)
	for {
		attempts++
		next := at.Add(s.backoff(attempts))
		if next.Sub(start) > s.cfg.GiveUp {
			break
		}
		at = next
	}
	if total := at.Sub(start); total < 71*time.Hour || total > DefaultGiveUp {
		t.Errorf("the last attempt %v after the first, want just under 72 h", total)
	}
	if attempts < 400 || attempts > 900 {
		t.Errorf("%d attempts in 72 h", attempts)
	}
}
