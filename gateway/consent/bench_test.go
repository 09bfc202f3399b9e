package consent

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	cpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/consent_go_proto"

	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
)

// fiveNested are five Consents of Patient/p1, each nested three levels
// below its root, touching the actors and data of the benchmarks.
func fiveNested() []string {
	atc := func(code string) string {
		return `"code":[{"coding":[{"system":"http://www.whocc.no/atc","code":"` + code + `"}]}]`
	}
	return []string{
		c("b1", "OPTOUT", actor(physio)+`,"provision":[{"purpose":[{"code":"TREAT"}],"provision":[{`+catClass("MED")+`,"provision":[{`+atc("N02BE01")+`}]}]}]`),
		c("b2", "OPTIN", actor(sw)+`,"provision":[{`+catClass("CLIN")+`,"provision":[{`+typeClass("Observation")+`,"provision":[{"dataPeriod":{"end":"2020-01-01"}}]}]}]`),
		c("b3", "OPTOUT", psyLabel+`,"provision":[{`+actor("CareTeam/ct1")+`,"provision":[{"purpose":[{"code":"HRESCH"}],"provision":[{`+actor(nurse)+`}]}]}]`),
		c("b4", "OPTOUT", actor(cm)+`,"provision":[{`+catClass("FUNC")+`,"provision":[{"dataPeriod":{"start":"2026-01-01"},"provision":[{`+typeClass("QuestionnaireResponse")+`}]}]}]`),
		c("b5", "OPTIN", actor("CareTeam/ct1")+","+catClass("SOC")+`,"provision":[{`+actor(be)+`,"provision":[{`+typeClass("Task")+`,"provision":[{"period":{"end":"2025-01-01"}}]}]}]`),
	}
}

func benchEngine(b *testing.B) *Engine {
	m := world()
	var cs []*cpb.Consent
	for _, js := range fiveNested() {
		cs = append(cs, parseConsent(b, js))
	}
	m.set("Patient/p1", cs...)
	return newEngine(b, m, testNow)
}

// BenchmarkDecide is one decision for a patient with five Consents nested
// three levels deep, in-process (in-memory facts, compiled Consents
// cached and revalidated). It reports the median and 99th percentile of
// single decisions besides the mean.
func BenchmarkDecide(b *testing.B) {
	for _, bc := range []struct {
		name  string
		actor string
		res   ResourceFacts
	}{
		{"nurse-observation", nurse, obs},
		{"nurse-psy", nurse, psy},
		{"sw-observation", sw, obs},
		{"physio-paracetamol", physio, para},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEngine(b)
			req := Request{Patient: "Patient/p1", Actor: bc.actor, Resource: bc.res}
			benchDecisions(b, func() {
				if _, err := e.Decide(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// benchDecisions runs fn b.N times, timing each call for percentiles.
func benchDecisions(b *testing.B, fn func()) {
	b.ReportAllocs()
	samples := make([]time.Duration, 0, min(b.N, 1<<20))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		fn()
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(t0))
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	if n := len(samples); n > 0 {
		b.ReportMetric(float64(samples[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(samples[n*99/100].Nanoseconds()), "p99-ns")
	}
}

// BenchmarkDecideStore is the same decision with the facts read from the
// bbolt store on every call (actor, care team, Consent stamp).
func BenchmarkDecideStore(b *testing.B) {
	st := openStore(b)
	storeWorld(b, st, 0)
	for _, js := range fiveNested() {
		put(b, st, js)
	}
	e := storeEngine(b, st, nil)
	req := Request{Patient: "Patient/p1", Actor: "PractitionerRole/nurse-role", Resource: obs}
	benchDecisions(b, func() {
		if _, err := e.Decide(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSearchFilter compares a search of 1,000 Observations of one
// patient with and without the consent filter; the filtered/unfiltered
// ratio is the figure the search path must keep under 1.5,
// filter-ns/resource the cost the filter adds per resource. It runs two
// searches: "patient" is the one a clinician's software sends
// (Observation?patient=Patient/p1: index scan, then each resource's
// current pointer), "type" every Observation (a scan of the current
// pointers alone, the cheapest search there is, so the filter's share is
// the largest).
//
// The requester is the nurse's PractitionerRole, a member of the patient's
// care team CareTeam/ct1, so the base policy permits. The patient has the
// five nested Consents of fiveNested; for this actor only b3 applies: its
// root denies PSY-labelled data, its first exception permits it again to
// members of CareTeam/ct1 (the deny below that one is for purpose HRESCH,
// not this request's). The others name other actors. One Observation in
// five is labelled PSY, all are labelled CLIN by category. So the filter
// must read every resource's patient and _security labels and walk b3 for
// each label set; it permits all 1,000, and both searches (the same query)
// must return all 1,000.
func BenchmarkSearchFilter(b *testing.B) {
	const n = 1000
	st := openStore(b)
	storeWorld(b, st, n)
	for _, js := range fiveNested() {
		put(b, st, js)
	}
	e := storeEngine(b, st, nil)
	byPatient, err := search.Parse("Observation", url.Values{"patient": {"Patient/p1"}}, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		q    *search.Query
	}{{"patient", byPatient}, {"type", &search.Query{Type: "Observation"}}} {
		b.Run(bc.name, func(b *testing.B) { benchSearchFilter(b, st, e, bc.q, n) })
	}
}

func benchSearchFilter(b *testing.B, st *store.Store, e *Engine, q *search.Query, n int) {
	search := func(filter store.Filter, want int) {
		h, err := st.Search(q, filter)
		if err != nil || len(h) != want {
			b.Fatal(err, len(h), want)
		}
	}
	var plain, filtered time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		search(nil, n)
		t1 := time.Now()
		f := e.NewFilter(context.Background(), Request{Actor: "PractitionerRole/nurse-role"})
		search(f.Allow, n)
		if f.Err() != nil {
			b.Fatal(f.Err())
		}
		plain, filtered = plain+t1.Sub(t0), filtered+time.Since(t1)
	}
	b.StopTimer()
	b.ReportMetric(float64(filtered)/float64(plain), "filtered/unfiltered")
	b.ReportMetric(float64((filtered-plain).Nanoseconds())/float64(b.N*n), "filter-ns/resource")
	b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N*n), "search-ns/resource")
}

// BenchmarkCompile parses nothing: it compiles five decoded Consents.
func BenchmarkCompile(b *testing.B) {
	var cs []*cpb.Consent
	for _, js := range fiveNested() {
		cs = append(cs, parseConsent(b, js))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, c := range cs {
			compile(c)
		}
	}
}

// BenchmarkLogRecord appends decision records from 8×GOMAXPROCS
// goroutines, which share commits (fsync on).
func BenchmarkLogRecord(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "log.db"), store.Options{Codec: testCodec})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	log := NewLog(st)
	b.SetParallelism(8)
	var seq atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint("d", seq.Add(1))
			if err := log.Record(context.Background(), Record{ID: id, Time: time.Now(), Actor: nurse, Patient: "Patient/p1"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
