package latency

import (
	"strings"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    int
		want time.Duration
	}{{50, 51 * time.Millisecond}, {99, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Pct(d, c.p); got != c.want {
			t.Errorf("Pct(%d) = %v, want %v", c.p, got, c.want)
		}
	}
	if d[0] != 100*time.Millisecond {
		t.Error("Pct sorted its argument")
	}
	if got := Pct(nil, 99); got != 0 {
		t.Errorf("Pct of nothing = %v", got)
	}
}

func TestPercentiles(t *testing.T) {
	got := Percentiles([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if !strings.HasPrefix(got, "p50 2ms  p90 3ms  p99 3ms  max 3ms  (3 samples)") {
		t.Errorf("Percentiles = %q", got)
	}
	if Percentiles(nil) != "no samples" {
		t.Error("Percentiles of nothing")
	}
}
