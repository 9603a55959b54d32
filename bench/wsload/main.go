// Command wsload measures a push server's WebSocket side at scale, as an
// outside client would: it makes one client token per user over the API,
// holds that many idle connections, and times notifications from the API
// call to each connection's receipt. It speaks two servers' APIs:
//
//   - pushgate: client tokens (POST /v1/tokens), GET /v1/ws,
//     POST /v1/notifications (broadcast, or to.userIds in chunks of 1000);
//   - gotify: clients (POST /client), an application (POST /application),
//     GET /stream, POST /message. Gotify has no notion of many users
//     reached at once: its fan-out is one user's N clients, each with its
//     own token and connection.
//
// It reads the server's resident memory and, with -cpu-pids and -pg-db,
// the CPU time of the server, its PostgreSQL backends and Redis from /proc,
// so it must run on the server's machine. It is its own process: the
// server's memory and file descriptors are the server's alone.
//
//	go run ./bench/wsload -target pushgate -url http://127.0.0.1:18490 -key KEY -server-pid PID
//	go run ./bench/wsload -target pushgate -url ... -key KEY -phase broadcast -sends 50
//	go run ./bench/wsload -target gotify -url http://127.0.0.1:18491 -user admin:admin -server-pid PID
//
// bench/wsload/run.sh runs the whole measurement on both servers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type options struct {
	target     string
	url        string
	key        string // pushgate API key
	user       string // gotify admin "name:password"
	n          int
	sends      int
	rounds     int
	phase      string
	serverPID  int
	cpuPIDs    string
	pgDB       string
	pprof      string
	out        string
	dialers    int
	settle     time.Duration
	idleWindow time.Duration
	hold       time.Duration
	chunked    bool
	storm      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.target, "target", "pushgate", "pushgate or gotify")
	flag.StringVar(&o.url, "url", "http://127.0.0.1:18490", "the server's base URL")
	flag.StringVar(&o.key, "key", "", "pushgate: an API key of the app")
	flag.StringVar(&o.user, "user", "admin:admin", "gotify: an admin user as name:password")
	flag.IntVar(&o.n, "n", 10_000, "idle connections, one user and one client token each (gotify: one user's clients)")
	flag.IntVar(&o.sends, "sends", 1000, "sends to the one online user (with -phase broadcast: broadcasts)")
	flag.IntVar(&o.rounds, "rounds", 5, "fan-out notifications to all n connections")
	flag.StringVar(&o.phase, "phase", "all", "all (connections, one user, fan-out, reconnect storm), memory (connections only) or broadcast (answer time only, no connections)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the server's process id (resident memory and CPU)")
	flag.StringVar(&o.cpuPIDs, "cpu-pids", "", "more processes whose CPU counts, as name=pid,... (e.g. redis=123)")
	flag.StringVar(&o.pgDB, "pg-db", "", "count the CPU of the PostgreSQL backends serving this database")
	flag.StringVar(&o.pprof, "pprof", "", "the server's pprof base URL (http://host:port): heap and goroutines per session")
	flag.StringVar(&o.out, "out", "", "folder for the pprof profiles taken (with -pprof)")
	flag.IntVar(&o.dialers, "dialers", 64, "connections opened at once")
	flag.DurationVar(&o.idleWindow, "idle-window", 2*time.Second, "how long the idle CPU rate is measured before each fan-out (a whole heartbeat period averages the server's heartbeat sweep)")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait before each resident-memory reading")
	flag.DurationVar(&o.hold, "hold", 0, "after the idle-memory reading, hold the connections idle this long and read the resident memory again (130s passes Go's periodic collection)")
	flag.BoolVar(&o.chunked, "chunked", true, "pushgate: also fan out with to.userIds in chunks of 1000 (besides broadcasts)")
	flag.DurationVar(&o.storm, "storm-window", 10*time.Second, "pushgate: the reconnect storm's deadline")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	var b backend
	switch o.target {
	case "pushgate":
		if o.key == "" {
			return fmt.Errorf("-key is needed for pushgate")
		}
		b = newPushgate(o.url, o.key)
	case "gotify":
		name, pass, ok := strings.Cut(o.user, ":")
		if !ok {
			return fmt.Errorf("-user: name:password")
		}
		b = newGotify(o.url, name, pass)
	default:
		return fmt.Errorf("-target: pushgate or gotify, not %q", o.target)
	}
	if o.phase == "broadcast" {
		pg, ok := b.(*pushgate)
		if !ok {
			return fmt.Errorf("-phase broadcast: pushgate only")
		}
		return broadcastAnswers(ctx, pg, o.sends)
	}
	return all(ctx, o, b)
}

func all(ctx context.Context, o options, b backend) error {
	fmt.Printf("target: %s at %s, %d connections\n", o.target, o.url, o.n)
	t0 := time.Now()
	users, solo, err := b.prepare(ctx, o.n)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	fmt.Printf("tokens: %d made through the API in %v\n", len(users)+1, time.Since(t0).Round(time.Millisecond))
	conns, err := idleMemory(ctx, o, b, users)
	if err != nil || o.phase == "memory" {
		return err
	}
	one, err := dial(ctx, b, solo, -1, oneTracker)
	if err != nil {
		return fmt.Errorf("the one user's connection: %w", err)
	}
	if err := oneUser(ctx, b, solo, o.sends); err != nil {
		return err
	}
	if err := fanOuts(ctx, o, b, users); err != nil {
		return err
	}
	if pg, ok := b.(*pushgate); ok {
		if err := reconnectStorm(ctx, o, pg, users, conns); err != nil {
			return err
		}
	}
	one.close()
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	return nil
}
