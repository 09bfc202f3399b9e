package auth

import (
	"fmt"
	"github.com/relais-health/relais/fhir/fhirtest"
	"runtime"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// callers is the number of concurrent goroutines in parallel benchmarks.
const callers = 64

func parallel64(b *testing.B) {
	b.SetParallelism(max(1, callers/runtime.GOMAXPROCS(0)))
}

// BenchmarkVerify measures Verify per algorithm: uncached (every call checks
// the signature) and cached (one token, shared by all goroutines), serial and
// with b.RunParallel over 64 goroutines, the load the HTTP benchmark puts on
// one verifier.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256, AlgEdDSA} {
		s := testKeys()[alg]
		raw := s.sign(b, goodClaims(), s.kid)
		for _, cached := range []bool{false, true} {
			size := -1
			if cached {
				size = 0
			}
			v := newTestVerifier(b, fixed(t0), size)
			name := fmt.Sprintf("%s/cached=%v", alg, cached)
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				defer reportCPU(b, fhirtest.CPUTime())
				for b.Loop() {
					if _, err := v.Verify(raw); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(name+"/parallel64", func(b *testing.B) {
				b.ReportAllocs()
				parallel64(b)
				defer reportCPU(b, fhirtest.CPUTime())
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.Verify(raw); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkVerifyCachedManyClients spreads parallel callers over 1,000
// distinct cached tokens, as many clients would.
func BenchmarkVerifyCachedManyClients(b *testing.B) {
	es := testKeys()[AlgES256]
	v := newTestVerifier(b, fixed(t0), 0)
	toks := make([]string, 1000)
	for i := range toks {
		toks[i] = es.sign(b, with(goodClaims(), "jti", fmt.Sprint(i)), es.kid)
		if _, err := v.Verify(toks[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	parallel64(b)
	b.ResetTimer()
	defer reportCPU(b, fhirtest.CPUTime())
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := v.Verify(toks[i%len(toks)]); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

func BenchmarkScopesAllows(b *testing.B) {
	ss := ParseScopes("openid fhirUser user/Task.rs user/CarePlan.read user/ServiceRequest.rs patient/*.r")
	for b.Loop() {
		if !ss.Allows("ServiceRequest", Search) {
			b.Fatal("denied")
		}
	}
}

func BenchmarkMint(b *testing.B) {
	k, err := LoadOrCreateDevKey(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := k.Mint(MintOptions{Scope: "system/*.cruds"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignatureOnly is the floor under uncached Verify: the bare
// signature check of the same token, without parsing or claims.
func BenchmarkSignatureOnly(b *testing.B) {
	for _, alg := range []string{AlgES256, AlgRS256, AlgEdDSA} {
		s := testKeys()[alg]
		raw := s.sign(b, goodClaims(), s.kid)
		i := strings.LastIndexByte(raw, '.')
		sig, err := jwt.NewParser().DecodeSegment(raw[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		pub := s.priv.Public()
		b.Run(alg, func(b *testing.B) {
			defer reportCPU(b, fhirtest.CPUTime())
			for b.Loop() {
				if err := s.method.Verify(raw[:i], sig, pub); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
