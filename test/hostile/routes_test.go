package hostile

import (
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pushgate/pushgate"
)

// specRoutes lists every operation of openapi.yaml as "METHOD /path".
func specRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(pushgate.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	var out []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}

// allRoutes is every route the spec documents or the node serves: a new
// route, in either, must get its cases.
func allRoutes(t *testing.T, n *node) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range append(specRoutes(t), n.routes()...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// methodsOf returns the methods served on path (in the spec's form).
func methodsOf(routes []string, path string) map[string]bool {
	out := map[string]bool{}
	for _, r := range routes {
		m, p, _ := strings.Cut(r, " ")
		if p == path {
			out[m] = true
		}
	}
	return out
}

// requireCoverage fails t for every route no case probes.
func requireCoverage(t *testing.T, routes []string, covered map[string]int, what string) {
	t.Helper()
	for _, r := range routes {
		if covered[r] == 0 {
			t.Errorf("route %s has no %s cases: add them to test/hostile", r, what)
		}
	}
}
