package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	bolt "go.etcd.io/bbolt"

	"github.com/relais-health/relais/fhir/category"
	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/outcome"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/demo"
	"github.com/relais-health/relais/gateway/server"
	"github.com/relais-health/relais/mappings/terminology"
)

// The loopback benchmarks drive a real HTTP server over TCP with 64
// keep-alive connections (RunParallel with 32 goroutines per CPU on this
// 2-CPU machine), client and server in one process. The bare benchmark is
// the ceiling the filtered reads are compared with: gorilla/mux serving
// one bbolt value, nothing else. RELAIS_BENCH_CPUPROFILE=FILE writes a
// CPU profile of the measured part of the sub-benchmarks whose name
// contains RELAIS_BENCH_CASE (every one when unset), the last one to run
// winning: `go test -cpuprofile` would mix in the ceiling and the set-up.

const conns = 64

func loopbackClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

// throughput is what hammer measured: requests per wall-clock second, and
// the process's CPU time per request (client included), which other work
// on a shared machine does not inflate.
type throughput struct {
	rate   float64 // req/s
	cpuReq float64 // CPU µs per request
}

// hammer GETs url from conns goroutines and reports requests/s and CPU
// µs per request, which it also returns (for ratios between
// sub-benchmarks of one run).
func hammer(b *testing.B, url, authz string) throughput {
	c := loopbackClient()
	var failures atomic.Int64
	b.SetParallelism(max(1, conns/ncpu()))
	b.ResetTimer()
	if f := os.Getenv("RELAIS_BENCH_CPUPROFILE"); f != "" && strings.Contains(b.Name(), os.Getenv("RELAIS_BENCH_CASE")) {
		pf, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			b.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	cpu0 := fhirtest.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		for pb.Next() {
			res, err := c.Do(req)
			if err != nil {
				failures.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				failures.Add(1)
			}
		}
	})
	b.StopTimer()
	cpu := fhirtest.CPUTime() - cpu0
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d failed requests", n)
	}
	t := throughput{rate: float64(b.N) / b.Elapsed().Seconds(), cpuReq: float64(cpu.Microseconds()) / float64(b.N)}
	b.ReportMetric(t.rate, "req/s")
	b.ReportMetric(t.cpuReq, "cpu-µs/req")
	return t
}

func ncpu() int { return runtime.GOMAXPROCS(0) }

// serverRuntime runs a loopback benchmark with the garbage collector
// target relais serve runs with (--gc-percent), restored afterwards.
func serverRuntime(b *testing.B) {
	old := debug.SetGCPercent(server.DefaultGCPercent)
	b.Cleanup(func() { debug.SetGCPercent(old) })
}

// BenchmarkLoopbackBareMuxBolt is the ceiling: a bare mux handler writing a
// value read from bbolt.
func BenchmarkLoopbackBareMuxBolt(b *testing.B) {
	serverRuntime(b)
	hammer(b, bareMuxBolt(b), "")
}

// bareMuxBolt serves the ceiling until the benchmark ends and returns the
// URL to read.
func bareMuxBolt(b *testing.B) string {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "bare.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("x", 700))
	_ = db.Update(func(tx *bolt.Tx) error {
		bk, _ := tx.CreateBucket([]byte("r"))
		return bk.Put([]byte("Patient/1"), value)
	})
	r := mux.NewRouter()
	r.HandleFunc("/fhir/{type}/{id}", func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		var out []byte
		_ = db.View(func(tx *bolt.Tx) error {
			out = append(out, tx.Bucket([]byte("r")).Get([]byte(v["type"]+"/"+v["id"]))...)
			return nil
		})
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(out)
	})
	srv := httptest.NewServer(r)
	b.Cleanup(func() { srv.Close(); db.Close() })
	return srv.URL + "/fhir/Patient/1"
}

// BenchmarkLoopbackRead is an authenticated FHIR read by id through the
// whole API: routing, token check, scope check, store read, response.
func BenchmarkLoopbackRead(b *testing.B) {
	serverRuntime(b)
	e := newEnv(b, 0)
	e.do("PUT", "/fhir/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"family":"Dupont","given":["Jeanne"]}],"birthDate":"1942-03-15","address":[{"city":"Lille","postalCode":"59000"}]}`)
	hammer(b, e.url+"/fhir/Patient/p1", "Bearer "+e.token)
}

// BenchmarkLoopbackReadFiltered reads a clinical resource as community
// professionals do: a user scope whose fhirUser the consent engine
// resolves, so every read goes through gateway/consent and records its
// decision before the answer. The database is the demo directory and
// patient, her CareTeam and Consents, in a store grown by thousands of
// other patients' stays (growFilteredWorld). The sub-benchmarks run in one
// process on the same machine state: the ceiling (BareMuxBolt's server),
// the same read under a system scope (no consent), then the GP of the
// care team (base policy) and the home-help service (explicit permit),
// each reporting its ratio to the ceiling measured just before, in
// requests per second and in CPU time per request.
func BenchmarkLoopbackReadFiltered(b *testing.B) {
	serverRuntime(b)
	ceiling := bareMuxBolt(b)
	e := newEnvSync(b) // relais serve commits with fsync: so do the decisions
	growFilteredWorld(b, e, filteredOthers)
	checkFilteredWorld(b, e)
	obs := e.url + "/fhir/Observation/" + benchBNP
	cases := []struct {
		name, url, authz string
		consent          bool
	}{
		{"ceiling", ceiling, "", false},
		{"system", obs, "Bearer " + e.token, false},
		{"gp", obs, e.practitioner(demo.GPRole), true},
		{"home-help", e.url + "/fhir/Observation/" + benchGIR, e.practitioner(benchHomeHelp), true},
	}
	var top throughput // the ceiling's
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			before := e.cfg.Consent.Stats().Permits
			t := hammer(b, c.url, c.authz)
			if c.name == "ceiling" {
				top = t
				return
			}
			// ratio is the requirement's; cpu-ratio is what it would be
			// on two cores of its own (CPU per request, inverted).
			b.ReportMetric(t.rate/top.rate, "ratio")
			b.ReportMetric(top.cpuReq/t.cpuReq, "cpu-ratio")
			if permits := e.cfg.Consent.Stats().Permits - before; c.consent && permits < uint64(b.N) {
				b.Fatalf("%d permits recorded for %d reads", permits, b.N)
			}
		})
	}
}

// Fixtures of the filtered reads, beside gateway/demo's.
const (
	benchBNP       = "demo-bnp" // NT-proBNP result: CLIN
	benchGIR       = "demo-gir" // AGGIR assessment: FUNC
	benchCondition = "demo-hf"  // heart failure: CLIN
	benchHomeHelp  = "PractitionerRole/demo-home-help-role"
	benchPhysio    = "PractitionerRole/demo-physio-role"
	filteredOthers = 2000 // other patients' stays in the grown store
)

// practitioner is the Authorization of a professional's client: read and
// search on every type, as fhirUser.
func (e *env) practitioner(fhirUser string) string {
	return "Bearer " + e.mint("user/*.rs", fhirUser)
}

// growFilteredWorld stores the demo directory and patient (a GP, nurse and
// physiotherapist in her CareTeam, a home-help service outside it), her
// discharge data, an objection to the physiotherapist and an OPTIN permit
// for the home-help service; then others stays of other patients, each a
// real corpus discharge (ms-ADT-A03-01, 28 resources) made distinct, and
// for every fourth of them a CareTeam and an objection, so that the
// indexes the consent engine searches (CareTeam and Consent by patient,
// PractitionerRole) are those of a grown database.
func growFilteredWorld(b *testing.B, e *env, others int) {
	b.Helper()
	ctx := context.Background()
	if err := demo.Load(ctx, e.store); err != nil {
		b.Fatal(err)
	}
	patient := "Patient/" + demo.PatientID
	put := func(path, body string) {
		b.Helper()
		if r := e.do("PUT", path, body); r.status != 201 && r.status != 200 {
			b.Fatalf("PUT %s = %d %s", path, r.status, r.body)
		}
	}
	put("/fhir/Condition/"+benchCondition, `{"resourceType":"Condition","id":"`+benchCondition+`","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"code":{"coding":[{"system":"http://snomed.info/sct","code":"84114007","display":"Heart failure"}]},"subject":{"reference":"`+patient+`"},"onsetDateTime":"2026-02-20"}`)
	put("/fhir/Observation/"+benchBNP, `{"resourceType":"Observation","id":"`+benchBNP+`","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"33762-6","display":"NT-proBNP"}]},"subject":{"reference":"`+patient+`"},"effectiveDateTime":"2026-02-27T08:30:00+01:00","valueQuantity":{"value":1850,"unit":"pg/mL","system":"http://unitsofmeasure.org","code":"pg/mL"}}`)
	put("/fhir/Observation/"+benchGIR, `{"resourceType":"Observation","id":"`+benchGIR+`","meta":{"security":[{"system":"`+category.System+`","code":"FUNC"}]},"status":"final","code":{"coding":[{"system":"`+terminology.TAASIP+`","code":"MED-346","display":"Perte d'autonomie"}]},"subject":{"reference":"`+patient+`"},"effectiveDateTime":"2026-02-26","valueCodeableConcept":{"coding":[{"system":"`+terminology.TAASIP+`","code":"MED-342","display":"GIR-4"}]}}`)
	put("/fhir/Consent/demo-objection", benchConsent("demo-objection", patient, "OPTOUT", benchPhysio, ""))
	put("/fhir/Consent/demo-home-help", benchConsent("demo-home-help", patient, "OPTIN", benchHomeHelp, "FUNC"))

	// The stays come in as a hospital feed sends them, from a few
	// connections at once.
	msg := loadCorpusA03(b)
	authz := func([]string) error { return nil }
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int(next.Add(1) - 1); n < others; n = int(next.Add(1) - 1) {
				// A busy answer is the queue's backpressure: a sender
				// waits and sends again, as an MLLP sender does on AE.
				_, err := e.cfg.Ingester.HL7v2(ctx, msg(n), authz)
				for outcome.KindOf(err) == outcome.Busy {
					time.Sleep(10 * time.Millisecond)
					_, err = e.cfg.Ingester.HL7v2(ctx, msg(n), authz)
				}
				if err != nil {
					errs <- fmt.Errorf("corpus message %d: %w", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	// Every message applied before the next writes: on a loaded machine
	// the backlog can outlast the time a write waits for it.
	e.cfg.Ingester.Sync()
	var entries []store.TxEntry
	for n := 0; n < others; n += 4 {
		other := fmt.Sprintf("Patient/bench-%d", n)
		for _, js := range []string{
			fmt.Sprintf(`{"resourceType":"Patient","id":"bench-%d","generalPractitioner":[{"reference":"%s"}]}`, n, demo.GPRole),
			fmt.Sprintf(`{"resourceType":"CareTeam","id":"bench-%d","status":"active","subject":{"reference":"%s"},"participant":[{"member":{"reference":"%s"}},{"member":{"reference":"%s"}}]}`, n, other, demo.GPRole, demo.NurseRole),
			benchConsent(fmt.Sprintf("bench-%d", n), other, "OPTOUT", benchPhysio, ""),
		} {
			m, err := testCodec.Decode([]byte(js))
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(m), ID: resource.ID(m), Resource: m})
		}
		if len(entries) >= 300 || n+4 >= others {
			if _, err := e.store.Transaction(ctx, entries); err != nil {
				b.Fatal(err)
			}
			entries = entries[:0]
		}
	}
	// Acknowledged messages are applied in the background; a snapshot
	// waits for them, so that none is applied while the reads are timed.
	for {
		err := e.store.View(func(*store.Snapshot) error { return nil })
		if err == nil {
			break
		}
		if outcome.KindOf(err) != outcome.Busy {
			b.Fatal(err)
		}
	}
}

// benchConsent is a patient's Consent about one actor: an objection
// (OPTOUT) or a permit (OPTIN) for the categories class names ("" none).
func benchConsent(id, patient, policy, actor, class string) string {
	provision := `{"actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"` + actor + `"}}]`
	if class != "" {
		provision += `,"class":[{"system":"` + category.System + `","code":"` + class + `"}]`
	}
	return `{"resourceType":"Consent","id":"` + id + `","status":"active",` +
		`"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],` +
		`"patient":{"reference":"` + patient + `"},"dateTime":"2026-02-27",` +
		`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"` + policy + `"}]},` +
		`"provision":` + provision + `}}`
}

// loadCorpusA03 returns the maker of distinct copies of the corpus
// discharge: copy n differs only in its control ID (MSH-10), the patient's
// identifier (PID-3.1) and the visit number (PV1-19.1), each suffixed
// "-n", so that every copy is a new patient and stay.
func loadCorpusA03(b *testing.B) func(n int) []byte {
	data, err := os.ReadFile("../../../shared/corpus/hl7v2/ms-ADT-A03-01.hl7")
	if err != nil {
		b.Fatal(err)
	}
	data = bytes.ReplaceAll(bytes.TrimRight(data, "\r\n"), []byte("\n"), []byte("\r"))
	edits := []string{"|MSG00001|", "|PATID1234^", "|40007716^"}
	for _, ed := range edits {
		if c := bytes.Count(data, []byte(ed)); c != 1 {
			b.Fatalf("corpus A03: %q occurs %d times, want once", ed, c)
		}
	}
	return func(n int) []byte {
		out := data
		for _, ed := range edits {
			end := len(ed) - 1
			out = bytes.Replace(out, []byte(ed), []byte(fmt.Sprintf("%s-%d%s", ed[:end], n, ed[end:])), 1)
		}
		return append(out, '\r')
	}
}

// checkFilteredWorld asserts what makes the filtered reads realistic: each
// permitted read goes through consent and names its decision, and the
// Consents do decide (the objection hides, the permit is limited to what
// it names).
func checkFilteredWorld(b *testing.B, e *env) {
	b.Helper()
	for _, c := range []struct {
		who, id string
		status  int
	}{
		{demo.GPRole, benchBNP, 200},
		{demo.GPRole, benchCondition, 200},
		{benchHomeHelp, benchGIR, 200},
		{benchHomeHelp, benchBNP, 404}, // CLIN is not in the permit
		{benchPhysio, benchBNP, 404},   // the patient objected
		{demo.NurseRole, benchGIR, 200},
	} {
		typ := "Observation"
		if c.id == benchCondition {
			typ = "Condition"
		}
		r := e.do("GET", "/fhir/"+typ+"/"+c.id, "", "Authorization", e.practitioner(c.who))
		if r.status != c.status || r.header.Get("X-Consent-Decision") == "" {
			b.Fatalf("%s reads %s/%s: %d, decision %q; want %d and a decision", c.who, typ, c.id, r.status, r.header.Get("X-Consent-Decision"), c.status)
		}
	}
}

// BenchmarkLoopbackCreate5KB creates 5 KB CarePlans from 16 concurrent
// clients with fsync on.
func BenchmarkLoopbackCreate5KB(b *testing.B) {
	serverRuntime(b)
	e := newEnvSync(b)
	body := carePlanJSON()
	c := loopbackClient()
	var failures atomic.Int64
	b.SetParallelism(max(1, 16/ncpu()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", e.url+"/fhir/CarePlan", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.token)
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Prefer", "return=minimal")
			res, err := c.Do(req)
			if err != nil || res.StatusCode != 201 {
				failures.Add(1)
			}
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	})
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d failed creates", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	st := e.store.Stats()
	b.ReportMetric(float64(st.Writes)/float64(max(1, st.Commits)), "writes/commit")
}

func carePlanJSON() string {
	var acts []string
	for i := 0; i < 24; i++ {
		acts = append(acts, fmt.Sprintf(`{"detail":{"kind":"ServiceRequest","code":{"coding":[{"system":"http://snomed.info/sct","code":"2290080%02d","display":"Home nursing visit number %d"}]},"status":"scheduled","description":"Wound care and anticoagulant check, visit %d"}}`, i, i, i))
	}
	return `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p1"},"activity":[` + strings.Join(acts, ",") + `]}`
}

// BenchmarkLoopbackSearch20of100k searches 20 of 100,000 stored
// Observations over HTTP, one request at a time, and reports latency
// percentiles.
func BenchmarkLoopbackSearch20of100k(b *testing.B) {
	serverRuntime(b)
	e := newEnv(b, 0)
	fhirtest.LoadObservations(b, e.store, 100_000)
	c := loopbackClient()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequestWithContext(context.Background(), "GET",
			fmt.Sprintf("%s/fhir/Observation?patient=p%d&_sort=date", e.url, i%5000), nil)
		req.Header.Set("Authorization", "Bearer "+e.token)
		t0 := time.Now()
		res, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 || !strings.Contains(string(body), `"total":20`) {
			b.Fatalf("search = %d %.200s", res.StatusCode, body)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[int(0.99*float64(len(lat)-1))].Microseconds()), "p99-µs")
}
