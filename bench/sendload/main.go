// Command sendload measures pushgate's CORE send path end to end: it starts
// the fake push services, runs a pushgate node in this process on the
// storage and queue you name, creates a bucket and a context over HTTP, and
// drives bulk sends of 1000 receivers from concurrent senders. It prints the
// API's answer-time percentiles, the end-to-end throughput (first request
// to last delivery at the fake), and memory over time.
//
//	go run ./bench/sendload -provider apns -n 200000 \
//	    -db 'postgres://postgres@127.0.0.1:5432/bench?sslmode=disable' -redis redis://127.0.0.1:6379/0
//	go run ./bench/sendload -bare apns        # the client library alone, for comparison
//	go run ./bench/sendload -events -n 100000 -db ... -redis ...
//
// With -events the bucket has a callback (a local consumer that counts the
// events it receives), and once everything is delivered every message is
// reported delivered through the public client event endpoint by
// -event-clients concurrent clients: it prints the endpoint's requests per
// second and answer times, and the events per second that reach the
// consumer in webhook batches.
//
// Everything runs on loopback; the fakes keep counts only.
package main

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/server"
)

type options struct {
	provider    string
	n           int
	senders     int
	batch       int
	db          string
	redis       string
	roles       string
	workers     int
	concurrency int
	chunk       int
	latency     time.Duration
	bare        string
	distinct    int
	cpuprofile  string
	events      bool
	eventConns  int
	reports     bool
	keep        bool
}

func main() {
	var o options
	flag.StringVar(&o.provider, "provider", "apns", "apns, webpush or fcm")
	flag.IntVar(&o.n, "n", 100_000, "notifications to send")
	flag.IntVar(&o.senders, "senders", 4, "concurrent API clients")
	flag.IntVar(&o.batch, "batch", 1000, "receivers per send request")
	flag.StringVar(&o.db, "db", "", "database URL (empty: SQLite in a temporary folder)")
	flag.StringVar(&o.redis, "redis", "", "Redis URL (empty: embedded)")
	flag.StringVar(&o.roles, "roles", "api,worker", "node roles; 'api' measures answer times with no worker competing")
	flag.IntVar(&o.workers, "workers", 20, "worker_concurrency")
	flag.IntVar(&o.concurrency, "concurrency", 64, "delivery_concurrency")
	flag.IntVar(&o.chunk, "chunk", 500, "delivery_chunk_size")
	flag.DurationVar(&o.latency, "fake-latency", 0, "answer latency of the fake push service")
	flag.StringVar(&o.bare, "bare", "", "measure a client library alone against its fake: apns or webpush")
	flag.IntVar(&o.distinct, "distinct", 1000, "distinct Web Push subscriptions (each is an ECDH key pair at the fake)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.BoolVar(&o.events, "events", false, "give the bucket a callback, then report every message delivered through the client event endpoint")
	flag.IntVar(&o.eventConns, "event-clients", 64, "concurrent clients of the client event endpoint (with -events)")
	flag.BoolVar(&o.reports, "reports", true, "with -events, report every message delivered once the sent events arrived (false: stop there)")
	flag.BoolVar(&o.keep, "keep", false, "keep the bucket and its messages at the end (default: delete them)")
	flag.Parse()
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	t := &tb{}
	defer t.close()
	if o.bare != "" {
		bare(t, o)
		return
	}
	run(t, o)
}

func run(t *tb, o options) {
	ctx := context.Background()
	f := startFakes(t, o.latency)
	cfg := nodeConfig(t, o, f)
	consumer := &countingConsumer{}
	callback := `{"type":"none"}`
	if o.events {
		hook := httptest.NewServer(consumer)
		defer hook.Close()
		callback = fmt.Sprintf(`{"type":"http","payload":{"url":%q}}`, hook.URL)
	}
	srv, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	creds, ok := srv.FirstApp()
	if !ok { // a database used before: make an app of our own
		if creds, err = srv.Apps.Create(ctx, "sendload"); err != nil {
			t.Fatal(err)
		}
	}
	c := &client{base: "http://" + srv.Addr(), key: creds.APIKey, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	b := newBucket(t, c, f, callback)
	if !o.keep {
		defer b.delete(c)
	}
	var ctxAnswer struct{ ContextID string }
	c.post(t, "/v1/bucket/"+b.id+"/context/data", `{"title":"Load test","body":"Hello from sendload","behaviour":"https://example.com/x","tag":"bench"}`, &ctxAnswer)

	requests := o.n / o.batch
	mem := startMemoryProbe()
	start := time.Now()
	latencies, messageIDs := sendAll(t, o, c, "/v1/bucket/"+b.id+"/context/"+ctxAnswer.ContextID+"/send", b.bodies(t, o, f), requests)
	accepted := time.Since(start)
	total := int64(requests * o.batch)
	worker := slices.Contains(cfg.Roles, "worker")
	if worker {
		for f.delivered(o.provider) < total {
			time.Sleep(5 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	mem.stop()

	slices.Sort(latencies)
	fmt.Printf("storage:   %s\nqueue:     %s\nprovider:  %s, fake latency %v\n", orDefault(o.db, "sqlite (embedded)"), orDefault(o.redis, "embedded redis"), o.provider, o.latency)
	fmt.Printf("sends:     %d requests of %d receivers from %d concurrent senders\n", requests, o.batch, o.senders)
	fmt.Printf("answer:    p50 %v  p90 %v  p99 %v  max %v\n", pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), latencies[len(latencies)-1])
	fmt.Printf("accepted:  %d notifications in %v (%.0f/s)\n", total, accepted.Round(time.Millisecond), float64(total)/accepted.Seconds())
	if worker {
		fmt.Printf("delivered: %d notifications in %v (%.0f/s end to end)\n", f.delivered(o.provider), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	}
	mem.print()
	if o.events {
		clientEvents(t, o, c, consumer, "/v1/context/"+ctxAnswer.ContextID+"/events/delivered", messageIDs)
	}
}

// fakes are the push services the node delivers to, each in this process.
type fakes struct {
	apns               *providertest.APNSFake
	fcm                *providertest.FCMFake
	web                *providertest.WebPushFake
	key                *providertest.APNSKey
	vapidPub, vapidKey string
}

func startFakes(t *tb, latency time.Duration) *fakes {
	f := &fakes{apns: providertest.NewAPNS(t), fcm: providertest.NewFCM(t), web: providertest.NewWebPush(t)}
	f.apns.SetCountOnly(true)
	f.fcm.SetCountOnly(true)
	f.web.SetCountOnly(true)
	for _, x := range []interface{ SetLatency(time.Duration) }{f.apns, f.fcm, f.web} {
		x.SetLatency(latency)
	}
	f.key = providertest.APNSTestKey(t)
	f.apns.TrustKey(f.key.KeyID, f.key.TeamID, f.key.Public())
	vk, _ := ecdh.P256().GenerateKey(rand.Reader)
	f.vapidPub, f.vapidKey = base64.RawURLEncoding.EncodeToString(vk.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(vk.Bytes())
	return f
}

// delivered is how many notifications the provider's fake accepted.
func (f *fakes) delivered(provider string) int64 {
	switch provider {
	case "apns":
		return f.apns.Counts().Accepted
	case "fcm":
		return f.fcm.Counts().Accepted
	default:
		return f.web.Counts().Accepted
	}
}

func nodeConfig(t *tb, o options, f *fakes) server.Config {
	cfg := server.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = o.db
	cfg.RedisURL = o.redis
	if o.db != "" {
		cfg.MasterKey = pushgate.NewMasterKey()
	}
	cfg.Roles = strings.Split(o.roles, ",")
	cfg.QueueNamespace = "sendload_" + pushgate.RandomToken(4)
	cfg.AccessLog = false
	cfg.WorkerConcurrency = o.workers
	cfg.DeliveryConcurrency = o.concurrency
	cfg.DeliveryChunkSize = o.chunk
	cfg.APNSHost, cfg.APNSRootCAs = f.apns.URL, f.apns.CertPool()
	cfg.FCMEndpoint = f.fcm.URL + "/v1"
	cfg.WebPushAllowHTTP, cfg.SSRFAllow = true, "127.0.0.0/8"
	cfg.VAPIDSubject = "mailto:bench@example.com"
	cfg.EventsRatePerIP = 0 // one address sends everything
	cfg.BucketCreateRate = 0
	return cfg
}

// bucket holds one credential of each provider, in the order apns, fcm,
// vapid.
type bucket struct {
	id          string
	credentials []string
}

func newBucket(t *tb, c *client, f *fakes, callback string) *bucket {
	var answer struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	c.post(t, "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[
		{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.bench"}},
		{"type":"fcm_v1","payload":%s},
		{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],"callbackConfig":%s}`,
		f.key.P8, f.key.KeyID, f.key.TeamID, f.fcm.ServiceAccountJSON("bench"), f.vapidPub, f.vapidKey, callback), &answer)
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
	req.Header.Set("x-token", c.key)
	if res, err := c.http.Do(req); err == nil {
		res.Body.Close()
	}
}

// bodies makes one request body per sender slot, reused: building JSON is
// the client's cost, not the server's.
func (b *bucket) bodies(t *tb, o options, f *fakes) [][]byte {
	bodies := make([][]byte, o.senders)
	for s := range bodies {
		rs := make([]recipients.Receiver, o.batch)
		for i := range rs {
			switch o.provider {
			case "apns":
				rs[i] = recipients.Receiver{CredentialID: b.credentials[0], Token: providertest.APNSTestDeviceToken(t)}
			case "fcm":
				rs[i] = recipients.Receiver{CredentialID: b.credentials[1], Token: "bench:" + pushgate.RandomToken(60)}
			case "webpush":
				rs[i] = f.web.NewSubscriptionFor(f.vapidPub).Receiver(b.credentials[2])
			}
			rs[i].ForeignID = fmt.Sprintf("s%d-%d", s, i)
		}
		bodies[s], _ = json.Marshal(map[string]any{"receivers": rs})
	}
	return bodies
}

// sendAll posts requests sends from o.senders concurrent senders and
// returns each answer's latency and, with o.events, the message ids.
func sendAll(t *tb, o options, c *client, path string, bodies [][]byte, requests int) ([]time.Duration, []string) {
	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	var messageIDs []string
	var wg sync.WaitGroup
	for s := 0; s < o.senders; s++ {
		wg.Go(func() {
			for next.Add(1) <= int64(requests) {
				t0 := time.Now()
				raw := c.postRaw(t, path, bodies[s])
				d := time.Since(t0)
				var ids []string
				if o.events {
					var res struct{ Results []struct{ MessageID string } }
					json.Unmarshal(raw, &res)
					for _, r := range res.Results {
						ids = append(ids, r.MessageID)
					}
				}
				mu.Lock()
				latencies = append(latencies, d)
				messageIDs = append(messageIDs, ids...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return latencies, messageIDs
}

// countingConsumer is a callback URL that counts the events of each kind
// in the batches it receives.
type countingConsumer struct {
	sent, delivered atomic.Int64
	batches         atomic.Int64
}

func (c *countingConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.sent.Add(int64(bytes.Count(body, []byte(`"kind":"sent"`))))
	c.delivered.Add(int64(bytes.Count(body, []byte(`"kind":"delivered"`))))
	c.batches.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// clientEvents waits for the send results to reach the callback, then
// reports every message delivered from concurrent clients.
func clientEvents(t *tb, o options, c *client, consumer *countingConsumer, path string, ids []string) {
	total := int64(len(ids))
	start := time.Now()
	for consumer.sent.Load() < total {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("callback:  all %d sent events received %v after the last delivery\n", total, time.Since(start).Round(time.Millisecond))
	if !o.reports {
		return
	}

	var next atomic.Int64
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, len(ids))
	start = time.Now()
	var wg sync.WaitGroup
	for range o.eventConns {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				t0 := time.Now()
				req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(`{"messageId":"`+ids[i]+`"}`))
				req.Header.Set("Content-Type", "application/json")
				res, err := c.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					t.Fatalf("client event: %d", res.StatusCode)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	answered := time.Since(start)
	for consumer.delivered.Load() < total {
		time.Sleep(5 * time.Millisecond)
	}
	arrived := time.Since(start)
	slices.Sort(latencies)
	fmt.Printf("events:    %d delivered reports from %d clients in %v (%.0f requests/s); answer p50 %v  p99 %v\n",
		total, o.eventConns, answered.Round(time.Millisecond), float64(total)/answered.Seconds(), pct(latencies, 50), pct(latencies, 99))
	fmt.Printf("webhooks:  all %d delivered events at the callback after %v (%.0f events/s), %d batches in all\n",
		total, arrived.Round(time.Millisecond), float64(total)/arrived.Seconds(), consumer.batches.Load())
}

type client struct {
	base, key string
	http      *http.Client
}

func (c *client) post(t *tb, path, body string, out any) {
	raw := c.postRaw(t, path, []byte(body))
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: %s", path, raw)
	}
}

func (c *client) postRaw(t *tb, path string, body []byte) []byte {
	req, _ := http.NewRequest("POST", c.base+path, bytes.NewReader(body))
	req.Header.Set("x-token", c.key)
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

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(10 * time.Microsecond)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// memoryProbe samples the Go heap and the process's resident memory.
type memoryProbe struct {
	stopc   chan struct{}
	done    chan struct{}
	samples []memSample
}

type memSample struct {
	at        time.Duration
	heap, rss uint64
}

func startMemoryProbe() *memoryProbe {
	p := &memoryProbe{stopc: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			p.samples = append(p.samples, memSample{at: time.Since(start), heap: ms.HeapInuse, rss: rss()})
			select {
			case <-p.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *memoryProbe) stop() { close(p.stopc); <-p.done }

func (p *memoryProbe) print() {
	fmt.Printf("memory (heap in use / resident), every 2 s:\n")
	for _, s := range p.samples {
		fmt.Printf("  %6.0fs  %5d MiB / %5d MiB\n", s.at.Seconds(), s.heap>>20, s.rss>>20)
	}
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	fmt.Sscan(string(b), &size, &resident)
	return resident * uint64(os.Getpagesize())
}
