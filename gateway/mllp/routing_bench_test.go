package mllp_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/relais-health/relais/fhir/fhirtest"
	"github.com/relais-health/relais/fhir/resource"
	"github.com/relais-health/relais/fhir/search"
	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/directory"
	"github.com/relais-health/relais/gateway/pathways"
	"github.com/relais-health/relais/gateway/routing"
	"github.com/relais-health/relais/mappings/terminology"
)

// BenchmarkMLLPRouting measures what routing adds to ingesting the
// realistic discharge: the corpus A03 (as BenchmarkMLLPGrowth sends it,
// distinct patients and stays over 4 connections, fsync on), each stay's
// plan written in its discharge's transaction. In /lille its patient lives
// in Lille, so that every action searches a directory of 600 roles and
// services around her and asks consent for each candidate; in /corpus
// her address is the corpus's (Ann Arbor: no French commune, so every
// action but the GP's goes to the hospital without a directory search). Rounds
// alternate a store without and with the planner following it, so the
// ratio compares runs made side by side; it reports the CPU per message
// of each (medians over the rounds) and the ratios, of the medians and
// per round (routing must add at most 20%).
// RELAIS_ROUTING_MSGS sets the messages per run (default 1500).
func BenchmarkMLLPRouting(b *testing.B) {
	for _, lille := range []bool{true, false} {
		name := "corpus"
		if lille {
			name = "lille"
		}
		b.Run(name, func(b *testing.B) {
			m := loadCorpusMessage(b, corpusA03)
			if lille {
				livesInLille(b, m)
			}
			routingCost(b, m)
		})
	}
}

func routingCost(b *testing.B, m *corpusMessage) {
	total := envInt(b, "RELAIS_ROUTING_MSGS", 1500)
	serverGC(b)
	var ratios []float64
	var off, on []float64
	for range b.N {
		for _, route := range []bool{false, true} {
			b.StopTimer()
			e := newEnv(b, envOptions{sync: true})
			if route {
				followWithPlanner(b, e.store)
			}
			conns := e.dialN(4)
			// A server's first messages pay once for what later ones
			// reuse (for routing: the pathways parsed, the directory
			// indexed): warm-up messages, other stays, are not timed.
			sendAll(b, m, conns, total, total+routingWarmUp)
			settle(b, e)
			// Each round starts from a collected heap, as a server
			// holding one store would: earlier rounds' stores stay
			// closed, or a collection that happens to fall in a round
			// marks all of them and decides the ratio.
			runtime.GC()
			b.StartTimer()
			cpu := fhirtest.CPUTime()
			sendAll(b, m, conns, 0, total)
			settle(b, e)
			perMsg := float64((fhirtest.CPUTime() - cpu).Microseconds()) / float64(total)
			b.StopTimer()
			if route {
				on = append(on, perMsg)
				ratios = append(ratios, perMsg/off[len(off)-1])
				if n := countTasks(b, e.store); n < total+routingWarmUp {
					b.Fatalf("%d stays routed to %d Tasks", total, n)
				}
			} else {
				off = append(off, perMsg)
			}
			e.close()
			b.StartTimer()
		}
	}
	b.ReportMetric(median(off), "ingest-cpu-µs/msg")
	b.ReportMetric(median(on), "routed-cpu-µs/msg")
	b.ReportMetric(median(on)/median(off), "routed/ingest")
	b.ReportMetric(slices.Min(ratios), "min-routed/ingest")
	b.ReportMetric(slices.Max(ratios), "max-routed/ingest")
	b.Logf("per round: ingest %v, routed %v (cpu-µs/msg)", off, on)
}

// routingWarmUp is how many messages each round sends before it is timed.
const routingWarmUp = 100

// settle waits until every message sent is written, and the audit entries
// recorded meanwhile (ingestion, the consent asked of each candidate) are
// stored where they are searched, which the journal does in the
// background.
func settle(b *testing.B, e *env) {
	e.ingest.Sync()
	if err := e.store.AuditEvents(store.AuditQuery{}, func(store.AuditHead, []byte) (bool, error) { return false, nil }); err != nil {
		b.Fatal(err)
	}
}

// median of xs (not empty).
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// livesInLille gives the corpus patient (PID-11, an address in Ann Arbor)
// a home address in Lille: the message is otherwise the corpus's.
func livesInLille(tb testing.TB, m *corpusMessage) {
	for i, s := range m.segs {
		if bytes.HasPrefix(s, []byte("PID|")) {
			const us, fr = "1000&Hospital Lane^Ste. 123^Ann Arbor ^MI^99999^USA", "12 rue Nationale^^Lille^^59000^FRA"
			if !bytes.Contains(s, []byte(us)) {
				tb.Fatal("the corpus A03's address changed")
			}
			m.segs[i] = bytes.Replace(s, []byte(us), []byte(fr), 1)
			m.size += len(fr) - len(us)
			return
		}
	}
	tb.Fatal("no PID segment")
}

// followWithPlanner loads the pathways and a directory around Lille and
// lets a planner follow st.
func followWithPlanner(tb testing.TB, st *store.Store) {
	ctx := context.Background()
	if err := pathways.Load(ctx, st, testCodec); err != nil {
		tb.Fatal(err)
	}
	var entries []store.TxEntry
	put := func(js string) {
		r, err := testCodec.Decode([]byte(js))
		if err != nil {
			tb.Fatal(err)
		}
		entries = append(entries, store.TxEntry{Method: "PUT", Type: resource.Type(r), ID: resource.ID(r), Resource: r})
	}
	const ror = "https://interop.esante.gouv.fr/ig/fhir/ror/StructureDefinition/ror-territorial-division"
	codes := []string{"10", "21", "50", "60", "70", "91"}
	for i := range 100 {
		dep := []string{"59", "62", "80", "02"}[i%4]
		put(fmt.Sprintf(`{"resourceType":"Organization","id":"org%d","active":true,"name":"Cabinet %d","extension":[{"url":"%s","extension":[`+
			`{"url":"typeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/JDV_J223-TypeDivisionTerritoriale-ROR/FHIR/JDV-J223-TypeDivisionTerritoriale-ROR","code":"2"}]}},`+
			`{"url":"codeTerritorialDivision","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_G09-DepartementOM/FHIR/TRE-G09-DepartementOM","code":"%s"}]}}]}]}`, i, i, ror, dep))
		for j, code := range codes {
			put(fmt.Sprintf(`{"resourceType":"PractitionerRole","id":"r%d-%d","active":true,"organization":{"reference":"Organization/org%d"},"code":[{"coding":[{"system":"%s","code":"%s"}]}]}`,
				i, j, i, terminology.TREG15, code))
		}
		if i%5 == 0 {
			put(fmt.Sprintf(`{"resourceType":"HealthcareService","id":"hs%d","active":true,"providedBy":{"reference":"Organization/org%d"},"type":[{"coding":[{"system":"%s","code":"372"}]}]}`,
				i, i, terminology.TRER85))
		}
	}
	if _, err := st.Transaction(ctx, entries); err != nil {
		tb.Fatal(err)
	}
	src := consent.NewStoreSource(st, testCodec, nil)
	engine, err := consent.New(consent.Config{Directory: src, CareTeams: src, Consents: src, Recorder: consent.NewLog(st),
		HashKey: []byte("bench-hmac-key-0123456789abcdef!")})
	if err != nil {
		tb.Fatal(err)
	}
	communes, err := directory.LoadCommunes()
	if err != nil {
		tb.Fatal(err)
	}
	pl, err := routing.New(routing.Config{Store: st, Codec: testCodec, Directory: directory.New(st, testCodec),
		Communes: communes, Consent: engine, RouteOnWrite: true})
	if err != nil {
		tb.Fatal(err)
	}
	st.Follow(pl)
}

func countTasks(tb testing.TB, st *store.Store) int {
	n := 0
	err := st.View(func(r *store.Snapshot) error {
		hits, err := r.Search(&search.Query{Type: "Task"}, nil)
		n = len(hits)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
