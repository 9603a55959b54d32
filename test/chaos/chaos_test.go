package chaos

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	if templateRoot != "" {
		os.RemoveAll(templateRoot)
	}
	os.Exit(code)
}

// midDelivery waits until a quarter of the scale's messages reached the
// fake, and fails the test if all did (a fault after that proves nothing).
func (r *rig) midDelivery() {
	r.t.Helper()
	waitFor(r.t, 60*time.Second, func() bool { return r.apns.Counts().Accepted >= int64(r.scale.messages/4) }, "a quarter of the messages delivered")
	if r.apns.Counts().Accepted >= int64(r.scale.messages) {
		r.t.Fatal("everything was delivered before the fault; the test proves nothing")
	}
}

// firstDelivery returns how long after since the fake next accepted a
// message, waiting up to d.
func (r *rig) firstDelivery(since time.Time, d time.Duration) time.Duration {
	before := r.apns.Counts().Accepted
	for time.Since(since) < d {
		if r.apns.Counts().Accepted > before {
			return time.Since(since)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

// TestSIGKILLMidChunk kills the only node with SIGKILL while it delivers
// and starts it again.
func TestSIGKILLMidChunk(t *testing.T) {
	r, n := singleNode(t)
	r.sendAll(n)
	r.midDelivery()
	n.kill()
	n.start()
	since := time.Now()
	first := r.firstDelivery(since, 30*time.Second)
	f := r.settle("SIGKILL mid-chunk, restart", since)
	f.note = "; first delivery " + first.Round(10*time.Millisecond).String() + " after the restart"
	r.report(f)
}

// TestRedisFlushed empties Redis (FLUSHALL) mid-delivery: the tasks are
// gone, the outbox in the database is not, and the recovery sweep
// enqueues the messages again.
func TestRedisFlushed(t *testing.T) {
	r, n := singleNode(t)
	r.sendAll(n)
	r.midDelivery()
	if got := r.redis.do("FLUSHALL"); got != "+OK\r\n" {
		t.Fatalf("FLUSHALL: %q", got)
	}
	r.report(r.settle("Redis flushed mid-delivery", time.Now()))
}

// TestRedisDown stops Redis while sends keep coming: the API accepts
// every send (the outbox is in the database), and everything goes out
// once Redis is back (empty).
func TestRedisDown(t *testing.T) {
	r, n := singleNode(t)
	wait := r.load(n, r.scale.outage)
	time.Sleep(r.scale.outage / 8)
	r.redis.stop()
	time.Sleep(r.scale.outage)
	r.redis.start()
	since := time.Now()
	wait()
	r.mu.Lock()
	refused := len(r.answers) != 1 || r.answers[http.StatusOK] == 0 || r.dropped > 0
	r.mu.Unlock()
	if refused {
		t.Errorf("with Redis down the API refused sends: answers %v, %d unanswered", r.answers, r.dropped)
	}
	r.report(r.settle("Redis down "+r.scale.outage.String()+" while sending", since))
}

// TestPostgresDown stops PostgreSQL while sends keep coming: the API
// answers 503 with Retry-After (never 500), /readyz says not ready, and
// every send answered 200 goes out.
func TestPostgresDown(t *testing.T) {
	// A lease longer than the outage: a task retries its last write of
	// results while its claim holds (three quarters of the lease), so what
	// it delivered is recorded when PostgreSQL is back, not sent again.
	r, n := singleNode(t, "PUSHGATE_DELIVERY_LEASE="+(3*suite(t).pgOutage).String())
	wait := r.load(n, r.scale.pgOutage+2*time.Second)
	time.Sleep(time.Second)
	r.pg.stop()
	down := time.Now()
	readyz := map[int]int{}
	for time.Since(down) < r.scale.pgOutage {
		res, err := client.Get(n.base() + "/readyz")
		if err == nil {
			res.Body.Close()
			readyz[res.StatusCode]++
		}
		a := n.do(r.key, "GET", "/v1/bucket/"+r.bucket+"/webhooks", nil)
		r.mu.Lock()
		r.answers[a.status]++
		r.mu.Unlock()
		time.Sleep(200 * time.Millisecond)
	}
	r.pg.start()
	since := time.Now()
	wait()
	r.mu.Lock()
	if r.answers[http.StatusInternalServerError] > 0 || r.noRetry > 0 || r.answers[http.StatusServiceUnavailable] == 0 {
		t.Errorf("with PostgreSQL down: answers %v (%d 503s without Retry-After); want 200 and 503 with Retry-After only", r.answers, r.noRetry)
	}
	r.mu.Unlock()
	if readyz[http.StatusOK] > 0 || readyz[http.StatusServiceUnavailable] == 0 {
		t.Errorf("/readyz with PostgreSQL down answered %v, want 503", readyz)
	}
	r.report(r.settle("PostgreSQL down "+r.scale.pgOutage.String()+" while sending", since))
}

// TestPostgresRestarted restarts PostgreSQL mid-delivery.
func TestPostgresRestarted(t *testing.T) {
	r, n := singleNode(t)
	r.sendAll(n)
	r.midDelivery()
	r.pg.stop()
	r.pg.start()
	r.report(r.settle("PostgreSQL restarted mid-delivery", time.Now()))
}

// TestProviderThrottles has APNS answer 429 and 503 in turn for a while:
// the messages are retried with backoff and all delivered after.
func TestProviderThrottles(t *testing.T) {
	r, n := singleNode(t)
	d := 4 * time.Second
	if r.scale.long {
		d = time.Minute
	}
	r.apns.FailAll(providertest.APNSReply{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: time.Second},
		providertest.APNSReply{Status: http.StatusServiceUnavailable, Reason: "ServiceUnavailable"})
	r.sendAll(n)
	time.Sleep(d)
	r.apns.FailAll()
	since := time.Now()
	rejected := r.apns.Counts().Rejected
	f := r.settle("APNS answering 429 and 503 for "+d.String(), since)
	f.note = "; " + strconv.FormatInt(rejected, 10) + " requests refused by the fake"
	r.report(f)
}

// batch is a webhook batch as GET /v1/bucket/{id}/webhooks lists it.
type batch struct {
	BatchID  string
	Status   string
	Events   int
	Attempts int
}

func (r *rig) batches(n *node, status string) []batch {
	r.t.Helper()
	var out struct{ Batches []batch }
	n.call(r.key, "GET", "/v1/bucket/"+r.bucket+"/webhooks?limit=500&status="+status, nil, &out)
	return out.Batches
}

// TestWebhookConsumerDown has the callback answer 503 until its batches
// are dead letters, then redelivers them through the API: every event
// arrives once, each batch with the webhook-id of its first attempt.
func TestWebhookConsumerDown(t *testing.T) {
	s := suite(t)
	r, n := singleNode(t, "PUSHGATE_WEBHOOK_RETRY_FOR="+s.hookDown.String())
	r.hook.setDown(true)
	r.sendAll(n)
	waitFor(t, 2*time.Minute, func() bool {
		return r.apns.Counts().Accepted >= int64(r.scale.messages) && len(r.batches(n, "pending")) == 0 && len(r.batches(n, "dead")) > 0
	}, "every message delivered and every webhook batch dead")
	dead := r.batches(n, "dead")
	r.hook.setDown(false)
	since := time.Now()
	attempts := 0
	for _, b := range dead {
		attempts += b.Attempts
		n.call(r.key, "POST", "/v1/bucket/"+r.bucket+"/webhooks/"+b.BatchID+"/redeliver", nil, nil)
	}
	f := r.settle("webhook consumer down until dead letters, then redelivered", since)
	r.hook.mu.Lock()
	for id := range r.hook.ids {
		if r.hook.failed[id] == 0 {
			t.Errorf("batch %s arrived with a webhook-id none of the failed attempts had", id)
		}
	}
	delivered := len(r.hook.ids)
	r.hook.mu.Unlock()
	if delivered != len(dead) {
		t.Errorf("%d batches delivered after the redelivery, %d were dead", delivered, len(dead))
	}
	f.note = fmt.Sprintf("; %d dead batches after %d attempts in all, redelivered with their webhook-ids", len(dead), attempts)
	r.report(f)
}

// TestTwoNodes runs an API-only node and a worker-only node on the same
// PostgreSQL and Redis while sends keep coming, and kills each in turn:
// the worker (the API keeps accepting), then the API node (sends get no
// answer; the worker keeps delivering).
func TestTwoNodes(t *testing.T) {
	r := newRig(t)
	api := r.node("api", "PUSHGATE_ROLES=api")
	worker := r.node("worker", "PUSHGATE_ROLES=worker")
	api.start()
	r.setup(api)
	worker.start()
	d := 6 * time.Second
	if r.scale.long {
		d = 30 * time.Second
	}
	wait := r.load(api, d)
	time.Sleep(d / 6)
	worker.kill()
	time.Sleep(d / 6)
	worker.start()
	time.Sleep(d / 6)
	api.kill()
	time.Sleep(d / 6)
	api.start()
	since := time.Now()
	wait()
	f := r.settle("two nodes: worker, then API node SIGKILLed", since)
	f.note = "; recovery counted from the API node's restart"
	r.report(f)
}
