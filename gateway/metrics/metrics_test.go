package metrics_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/metrics"
	"github.com/relais-health/relais/gateway/metrics/metricstest"
	"github.com/relais-health/relais/gateway/mllp"
	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

type fakeStore struct {
	stats          store.Stats
	queued, failed int
	err            error
}

func (f *fakeStore) Stats() store.Stats { return f.stats }
func (f *fakeStore) InboxCounts() (int, int, error) {
	return f.queued, f.failed, f.err
}

type fakeMLLP map[er7.AckCode]uint64

func (f fakeMLLP) Stats() mllp.Stats { return mllp.Stats{ACKs: f} }

type fakeConsent consent.Stats

func (f fakeConsent) Stats() consent.Stats { return consent.Stats(f) }

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("scrape = %d %s", res.StatusCode, b)
	}
	return metricstest.Parse(t, res.Body)
}

// TestScrape: every metric has its stable name and the value its source
// gives, the Go and process collectors are there, and a source left out
// (no MLLP listener) exports nothing.
func TestScrape(t *testing.T) {
	t.Parallel()
	m := metrics.New(slog.New(slog.DiscardHandler))
	st := &fakeStore{stats: store.Stats{PagesWritten: 42, FileSize: 1 << 20}, queued: 3, failed: 1}
	err := m.Watch(metrics.Sources{Store: st, MLLP: fakeMLLP{er7.AA: 5, er7.CA: 2},
		Consent: fakeConsent{Permits: 7, Denies: 2}})
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveCommit(400 * time.Microsecond)
	m.ObserveCommit(2 * time.Millisecond)
	m.ObserveRequest("/fhir/{type}/{id}", 200, 3*time.Millisecond)
	m.ObserveRequest("/fhir/{type}/{id}", 404, time.Millisecond)
	m.ObserveRequest("unmatched", 404, time.Millisecond)

	f := scrape(t, m)
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"relais_store_commit_seconds", nil, 2},
		{"relais_store_pages_written_total", nil, 42},
		{"relais_store_size_bytes", nil, 1 << 20},
		{"relais_inbox_queued", nil, 3},
		{"relais_inbox_failed", nil, 1},
		{"relais_mllp_messages_total", []string{"ack", "AA"}, 5},
		{"relais_mllp_messages_total", []string{"ack", "CA"}, 2},
		{"relais_mllp_messages_total", []string{"ack", "CR"}, 0},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}/{id}", "code", "200"}, 1},
		{"relais_http_requests_total", []string{"route", "/fhir/{type}/{id}", "code", "404"}, 1},
		{"relais_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1},
		{"relais_http_request_seconds", []string{"route", "/fhir/{type}/{id}"}, 2},
		{"relais_consent_decisions_total", []string{"outcome", "permit"}, 7},
		{"relais_consent_decisions_total", []string{"outcome", "deny"}, 2},
	}
	for _, tc := range tests {
		if got, ok := f.Value(tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if sum, _ := f.Sum("relais_store_commit_seconds"); sum < 0.0023 || sum > 0.0025 {
		t.Errorf("commit seconds sum %v, want 0.0024", sum)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := f[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}

	bare := metrics.New(nil)
	if err := bare.Watch(metrics.Sources{Store: st}); err != nil {
		t.Fatal(err)
	}
	g := scrape(t, bare)
	if _, ok := g["relais_mllp_messages_total"]; ok {
		t.Error("MLLP metrics without an MLLP listener")
	}
	if _, ok := g["relais_inbox_queued"]; !ok {
		t.Error("store metrics missing")
	}
}

// TestScrapeSurvivesAFailingSource: an inbox that cannot be read (the
// store closing) leaves its gauges out; the rest is still served.
func TestScrapeSurvivesAFailingSource(t *testing.T) {
	t.Parallel()
	m := metrics.New(slog.New(slog.DiscardHandler))
	if err := m.Watch(metrics.Sources{Store: &fakeStore{err: errors.New("database not open")}}); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, m)
	if _, ok := f.Value("relais_inbox_queued"); ok {
		t.Error("inbox gauge served although it could not be read")
	}
	if _, ok := f.Value("relais_store_size_bytes"); !ok {
		t.Error("the other store metrics were dropped")
	}
}
