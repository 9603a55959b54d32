// Command pusherload measures a Pusher Channels server (protocol 7) at
// scale, as Pusher's clients and server SDKs use it: n connections open
// GET /app/{key}?protocol=7 and subscribe to public channels, then events
// are triggered through the signed HTTP API (POST /apps/{id}/events) at a
// steady rate, each timed from the call to every subscriber's receipt.
// It speaks to pushgate and to soketi alike (-url, -app-id, -key,
// -secret), so both run through the same tool on the same machine.
//
// It reads the server's resident memory and CPU time from /proc
// (-server-pid), so it runs on the server's machine, as its own process.
//
//	go run ./bench/pusherload -url http://127.0.0.1:18496 -app-id ID -key KEY -secret SECRET -n 1000 -events 200 -rate 20 -server-pid PID
//
// bench/pusherload/run.sh runs pushgate and, with SOKETI_DIR, soketi.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

type options struct {
	url, appID, key, secret string
	n, channels, events     int
	rate                    float64
	serverPID               int
	cpuPIDs                 string
	dialers                 int
	settle, wait, ping      time.Duration
	each                    bool
	spin                    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:18496", "the server's base URL (its WebSocket and HTTP API)")
	flag.StringVar(&o.appID, "app-id", "", "the Pusher app id")
	flag.StringVar(&o.key, "key", "", "the Pusher app key")
	flag.StringVar(&o.secret, "secret", "", "the Pusher app secret (signs the HTTP API's requests)")
	flag.IntVar(&o.n, "n", 1000, "connections, each subscribed to one channel")
	flag.IntVar(&o.channels, "channels", 1, "public channels the connections spread over (load-0, ...); each event goes to all of them")
	flag.IntVar(&o.events, "events", 100, "events triggered")
	flag.Float64Var(&o.rate, "rate", 20, "events a second")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the server's process id (resident memory and CPU)")
	flag.StringVar(&o.cpuPIDs, "cpu-pids", "", "more processes whose CPU counts, as name=pid,... (e.g. redis=123)")
	flag.IntVar(&o.dialers, "dialers", 64, "connections opened at once")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait before each resident-memory reading")
	flag.DurationVar(&o.wait, "wait", 10*time.Second, "after the last event, how long the tool waits for missing receipts")
	flag.BoolVar(&o.each, "each", false, "print every event's fan-out completion, in order (to find what slows some)")
	flag.DurationVar(&o.spin, "spin", 0, "after its last receipt, how long the reader polls its sockets before it sleeps (0: it waits in Go's poller at once); while it polls, the kernel wakes nobody on the server's core")
	flag.DurationVar(&o.ping, "ping", 60*time.Second, "how often each connection sends pusher:ping (servers close silent ones)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "pusherload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.appID == "" || o.key == "" || o.secret == "" {
		return fmt.Errorf("-app-id, -key and -secret are needed")
	}
	if o.n <= 0 || o.channels <= 0 || o.channels > 100 || o.events <= 0 || o.rate <= 0 {
		return fmt.Errorf("-n, -events and -rate must be positive, -channels 1 to 100 (one trigger's limit)")
	}
	fmt.Printf("target: %s, %d connections on %d channel(s)\n", o.url, o.n, o.channels)
	run := newEvents(o.events)
	conns, err := subscribeMemory(ctx, o, run)
	var r *reader
	if err == nil {
		r, err = startReader(conns, o.spin)
	}
	if err == nil {
		stop := pingAll(conns, o.ping)
		err = trigger(ctx, o, run)
		stop()
		r.stop()
	}
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	if err != nil {
		return err
	}
	return report(o, conns, run)
}
