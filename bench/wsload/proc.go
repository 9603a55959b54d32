package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// rssKiB is a process's resident memory (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) { return procstat.StatusKiB(pid, "VmRSS") }

// cpuSet names the processes whose CPU a phase counts: the server, any
// named in -cpu-pids, and the PostgreSQL backends of one database (found
// anew at each reading by their process title, "postgres: ... USER DB
// ADDR ...").
type cpuSet struct {
	named map[string]int
	pgDB  string
}

func newCPUSet(o options) (*cpuSet, error) {
	s := &cpuSet{named: map[string]int{}, pgDB: o.pgDB}
	if o.serverPID > 0 {
		s.named["server"] = o.serverPID
	}
	for item := range strings.SplitSeq(o.cpuPIDs, ",") {
		if item == "" {
			continue
		}
		name, p, ok := strings.Cut(item, "=")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil {
			return nil, fmt.Errorf("-cpu-pids: name=pid, not %q", item)
		}
		s.named[name] = pid
	}
	return s, nil
}

// read is each named process's CPU time so far, and "postgres" the sum
// of the database's backends.
func (s *cpuSet) read() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range s.named {
		if t, err := procstat.CPUTime(pid); err == nil {
			out[name] = t
		}
	}
	if s.pgDB == "" {
		return out
	}
	if t := procstat.SumCPU(procstat.PostgresDB(s.pgDB)); t > 0 {
		out["postgres"] = t
	}
	return out
}

// since is the CPU each process used from before to now, and their sum.
func (s *cpuSet) since(before map[string]time.Duration) (map[string]time.Duration, time.Duration) {
	now := s.read()
	d := map[string]time.Duration{}
	var sum time.Duration
	for name, t := range now {
		d[name] = max(0, t-before[name])
		sum += d[name]
	}
	return d, sum
}

func formatCPU(d map[string]time.Duration) string {
	names := make([]string, 0, len(d))
	for n := range d {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %v", n, d[n]))
	}
	return strings.Join(parts, ", ")
}

// memStats is what a Go server's heap profile (debug=1) says of its
// memory, and its goroutine count.
type memStats struct {
	heapInuse, stackInuse, sys int64
	goroutines                 int64
}

// readPprof reads base's heap profile (after a GC) and goroutine count,
// and saves the heap profile as dir/name.pb.gz for `go tool pprof`.
func readPprof(base, dir, name string) (memStats, error) {
	var m memStats
	text, err := httpGet(base + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return m, err
	}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v int64
		line := sc.Text()
		switch {
		case scanStat(line, "# HeapInuse = ", &v):
			m.heapInuse = v
		case scanStat(line, "# Stack = ", &v): // "# Stack = inuse / sys"
			m.stackInuse = v
		case scanStat(line, "# Sys = ", &v):
			m.sys = v
		}
	}
	g, err := httpGet(base + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return m, err
	}
	fmt.Sscanf(string(g), "goroutine profile: total %d", &m.goroutines)
	if dir != "" {
		if raw, err := httpGet(base + "/debug/pprof/heap"); err == nil {
			os.WriteFile(filepath.Join(dir, name+".pb.gz"), raw, 0o644)
		}
	}
	return m, nil
}

func scanStat(line, prefix string, v *int64) bool {
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		return false
	}
	rest, _, _ = strings.Cut(rest, " ")
	n, err := strconv.ParseInt(rest, 10, 64)
	*v = n
	return err == nil
}

func httpGet(u string) ([]byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// profileCPU saves the server's CPU profile of the next d as dir/name.pb.gz;
// the returned func waits for it.
func profileCPU(base, dir, name string, d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := httpGet(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, max(1, int(d.Seconds()))))
		if err != nil {
			fmt.Fprintln(os.Stderr, "wsload: cpu profile:", err)
			return
		}
		os.WriteFile(filepath.Join(dir, name+".pb.gz"), raw, 0o644)
	}()
	return func() { <-done }
}
