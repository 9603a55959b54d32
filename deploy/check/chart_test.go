package check

import (
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"
)

// manifest is what the tests read of a rendered Kubernetes object.
type manifest struct {
	Kind     string
	Metadata struct{ Name string }
	Spec     struct {
		Replicas *int
		Selector map[string]any
		Template struct {
			Spec struct {
				SecurityContext struct{ RunAsNonRoot bool }
				Containers      []container
			}
		}
	}
	StringData map[string]string `json:"stringData"`
}

type container struct {
	Image, Name    string
	Args           []string
	Env            []envVar
	ReadinessProbe struct{ HTTPGet struct{ Path string } } `json:"readinessProbe"`
	LivenessProbe  struct{ HTTPGet struct{ Path string } } `json:"livenessProbe"`
}

type envVar struct {
	Name, Value string
	ValueFrom   *struct {
		SecretKeyRef struct{ Name, Key string } `json:"secretKeyRef"`
	} `json:"valueFrom"`
}

func (c container) env(name string) *envVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// render renders the chart as `helm template rel deploy/helm/pushgate
// --set ...` does, and parses every manifest.
func render(t *testing.T, values map[string]any) (map[string]manifest, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "helm", "pushgate"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "rel", Namespace: "push", IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return nil, err
	}
	out := map[string]manifest{}
	for path, text := range files {
		if !strings.HasSuffix(path, ".yaml") || strings.TrimSpace(text) == "" {
			continue
		}
		var m manifest
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			t.Fatalf("%s does not parse: %v\n%s", path, err, text)
		}
		out[m.Kind+"/"+m.Metadata.Name] = m
	}
	return out, nil
}

var required = map[string]any{
	"databaseUrl": "postgres://u:p@db/pushgate", "redisUrl": "redis://redis:6379/0", "masterKey": "a2V5",
}

func with(extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range required {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// TestChartDefaults: nodes that answer and deliver, ready on /readyz, the
// master key and URLs from the chart's Secret, non-root, a Service; no
// worker-only Deployment unless asked for.
func TestChartDefaults(t *testing.T) {
	ms, err := render(t, with(map[string]any{"env": map[string]any{"PUSHGATE_PUBLIC_URL": "https://push.example.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	sec, ok := ms["Secret/rel-pushgate"]
	if !ok || sec.StringData["master-key"] != "a2V5" || sec.StringData["database-url"] == "" || sec.StringData["redis-url"] == "" {
		t.Fatalf("secret: %+v (objects %v)", sec, keys(ms))
	}
	d := ms["Deployment/rel-pushgate"]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || len(d.Spec.Template.Spec.Containers) != 1 || !d.Spec.Template.Spec.SecurityContext.RunAsNonRoot {
		t.Fatalf("deployment: %+v", d)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.Image != "pushgate:v0.1.0-dev" {
		t.Fatalf("container: %+v", c)
	}
	if e := c.env("PUSHGATE_ROLES"); e == nil || e.Value != "api,worker" {
		t.Fatalf("roles: %+v", e)
	}
	for name, key := range map[string]string{"PUSHGATE_MASTER_KEY": "master-key", "PUSHGATE_DATABASE_URL": "database-url", "PUSHGATE_REDIS_URL": "redis-url"} {
		if e := c.env(name); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "rel-pushgate" || e.ValueFrom.SecretKeyRef.Key != key {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if e := c.env("PUSHGATE_PUBLIC_URL"); e == nil || e.Value != "https://push.example.com" {
		t.Errorf("extra env: %+v", e)
	}
	if _, ok := ms["Service/rel-pushgate"]; !ok {
		t.Error("no Service")
	}
	if _, ok := ms["Deployment/rel-pushgate-worker"]; ok {
		t.Error("a worker Deployment without worker.replicaCount")
	}
}

// TestChartWorkersAndExistingSecret: worker-only replicas are a second
// Deployment with roles worker; an existing Secret replaces the chart's.
func TestChartWorkersAndExistingSecret(t *testing.T) {
	ms, err := render(t, map[string]any{"existingSecret": "mine", "worker": map[string]any{"replicaCount": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ms["Secret/rel-pushgate"]; ok {
		t.Error("the chart made a Secret beside existingSecret")
	}
	w, ok := ms["Deployment/rel-pushgate-worker"]
	if !ok || w.Spec.Replicas == nil || *w.Spec.Replicas != 3 {
		t.Fatalf("worker deployment: %+v (objects %v)", w, keys(ms))
	}
	c := w.Spec.Template.Spec.Containers[0]
	if e := c.env("PUSHGATE_ROLES"); e == nil || e.Value != "worker" {
		t.Fatalf("worker roles: %+v", e)
	}
	if e := c.env("PUSHGATE_MASTER_KEY"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "mine" {
		t.Fatalf("worker master key: %+v", e)
	}
}

// TestChartRefusesMissingSecrets: no database, Redis or master key is an
// error that says what to set, not a node that cannot start.
func TestChartRefusesMissingSecrets(t *testing.T) {
	_, err := render(t, map[string]any{"databaseUrl": "postgres://db/p"})
	if err == nil || !strings.Contains(err.Error(), "set databaseUrl, redisUrl and masterKey") {
		t.Fatalf("rendered without a master key: %v", err)
	}
}

func keys(ms map[string]manifest) []string {
	var out []string
	for k := range ms {
		out = append(out, k)
	}
	return out
}
