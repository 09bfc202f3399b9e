package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/store"
)

// TestNoFreezeWhileGrowing reproduces what froze the gateway: bbolt grows
// its memory map by waiting for every open read transaction, and a read
// transaction that opened a second one (a consent-filtered read resolving
// the patient's care team and Consents) then waited for the writer in
// turn, for good. Here the map starts at 32 KiB, so that writers of 200 KB
// Observations remap it a dozen times per round while a practitioner's
// filtered searches (with _include and _revinclude), reads, vreads and
// histories run beside system reads. Before the fix, about one round in
// ten froze. A freeze is no request answered for stall (slowness, as under
// the race detector, is not one); it dumps the goroutines and stops the
// test binary (its cleanup would wait for the stuck requests for ever).
func TestNoFreezeWhileGrowing(t *testing.T) {
	t.Parallel()
	rounds := 8
	if testing.Short() || raceEnabled {
		rounds = 2
	}
	for round := range rounds {
		served := growWhileReading(t)
		if served == 0 {
			t.Fatalf("round %d: no read ran beside the writes", round)
		}
		t.Logf("round %d: %d reads served during the writes", round, served)
	}
}

// stall is how long no request may be answered before the store counts as
// frozen.
const stall = 30 * time.Second

// growWhileReading runs one round on a fresh store and returns how many
// reads were served.
func growWhileReading(t *testing.T) int64 {
	e := withConsentData(t, newEnvOpts(t, 64<<20, store.Options{Codec: testCodec, NoSync: true, InitialMmapSize: 32 << 10}))
	nurse := e.as("PractitionerRole/nurse")
	// Random text, so that the store's compression keeps it 200 KB.
	noise := make([]byte, 150<<10)
	rand.Read(noise)
	big := base64.StdEncoding.EncodeToString(noise)
	const writes = 120
	reads := []string{
		"/fhir/Observation?patient=p1&_count=3&_include=Observation:subject",
		"/fhir/Observation?subject=Patient/p1&_count=2&_revinclude=Provenance:target",
		"/fhir/Observation/o-clin",
		"/fhir/Observation/o-clin/_history",
		"/fhir/Observation/o-clin/_history/1",
		"/fhir/Patient/p1",
		"/fhir/CareTeam?patient=p1",
		"/fhir/_history?_count=5",
	}
	client := &http.Client{Timeout: 2 * stall}
	send := func(method, path, authz, body string) (int, error) {
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", authz)
		if body != "" {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		_, err = io.Copy(io.Discard, res.Body)
		return res.StatusCode, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var readers, writers sync.WaitGroup
	var served, answered atomic.Int64
	errs := make(chan error, 64)
	for g := range 16 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := g; ctx.Err() == nil; i++ {
				authz := nurse
				if i%3 == 0 {
					authz = "Bearer " + e.token
				}
				path := reads[i%len(reads)]
				if code, err := send("GET", path, authz, ""); err != nil || code >= 500 {
					errs <- fmt.Errorf("GET %s: %d %v", path, code, err)
					return
				}
				served.Add(1)
				answered.Add(1)
			}
		}()
	}
	for g := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := g; i < writes; i += 2 {
				body := fmt.Sprintf(`{"resourceType":"Observation","id":"big-%d","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"valueString":"%s"}`, i, big)
				path := fmt.Sprintf("/fhir/Observation/big-%d", i)
				if code, err := send("PUT", path, "Bearer "+e.token, body); err != nil || code != 201 {
					errs <- fmt.Errorf("PUT %s: %d %v", path, code, err)
					return
				}
				answered.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	go func() { writers.Wait(); cancel(); readers.Wait(); close(finished) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := answered.Load(), time.Now()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-tick.C:
			if n := answered.Load(); n != last {
				last, lastAt = n, time.Now()
			} else if time.Since(lastAt) > stall {
				frozen(fmt.Sprintf("no request answered for %s", stall))
			}
		}
	}
	select {
	case err := <-errs:
		// A request that timed out is a freeze too.
		frozen(err.Error())
	default:
	}
	if st := e.store.Stats(); st.FileSize < writes*(200<<10) {
		t.Fatalf("file is %d bytes: the writers did not grow it through the remaps", st.FileSize)
	}
	return served.Load()
}

// frozen dumps every goroutine and exits: a panic would run the test's
// cleanups, which wait for the stuck requests.
func frozen(why string) {
	_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	fmt.Fprintln(os.Stderr, "FAIL: TestNoFreezeWhileGrowing: store froze:", why)
	os.Exit(1)
}
