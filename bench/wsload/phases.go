package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate/bench/internal/latency"
	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// fanTracker is the tracker of the n idle connections; the one user's
// connection has its own (oneTracker), so its rounds count one arrival.
var fanTracker, oneTracker = &tracker{}, &tracker{}

// idleMemory opens a connection for each user and reports the server's
// resident memory before and after, per connection.
func idleMemory(ctx context.Context, o options, b backend, users []user) ([]*conn, error) {
	var before, after memStats
	time.Sleep(o.settle)
	rss0, err := rssKiB(o.serverPID)
	if err != nil {
		return nil, fmt.Errorf("-server-pid: %w", err)
	}
	if o.pprof != "" {
		if before, err = readPprof(o.pprof, o.out, "heap-before"); err != nil {
			return nil, err
		}
	}
	if o.pprof != "" && o.out != "" {
		// The first 10 s of opening the connections.
		defer profileCPU(o.pprof, o.out, "cpu-connect", 10*time.Second)()
	}
	t0 := time.Now()
	conns, _, err := dialAll(ctx, b, users, o.dialers, fanTracker)
	if err != nil {
		return nil, err
	}
	fmt.Printf("connect: %d connections open (greeted where the server greets) in %v\n", len(conns), time.Since(t0).Round(time.Millisecond))
	time.Sleep(o.settle)
	rss1, err := rssKiB(o.serverPID)
	if err != nil {
		return nil, err
	}
	n := int64(len(conns))
	fmt.Printf("idle memory: server resident %.1f MiB before, %.1f MiB with %d idle connections: %.2f KiB a connection\n",
		float64(rss0)/1024, float64(rss1)/1024, n, float64(rss1-rss0)/float64(n))
	if o.hold > 0 {
		// Held idle past the runtime's own periodic collection (2 min in Go),
		// with nothing forcing one: what a node holding idle sessions keeps.
		time.Sleep(o.hold)
		if rss, err := rssKiB(o.serverPID); err == nil {
			fmt.Printf("  held idle %v more: %.2f KiB a connection\n", o.hold, float64(rss-rss0)/float64(n))
		}
	}
	if o.pprof != "" {
		if after, err = readPprof(o.pprof, o.out, "heap-after"); err != nil {
			return nil, err
		}
		fmt.Printf("  pprof: heap in use %.2f KiB, goroutine stacks %.2f KiB, goroutines %.2f a connection (Go Sys %.1f MiB → %.1f MiB)\n",
			float64(after.heapInuse-before.heapInuse)/1024/float64(n), float64(after.stackInuse-before.stackInuse)/1024/float64(n),
			float64(after.goroutines-before.goroutines)/float64(n), float64(before.sys)/(1<<20), float64(after.sys)/(1<<20))
		time.Sleep(o.settle)
		if rss2, err := rssKiB(o.serverPID); err == nil {
			fmt.Printf("  after a GC (the heap profile forces one) and %v: %.2f KiB a connection\n", o.settle, float64(rss2-rss0)/float64(n))
		}
	}
	return conns, nil
}

// oneUser times sends to one online user, one at a time, from the API
// call to the receipt; 20 sends before warm the path and are not counted.
func oneUser(ctx context.Context, b backend, solo user, sends int) error {
	const warm = 20
	var recv, answer []time.Duration
	for i := range sends + warm {
		r := newRound(fmt.Sprintf("one-%d", i), 1)
		oneTracker.cur.Store(r)
		if err := b.toOne(ctx, solo, r.title); err != nil {
			return fmt.Errorf("one user: %w", err)
		}
		answered := time.Since(r.start)
		if !r.wait(5 * time.Second) {
			return fmt.Errorf("one user: notification %d not received in 5 s", i)
		}
		if i >= warm {
			recv = append(recv, time.Duration(r.at[0].Load()))
			answer = append(answer, answered)
		}
	}
	fmt.Printf("one user: %d sends, one at a time, to a user online among the idle connections\n", sends)
	fmt.Printf("  API call → receipt: %s\n", latency.Percentiles(recv))
	fmt.Printf("  API answer:         %s\n", latency.Percentiles(answer))
	return nil
}

// fanOuts sends rounds notifications to every connection, one after the
// other, and reports receipt times over all of them and the CPU used per
// delivery. pushgate does it twice: broadcasts, then to.userIds.
func fanOuts(ctx context.Context, o options, b backend, users []user) error {
	modes := []string{"broadcast"}
	if pg, ok := b.(*pushgate); ok && o.chunked {
		modes = append(modes, "userIds")
		defer func() { pg.chunked = false }()
	}
	for _, mode := range modes {
		if pg, ok := b.(*pushgate); ok {
			pg.chunked = mode == "userIds"
		}
		if err := fanOutRounds(ctx, o, b, mode, users); err != nil {
			return err
		}
	}
	return nil
}

func fanOutRounds(ctx context.Context, o options, b backend, mode string, users []user) error {
	cpu, err := newCPUSet(o)
	if err != nil {
		return err
	}
	// What the processes use idle (pushgate's heartbeat sweep pings every
	// connection once a period) is measured over -idle-window and taken
	// off: a window of a whole heartbeat period counts the sweep at its
	// average rate, where a shorter one counts it fully or not at all.
	idle0, t0 := cpu.Read(), time.Now()
	time.Sleep(o.idleWindow)
	_, idle := cpu.Since(idle0)
	idleRate := float64(idle) / float64(time.Since(t0))

	var all []time.Duration
	var perRound []string
	missing := 0
	if o.pprof != "" && o.out != "" {
		// Rounds take about a second each with the pause after them.
		defer profileCPU(o.pprof, o.out, "cpu-fanout-"+mode, time.Duration(o.rounds)*time.Second)()
	}
	before, start := cpu.Read(), time.Now()
	for k := range o.rounds {
		r := newRound(fmt.Sprintf("fan-%s-%d", mode, k), len(users))
		fanTracker.cur.Store(r)
		if err := b.fanOut(ctx, r.title, users); err != nil {
			return fmt.Errorf("fan-out: %w", err)
		}
		r.wait(30 * time.Second)
		got := arrivals(r)
		missing += len(users) - len(got)
		perRound = append(perRound, latency.Pct(got, 99).String())
		all = append(all, got...)
		time.Sleep(500 * time.Millisecond) // the frames after it (pushgate's unseen) go out
	}
	used, sum := cpu.Since(before)
	elapsed := time.Since(start)
	deliveries := o.rounds*len(users) - missing
	net := time.Duration(float64(sum) - idleRate*float64(elapsed))
	fmt.Printf("fan-out (%s): %d notifications to %d connections, %d deliveries, %d missing\n", mode, o.rounds, len(users), deliveries, missing)
	fmt.Printf("  API call → receipt: %s (p99 by round: %v)\n", latency.Percentiles(all), perRound)
	fmt.Printf("  CPU: %v over %v (%s); idle rate %.1f%% of a core: %.1f µs a delivery (%.1f µs without the idle rate)\n",
		sum, elapsed.Round(time.Millisecond), procstat.Format(used), idleRate*100,
		float64(net.Microseconds())/float64(max(deliveries, 1)), float64(sum.Microseconds())/float64(max(deliveries, 1)))
	return nil
}

func arrivals(r *round) []time.Duration {
	out := make([]time.Duration, 0, len(r.at))
	for i := range r.at {
		if v := r.at[i].Load(); v != 0 {
			out = append(out, time.Duration(v))
		}
	}
	return out
}

// reconnectStorm closes every connection, sends notifications while they
// are away (a broadcast and the same as to.userIds), then opens them all
// again as fast as it can and counts who got both.
func reconnectStorm(ctx context.Context, o options, pg *pushgate, users []user, conns []*conn) error {
	for _, c := range conns {
		c.close()
	}
	time.Sleep(2 * time.Second) // the server sees them go
	pg.chunked = false
	if err := pg.fanOut(ctx, stormPrefix+"broadcast", users); err != nil {
		return err
	}
	pg.chunked = true
	if err := pg.fanOut(ctx, stormPrefix+"userIds", users); err != nil {
		return err
	}
	pg.chunked = false
	t0 := time.Now()
	dialers := max(o.dialers, 128)
	again, failed, _ := dialAll(ctx, pg, users, dialers, nil)
	connected := time.Since(t0)
	copy(conns, again)
	var complete int
	var last time.Duration
	for time.Since(t0) < connected+30*time.Second {
		complete = 0
		for _, c := range again {
			if c != nil && c.storms.Load() >= 2 {
				complete++
			}
		}
		if complete == len(users)-failed {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	last = time.Since(t0)
	var frames atomic.Int64
	for _, c := range again {
		if c != nil {
			frames.Add(int64(c.notes.Load()))
		}
	}
	within := "within"
	if connected > o.storm {
		within = "NOT within"
	}
	fmt.Printf("reconnect storm: %d connections closed, 2 notifications sent to their users while offline (a broadcast, and to.userIds)\n", len(users))
	fmt.Printf("  %d reconnected (%d failed) in %v, %s %v, %d dialing at once\n", len(users)-failed, failed, connected.Round(time.Millisecond), within, o.storm, dialers)
	fmt.Printf("  %d of %d received both pending notifications, the last %v after the first dial; %d notification frames replayed in all (%.1f a connection: the earlier, unacknowledged ones come too)\n",
		complete, len(users), last.Round(time.Millisecond), frames.Load(), float64(frames.Load())/float64(max(1, len(users)-failed)))
	return nil
}

// broadcastAnswers times broadcasts (no connections needed) to whatever
// users the app has, one at a time.
func broadcastAnswers(ctx context.Context, pg *pushgate, sends int) error {
	var answers []time.Duration
	var recipients int64
	for i := range sends + 5 {
		t0 := time.Now()
		n, err := pg.send(ctx, fmt.Sprintf("bcast-%d", i), nil)
		if err != nil {
			return err
		}
		if i >= 5 {
			answers = append(answers, time.Since(t0))
		}
		recipients = n
	}
	fmt.Printf("broadcast answer (POST /v1/notifications without to): %d sends, recipients %d: %s\n", sends, recipients, latency.Percentiles(answers))
	return nil
}
