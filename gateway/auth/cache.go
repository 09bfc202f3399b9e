package auth

import (
	"hash/maphash"
	"strings"
	"sync"
)

// hashTail is how many trailing bytes of a token are hashed for lookup.
const hashTail = 64

// cacheShards spreads the cache over independently locked maps so that
// concurrent requests with different tokens rarely meet on a lock.
const cacheShards = 64

// tokenCache remembers verified tokens until they expire, so that a token
// presented again skips the signature check (20-40 µs) and costs a hash and a
// map lookup.
//
// Entries are keyed by a seeded maphash of the token's last hashTail bytes,
// which are signature bytes and so as good as random; the entry keeps the raw
// token and a hit requires equality of the whole token. Hashing only the tail
// keeps a hit at a short hash, a map lookup and a memory compare; the hash
// decides nothing on its own (maphash is not collision-resistant, and only
// verified tokens are ever inserted). Keying by SHA-256 instead, which would
// spare keeping the tokens, costs about 4 µs per token on this hardware (no
// SHA extensions), many times the whole cached path. The raw tokens therefore
// stay in this package's memory until they expire, and go nowhere else.
type tokenCache struct {
	seed     maphash.Seed
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]cacheEntry
	_  [64]byte // keep shards on separate cache lines
}

type cacheEntry struct {
	raw string
	p   *Principal
	exp int64 // Unix nanoseconds; the entry is dead from this instant
}

// newTokenCache returns a cache holding about size tokens, or nil (no
// caching) when size <= 0.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	c := &tokenCache{seed: maphash.MakeSeed(), perShard: max(1, (size+cacheShards-1)/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(raw string) (*cacheShard, uint64) {
	h := maphash.String(c.seed, raw[max(0, len(raw)-hashTail):])
	return &c.shards[h%cacheShards], h
}

// get returns the principal cached for raw if it is still valid at now.
func (c *tokenCache) get(raw string, now int64) (*Principal, bool) {
	s, h := c.shard(raw)
	s.mu.RLock()
	e, ok := s.m[h]
	s.mu.RUnlock()
	if !ok || e.raw != raw {
		return nil, false
	}
	if now >= e.exp {
		s.remove(h, raw)
		return nil, false
	}
	return e.p, true
}

// put caches p for raw until exp. When the shard is full it first drops the
// expired entries, then, if none were, one arbitrary entry (map iteration
// order is random, so this is random eviction).
func (c *tokenCache) put(raw string, p *Principal, exp, now int64) {
	s, h := c.shard(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		s.evict(now)
	}
	// Clone: raw may share memory with a whole header or request buffer.
	s.m[h] = cacheEntry{raw: strings.Clone(raw), p: p, exp: exp}
}

func (s *cacheShard) evict(now int64) {
	n := len(s.m)
	for h, e := range s.m {
		if now >= e.exp {
			delete(s.m, h)
		}
	}
	if len(s.m) < n {
		return
	}
	for h := range s.m {
		delete(s.m, h)
		return
	}
}

func (s *cacheShard) remove(h uint64, raw string) {
	s.mu.Lock()
	if e, ok := s.m[h]; ok && e.raw == raw {
		delete(s.m, h)
	}
	s.mu.Unlock()
}

// len counts the cached entries, for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
