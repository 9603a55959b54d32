package server

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/pushgate/pushgate/internal/testenv"
)

// dashboardPath is the Grafana dashboard shipped for operators.
const dashboardPath = "../deploy/grafana/pushgate.json"

var (
	metricName = regexp.MustCompile(`\bpushgate_[a-zA-Z0-9_]+`)
	byLabels   = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
)

// dashboardExprs returns every query expression of the dashboard's panels.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// exposed maps each series name a scrape can have (a histogram's _bucket,
// _sum and _count) to the label names its family has.
func exposed(fams map[string]*dto.MetricFamily) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, f := range fams {
		labels := map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				labels[l.GetName()] = true
			}
		}
		names := []string{name}
		if f.GetType() == dto.MetricType_HISTOGRAM {
			labels["le"] = true
			names = []string{name + "_bucket", name + "_sum", name + "_count"}
		}
		for _, n := range names {
			out[n] = labels
		}
	}
	return out
}

// TestDashboardUsesExposedMetrics: every metric the dashboard queries is
// one a node exposes, and every label it groups by is one of those
// metrics' labels, so the dashboard cannot drift from the server.
func TestDashboardUsesExposedMetrics(t *testing.T) {
	d := testenv.Databases(t)[0]
	f := newFakes(t)
	_, a := startNode(t, f.config(t, d.URL))
	// HTTP metrics have series once a request was answered.
	if res, err := http.Get(a.base + "/healthz"); err == nil {
		res.Body.Close()
	}
	have := exposed(scrape(t, a.base))
	exprs := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := metricName.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("query %q uses no pushgate metric", e)
		}
		for _, n := range names {
			used[n] = true
			if have[n] == nil {
				t.Errorf("query %q uses %s, which /metrics does not expose", e, n)
			}
		}
		for _, group := range byLabels.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(group[1], ",") {
				l = strings.TrimSpace(l)
				found := false
				for _, n := range names {
					found = found || have[n][l]
				}
				if !found {
					t.Errorf("query %q groups by %q, a label none of its metrics has", e, l)
				}
			}
		}
	}
	// The dashboard shows every pushgate metric but the HTTP duration's
	// sum and count (its quantiles come from the buckets).
	for n := range have {
		if strings.HasPrefix(n, "pushgate_") && !used[n] && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") {
			t.Errorf("the dashboard shows nothing of %s", n)
		}
	}
}
