package webhooks

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Why a callback attempt failed: the closed set of reasons that metrics
// label failed attempts with and that the log groups them by.
const (
	FailHTTP4xx          = "http_4xx"          // the consumer answered 4xx
	FailHTTP5xx          = "http_5xx"          // the consumer answered 5xx
	FailHTTPOther        = "http_other"        // an answer neither 2xx, 4xx nor 5xx (redirects are not followed)
	FailTimeout          = "timeout"           // no answer within the timeout
	FailConnection       = "connection"        // no connection, or it broke
	FailForbiddenAddress = "forbidden_address" // the callback resolved to an address the SSRF guard refuses
	FailNoCallback       = "no_callback"       // the bucket is gone or has no callback
	FailBadURL           = "bad_url"           // the callback URL cannot be used
	FailBadSecret        = "bad_secret"        // the bucket's signing secret cannot be used
	FailInternal         = "internal"          // pushgate's own error (the database, rendering)
)

// failReasons is every Fail constant.
func failReasons() []string {
	return []string{FailHTTP4xx, FailHTTP5xx, FailHTTPOther, FailTimeout, FailConnection,
		FailForbiddenAddress, FailNoCallback, FailBadURL, FailBadSecret, FailInternal}
}

// httpFailure is the reason of an answer with a status that is not 2xx.
func httpFailure(code int) string {
	switch {
	case code >= 400 && code < 500:
		return FailHTTP4xx
	case code >= 500 && code < 600:
		return FailHTTP5xx
	}
	return FailHTTPOther
}

// Metrics counts callback attempts. Every series is made when Metrics is
// (reasons are the Fail constants), so counting allocates nothing. A nil
// *Metrics counts nothing.
type Metrics struct {
	delivered prometheus.Counter
	retried   map[string]prometheus.Counter
	dead      map[string]prometheus.Counter
}

// NewMetrics makes the dispatcher's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	delivered := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pushgate_webhook_batches_delivered_total",
		Help: "Webhook batches the consumer accepted (answered 2xx).",
	})
	retried := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_webhook_batches_retried_total",
		Help: "Failed webhook attempts after which the batch is tried again, by reason.",
	}, []string{"reason"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_webhook_batches_dead_total",
		Help: "Webhook batches dead-lettered (no retry left or none possible), by the reason of their last attempt.",
	}, []string{"reason"})
	reg.MustRegister(delivered, retried, dead)
	m := &Metrics{delivered: delivered, retried: map[string]prometheus.Counter{}, dead: map[string]prometheus.Counter{}}
	for _, r := range failReasons() {
		m.retried[r], m.dead[r] = retried.WithLabelValues(r), dead.WithLabelValues(r)
	}
	return m
}

// attempted counts a recorded attempt's outcome.
func (m *Metrics) attempted(o Outcome) {
	if m == nil {
		return
	}
	reason := o.Reason
	if _, ok := m.dead[reason]; !ok {
		reason = FailInternal
	}
	switch o.Status {
	case StatusDelivered:
		m.delivered.Inc()
	case StatusPending:
		m.retried[reason].Inc()
	case StatusDead:
		m.dead[reason].Inc()
	}
}
