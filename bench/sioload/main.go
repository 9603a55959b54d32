// Command sioload measures pushgate's Socket.IO side (the
// notification-server compatibility of docs/notification-server.md) at
// scale, as a notification-server deployment uses it: for each of n users
// the backend registers a connectionId (PUT /api/{userId}/register), a tab
// connects over Engine.IO 4 (WebSocket, or HTTP long-polling) and emits
// register(userId, connectionId); then the backend pushes one message to
// each user (POST /api/{userId}/push) at a steady rate, and the tool times
// each push from the call to the tab's `message` event.
//
// It speaks the Engine.IO/Socket.IO framing itself: it is a load generator,
// not a compatibility proof (socket.io-client proves that in
// cmd/pushgate/socketio_node_test.go). It reads the node's resident memory
// and CPU time from /proc, so it runs on the node's machine, as its own
// process.
//
//	go run ./bench/sioload -url http://127.0.0.1:18494 -token TOKEN -n 5000 -transport websocket -server-pid PID
//	go run ./bench/sioload -url ... -token TOKEN -n 1000 -transport polling -server-pid PID
//
// bench/sioload/run.sh builds the node and runs both transports.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

type options struct {
	url       string
	token     string
	n         int
	transport string
	rate      float64
	serverPID int
	cpuPIDs   string
	pprof     string
	dialers   int
	settle    time.Duration
	wait      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:18494", "the node's base URL")
	flag.StringVar(&o.token, "token", "", "the compat auth token (compat_auth_token) or an API key of the compat app")
	flag.IntVar(&o.n, "n", 200, "Socket.IO clients, one user each")
	flag.StringVar(&o.transport, "transport", "websocket", "websocket or polling")
	flag.Float64Var(&o.rate, "rate", 500, "pushes a second, one to each user in turn")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the node's process id (resident memory and CPU)")
	flag.StringVar(&o.cpuPIDs, "cpu-pids", "", "more processes whose CPU counts, as name=pid,... (e.g. redis=123)")
	flag.StringVar(&o.pprof, "pprof", "", "the node's pprof base URL (a build with -tags pprof): forces a GC before each memory reading")
	flag.IntVar(&o.dialers, "dialers", 32, "clients connecting at once")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait before each resident-memory reading")
	flag.DurationVar(&o.wait, "wait", 10*time.Second, "after the last push, how long the tool waits for missing messages")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "sioload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.token == "" {
		return fmt.Errorf("-token is needed")
	}
	if o.transport != "websocket" && o.transport != "polling" {
		return fmt.Errorf("-transport: websocket or polling, not %q", o.transport)
	}
	if o.rate <= 0 || o.n <= 0 {
		return fmt.Errorf("-rate and -n must be positive")
	}
	fmt.Printf("target: %s, %d Socket.IO clients over %s\n", o.url, o.n, o.transport)
	b := newBackend(o.url, o.token)
	clients := newClients(o.n)
	t0 := time.Now()
	if err := b.registerAll(ctx, clients); err != nil {
		return fmt.Errorf("register connectionIds: %w", err)
	}
	fmt.Printf("backend: %d connectionIds registered through the REST API in %v\n", o.n, time.Since(t0).Round(time.Millisecond))
	conns, err := connectMemory(ctx, o, b, clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	if err != nil {
		return err
	}
	return pushAll(ctx, o, b, clients)
}
