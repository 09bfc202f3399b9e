package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relais-health/relais/mappings/hl7v2/er7"
)

// reader is a prometheus.Collector that reads the components' own counters
// at scrape time, so that nothing is counted twice and the hot paths (a
// commit, an MLLP message, a consent decision) pay no more than the atomic
// add they already make.
type reader struct {
	src Sources

	pages, size, queued, failed, acks, decisions *prometheus.Desc
}

// ackOrder is the order the ack label values are exported in.
var ackOrder = []er7.AckCode{er7.AA, er7.AE, er7.AR, er7.CA, er7.CE, er7.CR}

func newReader(src Sources) *reader {
	return &reader{
		src: src,
		pages: prometheus.NewDesc("relais_store_pages_written_total",
			"Pages written by the store's commits.", nil, nil),
		size: prometheus.NewDesc("relais_store_size_bytes",
			"Size of the database file.", nil, nil),
		queued: prometheus.NewDesc("relais_inbox_queued",
			"HL7 v2 messages acknowledged and not yet written.", nil, nil),
		failed: prometheus.NewDesc("relais_inbox_failed",
			"HL7 v2 messages acknowledged that could not be written, set aside for an operator.", nil, nil),
		acks: prometheus.NewDesc("relais_mllp_messages_total",
			"Acknowledgements sent over MLLP, by MSA-1 code.", []string{"ack"}, nil),
		decisions: prometheus.NewDesc("relais_consent_decisions_total",
			"Consent decisions, one per decision-log record, by outcome.", []string{"outcome"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (r *reader) Describe(ch chan<- *prometheus.Desc) {
	if r.src.Store != nil {
		ch <- r.pages
		ch <- r.size
		ch <- r.queued
		ch <- r.failed
	}
	if r.src.MLLP != nil {
		ch <- r.acks
	}
	if r.src.Consent != nil {
		ch <- r.decisions
	}
}

// Collect implements prometheus.Collector.
func (r *reader) Collect(ch chan<- prometheus.Metric) {
	if s := r.src.Store; s != nil {
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(r.pages, prometheus.CounterValue, float64(st.PagesWritten))
		ch <- prometheus.MustNewConstMetric(r.size, prometheus.GaugeValue, float64(st.FileSize))
		if queued, failed, err := s.InboxCounts(); err != nil {
			ch <- prometheus.NewInvalidMetric(r.queued, err)
		} else {
			ch <- prometheus.MustNewConstMetric(r.queued, prometheus.GaugeValue, float64(queued))
			ch <- prometheus.MustNewConstMetric(r.failed, prometheus.GaugeValue, float64(failed))
		}
	}
	if m := r.src.MLLP; m != nil {
		acks := m.Stats().ACKs
		for _, code := range ackOrder {
			ch <- prometheus.MustNewConstMetric(r.acks, prometheus.CounterValue, float64(acks[code]), string(code))
		}
	}
	if c := r.src.Consent; c != nil {
		st := c.Stats()
		ch <- prometheus.MustNewConstMetric(r.decisions, prometheus.CounterValue, float64(st.Permits), "permit")
		ch <- prometheus.MustNewConstMetric(r.decisions, prometheus.CounterValue, float64(st.Denies), "deny")
	}
}
