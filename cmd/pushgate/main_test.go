package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
)

// syncBuffer is an io.Writer tests can read while the command writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// envMap is a getenv over a fixed set of variables.
func envMap(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// node is a `pushgate serve` running in-process, exactly as main runs it.
type node struct {
	t      *testing.T
	url    string
	stdout *syncBuffer
	stderr *syncBuffer
	stop   context.CancelFunc
	done   chan int
}

func startNode(t *testing.T, env map[string]string, args ...string) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{t: t, stdout: &syncBuffer{}, stderr: &syncBuffer{}, stop: cancel, done: make(chan int, 1)}
	go func() { n.done <- run(ctx, append([]string{"serve"}, args...), envMap(env), n.stdout, n.stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(n.stderr.String(), "\n") {
			if addr := listenAddr(line); addr != "" {
				n.url = "http://" + addr
				t.Cleanup(func() { n.shutdown() })
				return n
			}
		}
		select {
		case code := <-n.done:
			t.Fatalf("serve exited with %d before listening:\n%s", code, n.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not start:\n%s", n.stderr)
	return nil
}

var textAddr = regexp.MustCompile(`msg="pushgate listening" addr=(\S+)`)

// listenAddr finds the address in the "pushgate listening" log line, in
// either log format.
func listenAddr(line string) string {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "pushgate listening" {
		return rec["addr"].(string)
	}
	if m := textAddr.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return ""
}

// shutdown stops the node as SIGTERM would and returns its exit code.
func (n *node) shutdown() int {
	n.stop()
	select {
	case code, ok := <-n.done:
		if ok {
			close(n.done)
			return code
		}
		return 0
	case <-time.After(30 * time.Second):
		n.t.Fatal("serve did not stop within 30 s")
		return -1
	}
}

func (n *node) get(path string, header ...string) (int, string) {
	n.t.Helper()
	return n.req("GET", path, "", header...)
}

func (n *node) req(method, path, body string, header ...string) (int, string) {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type credentials struct{ AppID, Key, Secret, APIKey string }

func parseCredentials(t *testing.T, out string) credentials {
	t.Helper()
	var c credentials
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if json.Unmarshal(sc.Bytes(), &c) == nil && c.APIKey != "" {
			return c
		}
	}
	t.Fatalf("no credentials JSON in output:\n%s", out)
	return c
}

// credentialsFile reads the first app's credentials where a node in JSON
// log mode writes them, and checks they are kept from everything else:
// readable by the owner only, named in the log but never in a stream that
// log collectors read.
func credentialsFile(t *testing.T, dataDir string, n *node) credentials {
	t.Helper()
	path := filepath.Join(dataDir, "first-app-credentials.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no credentials file: %v\nstdout:\n%s", err, n.stdout)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	creds := parseCredentials(t, string(b))
	for name, out := range map[string]string{"stdout": n.stdout.String(), "logs": n.stderr.String()} {
		if strings.Contains(out, creds.Secret) || strings.Contains(out, creds.APIKey) {
			t.Errorf("%s shows the first app's secret or API key:\n%s", name, out)
		}
	}
	if !strings.Contains(n.stderr.String(), path) {
		t.Errorf("the log does not say where the credentials are:\n%s", n.stderr)
	}
	return creds
}

// backends lists the storage and queue a node runs on in this test run:
// always embedded, and PostgreSQL + Redis when CI provides them.
func backends(t *testing.T) map[string]map[string]string {
	out := map[string]map[string]string{
		"embedded": {"PUSHGATE_DATA_DIR": t.TempDir()},
	}
	if u, ok := testenv.PostgresURL(t); ok {
		out["postgres"] = map[string]string{
			"PUSHGATE_DATA_DIR":        t.TempDir(),
			"PUSHGATE_DATABASE_URL":    u,
			"PUSHGATE_REDIS_URL":       testenv.RedisURL(t),
			"PUSHGATE_MASTER_KEY":      pushgate.NewMasterKey(),
			"PUSHGATE_QUEUE_NAMESPACE": testenv.Namespace(t),
		}
	}
	return out
}

func withBase(env map[string]string) map[string]string {
	out := map[string]string{"PUSHGATE_HTTP_ADDR": "127.0.0.1:0", "PUSHGATE_LOG_FORMAT": "json"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// TestServe runs the real serve path on port 0: first start prints the
// first app's credentials, the API answers with them, a restart keeps them
// and does not print new ones.
func TestServe(t *testing.T) {
	for name, be := range backends(t) {
		t.Run(name, func(t *testing.T) {
			env := withBase(be)
			n := startNode(t, env)
			creds := credentialsFile(t, env["PUSHGATE_DATA_DIR"], n)
			if !pushgate.ValidID(creds.AppID) || creds.Key == "" || creds.Secret == "" {
				t.Fatalf("credentials %+v", creds)
			}
			if code, body := n.get("/readyz"); code != 200 {
				t.Fatalf("readyz = %d %s", code, body)
			}
			if code, body := n.get("/v1/app", "x-token", creds.APIKey); code != 200 || !strings.Contains(body, creds.AppID) {
				t.Fatalf("GET /v1/app = %d %s", code, body)
			}
			if code, _ := n.get("/v1/app", "x-token", "pgk_wrong"); code != 401 {
				t.Fatalf("wrong key = %d", code)
			}
			if code, body := n.get("/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, `route="/v1/app",status="200"`) {
				t.Fatalf("metrics = %d", code)
			}
			if code, body := n.get("/openapi.yaml"); code != 200 || !strings.HasPrefix(body, "openapi: 3") {
				t.Fatalf("openapi.yaml = %d", code)
			}
			if code := n.shutdown(); code != 0 {
				t.Fatalf("exit code %d after shutdown:\n%s", code, n.stderr)
			}
			if !strings.Contains(n.stderr.String(), `"msg":"stopped"`) {
				t.Fatalf("no clean stop in logs:\n%s", n.stderr)
			}

			again := startNode(t, env)
			if strings.Contains(again.stdout.String(), "apiKey") {
				t.Fatalf("second start printed credentials again:\n%s", again.stdout)
			}
			if !strings.Contains(again.stderr.String(), "first app exists") {
				t.Errorf("second start does not say the app exists:\n%s", again.stderr)
			}
			if code, _ := again.get("/v1/app", "authorization", "token="+creds.APIKey); code != 200 {
				t.Fatalf("key from first start refused after restart: %d", code)
			}
		})
	}
}

func TestServeTextOutput(t *testing.T) {
	env := withBase(map[string]string{"PUSHGATE_DATA_DIR": t.TempDir(), "PUSHGATE_LOG_FORMAT": "text"})
	n := startNode(t, env)
	out := n.stdout.String()
	for _, want := range []string{`Created the first app "default"`, "app id:", "key:", "secret:", "API key:  pgk_"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

// Two nodes on one database and one Redis: one creates the first app, both
// serve it.
func TestTwoNodesShareStorage(t *testing.T) {
	u, ok := testenv.PostgresURL(t)
	if !ok {
		t.Skip("PUSHGATE_TEST_DATABASE_URL is not set")
	}
	env := withBase(map[string]string{
		"PUSHGATE_DATABASE_URL":    u,
		"PUSHGATE_REDIS_URL":       testenv.RedisURL(t),
		"PUSHGATE_MASTER_KEY":      pushgate.NewMasterKey(),
		"PUSHGATE_QUEUE_NAMESPACE": testenv.Namespace(t),
	})
	env1, env2 := map[string]string{}, map[string]string{}
	for k, v := range env {
		env1[k], env2[k] = v, v
	}
	env1["PUSHGATE_DATA_DIR"], env2["PUSHGATE_DATA_DIR"] = t.TempDir(), t.TempDir()
	env2["PUSHGATE_ROLES"] = "worker"
	a := startNode(t, env1)
	b := startNode(t, env2)
	creds := credentialsFile(t, env1["PUSHGATE_DATA_DIR"], a)
	if strings.Contains(b.stdout.String(), "apiKey") {
		t.Fatal("second node created another first app")
	}
	if code, _ := b.get("/readyz"); code != 200 {
		t.Fatalf("worker node readyz = %d", code)
	}
	if code, _ := b.get("/v1/app", "x-token", creds.APIKey); code != 404 {
		t.Fatalf("worker-only node serves the API: %d", code)
	}
	if code, _ := a.get("/v1/app", "x-token", creds.APIKey); code != 200 {
		t.Fatalf("api node: %d", code)
	}
}

func TestServeRejectsBadConfiguration(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"bad addr":          {env: map[string]string{"PUSHGATE_HTTP_ADDR": "nope"}, want: "http_addr"},
		"bad role":          {args: []string{"--roles", "api,cook"}, want: "roles"},
		"bad db url":        {env: map[string]string{"PUSHGATE_DATABASE_URL": "mysql://x"}, want: "database_url"},
		"pg without key":    {env: map[string]string{"PUSHGATE_DATABASE_URL": "postgres://127.0.0.1:1/x"}, want: "master_key"},
		"bad master key":    {env: map[string]string{"PUSHGATE_MASTER_KEY": "short"}, want: "master_key"},
		"bad log format":    {env: map[string]string{"PUSHGATE_LOG_FORMAT": "xml"}, want: "log_format"},
		"bad duration":      {env: map[string]string{"PUSHGATE_SHUTDOWN_GRACE": "soon"}, want: "shutdown_grace"},
		"bad public url":    {env: map[string]string{"PUSHGATE_PUBLIC_URL": "ftp://x"}, want: "public_url"},
		"bad otel endpoint": {env: map[string]string{"PUSHGATE_OTEL_ENDPOINT": "localhost:4318"}, want: "otel_endpoint"},
		"unreachable db":    {env: map[string]string{"PUSHGATE_DATABASE_URL": "postgres://127.0.0.1:1/x?connect_timeout=1", "PUSHGATE_MASTER_KEY": pushgate.NewMasterKey()}, want: "database_url"},
		"unreachable redis": {env: map[string]string{"PUSHGATE_REDIS_URL": "redis://127.0.0.1:1"}, want: "redis_url"},
		"stray argument":    {args: []string{"now"}, want: "no arguments"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"PUSHGATE_DATA_DIR": t.TempDir(), "PUSHGATE_HTTP_ADDR": "127.0.0.1:0"}
			for k, v := range tc.env {
				env[k] = v
			}
			var stderr syncBuffer
			code := run(context.Background(), append([]string{"serve"}, tc.args...), envMap(env), io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want failure naming %q", code, stderr.String(), tc.want)
			}
		})
	}
}

func TestMain(m *testing.M) {
	// The README's examples and the settings table are checked from here.
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir) // the binary buildBinary made once
	}
	os.Exit(code)
}
