// Package metrics exposes what operators of Relais watch, in the Prometheus
// text exposition format, from a registry of its own (never the client
// library's global one, so that tests and several servers in one process
// do not share counters).
//
// # Basics
//
// The names are stable; dashboards and alerts rely on them:
//
//	relais_store_commit_seconds              histogram  store write-transaction commits, fsync included
//	relais_store_pages_written_total         counter    pages the commits wrote (what a commit costs)
//	relais_store_size_bytes                  gauge      size of the database file
//	relais_inbox_queued                      gauge      HL7 v2 messages acknowledged and not yet written
//	relais_inbox_failed                      gauge      HL7 v2 messages set aside (GET /admin/inbox)
//	relais_mllp_messages_total{ack}          counter    ACKs sent over MLLP by MSA-1 code: AA AE AR CA CE CR
//	relais_http_requests_total{route,code}   counter    HTTP requests by route template and status
//	relais_http_request_seconds{route}       histogram  HTTP request durations by route template
//	relais_consent_decisions_total{outcome}  counter    consent decisions (permit, deny), one per decision-log record
//
// plus the Go runtime (go_*) and process (process_*) collectors. The
// components below this package import no metrics library: Metrics reads
// the counters they keep (store.Stats, InboxCounts, mllp.Stats,
// consent.Stats) at each scrape, and takes the two things counters cannot
// give, commit and request durations, through ObserveCommit (the store's
// Options.OnCommit) and ObserveRequest (the API's Observer).
//
// # Caveats
//
// No label carries patient data: HTTP routes are the templates of the API's
// route table ("/fhir/{type}/{id}"), never the path, and a request that
// matches no route is labelled "unmatched". The counters read from the
// components start at zero with the process, as Prometheus counters may.
// The inbox gauges count two bbolt buckets at each scrape, which stay small
// while the store keeps up.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/relais-health/relais/fhir/store"
	"github.com/relais-health/relais/gateway/consent"
	"github.com/relais-health/relais/gateway/mllp"
)

// Buckets, in seconds. A commit costs about 0.3-0.45 ms of fsync on a
// server disk and grows with the pages it writes; most requests take well
// under a millisecond, searches and backups much longer.
var (
	commitBuckets  = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	requestBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
)

// Metrics owns the registry. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	commits  prometheus.Histogram
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New builds the registry with the Go and process collectors and the
// metrics fed by ObserveCommit and ObserveRequest; Watch adds the
// components read at scrape time. log (default slog.Default()) gets the
// errors of a scrape.
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "relais_store_commit_seconds",
			Help:    "Duration of the store's write-transaction commits, fsync included.",
			Buckets: commitBuckets,
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "relais_http_requests_total",
			Help: "HTTP requests answered, by route template and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "relais_http_request_seconds",
			Help:    "Duration of HTTP requests, by route template.",
			Buckets: requestBuckets,
		}, []string{"route"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commits, m.requests, m.duration,
	)
	return m
}

// ObserveCommit records one store commit; it is the store's
// Options.OnCommit.
func (m *Metrics) ObserveCommit(d time.Duration) { m.commits.Observe(d.Seconds()) }

// ObserveRequest records one answered HTTP request. route must be a route
// template or a fixed name, never a path (the API's Observer contract).
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus exposition format. A source
// that fails at scrape time (the store closing) is logged and left out;
// the others are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// errorLog adapts slog to promhttp.Logger.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Println(v ...any) { e.log.Warn("metrics scrape", "error", fmt.Sprint(v...)) }

// Store is what Metrics reads of the store at each scrape (*store.Store).
type Store interface {
	Stats() store.Stats
	InboxCounts() (queued, failed int, err error)
}

// MLLP is what Metrics reads of the MLLP listener (*mllp.Server).
type MLLP interface {
	Stats() mllp.Stats
}

// Consent is what Metrics reads of the consent engine (*consent.Engine).
type Consent interface {
	Stats() consent.Stats
}

// Sources are the components read at each scrape. A nil one (no MLLP
// listener) is left out, and so are its metrics.
type Sources struct {
	Store   Store
	MLLP    MLLP
	Consent Consent
}

// Watch registers the sources. Call it once.
func (m *Metrics) Watch(src Sources) error {
	return m.reg.Register(newReader(src))
}
