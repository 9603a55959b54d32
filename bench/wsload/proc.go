package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate/bench/internal/procstat"
)

// rssKiB is a process's resident memory (VmRSS) in KiB.
func rssKiB(pid int) (int64, error) { return procstat.StatusKiB(pid, "VmRSS") }

// newCPUSet is the processes whose CPU a phase counts (procstat.Set).
func newCPUSet(o options) (*procstat.Set, error) {
	s, err := procstat.NewSet(o.serverPID, o.cpuPIDs, o.pgDB)
	if err != nil {
		return nil, fmt.Errorf("-cpu-pids: %w", err)
	}
	return s, nil
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
