package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushgate/pushgate/bench/internal/latency"
	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// watched are the processes whose CPU a run counts. node is the gateway
// (or, for -bare, this process); pg and redis are counted when the run
// uses them.
type watched struct {
	node, fake, redis int
	pgDB              string // also the backends of this database alone
	pg                bool
}

// cpuReading is the CPU each watched process used so far.
type cpuReading struct {
	node, fake, redis, self time.Duration
	pg, pgDB                map[int]time.Duration
}

func (w watched) read() cpuReading {
	var r cpuReading
	r.node, _ = procstat.CPUTime(w.node)
	r.fake, _ = procstat.CPUTime(w.fake)
	r.self, _ = procstat.CPUTime(os.Getpid())
	if w.redis > 0 {
		r.redis, _ = procstat.CPUTime(w.redis)
	}
	if w.pg {
		r.pg = procstat.Snapshot(procstat.Postgres)
		r.pgDB = procstat.Snapshot(procstat.PostgresDB(w.pgDB))
	}
	return r
}

// cpuUsed is what each process used between two readings.
type cpuUsed struct{ node, fake, redis, self, pg, pgDB time.Duration }

func used(a, b cpuReading) cpuUsed {
	return cpuUsed{node: b.node - a.node, fake: b.fake - a.fake, redis: b.redis - a.redis, self: b.self - a.self,
		pg: procstat.Used(a.pg, b.pg), pgDB: procstat.Used(a.pgDB, b.pgDB)}
}

// redisPID is the process id Redis at url reports, or 0 without one.
func redisPID(t *tb, url string) int {
	if url == "" {
		return 0
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatalf("redis INFO: %v", err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}

// result is one run's measurements.
type result struct {
	label     string
	pushes    int64
	elapsed   time.Duration // first request to last delivery
	latencies []time.Duration
	cpu       cpuUsed
	w         watched
	peakKiB   int64 // the node's VmHWM
}

func perPush(d time.Duration, n int64) float64 {
	return float64(d.Microseconds()) / float64(n)
}

func (r *result) print() {
	n := r.pushes
	slices.Sort(r.latencies)
	rate := float64(n) / r.elapsed.Seconds()
	fmt.Printf("rate:      %d pushes in %v: %.0f/s (first request to last delivery at the fake)\n", n, r.elapsed.Round(time.Millisecond), rate)
	if len(r.latencies) > 0 {
		fmt.Printf("answers:   %d requests: p50 %v  p90 %v  p99 %v  max %v\n", len(r.latencies),
			latency.Pct(r.latencies, 50), latency.Pct(r.latencies, 90), latency.Pct(r.latencies, 99), latency.Pct(r.latencies, 100))
	}
	c := r.cpu
	total := c.node + c.redis
	parts := []string{fmt.Sprintf("node %.1f", perPush(c.node, n))}
	if r.w.pg {
		total += c.pg
		parts = append(parts, fmt.Sprintf("PostgreSQL %.1f (its backends of %s: %.1f)", perPush(c.pg, n), r.w.pgDB, perPush(c.pgDB, n)))
	}
	if r.w.redis > 0 {
		parts = append(parts, fmt.Sprintf("Redis %.1f", perPush(c.redis, n)))
	}
	fmt.Printf("CPU/push:  %.1f µs = %s; fake %.1f µs, load tool %.1f µs\n", perPush(total, n), strings.Join(parts, " + "), perPush(c.fake, n), perPush(c.self, n))
	fakeKiB, _ := procstat.StatusKiB(r.w.fake, "VmHWM")
	fmt.Printf("peak RSS:  %.0f MB (the node's VmHWM); the fake's %.0f MB\n", float64(r.peakKiB)/1024, float64(fakeKiB)/1024)
	split := ""
	if r.w.pg || r.w.redis > 0 {
		split = fmt.Sprintf(" = %.0f + %.0f + %.1f", perPush(c.node, n), perPush(c.pg, n), perPush(c.redis, n))
	}
	answers := "–"
	if len(r.latencies) > 0 {
		answers = fmt.Sprintf("%v / %v", latency.Pct(r.latencies, 50), latency.Pct(r.latencies, 99))
	}
	fmt.Printf("| %s | %s | %.0f µs%s | %.0f MB | %s | %.0f µs |\n", r.label, thousands(rate), perPush(total, n), split, float64(r.peakKiB)/1024, answers, perPush(c.fake, n))
}

// thousands is x rounded, with commas between groups of three digits.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(x+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
