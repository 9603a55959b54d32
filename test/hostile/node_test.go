package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/server"
)

// backends are the storage pairings available: SQLite with an embedded
// Redis always, PostgreSQL with Redis when CI provides them.
func backends() []string {
	if os.Getenv("PUSHGATE_TEST_DATABASE_URL") != "" {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range backends() {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// nodeConfig is the configuration of a node with its own fresh database on
// backend, listening on a free loopback port.
func nodeConfig(t *testing.T, backend string) server.Config {
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = testenv.SQLiteURL(t)
	if backend == "postgres" {
		u, ok := testenv.PostgresURL(t)
		if !ok {
			t.Fatal("PUSHGATE_TEST_DATABASE_URL is not set")
		}
		cfg.DatabaseURL = u
		cfg.MasterKey = pushgate.NewMasterKey()
	}
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.QueueNamespace = testenv.Namespace(t)
	cfg.AccessLog = false
	cfg.ShutdownGrace = 5 * time.Second
	cfg.VAPIDSubject = "mailto:push@shop.example"
	// The suite floods the public event routes on purpose.
	cfg.EventsRatePerIP = 0
	// and creates buckets faster than one key may (the limit has its own
	// test in httpapi).
	cfg.BucketCreateRate = 0
	// and calls the inbox routes and opens connections faster than one app
	// or address may (the limits have their own tests in httpapi).
	cfg.AppRatePerMinute, cfg.WSConnectRate = 0, 0
	return cfg
}

// node is a running pushgate node and the first app it created.
type node struct {
	t    *testing.T
	srv  *server.Server
	cfg  server.Config
	base string // http://127.0.0.1:port
	addr string
	// admin is the first app's API key.
	admin  string
	appID  string
	logs   *logTail
	client *http.Client
}

func startNode(t *testing.T, cfg server.Config) *node {
	t.Helper()
	logs := &logTail{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		if t.Failed() {
			logs.dump(t)
		}
	})
	creds, _ := s.FirstApp()
	n := &node{t: t, srv: s, cfg: cfg, base: "http://" + s.Addr(), addr: s.Addr(), admin: creds.APIKey, appID: creds.AppID, logs: logs}
	n.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 32,
			// The suite's own requests must never be proxied.
			Proxy: nil,
		},
		// Redirects are answers to check, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(n.client.CloseIdleConnections)
	return n
}

// routes lists the node's routes as "METHOD /path/{param}".
func (n *node) routes() []string {
	h, ok := n.srv.Handler().(*httpapi.Handler)
	if !ok {
		n.t.Fatalf("the node's handler is a %T, not an *httpapi.Handler", n.srv.Handler())
	}
	return h.Routes()
}

// newApp creates another app on the node and returns its id and API key.
func (n *node) newApp(name string) (appID, key string) {
	n.t.Helper()
	c, err := n.srv.Apps.Create(context.Background(), name)
	if err != nil {
		n.t.Fatal(err)
	}
	return c.AppID, c.APIKey
}

// request is one HTTP request of the suite.
type request struct {
	method string
	path   string // with query
	header http.Header
	body   []byte
	// key is sent as "authorization: token=<key>" when set and no
	// header of the request names one.
	key string
	// noLength sends the body chunked, with no Content-Length.
	noLength bool
}

// answer is what the node said.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	b := a.body
	if len(b) > 300 {
		b = append(b[:300:300], "..."...)
	}
	return fmt.Sprintf("%d %s", a.status, b)
}

func (n *node) do(r request) answer {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
		if r.noLength {
			body = io.MultiReader(bytes.NewReader(r.body)) // hides the length
		}
	}
	req, err := http.NewRequest(r.method, n.base+r.path, body)
	if err != nil {
		return answer{err: err}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if _, named := r.header["Content-Type"]; r.body != nil && !named {
		req.Header.Set("Content-Type", "application/json")
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Del("Content-Type") // named as nil: sent without one
	}
	if r.key != "" && req.Header.Get("Authorization") == "" && req.Header.Get("X-Token") == "" {
		req.Header.Set("Authorization", "token="+r.key)
	}
	res, err := n.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, err := readBody(res)
	return answer{status: res.StatusCode, header: res.Header, body: b, err: err}
}

// call sends a JSON request with key and decodes a 2xx answer into out.
func (n *node) call(key, method, path string, body any, out any) answer {
	n.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	a := n.do(request{method: method, path: path, body: raw, key: key})
	if a.err != nil {
		n.t.Fatalf("%s %s: %v", method, path, a.err)
	}
	if out != nil && a.status < 300 {
		if err := json.Unmarshal(a.body, out); err != nil {
			n.t.Fatalf("%s %s: %d %s", method, path, a.status, a.body)
		}
	}
	return a
}

// must is call that fails the test unless the answer is want.
func (n *node) must(want int, key, method, path string, body any, out any) {
	n.t.Helper()
	if a := n.call(key, method, path, body, out); a.status != want {
		n.t.Fatalf("%s %s: want %d, got %s", method, path, want, a)
	}
}

// raw writes bytes on a new connection and reads one answer. It writes
// while it reads: a server may answer, and stop reading, before the
// request is all sent.
func (n *node) raw(req []byte, timeout time.Duration) answer {
	conn, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		return answer{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	go conn.Write(req)
	return readAnswer(conn, req)
}

// readAnswer reads the answer to req (raw bytes: its method decides
// whether the answer has a body).
func readAnswer(conn net.Conn, req []byte) answer {
	method, _, _ := bytes.Cut(req, []byte(" "))
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: string(method)})
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, err := readBody(res)
	return answer{status: res.StatusCode, header: res.Header, body: b, err: err}
}

// readBody reads an answer's body; of an event stream (GET /v1/sse),
// which does not end, only up to the end of its first event.
func readBody(res *http.Response) ([]byte, error) {
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return io.ReadAll(io.LimitReader(res.Body, 64<<20))
	}
	r := bufio.NewReader(io.LimitReader(res.Body, 1<<20))
	var out []byte
	inEvent := false
	for {
		line, err := r.ReadBytes('\n')
		out = append(out, line...)
		switch {
		case err != nil:
			return out, err
		case bytes.HasPrefix(line, []byte("event:")):
			inEvent = true
		case inEvent && len(bytes.TrimSpace(line)) == 0:
			return out, nil
		}
	}
}

// alive fails the test unless the node answers /healthz.
func (n *node) alive() {
	n.t.Helper()
	a := n.do(request{method: "GET", path: "/healthz"})
	if a.err != nil || a.status != 200 || !bytes.Contains(a.body, []byte(`"ok"`)) {
		n.t.Fatalf("the node no longer answers /healthz: %s", a)
	}
}

// errorShape returns what is wrong with an error answer: every answer from
// 400 up is JSON in the one shape {"message","errors","code"}, and its
// code agrees with its status.
func errorShape(a answer) []string {
	if a.status < 400 {
		return nil
	}
	var problems []string
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		problems = append(problems, fmt.Sprintf("error answer %d has Content-Type %q, not application/json", a.status, ct))
	}
	var body struct {
		Message *string   `json:"message"`
		Errors  *[]string `json:"errors"`
		Code    *string   `json:"code"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return append(problems, fmt.Sprintf("error answer %d is not the error shape: %v: %.200q", a.status, err, a.body))
	}
	switch {
	case body.Message == nil || *body.Message == "":
		problems = append(problems, fmt.Sprintf("error answer %d has no message: %.200s", a.status, a.body))
	case body.Errors == nil:
		problems = append(problems, fmt.Sprintf("error answer %d has no errors array: %.200s", a.status, a.body))
	case body.Code == nil || *body.Code == "":
		problems = append(problems, fmt.Sprintf("error answer %d has no code: %.200s", a.status, a.body))
	default:
		if want, ok := codeStatus[*body.Code]; !ok || want != a.status {
			problems = append(problems, fmt.Sprintf("error answer %d has code %q, which means %d", a.status, *body.Code, want))
		}
	}
	return problems
}

// codeStatus is the documented status of every error code (openapi.yaml's
// Error schema).
var codeStatus = map[string]int{
	"validation_failed":     400,
	"unauthorized":          401,
	"forbidden":             403,
	"not_found":             404,
	"method_not_allowed":    405,
	"request_timeout":       408,
	"conflict":              409,
	"precondition_failed":   412,
	"too_large":             413,
	"unprocessable":         422,
	"range_not_satisfiable": 416,
	"rate_limited":          429,
	"internal":              500,
	"unavailable":           503,
}

// errorOf decodes an error answer.
func errorOf(a answer) (message string, errs []string, code string) {
	var body struct {
		Message string
		Errors  []string
		Code    string
	}
	json.Unmarshal(a.body, &body)
	return body.Message, body.Errors, body.Code
}

// logTail keeps the node's warnings, shown when a test fails.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 200 {
		l.lines = append(l.lines, strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (l *logTail) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		t.Log("node: " + s)
	}
}

// vapidKeys returns a VAPID key pair in the base64url form CORE documents.
func vapidKeys() (pub, priv string) {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes())
}

// subscription returns a Web Push receiver of credential cred at endpoint,
// with valid keys.
func subscription(cred, endpoint string) map[string]any {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	rand.Read(auth)
	return map[string]any{
		"credentialId": cred,
		"endpoint":     endpoint,
		"p256dh":       base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		"auth":         base64.RawURLEncoding.EncodeToString(auth),
	}
}

// waitFor polls cond every 100 ms until it holds or timeout passes, and
// reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
