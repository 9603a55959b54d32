package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestComposeFile checks deploy/compose.yaml as `docker compose config`
// would read it (no Docker here): pushgate waits for a healthy PostgreSQL
// and Redis, reaches them by their service names, takes its master key
// from a Compose secret, and keeps /data in a volume.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Environment map[string]string
			Secrets     []string
			Volumes     []string
			Ports       []string
			DependsOn   map[string]struct{ Condition string } `json:"depends_on"`
			Healthcheck *struct{ Test []string }
		}
		Secrets map[string]struct{ File string }
		Volumes map[string]any
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	p, ok := f.Services["pushgate"]
	if !ok {
		t.Fatal("no pushgate service")
	}
	for _, dep := range []string{"postgres", "redis"} {
		if f.Services[dep].Healthcheck == nil || p.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("pushgate does not wait for a healthy %s", dep)
		}
	}
	if !strings.Contains(p.Environment["PUSHGATE_DATABASE_URL"], "@postgres:5432/") || !strings.HasPrefix(p.Environment["PUSHGATE_REDIS_URL"], "redis://redis:6379/") {
		t.Errorf("storage URLs: %v", p.Environment)
	}
	if p.Environment["PUSHGATE_MASTER_KEY_FILE"] != "/run/secrets/master_key" || len(p.Secrets) != 1 || f.Secrets["master_key"].File == "" {
		t.Errorf("master key: %v %v %v", p.Environment, p.Secrets, f.Secrets)
	}
	if len(p.Volumes) != 1 || !strings.HasSuffix(p.Volumes[0], ":"+DataDir) || len(p.Ports) != 1 || !strings.HasSuffix(p.Ports[0], ":8080") {
		t.Errorf("volumes %v, ports %v", p.Volumes, p.Ports)
	}
}
