package sampled_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pushgate/pushgate/internal/sampled"
)

// TestReadsAtMostOncePerMinAge: scrapes within MinAge share one read, a
// failed read keeps the last values, and the next MinAge reads again.
func TestReadsAtMostOncePerMinAge(t *testing.T) {
	desc := prometheus.NewDesc("test_backlog", "A backlog.", nil, nil)
	reads, value := 0, 1.0
	var fail error
	now := time.Unix(1000, 0)
	c := sampled.New("backlog", []*prometheus.Desc{desc}, func(context.Context) ([]prometheus.Metric, error) {
		reads++
		if fail != nil {
			return nil, fail
		}
		return []prometheus.Metric{prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, value)}, nil
	}, sampled.Options{MinAge: 10 * time.Second, Now: func() time.Time { return now }})
	want := func(v string) {
		t.Helper()
		exp := "# HELP test_backlog A backlog.\n# TYPE test_backlog gauge\ntest_backlog " + v + "\n"
		if err := testutil.CollectAndCompare(c, strings.NewReader(exp)); err != nil {
			t.Fatal(err)
		}
	}
	want("1")
	value = 2
	now = now.Add(5 * time.Second)
	want("1")
	if reads != 1 {
		t.Fatalf("%d reads within MinAge, want 1", reads)
	}
	now = now.Add(5 * time.Second)
	fail = errors.New("database down")
	want("1")
	fail = nil
	now = now.Add(10 * time.Second)
	want("2")
	if reads != 3 {
		t.Fatalf("%d reads, want 3", reads)
	}
}
