// Package latency summarises the latencies the load tools under bench/
// measure: percentiles of a sample, rounded for a report.
package latency

import (
	"fmt"
	"slices"
	"time"
)

// Percentiles is d's p50, p90, p99, maximum and sample count on one line;
// it sorts d.
func Percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "no samples"
	}
	slices.Sort(d)
	return fmt.Sprintf("p50 %v  p90 %v  p99 %v  max %v  (%d samples)", Pct(d, 50), Pct(d, 90), Pct(d, 99), d[len(d)-1].Round(10*time.Microsecond), len(d))
}

// Pct is the p-th percentile of d (sorted or not), rounded to 10 µs.
func Pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(10 * time.Microsecond)
}
