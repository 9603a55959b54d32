package imagejobs

import "github.com/prometheus/client_golang/prometheus"

// How an image task ended: the closed set of outcome label values.
const (
	OutcomeReady   = "ready"   // every image of the context has its variants
	OutcomeFailed  = "failed"  // an image could not be used: the context failed
	OutcomeRetried = "retried" // a failure that may pass: the queue runs the task again
	OutcomeDropped = "dropped" // nothing to do (the context is gone or no longer processing, or the task was unreadable)
)

// Metrics counts image tasks by outcome. A nil *Metrics counts nothing.
type Metrics struct {
	jobs map[string]prometheus.Counter
}

// NewMetrics makes the image tasks' metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pushgate_image_jobs_total",
		Help: "Image tasks run (one per context with images), by outcome.",
	}, []string{"outcome"})
	reg.MustRegister(jobs)
	m := &Metrics{jobs: map[string]prometheus.Counter{}}
	for _, o := range []string{OutcomeReady, OutcomeFailed, OutcomeRetried, OutcomeDropped} {
		m.jobs[o] = jobs.WithLabelValues(o)
	}
	return m
}

func (m *Metrics) count(outcome string) {
	if c, ok := m.jobsFor(outcome); ok {
		c.Inc()
	}
}

func (m *Metrics) jobsFor(outcome string) (prometheus.Counter, bool) {
	if m == nil {
		return nil, false
	}
	c, ok := m.jobs[outcome]
	return c, ok
}
