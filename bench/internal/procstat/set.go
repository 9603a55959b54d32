package procstat

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Set names the processes whose CPU a load tool's phase counts: the
// server, others by name, and the PostgreSQL backends of one database
// (found anew at each reading by their process title).
type Set struct {
	named map[string]int
	pgDB  string
}

// NewSet makes a Set of the server (serverPID, 0: none), the processes
// of others ("name=pid,...", e.g. "redis=123") and the backends of pgDB
// ("": none).
func NewSet(serverPID int, others, pgDB string) (*Set, error) {
	s := &Set{named: map[string]int{}, pgDB: pgDB}
	if serverPID > 0 {
		s.named["server"] = serverPID
	}
	for item := range strings.SplitSeq(others, ",") {
		if item == "" {
			continue
		}
		name, p, ok := strings.Cut(item, "=")
		pid, err := strconv.Atoi(p)
		if !ok || err != nil {
			return nil, fmt.Errorf("name=pid, not %q", item)
		}
		s.named[name] = pid
	}
	return s, nil
}

// Read is each named process's CPU time so far, and "postgres" the sum
// of the database's backends.
func (s *Set) Read() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range s.named {
		if t, err := CPUTime(pid); err == nil {
			out[name] = t
		}
	}
	if s.pgDB == "" {
		return out
	}
	if t := SumCPU(PostgresDB(s.pgDB)); t > 0 {
		out["postgres"] = t
	}
	return out
}

// Since is the CPU each process used from before to now, and their sum.
func (s *Set) Since(before map[string]time.Duration) (map[string]time.Duration, time.Duration) {
	now := s.Read()
	d := map[string]time.Duration{}
	var sum time.Duration
	for name, t := range now {
		d[name] = max(0, t-before[name])
		sum += d[name]
	}
	return d, sum
}

// Format is d as "name time, ..." in name order.
func Format(d map[string]time.Duration) string {
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
