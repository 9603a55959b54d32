// Command sendload measures a push gateway's send path end to end, every
// part in its own process as in production: the fake push services (this
// command started again with -serve-fake), the gateway (pushgate's real
// binary, `pushgate serve`, or gorush with -target gorush), PostgreSQL and
// Redis. It creates what the gateway needs over its API, drives bulk sends
// from concurrent senders, and prints the end-to-end rate (first request to
// last delivery counted at the fake), the API's answer times, the CPU each
// process used per push (from /proc/PID/stat, so it must run on the
// gateway's machine) and the gateway's peak resident memory.
//
//	go run ./bench/sendload -n 100000 \
//	    -db 'postgres://postgres@127.0.0.1:5432/bench?sslmode=disable' -redis redis://127.0.0.1:6379/0
//	go run ./bench/sendload -n 100000 -events -db ... -redis ...   # the bucket has a callback
//	go run ./bench/sendload -n 100000                              # the embedded default
//	go run ./bench/sendload -target gorush -gorush-bin /tmp/gorush-bin/gorush
//	go run ./bench/sendload -bare apns     # the client library alone, for comparison
//
// -fake verify keeps every push the fakes accept; -fake count only counts
// them. Both check what the real services check: the APNS provider token
// against the trusted key, FCM's OAuth token, Web Push's VAPID signature and
// encryption. With -events the bucket's callback is a consumer in this
// process that checks each message gets exactly one sent or failed event;
// -client-events then reports every message delivered through the public
// client event endpoint. bench/sendload/run.sh runs the whole comparison.
package main

import (
	"flag"
	"time"
)

type options struct {
	target        string
	provider      string
	n             int
	senders       int
	batch         int
	db            string
	redis         string
	roles         string
	workers       int
	concurrency   int
	chunk         int
	latency       time.Duration
	bare          string
	distinct      int
	fake          string
	serveFake     string
	bin           string
	events        bool
	clientEv      bool
	eventConns    int
	eventsWait    time.Duration
	settle        time.Duration
	label         string
	gorushBin     string
	gorushNotes   int
	gorushToks    int
	profile       string
	profileFor    time.Duration
	profileAllocs bool
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "pushgate", "pushgate or gorush")
	flag.StringVar(&o.provider, "provider", "apns", "pushgate: apns, webpush or fcm (gorush: apns)")
	flag.IntVar(&o.n, "n", 100_000, "notifications to send")
	flag.IntVar(&o.senders, "senders", 4, "concurrent API clients")
	flag.IntVar(&o.batch, "batch", 1000, "pushgate: receivers per send request")
	flag.StringVar(&o.db, "db", "", "pushgate: PostgreSQL URL (empty: SQLite in a temporary folder)")
	flag.StringVar(&o.redis, "redis", "", "pushgate: Redis URL (empty: embedded)")
	flag.StringVar(&o.roles, "roles", "api,worker", "pushgate: node roles; 'api' measures answer times with no worker competing (nothing is delivered)")
	flag.IntVar(&o.workers, "workers", 20, "pushgate: worker_concurrency")
	flag.IntVar(&o.concurrency, "concurrency", 64, "pushgate: delivery_concurrency")
	flag.IntVar(&o.chunk, "chunk", 500, "pushgate: delivery_chunk_size")
	flag.StringVar(&o.bin, "pushgate-bin", "", "pushgate: the binary to run (empty: go build ./cmd/pushgate, run from the repository)")
	flag.DurationVar(&o.latency, "fake-latency", 0, "answer latency of the fake push services")
	flag.StringVar(&o.fake, "fake", "verify", "fake push services: verify (keep every accepted push) or count (count them only); both check authentication")
	flag.StringVar(&o.serveFake, "serve-fake", "", "") // internal: run as the fake process
	flag.StringVar(&o.bare, "bare", "", "measure a client library alone against the fake: apns or webpush")
	flag.IntVar(&o.distinct, "distinct", 1000, "distinct Web Push subscriptions (each is an ECDH key pair at the fake)")
	flag.BoolVar(&o.events, "events", false, "pushgate: give the bucket a callback and check every message gets exactly one sent or failed event")
	flag.BoolVar(&o.clientEv, "client-events", false, "pushgate, with -events: then report every message delivered through the client event endpoint")
	flag.IntVar(&o.eventConns, "event-clients", 64, "concurrent clients of the client event endpoint (with -client-events)")
	flag.DurationVar(&o.eventsWait, "events-wait", 60*time.Second, "how long to wait for the callback's events after the last delivery")
	flag.DurationVar(&o.settle, "settle", time.Second, "wait after the last delivery (and event) before the CPU times are read: results still being written count")
	flag.StringVar(&o.label, "label", "", "name of the run in the table row printed last (default: what was measured)")
	flag.StringVar(&o.gorushBin, "gorush-bin", "/tmp/gorush-bin/gorush", "gorush: the binary built by bench/sendload/gorush.sh")
	flag.IntVar(&o.gorushNotes, "gorush-notifications", 100, "gorush: notifications per POST /api/push")
	flag.IntVar(&o.gorushToks, "gorush-tokens", 500, "gorush: device tokens per notification")
	flag.StringVar(&o.profile, "node-profile", "", "pushgate: write a CPU profile of the node's first -node-profile-for of sending to this file (the binary needs -tags pprof, as it is built without -pushgate-bin; profiling adds a little CPU)")
	flag.BoolVar(&o.profileAllocs, "node-profile-allocs", false, "pushgate: -node-profile records the allocations of -node-profile-for instead of CPU")
	flag.DurationVar(&o.profileFor, "node-profile-for", 10*time.Second, "pushgate: length of the -node-profile")
	flag.Parse()

	t := &tb{}
	defer t.close()
	if o.serveFake != "" {
		serveFake(t, o)
		return
	}
	if o.fake != "verify" && o.fake != "count" {
		t.Fatalf("-fake: verify or count, not %q", o.fake)
	}
	fk := startFake(t, o)
	switch {
	case o.bare != "":
		bare(t, o, fk)
	case o.target == "gorush":
		runGorush(t, o, fk)
	case o.target == "pushgate":
		runPushgate(t, o, fk)
	default:
		t.Fatalf("-target: pushgate or gorush, not %q", o.target)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
