package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/bench/internal/latency"
	"github.com/pushgate/pushgate/bench/internal/procstat"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// runPushgate measures `pushgate serve` on o's storage and queue.
func runPushgate(t *tb, o options, f *fakeProc) {
	consumer := newEventConsumer()
	callback := `{"type":"none"}`
	if o.events {
		hook := httptest.NewServer(consumer)
		defer hook.Close()
		callback = fmt.Sprintf(`{"type":"http","payload":{"url":%q}}`, hook.URL)
	}
	node, key := startNode(t, o, f)
	c := &client{base: node.base, header: http.Header{"X-Token": {key}}, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	b := newBucket(t, c, f, callback)
	defer b.delete(c)
	var ctxAnswer struct{ ContextID string }
	c.post(t, "/v1/bucket/"+b.id+"/context/data", `{"title":"Load test","body":"Hello from sendload","behaviour":"https://example.com/x","tag":"bench"}`, &ctxAnswer)
	path := "/v1/bucket/" + b.id + "/context/" + ctxAnswer.ContextID + "/send"
	bodies := b.bodies(t, o, f)

	requests := o.n / o.batch
	total := int64(requests * o.batch)
	w := watched{node: node.pid, fake: f.pid, redis: redisPID(t, o.redis), pg: o.db != "", pgDB: dbName(o.db)}
	fmt.Printf("pushgate:  %s, %s, provider %s, fake %s (latency %v), callback %v\n", orDefault(o.db, "SQLite (embedded)"),
		orDefault(o.redis, "embedded Redis"), o.provider, o.fake, o.latency, o.events)
	fmt.Printf("sends:     %d requests of %d receivers from %d concurrent senders\n", requests, o.batch, o.senders)
	before, cpu0 := f.counts(t).delivered(o.provider), w.read()
	profiled := profileNode(o, node)
	start := time.Now()
	latencies, ids := sendAll(t, o.senders, requests, func(s int) []byte {
		return c.postRaw(t, path, bodies[s])
	}, o.events)
	fmt.Printf("accepted:  %d in %v (%.0f/s)\n", total, time.Since(start).Round(time.Millisecond), float64(total)/time.Since(start).Seconds())
	nodeAnswers(node.log)
	if o.roles == "api" { // nothing is delivered
		slices.Sort(latencies)
		fmt.Printf("answers:   p50 %v  p90 %v  p99 %v  max %v\n", latency.Pct(latencies, 50), latency.Pct(latencies, 90), latency.Pct(latencies, 99), latency.Pct(latencies, 100))
		return
	}
	end := f.waitDelivered(t, o.provider, before, total, 60*time.Second)
	if o.events {
		consumer.wait(t, ids, end, o.eventsWait)
	}
	time.Sleep(o.settle)
	r := result{label: o.label, pushes: total, elapsed: end.Sub(start), latencies: latencies, cpu: used(cpu0, w.read()), w: w}
	r.peakKiB, _ = procstat.StatusKiB(node.pid, "VmHWM")
	if r.label == "" {
		r.label = fmt.Sprintf("pushgate (%s), %s, %s, callback %v", o.provider, orDefault(dbName(o.db), "SQLite"), orDefault(o.redis, "embedded Redis"), o.events)
	}
	r.print()
	profiled()
	if o.events && o.clientEv {
		clientEvents(t, o, c, consumer, "/v1/context/"+ctxAnswer.ContextID+"/events/delivered", ids)
	}
}

// dbName is the database a PostgreSQL URL names.
func dbName(db string) string {
	u, err := url.Parse(db)
	if err != nil || db == "" {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// bucket holds one credential of each provider, in the order apns, fcm,
// vapid.
type bucket struct {
	id          string
	credentials []string
}

func newBucket(t *tb, c *client, f *fakeProc, callback string) *bucket {
	var answer struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	c.post(t, "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[
		{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.bench"}},
		{"type":"fcm_v1","payload":%s},
		{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],"callbackConfig":%s}`,
		f.P8, f.KeyID, f.TeamID, f.ServiceAccount, f.VAPIDPublic, f.VAPIDPrivate, callback), &answer)
	b := &bucket{id: answer.BucketID}
	for _, cr := range answer.Credentials {
		b.credentials = append(b.credentials, cr.ID)
	}
	return b
}

// delete removes the bucket with whatever is still queued (with -roles
// api nothing is delivered), so that a later run on the same database
// does not find it stale and deliver it.
func (b *bucket) delete(c *client) {
	req, _ := http.NewRequest("DELETE", c.base+"/v1/bucket/"+b.id, nil)
	req.Header = c.header.Clone()
	if res, err := c.http.Do(req); err == nil {
		res.Body.Close()
	}
}

// bodies makes one request body per sender, reused by its requests:
// building JSON is the client's cost, not the server's.
func (b *bucket) bodies(t *tb, o options, f *fakeProc) [][]byte {
	var subs []providertest.WebPushSubscription
	if o.provider == "webpush" {
		subs = f.subscriptions(t, o.distinct)
	}
	bodies := make([][]byte, o.senders)
	for s := range bodies {
		bodies[s] = b.body(t, o, subs, s)
	}
	return bodies
}

func (b *bucket) body(t *tb, o options, subs []providertest.WebPushSubscription, s int) []byte {
	rs := make([]recipients.Receiver, o.batch)
	for i := range rs {
		switch o.provider {
		case "apns":
			rs[i] = recipients.Receiver{CredentialID: b.credentials[0], Token: providertest.APNSTestDeviceToken(t)}
		case "fcm":
			rs[i] = recipients.Receiver{CredentialID: b.credentials[1], Token: "bench:" + pushgate.RandomToken(60)}
		case "webpush":
			rs[i] = subs[(s*o.batch+i)%len(subs)].Receiver(b.credentials[2])
		default:
			t.Fatalf("-provider: apns, fcm or webpush, not %q", o.provider)
		}
		rs[i].ForeignID = fmt.Sprintf("s%d-%d", s, i)
	}
	body, _ := json.Marshal(map[string]any{"receivers": rs})
	return body
}

// sendAll runs send requests times from senders concurrent goroutines and
// returns each answer's latency and, with ids, the message ids the
// answers name.
func sendAll(t *tb, senders, requests int, send func(sender int) []byte, ids bool) ([]time.Duration, []string) {
	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var messageIDs []string
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for next.Add(1) <= int64(requests) {
				t0 := time.Now()
				raw := send(s)
				d := time.Since(t0)
				var res struct{ Results []struct{ MessageID string } }
				if ids {
					if err := json.Unmarshal(raw, &res); err != nil {
						t.Fatalf("send answer: %s", raw)
					}
				}
				mu.Lock()
				latencies = append(latencies, d)
				for _, r := range res.Results {
					messageIDs = append(messageIDs, r.MessageID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return latencies, messageIDs
}

// client calls a gateway's HTTP API with header on every request.
type client struct {
	base   string
	header http.Header
	http   *http.Client
}

func (c *client) post(t *tb, path, body string, out any) {
	raw := c.postRaw(t, path, []byte(body))
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %s", path, raw)
	}
}

func (c *client) postRaw(t *tb, path string, body []byte) []byte {
	req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(body))
	req.Header = c.header.Clone()
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, res.StatusCode, raw)
	}
	return raw
}

// nodeAnswers prints the send answers' times as the node measured them,
// from its access log: the load tool's own times also hold the time its
// senders waited for a CPU, which the node's do not.
func nodeAnswers(logFile string) {
	f, err := os.Open(logFile)
	if err != nil {
		return
	}
	defer f.Close()
	var times []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg, Route string
			Ms         float64
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "http request" && strings.HasSuffix(line.Route, "/send") {
			times = append(times, time.Duration(line.Ms*float64(time.Millisecond)))
		}
	}
	if len(times) == 0 {
		return
	}
	slices.Sort(times)
	fmt.Printf("node took: p50 %v  p90 %v  p99 %v  max %v (%d sends, its access log)\n", latency.Pct(times, 50), latency.Pct(times, 90), latency.Pct(times, 99), latency.Pct(times, 100), len(times))
}
