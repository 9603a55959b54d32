package main

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// process is the real binary running `serve`.
type process struct {
	cmd  *exec.Cmd
	base string
	out  string // the first stdout line (first-start credentials)
}

// startProcess runs `serve` on a free loopback port, or on the
// PUSHGATE_HTTP_ADDR env sets (to restart a node where its clients are).
func startProcess(t *testing.T, bin string, env []string) *process {
	t.Helper()
	args := []string{"serve", "--http-addr", "127.0.0.1:0", "--json"}
	for _, e := range env {
		if strings.HasPrefix(e, "PUSHGATE_HTTP_ADDR=") {
			args = []string{"serve", "--json"}
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &process{cmd: cmd}
	lines := make(chan string, 1)
	go func() {
		first, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- first
		io.Copy(io.Discard, stdout)
	}()
	var logs strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		logs.WriteString(sc.Text() + "\n")
		if addr := listenAddr(sc.Text()); addr != "" {
			p.base = "http://" + addr
			break
		}
	}
	if p.base == "" {
		t.Fatalf("serve did not start:\n%s", logs.String())
	}
	tail, races := keepTail(sc, stderr)
	t.Cleanup(func() {
		if r := races(); r != "" {
			t.Errorf("the node reported a data race:\n%s", r)
		}
		if t.Failed() {
			t.Logf("the node's last log lines:\n%s", tail())
		}
	})
	select {
	case p.out = <-lines:
	case <-time.After(200 * time.Millisecond): // a restart prints no credentials
	}
	return p
}

// keepTail reads the rest of a node's log, keeping its last 60 lines for
// a failed test to show.
func keepTail(sc *bufio.Scanner, r io.Reader) (tail, races func() string) {
	var mu sync.Mutex
	var last, raced []string
	go func() {
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			if last = append(last, line); len(last) > 60 {
				last = last[1:]
			}
			// A binary built with PUSHGATE_TEST_BINARY_FLAGS=-race reports
			// races on its stderr: keep the reports whole.
			if strings.Contains(line, "WARNING: DATA RACE") || len(raced) > 0 && len(raced) < 400 {
				raced = append(raced, line)
			}
			mu.Unlock()
		}
		io.Copy(io.Discard, r) // a line too long for the scanner: the node must not block on its log
	}()
	lock := func(lines *[]string) func() string {
		return func() string {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(*lines, "\n")
		}
	}
	return lock(&last), lock(&raced)
}

func (p *process) call(t *testing.T, key, method, path string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	if s, ok := body.(string); ok {
		raw = []byte(s)
	}
	req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(raw))
	req.Header.Set("x-token", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && json.Unmarshal(b, out) != nil {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return res.StatusCode
}

// crashEnv is the environment of a node that a test kills and starts
// again: local fakes allowed, on PostgreSQL and Redis when the tests have
// them (the embedded ones otherwise), plus extra settings.
func crashEnv(t *testing.T, extra ...string) []string {
	env := []string{
		"PUSHGATE_DATA_DIR=" + t.TempDir(), "PUSHGATE_LOG_FORMAT=json", "PUSHGATE_ACCESS_LOG=false",
		"PUSHGATE_WEBPUSH_ALLOW_HTTP=true", "PUSHGATE_SSRF_ALLOW=127.0.0.0/8", "PUSHGATE_VAPID_SUBJECT=mailto:ops@example.com",
	}
	if u, ok := testenv.PostgresURL(t); ok {
		env = append(env, "PUSHGATE_DATABASE_URL="+u, "PUSHGATE_MASTER_KEY="+pushgate.NewMasterKey(),
			"PUSHGATE_REDIS_URL="+testenv.RedisURL(t), "PUSHGATE_QUEUE_NAMESPACE="+testenv.Namespace(t))
	}
	return append(env, extra...)
}

// TestKilledMidDeliveryLosesNothing kills the node with SIGKILL while it
// is delivering (on embedded defaults that also loses the in-process Redis
// and every task in it), starts it again on the same storage, and expects
// every message sent, each device reached, and duplicates no more than the
// sends in flight plus one unflushed batch of results per task.
func TestKilledMidDeliveryLosesNothing(t *testing.T) {
	bin := buildBinary(t)
	web := providertest.NewWebPush(t)
	web.SetLatency(25 * time.Millisecond)
	env := crashEnv(t,
		"PUSHGATE_WORKER_CONCURRENCY=2", "PUSHGATE_DELIVERY_CONCURRENCY=4", "PUSHGATE_DELIVERY_CHUNK_SIZE=100",
		"PUSHGATE_DELIVERY_LEASE=3s", "PUSHGATE_DELIVERY_STALE_AFTER=2s", "PUSHGATE_MAINTENANCE_INTERVAL=1s")
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)

	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	pub, priv := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes())
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],"callbackConfig":{"type":"none"}}`, pub, priv), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Crash test","body":"still here"}`, &c)
	const n = 400
	subs := make([]providertest.WebPushSubscription, n)
	receivers := make([]recipients.Receiver, n)
	for i := range subs {
		subs[i] = web.NewSubscriptionFor(pub)
		receivers[i] = subs[i].Receiver(bucket.Credentials[0].ID)
	}
	var sent struct{ Results []struct{ MessageID string } }
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 {
		t.Fatalf("send: %d", code)
	}

	deadline := time.Now().Add(30 * time.Second)
	for web.Counts().Accepted < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d delivered before the kill", web.Counts().Accepted)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	atKill := web.Counts().Accepted
	if atKill >= n {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}

	p = startProcess(t, bin, env)
	deadline = time.Now().Add(60 * time.Second)
	for {
		pending := 0
		for _, r := range sent.Results {
			var m struct{ Status string }
			p.call(t, creds.APIKey, "GET", "/v1/bucket/"+bucket.BucketID+"/message/"+r.MessageID, nil, &m)
			switch m.Status {
			case "sent":
			case "queued":
				pending++
			default:
				t.Fatalf("message %s ended %s", r.MessageID, m.Status)
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued 60 s after the restart", pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i, s := range subs {
		if len(web.DeliveredTo(s)) == 0 {
			t.Fatalf("subscription %d never received its notification", i)
		}
	}
	dups := web.Counts().Accepted - n
	bound := int64(2*4 + 2*100) // in flight + one unflushed batch per running task
	t.Logf("%d delivered before the kill; %d duplicates after recovery (bound %d)", atKill, dups, bound)
	if dups > bound {
		t.Fatalf("%d duplicate deliveries after the crash, more than the %d a crash can leave unrecorded", dups, bound)
	}
}

// TestKilledBeforeCallbackDeliveredLosesNothing: a batch of events that
// its consumer has not yet accepted survives a SIGKILL of the node, and
// after the restart arrives with the webhook-id of its first attempt.
func TestKilledBeforeCallbackDeliveredLosesNothing(t *testing.T) {
	bin := buildBinary(t)
	web := providertest.NewWebPush(t)
	type attempt struct {
		id     string
		status int
		body   []byte
	}
	var (
		mu       sync.Mutex
		up       bool
		attempts []attempt
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		status := http.StatusServiceUnavailable
		if up {
			status = http.StatusNoContent
		}
		attempts = append(attempts, attempt{r.Header.Get("webhook-id"), status, body})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	defer hook.Close()
	seen := func() []attempt {
		mu.Lock()
		defer mu.Unlock()
		return append([]attempt(nil), attempts...)
	}
	env := crashEnv(t, "PUSHGATE_WEBHOOK_MIN_BACKOFF=1s")
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)

	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	pub, priv := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes())
	const n = 50
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"batchSize":%d,"flushIntervalMs":600000}}}`, pub, priv, hook.URL, n), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Crash test"}`, &c)
	receivers := make([]recipients.Receiver, n)
	for i := range receivers {
		receivers[i] = web.NewSubscriptionFor(pub).Receiver(bucket.Credentials[0].ID)
	}
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, nil); code != 200 {
		t.Fatalf("send: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the batch was never attempted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	first := seen()[0]
	mu.Lock()
	up = true
	mu.Unlock()

	startProcess(t, bin, env)
	deadline = time.Now().Add(60 * time.Second)
	for {
		a := seen()
		if last := a[len(a)-1]; last.status == http.StatusNoContent {
			if last.id != first.id {
				t.Fatalf("after the restart the batch came with webhook-id %s, before with %s", last.id, first.id)
			}
			if !bytes.Equal(last.body, first.body) || strings.Count(string(last.body), `"kind":"sent"`) != n {
				t.Fatalf("the delivered batch differs from the first attempt or lacks events: %s", last.body)
			}
			t.Logf("%d attempts; delivered after the restart", len(a))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batch was not delivered within 60 s of the restart (%d attempts)", len(a))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
