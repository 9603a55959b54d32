package procstat

import (
	"os"
	"testing"
	"time"
)

func TestReadsThisProcess(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; { // spin until the kernel counts a tick
		after, err := CPUTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed %v", before)
		}
	}
	rss, err := StatusKiB(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS %d, %v", rss, err)
	}
	hwm, err := StatusKiB(os.Getpid(), "VmHWM")
	if err != nil || hwm < rss {
		t.Fatalf("VmHWM %d below VmRSS %d (%v)", hwm, rss, err)
	}
	if _, err := StatusKiB(os.Getpid(), "NoSuchLine"); err == nil {
		t.Fatal("a missing line read without an error")
	}
	self := Find(func(p Proc) bool { return p.PID == os.Getpid() })
	if len(self) != 1 {
		t.Fatalf("Find found %v for this process", self)
	}
}

func TestPostgresMatchers(t *testing.T) {
	backend := Proc{Comm: "postgres", Cmdline: "postgres: 15/main: postgres pushgate_a 127.0.0.1(5123) idle"}
	for _, c := range []struct {
		p      Proc
		db     string
		all, d bool
	}{
		{backend, "pushgate_a", true, true},
		{backend, "pushgate", true, false},
		{Proc{Comm: "postgres", Cmdline: "postgres: 15/main: walwriter"}, "pushgate_a", true, false},
		{Proc{Comm: "postgres", Cmdline: "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main"}, "pushgate_a", true, false},
		{Proc{Comm: "redis-server", Cmdline: "redis-server 127.0.0.1:6379"}, "pushgate_a", false, false},
	} {
		if Postgres(c.p) != c.all || PostgresDB(c.db)(c.p) != c.d {
			t.Errorf("%q (db %s): Postgres %v, PostgresDB %v; want %v, %v", c.p.Cmdline, c.db, Postgres(c.p), PostgresDB(c.db)(c.p), c.all, c.d)
		}
	}
}

func TestUsedCountsNewProcessesWholeAndIgnoresEnded(t *testing.T) {
	before := map[int]time.Duration{1: time.Second, 2: 5 * time.Second}
	after := map[int]time.Duration{1: 3 * time.Second, 3: time.Second} // 2 ended, 3 started
	if got := Used(before, after); got != 3*time.Second {
		t.Fatalf("Used = %v, want 3s", got)
	}
}
