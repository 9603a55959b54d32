package delivery

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
)

// Metrics counts what delivery does, by provider (the credential type)
// and reason. Every label value comes from a closed set (the credential
// types and providers.Reasons, anything else counted as "other"), and
// every series is made when Metrics is, so a dashboard sees zeros rather
// than gaps and counting is a map read and an atomic add, with no
// allocation. A nil *Metrics counts nothing.
type Metrics struct {
	accepted map[string]prometheus.Counter
	sent     map[string]prometheus.Counter
	failed   map[providerReason]prometheus.Counter
	retried  map[providerReason]prometheus.Counter
	calls    map[string]prometheus.Observer
	limits   map[string]prometheus.Gauge
}

type providerReason struct{ provider, reason string }

// other is the label value of a provider or reason outside the closed sets.
const other = "other"

// providerCallBuckets span a local fake's microseconds to a vendor's
// worst answers within a send's timeout.
var providerCallBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics makes delivery's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	accepted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_messages_accepted_total",
		Help: "Messages accepted by sends (committed to the outbox), by provider.",
	}, []string{"provider"})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_messages_sent_total",
		Help: "Messages the provider accepted, by provider.",
	}, []string{"provider"})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_messages_failed_total",
		Help: "Messages that failed for good (expired ones included), by provider and reason.",
	}, []string{"provider", "reason"})
	retried := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_messages_retried_total",
		Help: "Sends that failed for a reason that may pass and were put back for a later attempt, by provider and reason.",
	}, []string{"provider", "reason"})
	calls := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pushgate_provider_call_duration_seconds",
		Help:    "Time of one call to a provider (one Send, or one SendBatch of many receivers), by provider.",
		Buckets: providerCallBuckets,
	}, []string{"provider"})
	limits := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pushgate_provider_in_flight_limit",
		Help: "How many calls this node lets be under way to a provider at once, as its round trip moved it (docs/reliability.md), by provider.",
	}, []string{"provider"})
	reg.MustRegister(accepted, sent, failed, retried, calls, limits)

	m := &Metrics{
		accepted: map[string]prometheus.Counter{}, sent: map[string]prometheus.Counter{},
		failed: map[providerReason]prometheus.Counter{}, retried: map[providerReason]prometheus.Counter{},
		calls: map[string]prometheus.Observer{}, limits: map[string]prometheus.Gauge{},
	}
	provs := []string{other}
	for _, t := range buckets.CredentialTypes() {
		provs = append(provs, string(t))
	}
	reasons := []string{other}
	for _, r := range providers.Reasons() {
		reasons = append(reasons, string(r))
	}
	for _, p := range provs {
		m.accepted[p] = accepted.WithLabelValues(p)
		m.sent[p] = sent.WithLabelValues(p)
		m.calls[p] = calls.WithLabelValues(p)
		m.limits[p] = limits.WithLabelValues(p)
		for _, r := range reasons {
			k := providerReason{p, r}
			m.failed[k], m.retried[k] = failed.WithLabelValues(p, r), retried.WithLabelValues(p, r)
		}
	}
	return m
}

// provider is p as a label value.
func (m *Metrics) provider(p string) string {
	if _, ok := m.sent[p]; ok {
		return p
	}
	return other
}

// counter returns the series of set for provider p and reason r.
func counter(set map[providerReason]prometheus.Counter, p, r string) prometheus.Counter {
	if c, ok := set[providerReason{p, r}]; ok {
		return c
	}
	return set[providerReason{p, other}]
}

// accept counts n messages accepted for provider p.
func (m *Metrics) accept(p string, n int) {
	if m != nil {
		m.accepted[m.provider(p)].Add(float64(n))
	}
}

// call records how long one provider call took.
func (m *Metrics) call(p string, d time.Duration) {
	if m != nil {
		m.calls[m.provider(p)].Observe(d.Seconds())
	}
}

// inFlightLimit is the gauge of provider p's limit of calls under way
// (nil: none).
func (m *Metrics) inFlightLimit(p string) prometheus.Gauge {
	if m == nil {
		return nil
	}
	return m.limits[m.provider(p)]
}

// stored counts results once they are stored.
func (m *Metrics) stored(rs []messages.Result) {
	if m == nil {
		return
	}
	for i := range rs {
		r := &rs[i]
		p := m.provider(r.Message.Provider)
		switch r.Status {
		case messages.Sent:
			m.sent[p].Inc()
		case messages.Failed, messages.Expired:
			counter(m.failed, p, r.Reason).Inc()
		case messages.Queued:
			counter(m.retried, p, r.Reason).Inc()
		}
	}
}
