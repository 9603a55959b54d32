package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// consumer is a webhook receiver that counts what it gets: each batch
// once per webhook-id (a batch POSTed again is the same batch), and the
// sent events of each message in distinct batches. While down it answers
// 503 to everything.
type consumer struct {
	mu      sync.Mutex
	down    bool
	posts   int
	ids     map[string]int // webhook-id -> POSTs answered 2xx
	failed  map[string]int // webhook-id -> POSTs answered 503
	sent    map[string]int // message id -> sent events in distinct batches
	lastNew time.Time      // when a new webhook-id was last accepted
}

func newConsumer(t *testing.T) (*consumer, string) {
	c := &consumer{ids: map[string]int{}, failed: map[string]int{}, sent: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *consumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []struct {
			MessageID string
			Result    struct{ Kind string }
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	if c.down {
		c.failed[id]++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if c.ids[id]++; c.ids[id] == 1 {
		c.lastNew = time.Now()
		for _, m := range body.Messages {
			if m.Result.Kind == "sent" {
				c.sent[m.MessageID]++
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (c *consumer) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// events returns how many of ids have exactly one sent event, and how
// many have more than one.
func (c *consumer) events(ids []string) (once, more int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		switch n := c.sent[id]; {
		case n == 1:
			once++
		case n > 1:
			more++
		}
	}
	return once, more
}

// scale is the suite's size: short in CI, long by hand.
type scale struct {
	long     bool
	messages int           // messages a fault's sends carry
	perSend  int           // receivers per send
	outage   time.Duration // how long Redis, PostgreSQL or a provider is down
	pgOutage time.Duration
	hookDown time.Duration // how long the webhook consumer is down (before dead letters)
}

// suite returns the scale PUSHGATE_TEST_CHAOS asks for, or skips the test:
// 1 (or short) runs the short form CI runs, long the long one.
// PUSHGATE_CHAOS_MESSAGES and PUSHGATE_CHAOS_OUTAGE override either's sizes.
func suite(t *testing.T) scale {
	mode := os.Getenv("PUSHGATE_TEST_CHAOS")
	var s scale
	switch mode {
	case "":
		t.Skip("the chaos suite runs its own PostgreSQL and Redis: set PUSHGATE_TEST_CHAOS=1 (short, CI) or long")
	case "long":
		s = scale{long: true, messages: 20000, perSend: 500, outage: 30 * time.Second, pgOutage: 30 * time.Second, hookDown: 20 * time.Second}
	default:
		s = scale{messages: 2000, perSend: 200, outage: 8 * time.Second, pgOutage: 5 * time.Second, hookDown: 3 * time.Second}
	}
	if v := os.Getenv("PUSHGATE_CHAOS_MESSAGES"); v != "" {
		fmt.Sscan(v, &s.messages)
	}
	if v, err := time.ParseDuration(os.Getenv("PUSHGATE_CHAOS_OUTAGE")); err == nil {
		s.outage, s.pgOutage = v, v
	}
	return s
}

// rig is one fault's world: its own PostgreSQL and Redis, a fake APNS, a
// webhook consumer, and the bucket the sends go through.
type rig struct {
	t        *testing.T
	scale    scale
	pg       *pgServer
	redis    *redisServer
	apns     *providertest.APNSFake
	hook     *consumer
	env      []string // what every node of the rig shares
	key      string
	bucket   string
	credID   string
	contextD string
	apnsKey  *providertest.APNSKey
	hookURL  string

	mu       sync.Mutex
	accepted []string        // message ids answered 200
	tokens   map[string]bool // device tokens of accepted messages
	answers  map[int]int     // status -> sends
	dropped  int             // sends that got no answer (node down)
	noRetry  int             // 503s without Retry-After
}

// rigSettings are the shortened settings of every fault: quick recovery
// and webhook retries, a delivery slow enough to be caught mid-way.
var rigSettings = []string{
	"PUSHGATE_LOG_FORMAT=json", "PUSHGATE_ACCESS_LOG=false",
	"PUSHGATE_WORKER_CONCURRENCY=2", "PUSHGATE_DELIVERY_CONCURRENCY=8", "PUSHGATE_DELIVERY_CHUNK_SIZE=100",
	"PUSHGATE_DELIVERY_LEASE=4s", "PUSHGATE_DELIVERY_STALE_AFTER=2s", "PUSHGATE_MAINTENANCE_INTERVAL=1s",
	"PUSHGATE_WEBHOOK_MIN_BACKOFF=1s", "PUSHGATE_SSRF_ALLOW=127.0.0.0/8",
}

func newRig(t *testing.T, extra ...string) *rig {
	s := suite(t)
	r := &rig{t: t, scale: s, tokens: map[string]bool{}, answers: map[int]int{}}
	start := time.Now()
	buildBinary(t)
	took(t, "go build", start)
	start = time.Now()
	r.pg = startPostgres(t)
	r.redis = startRedis(t)
	took(t, "PostgreSQL and Redis", start)
	r.apns = providertest.NewAPNS(t)
	r.apns.SetLatency(20 * time.Millisecond)
	key := providertest.APNSTestKey(t)
	r.apns.TrustKey(key.KeyID, key.TeamID, key.Public())
	certFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(certFile, r.apns.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	var hookURL string
	r.hook, hookURL = newConsumer(t)
	r.env = append(append([]string{
		"SSL_CERT_FILE=" + certFile, "PUSHGATE_APNS_HOST=" + r.apns.URL,
		"PUSHGATE_DATABASE_URL=" + r.pg.URL(), "PUSHGATE_REDIS_URL=" + r.redis.URL(),
		"PUSHGATE_MASTER_KEY=" + pushgate.NewMasterKey(),
	}, rigSettings...), extra...)
	r.apnsKey, r.hookURL = key, hookURL
	return r
}

// node makes a node of the rig (not started), with extra settings.
// singleNode starts a rig with one node that serves and delivers, set up
// (bucket, callback, context) for the faults that need no second node.
func singleNode(t *testing.T, extra ...string) (*rig, *node) {
	r := newRig(t, extra...)
	n := r.node("single")
	n.start()
	r.setup(n)
	return r, n
}

func (r *rig) node(name string, extra ...string) *node {
	return newNode(r.t, name, append(append([]string(nil), r.env...), extra...))
}

// setup creates, through n (started first), the bucket with an APNS
// credential and a callback to the consumer, and its context.
func (r *rig) setup(n *node) {
	r.t.Helper()
	r.key = n.credentials().APIKey
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	k := r.apnsKey
	n.call(r.key, "POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.app"}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"batchSize":100,"flushIntervalMs":200}}}`, k.P8, k.KeyID, k.TeamID, r.hookURL), &bucket)
	r.bucket, r.credID = bucket.BucketID, bucket.Credentials[0].ID
	var c struct{ ContextID string }
	n.call(r.key, "POST", "/v1/bucket/"+r.bucket+"/context/data", `{"title":"Chaos","body":"once"}`, &c)
	r.contextD = c.ContextID
}

// send sends one batch of receivers through n and records its answer:
// the message ids of a 200, the status otherwise. It returns the status
// (0: no answer).
func (r *rig) send(n *node, count int) int {
	receivers := make([]recipients.Receiver, count)
	for i := range receivers {
		receivers[i] = recipients.Receiver{CredentialID: r.credID, Token: providertest.APNSTestDeviceToken(r.t)}
	}
	a := n.do(r.key, "POST", "/v1/bucket/"+r.bucket+"/context/"+r.contextD+"/send", map[string]any{"receivers": receivers})
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.err != nil {
		r.dropped++
		return 0
	}
	r.answers[a.status]++
	if a.status == http.StatusServiceUnavailable && a.retryAfter == "" {
		r.noRetry++
	}
	if a.status != http.StatusOK {
		return a.status
	}
	var out struct{ Results []struct{ MessageID string } }
	if err := json.Unmarshal(a.body, &out); err != nil || len(out.Results) != count {
		r.t.Errorf("send answered 200 with %s", a.body)
		return a.status
	}
	for i, res := range out.Results {
		r.accepted = append(r.accepted, res.MessageID)
		r.tokens[receivers[i].Token] = true
	}
	return a.status
}

// sendAll sends the scale's messages through n as fast as it answers.
func (r *rig) sendAll(n *node) {
	r.t.Helper()
	for range r.scale.messages / r.scale.perSend {
		if code := r.send(n, r.scale.perSend); code != http.StatusOK {
			r.t.Fatalf("send before the fault: %d", code)
		}
	}
}

// load sends the scale's messages through n evenly over d, in the
// background; wait blocks until all are sent.
func (r *rig) load(n *node, d time.Duration) (wait func()) {
	sends := r.scale.messages / r.scale.perSend
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		for i := range sends {
			time.Sleep(time.Until(start.Add(d * time.Duration(i) / time.Duration(sends))))
			r.send(n, r.scale.perSend)
		}
	}()
	return func() { <-done }
}

// figures are what a fault measured.
type figures struct {
	fault                string
	accepted, delivered  int
	duplicates           int
	eventsOnce, eventsUp int // messages with exactly one sent event; with more
	recovery             time.Duration
	note                 string
}

// settle waits until every accepted message reached the fake APNS and
// the consumer got its sent event, then until the fake hears nothing more
// for a while, and returns the figures with the recovery time counted
// from since (the end of the fault). It fails the test on a lost message
// or event.
func (r *rig) settle(fault string, since time.Time) figures {
	r.t.Helper()
	r.mu.Lock()
	ids := append([]string(nil), r.accepted...)
	r.mu.Unlock()
	f := figures{fault: fault, accepted: len(ids)}
	reached := map[string]int{}
	read := 0
	count := func() {
		d := r.apns.Delivered()
		for _, req := range d[read:] {
			reached[req.DeviceToken]++
		}
		read = len(d)
	}
	limit := 120 * time.Second
	if r.scale.long {
		limit = 10 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for {
		count()
		f.delivered = r.deliveredAccepted(reached)
		f.eventsOnce, f.eventsUp = r.hook.events(ids)
		if f.delivered == f.accepted && f.eventsOnce+f.eventsUp == f.accepted {
			f.recovery = time.Since(since)
			break
		}
		if time.Now().After(deadline) {
			r.t.Errorf("%s: after %v, %d of %d accepted messages delivered, %d with their sent event",
				fault, limit, f.delivered, f.accepted, f.eventsOnce+f.eventsUp)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Late re-sends (a chunk handed out again) come after a quiet spell.
	for last := -1; read != last; time.Sleep(2 * time.Second) {
		last = read
		count()
	}
	f.eventsOnce, f.eventsUp = r.hook.events(ids)
	for _, k := range reached {
		f.duplicates += k - 1
	}
	if f.eventsUp > 0 {
		r.t.Errorf("%s: %d messages reached the consumer with more than one sent event", fault, f.eventsUp)
	}
	return f
}

func (r *rig) deliveredAccepted(reached map[string]int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for tok := range r.tokens {
		if reached[tok] > 0 {
			n++
		}
	}
	return n
}

// report logs the figures as a row of docs/reliability.md's table
// (grep "chaos |" in `go test -v` output).
func (r *rig) report(f figures) {
	r.mu.Lock()
	answers, dropped := fmt.Sprint(r.answers), r.dropped
	r.mu.Unlock()
	form := "short"
	if r.scale.long {
		form = "long"
	}
	once := "yes"
	if f.eventsOnce != f.accepted {
		once = fmt.Sprintf("no (%d of %d)", f.eventsOnce, f.accepted)
	}
	r.t.Logf("chaos | %s | %d | %d | %d | %s | %.1f s | (%s form; send answers %s, %d unanswered%s)",
		f.fault, f.accepted, f.delivered, f.duplicates, once, f.recovery.Seconds(), form, answers, dropped, f.note)
}

// took logs how long a step of the rig took, in verbose runs.
func took(t *testing.T, what string, start time.Time) {
	t.Logf("%s took %v", what, time.Since(start).Round(10*time.Millisecond))
}
