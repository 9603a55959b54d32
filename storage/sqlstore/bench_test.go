package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// BenchmarkInsert1000 stores one bulk send's worth of messages: the
// database part of a send's answer time.
func BenchmarkInsert1000(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			appID, bucketID, credID, ctxID := newBucket(b, db)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				msgs := inChunks(newMessages(1000, appID, bucketID, credID, ctxID, time.Now()), 500)
				b.StartTimer()
				if err := db.Messages().Insert(context.Background(), msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClaimFinish500 is a worker's database work for one chunk.
func BenchmarkClaimFinish500(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			benchClaimFinish(b, db)
		})
	}
}

// BenchmarkClaimFinish500In20 is a worker's database work for one chunk
// whose results it stores in 20 writes of 25, as it does when the chunk
// takes longer to send than 20 delivery_result_intervals.
func BenchmarkClaimFinish500In20(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			benchClaimFinishIn(b, db, 20)
		})
	}
}

// BenchmarkClaimFinish500In50 is BenchmarkClaimFinish500In20 with 50
// writes of 10: a chunk sent over 50 shorter delivery_result_intervals.
func BenchmarkClaimFinish500In50(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			benchClaimFinishIn(b, db, 50)
		})
	}
}

func benchClaimFinish(b *testing.B, db *sqlstore.DB) { benchClaimFinishIn(b, db, 1) }

func benchClaimFinishIn(b *testing.B, db *sqlstore.DB, writes int) {
	appID, bucketID, credID, ctxID := newBucket(b, db)
	ctx := context.Background()
	cpu := startCPU(b, db)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cpu.pause()
		msgs := inChunks(newMessages(500, appID, bucketID, credID, ctxID, time.Now()), 500)
		db.Messages().Insert(ctx, msgs)
		cpu.resume()
		b.StartTimer()
		now := time.Now()
		claimed, err := db.Messages().Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 500 {
			b.Fatal(len(claimed), err)
		}
		results := resultsFor(claimed, now)
		step := len(results) / writes
		for start := 0; start < len(results); start += step {
			if err := db.Messages().Finish(ctx, results[start:min(start+step, len(results))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	cpu.report()
}

// cpuMeter measures the CPU time a benchmark's timed parts cost: this
// process's, and on PostgreSQL that of the server processes serving the
// benchmark's database (read from /proc, so only where the server runs on
// this machine, in clock ticks: a run of many operations is needed).
type cpuMeter struct {
	b       *testing.B
	db      *sqlstore.DB
	self    time.Duration
	server  time.Duration
	running bool
	mark    [2]time.Duration // self, server at the last resume
}

func startCPU(b *testing.B, db *sqlstore.DB) *cpuMeter {
	c := &cpuMeter{b: b, db: db}
	c.resume()
	return c
}

func (c *cpuMeter) resume() { c.mark, c.running = c.now(), true }

func (c *cpuMeter) pause() {
	if !c.running {
		return
	}
	n := c.now()
	c.self, c.server, c.running = c.self+n[0]-c.mark[0], c.server+n[1]-c.mark[1], false
}

// report adds this process's and the server's CPU time per operation to
// the benchmark's figures.
func (c *cpuMeter) report() {
	c.pause()
	c.b.ReportMetric(float64(c.self.Microseconds())/float64(c.b.N), "self-cpu-µs/op")
	if c.db.Dialect == sqlstore.Postgres {
		c.b.ReportMetric(float64(c.server.Microseconds())/float64(c.b.N), "pg-cpu-µs/op")
	}
}

// now returns the CPU time used so far by this process and by the
// server's processes connected to the database.
func (c *cpuMeter) now() (out [2]time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out[0] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if c.db.Dialect != sqlstore.Postgres {
		return out
	}
	rows, err := c.db.QueryContext(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		c.b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			c.b.Fatal(err)
		}
		out[1] += procCPU(pid)
	}
	return out
}

// procCPU returns the user and system time of process pid (0 if it is
// unknown), assuming 100 clock ticks a second.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from the third on
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}
