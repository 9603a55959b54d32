package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate/bench/internal/latency"
	"github.com/pushgate/pushgate/bench/internal/loadclient"
	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// subscribeMemory opens and subscribes every connection, and reports the
// time it took and the server's resident memory per connection.
func subscribeMemory(ctx context.Context, o options, run *events) ([]*conn, error) {
	rss0, err := settledRSS(o)
	if err != nil {
		return nil, err
	}
	cpu, err := procstat.NewSet(o.serverPID, o.cpuPIDs, "")
	if err != nil {
		return nil, fmt.Errorf("-cpu-pids: %w", err)
	}
	conns := make([]*conn, o.n)
	before, t0 := cpu.Read(), time.Now()
	err = loadclient.Parallel(ctx, o.n, o.dialers, func(ctx context.Context, i int) error {
		c, err := dial(ctx, o, i, run)
		conns[i] = c
		return err
	})
	if err != nil {
		return conns, fmt.Errorf("subscribe: %w", err)
	}
	elapsed := time.Since(t0)
	used, sum := cpu.Since(before)
	fmt.Printf("subscribe: %d connections open and subscribed in %v (%d at once)\n", o.n, elapsed.Round(time.Millisecond), o.dialers)
	if o.serverPID > 0 {
		fmt.Printf("  CPU: %v (%s): %.1f µs a connection\n", sum, procstat.Format(used), float64(sum.Microseconds())/float64(o.n))
	}
	rss1, err := settledRSS(o)
	if err != nil || o.serverPID <= 0 {
		return conns, err
	}
	fmt.Printf("memory: server resident %.1f MiB before, %.1f MiB with %d subscribed connections: %.2f KiB a connection\n",
		float64(rss0)/1024, float64(rss1)/1024, o.n, float64(rss1-rss0)/float64(o.n))
	return conns, nil
}

// settledRSS is the server's resident memory in KiB after -settle (0
// without -server-pid). Servers collect garbage on their own clocks: a
// long -settle lets them.
func settledRSS(o options) (int64, error) {
	if o.serverPID <= 0 {
		return 0, nil
	}
	time.Sleep(o.settle)
	kib, err := procstat.StatusKiB(o.serverPID, "VmRSS")
	if err != nil {
		return 0, fmt.Errorf("-server-pid: %w", err)
	}
	return kib, nil
}

// trigger calls the HTTP API for each event at -rate a second (from
// several goroutines, so that a slow answer delays no later event), waits
// for the receipts, and reports the calls' answers and the CPU used.
func trigger(ctx context.Context, o options, run *events) error {
	a := &api{API: loadclient.NewAPI(o.url), appID: o.appID, key: o.key, secret: o.secret}
	a.HTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	channels := make([]string, o.channels)
	for i := range channels {
		channels[i] = channelOf(i, o.channels)
	}
	cpu, err := procstat.NewSet(o.serverPID, o.cpuPIDs, "")
	if err != nil {
		return fmt.Errorf("-cpu-pids: %w", err)
	}
	before, start := cpu.Read(), time.Now()
	tool0, _ := procstat.CPUTime(os.Getpid())
	var mu sync.Mutex
	var answers []time.Duration
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for k := range o.events {
		time.Sleep(time.Until(start.Add(time.Duration(float64(k) / o.rate * float64(time.Second)))))
		wg.Go(func() {
			t0 := time.Now()
			run.sent[k].Store(t0.UnixNano())
			if err := a.trigger(ctx, k, channels); err != nil {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
				return
			}
			mu.Lock()
			answers = append(answers, time.Since(t0))
			mu.Unlock()
		})
	}
	wg.Wait()
	deadline := time.Now().Add(o.wait)
	for received(run) < int64(o.n)*int64(o.events) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	used, sum := cpu.Since(before)
	elapsed := time.Since(start)
	tool1, _ := procstat.CPUTime(os.Getpid())
	fmt.Printf("trigger: %d events at %.0f a second to %d channel(s), %d failed calls\n", o.events, o.rate, o.channels, failed.Load())
	if err, ok := first.Load().(error); ok {
		fmt.Printf("  first failed call: %v\n", err)
	}
	fmt.Printf("  trigger call answered: %s\n", latency.Percentiles(answers))
	if o.serverPID > 0 {
		fmt.Printf("  CPU: %v over %v (%s): %.1f µs a delivery\n", sum, elapsed.Round(time.Millisecond),
			procstat.Format(used), float64(sum.Microseconds())/float64(max(received(run), 1)))
	}
	fmt.Printf("  this tool's CPU: %v: %.1f µs a receipt (its triggers and pings included)\n",
		tool1-tool0, float64((tool1-tool0).Microseconds())/float64(max(received(run), 1)))
	return nil
}

func received(run *events) int64 {
	var n int64
	for k := range run.got {
		n += run.got[k].Load()
	}
	return n
}

// report is what the connections received: every delivery's delay, each
// event's fan-out completion (its last receipt), and what went missing
// or came twice. A run where not every connection had every event once
// fails.
func report(o options, conns []*conn, run *events) error {
	var all []time.Duration
	var dup int
	for _, c := range conns {
		all = append(all, c.got...)
		dup += c.dup
	}
	var complete []time.Duration
	for k := range run.sent {
		if s, l := run.sent[k].Load(), run.last[k].Load(); s != 0 && l != 0 {
			complete = append(complete, time.Duration(l-s))
		}
	}
	want := o.n * o.events
	fmt.Printf("  deliveries: %d of %d (%d missing, %d duplicates)\n", len(all), want, want-len(all), dup)
	fmt.Printf("  trigger call → receipt, every delivery: %s\n", latency.Percentiles(all))
	fmt.Printf("  fan-out completion (last receipt), by event: %s\n", latency.Percentiles(slices.Clone(complete)))
	if len(complete) > 0 {
		slowest := slices.Index(complete, slices.Max(complete))
		fmt.Printf("  the slowest event: number %d of %d, %v\n", slowest+1, len(complete), complete[slowest].Round(10*time.Microsecond))
	}
	if o.each {
		var b strings.Builder
		for _, d := range complete {
			fmt.Fprintf(&b, " %.1f", float64(d.Microseconds())/1000)
		}
		fmt.Printf("  each event's completion, ms, in order:%s\n", b.String())
	}
	if len(all) != want || dup != 0 {
		return fmt.Errorf("%d deliveries missing, %d duplicates", want-len(all), dup)
	}
	return nil
}
