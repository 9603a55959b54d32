package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushgate/pushgate/bench/internal/latency"
	"github.com/pushgate/pushgate/bench/internal/loadclient"
	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// connectMemory opens every client and waits for its register's answer,
// reporting the node's resident memory before and after per client.
func connectMemory(ctx context.Context, o options, b *backend, clients []*client) ([]conn, error) {
	rss0, err := settledRSS(o)
	if err != nil {
		return nil, err
	}
	dial := dialWS
	if o.transport == "polling" {
		dial = dialPolling
	}
	t0 := time.Now()
	conns := make([]conn, len(clients))
	err = loadclient.Parallel(ctx, len(clients), o.dialers, func(ctx context.Context, i int) error {
		c, err := dial(ctx, b, clients[i])
		if err != nil {
			return err
		}
		conns[i] = c
		select {
		case err = <-clients[i].registered:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("%s: no answer to register in 30 s", clients[i].user)
		}
	})
	if err != nil {
		return conns, fmt.Errorf("connect: %w", err)
	}
	fmt.Printf("connect: %d clients connected and registered (the `registered` event) in %v\n", len(clients), time.Since(t0).Round(time.Millisecond))
	rss1, err := settledRSS(o)
	if err != nil {
		return conns, err
	}
	if o.serverPID > 0 {
		fmt.Printf("memory: node resident %.1f MiB before, %.1f MiB with %d %s clients: %.2f KiB a client\n",
			float64(rss0)/1024, float64(rss1)/1024, len(clients), o.transport, float64(rss1-rss0)/float64(len(clients)))
	}
	return conns, nil
}

// settledRSS is the node's resident memory in KiB after a forced GC (with
// -pprof) and -settle; 0 without -server-pid.
func settledRSS(o options) (int64, error) {
	if o.serverPID <= 0 {
		return 0, nil
	}
	if o.pprof != "" {
		resp, err := http.Get(o.pprof + "/debug/pprof/heap?gc=1")
		if err != nil {
			return 0, fmt.Errorf("-pprof: %w", err)
		}
		resp.Body.Close()
	}
	time.Sleep(o.settle)
	kib, err := procstat.StatusKiB(o.serverPID, "VmRSS")
	if err != nil {
		return 0, fmt.Errorf("-server-pid: %w", err)
	}
	return kib, nil
}

// pushAll pushes one message to each user at -rate a second and reports
// call → receipt times, what arrived other than exactly once, and the
// node's CPU per delivery.
func pushAll(ctx context.Context, o options, b *backend, clients []*client) error {
	cpu, err := procstat.NewSet(o.serverPID, o.cpuPIDs, "")
	if err != nil {
		return fmt.Errorf("-cpu-pids: %w", err)
	}
	before, start := cpu.Read(), time.Now()
	answers, failed := pushPaced(ctx, o, b, clients)
	sent := time.Since(start)
	deadline := time.Now().Add(o.wait)
	for received(clients) < len(clients)-failed && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	used, sum := cpu.Since(before)
	elapsed := time.Since(start)
	time.Sleep(time.Second) // a duplicate would come now
	var lat []time.Duration
	var once, missing, dup, wrong int
	for _, c := range clients {
		d, ok := c.latency()
		got, mis := c.got.Load(), c.misrouted.Load()
		switch {
		case ok && got == 1:
			once++
		case !ok:
			missing++
		}
		if ok {
			lat = append(lat, d)
		}
		dup += int(max(0, got-mis-1))
		wrong += int(mis)
	}
	fmt.Printf("push: %d pushes (one to each user) in %v at %.0f a second, %d failed calls\n", len(clients), sent.Round(time.Millisecond), o.rate, failed)
	fmt.Printf("  received exactly once: %d of %d; missing %d, duplicates %d, another user's %d\n", once, len(clients), missing, dup, wrong)
	fmt.Printf("  push call → `message` event: %s\n", latency.Percentiles(lat))
	fmt.Printf("  push call answered:          %s\n", latency.Percentiles(answers))
	if o.serverPID > 0 {
		fmt.Printf("  CPU: %v over %v (%s): %.1f µs a delivery\n", sum, elapsed.Round(time.Millisecond),
			procstat.Format(used), float64(sum.Microseconds())/float64(max(once, 1)))
	}
	if once != len(clients) {
		return fmt.Errorf("%d of %d pushes were not received exactly once", len(clients)-once, len(clients))
	}
	return nil
}

// pushPaced calls each client's push at its turn (start + i/rate), from
// enough goroutines that a slow answer does not delay the next push.
func pushPaced(ctx context.Context, o options, b *backend, clients []*client) ([]time.Duration, int) {
	var mu sync.Mutex
	var answers []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan *client)
	for range 64 {
		wg.Go(func() {
			for c := range next {
				t0 := time.Now()
				c.sent.Store(t0.UnixNano())
				if err := b.push(ctx, c); err != nil {
					if failed.Add(1) == 1 {
						fmt.Printf("  first failed push: %v\n", err)
					}
					continue
				}
				mu.Lock()
				answers = append(answers, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i, c := range clients {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))))
		next <- c
	}
	close(next)
	wg.Wait()
	return answers, int(failed.Load())
}

func received(clients []*client) int {
	n := 0
	for _, c := range clients {
		if c.at.Load() != 0 {
			n++
		}
	}
	return n
}
