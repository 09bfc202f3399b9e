package auth

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCacheSkipsSignature proves a cached token is not re-verified: once the
// verifier has no keys left, only the cache can accept the token.
func TestCacheSkipsSignature(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	v := newTestVerifier(t, fixed(t0), 0)
	raw := es.sign(t, goodClaims(), es.kid)
	first, err := v.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	other := es.sign(t, with(goodClaims(), "jti", "tok-2"), es.kid)

	v.issuers[0].keys = nil // no key can check a signature any more
	second, err := v.Verify(raw)
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if second != first {
		t.Error("cached Verify returned a different principal")
	}
	if _, err := v.Verify(other); err == nil {
		t.Error("an uncached token was accepted without keys")
	}
	tampered := raw[:len(raw)-5] + flipChar(raw[len(raw)-5:], 0)
	if _, err := v.Verify(tampered); err == nil {
		t.Error("a tampered copy of a cached token was accepted")
	}
	// Same signature, so same cache key: only the full comparison stops it.
	parts := strings.Split(raw, ".")
	forged := parts[0] + "." + tamperedPayload(t, parts[1]) + "." + parts[2]
	if _, err := v.Verify(forged); err == nil {
		t.Error("a forged payload under a cached signature was accepted")
	}
}

func TestCacheDropsExpired(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	clk := &clock{now: t0}
	v := newTestVerifier(t, clk.Now, 0)
	raw := es.sign(t, with(goodClaims(), "exp", t0.Add(time.Minute).Unix()), es.kid)
	if _, err := v.Verify(raw); err != nil {
		t.Fatal(err)
	}
	if n := v.cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}

	// Past exp but within the leeway: the full check accepts it, the cache
	// drops it and does not take it back.
	clk.Add(time.Minute + time.Second)
	if _, err := v.Verify(raw); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Errorf("cache holds %d tokens after exp, want 0", n)
	}

	clk.Add(DefaultLeeway)
	_, err := v.Verify(raw)
	if err == nil {
		t.Fatal("expired token accepted")
	}
	checkRefusal(t, err, msgExpired, raw)
}

func TestCacheExpiredEntryRefused(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	clk := &clock{now: t0}
	v := newTestVerifier(t, clk.Now, 0)
	raw := es.sign(t, with(goodClaims(), "exp", t0.Add(time.Minute).Unix()), es.kid)
	if _, err := v.Verify(raw); err != nil {
		t.Fatal(err)
	}
	v.issuers[0].keys = nil // only the cache could accept it now
	clk.Add(2 * time.Minute)
	if _, err := v.Verify(raw); err == nil {
		t.Fatal("cached token accepted after exp")
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	ed := testKeys()[AlgEdDSA]
	clk := &clock{now: t0}
	v := newTestVerifier(t, clk.Now, 2*cacheShards)
	for i := range 20 * cacheShards {
		raw := ed.sign(t, with(goodClaims(), "jti", fmt.Sprint(i)), ed.kid)
		if _, err := v.Verify(raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 2*cacheShards {
		t.Errorf("cache holds %d tokens, bound is %d", n, 2*cacheShards)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	es := testKeys()[AlgES256]
	v := newTestVerifier(t, fixed(t0), -1)
	raw := es.sign(t, goodClaims(), es.kid)
	if _, err := v.Verify(raw); err != nil {
		t.Fatal(err)
	}
	v.issuers[0].keys = nil
	if _, err := v.Verify(raw); err == nil {
		t.Error("token accepted without keys or cache")
	}
}

// TestCacheConcurrent hammers one verifier from many goroutines with a mix
// of shared and distinct tokens; run it with -race.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	keys := testKeys()
	v := newTestVerifier(t, fixed(t0), 32)
	var toks []string
	for i := range 48 {
		s := keys[[]string{AlgES256, AlgEdDSA, AlgRS256}[i%3]]
		toks = append(toks, s.sign(t, with(goodClaims(), "jti", fmt.Sprint(i)), s.kid))
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 200 {
				raw := toks[(g+i)%len(toks)]
				p, err := v.Verify(raw)
				if err != nil {
					t.Error(err)
					return
				}
				if want := fmt.Sprint((g + i) % len(toks)); p.TokenID != want {
					t.Errorf("token %s verified as %s", want, p.TokenID)
					return
				}
			}
		})
	}
	wg.Wait()
}
