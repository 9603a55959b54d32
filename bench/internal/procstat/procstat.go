// Package procstat reads what Linux's /proc says of a process's CPU time and
// memory, for the load tools under bench/ that measure servers running as
// separate processes on the same machine. It never changes a process.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ClockTick is USER_HZ, the unit of /proc/PID/stat's CPU times; 100 on
// every Linux the tools run on (sysconf needs cgo).
const ClockTick = 10 * time.Millisecond

// CPUTime is a process's utime+stime.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis (state is field 3).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(utime+stime) * ClockTick, nil
}

// StatusKiB is a memory line of /proc/PID/status in KiB: "VmRSS" for the
// resident memory now, "VmHWM" for its peak since the process started.
func StatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Proc is what Find shows of a process to choose it.
type Proc struct {
	PID int
	// Comm is the command name of /proc/PID/comm (at most 15 bytes).
	Comm string
	// Cmdline is /proc/PID/cmdline with its NUL separators as spaces; a
	// PostgreSQL backend's is its process title, "postgres: USER DB ADDR ...".
	Cmdline string
}

// Find lists the processes match accepts, as they are now.
func Find(match func(Proc) bool) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(d + "/comm")
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(d + "/cmdline")
		p := Proc{PID: pid, Comm: strings.TrimSpace(string(comm)), Cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))}
		if match(p) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SumCPU is the CPU time of the processes match accepts, found anew at each
// call: PostgreSQL starts a backend per connection. Processes that ended
// since the last call are missing from the sum, so a caller should keep its
// connections open across the interval it measures.
func SumCPU(match func(Proc) bool) time.Duration {
	var sum time.Duration
	for _, pid := range Find(match) {
		if t, err := CPUTime(pid); err == nil {
			sum += t
		}
	}
	return sum
}

// Postgres accepts every PostgreSQL process: the backends of all databases
// and the server's own (WAL writer, checkpointer, ...).
func Postgres(p Proc) bool {
	return strings.HasPrefix(p.Comm, "postgres") || strings.HasPrefix(p.Cmdline, "postgres:")
}

// PostgresDB accepts the backends serving database db.
func PostgresDB(db string) func(Proc) bool {
	return func(p Proc) bool {
		return strings.HasPrefix(p.Cmdline, "postgres: ") && strings.Contains(p.Cmdline+" ", " "+db+" ")
	}
}

// Snapshot is the CPU time of each process match accepts, by process id.
func Snapshot(match func(Proc) bool) map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, pid := range Find(match) {
		if t, err := CPUTime(pid); err == nil {
			out[pid] = t
		}
	}
	return out
}

// Used is the CPU the processes of after used since before: a process
// started in between counts whole; one that ended in between is missing
// (its last times cannot be read), and other processes' ends do not
// lower the sum as they would a difference of two SumCPU.
func Used(before, after map[int]time.Duration) time.Duration {
	var sum time.Duration
	for pid, t := range after {
		sum += max(0, t-before[pid])
	}
	return sum
}
