// Command fanoutfloor measures what the kernel alone takes to fan a small
// frame out to n TCP connections on loopback: the floor under any
// server's fan-out on the same machine, pinned the same way. It is no
// server: no WebSocket, no HTTP, no channel, one write(2) a connection.
//
// The sender (-role send) accepts n connections, then every 1/rate
// seconds writes one frame of -size bytes to each, in one loop; each
// frame starts with the loop's start time (CLOCK_MONOTONIC). The reader
// (-role read) opens the n connections, reads them through its own epoll
// instance (polling for -spin after its last receipt, then sleeping, as
// bench/pusherload does) and prints, in pusherload's words, each event's
// completion: its last receipt after the sender's loop began. With
// -server-pid it reports the sender's CPU a delivery from /proc.
//
//	taskset -c 0 fanoutfloor -role send -n 10000 -events 60 &
//	taskset -c 1 fanoutfloor -role read -n 10000 -events 60 -server-pid $!
//
// bench/pusherload/run.sh runs it as the server "floor" (SERVERS).
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pushgate/pushgate/bench/internal/procstat"
)

type options struct {
	role, addr        string
	n, events, size   int
	rate              float64
	serverPID         int
	settle, spin, end time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "send", "send (the fan-out) or read (the connections)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:18499", "where the sender listens")
	flag.IntVar(&o.n, "n", 10000, "connections")
	flag.IntVar(&o.events, "events", 60, "frames sent to every connection")
	flag.Float64Var(&o.rate, "rate", 1, "events a second")
	flag.IntVar(&o.size, "size", 60, "bytes a frame (at least 8); a Pusher event's WebSocket frame in bench/pusherload is about this")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the sender's process id (CPU a delivery); read only")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "after the last connection, the sender's wait before the first event (over 1s: the reader starts counting the sender's CPU a second after its last connection)")
	flag.DurationVar(&o.spin, "spin", 2*time.Millisecond, "after its last receipt, how long the reader polls before it sleeps")
	flag.DurationVar(&o.end, "wait", 10*time.Second, "the reader gives up this long after its last receipt")
	flag.Parse()
	var err error
	switch {
	case o.size < 8:
		err = errors.New("-size is at least 8 (the frame carries its event's start time)")
	case o.role == "send":
		err = send(o)
	case o.role == "read":
		err = read(o)
	default:
		err = fmt.Errorf("-role is send or read, not %q", o.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fanoutfloor:", err)
		os.Exit(1)
	}
}

func now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// send accepts o.n connections at o.addr and writes o.events frames to each.
func send(o options) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	return sendOn(ln, o)
}

// sendOn is send on a listener already open.
func sendOn(ln net.Listener, o options) error {
	defer ln.Close()
	conns := make([]*net.TCPConn, 0, o.n) // kept: their descriptors are written raw
	fds := make([]int, 0, o.n)
	for len(fds) < o.n {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		tc := c.(*net.TCPConn)
		rc, err := tc.SyscallConn()
		if err != nil {
			return err
		}
		_ = rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
		conns = append(conns, tc)
	}
	time.Sleep(o.settle)
	frame := make([]byte, o.size)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
	for range o.events {
		<-tick.C
		binary.LittleEndian.PutUint64(frame, uint64(now()))
		for _, fd := range fds {
			// Non-blocking (Go's sockets are): a frame the socket cannot take
			// is a missing receipt, and the reader says so.
			_, _ = unix.Write(fd, frame)
		}
	}
	time.Sleep(o.end) // the reader closes first
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}

// read opens o.n connections, reads every frame and prints each event's
// completion.
func read(o options) error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(o.addr)
	if err != nil {
		return err
	}
	var dial net.Dialer
	conns := make([]net.Conn, 0, o.n)
	for range o.n {
		var c net.Conn
		for tries := 0; ; tries++ {
			if c, err = dial.Dial("tcp", net.JoinHostPort(host, port)); err == nil || tries == 100 {
				break
			}
			time.Sleep(50 * time.Millisecond) // the sender is starting
		}
		if err != nil {
			return err
		}
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return err
		}
		var fd int
		_ = rc.Control(func(x uintptr) { fd = int(x) })
		// Go's poller holds the socket too, edge-triggered: this instance
		// is the one that is waited on.
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return err
		}
		conns = append(conns, c)
	}
	// The sender takes the last connections in and settles: its CPU is
	// counted from here.
	time.Sleep(time.Second)
	cpu0, err := cpuOf(o.serverPID)
	if err != nil {
		return err
	}
	type event struct {
		start, last int64
		got         int
	}
	var events []*event
	byStart := map[int64]*event{}
	evs := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	complete, broken := 0, 0
	lastAny := now()
	for complete < o.events {
		wait := 0
		if time.Duration(now()-lastAny) > o.spin {
			wait = 50
		}
		if time.Duration(now()-lastAny) > o.end {
			break
		}
		k, err := unix.EpollWait(ep, evs, wait)
		if err != nil && err != unix.EINTR {
			return err
		}
		for _, e := range evs[:max(k, 0)] {
			m, err := unix.Read(int(e.Fd), buf)
			if err != nil || m <= 0 {
				continue
			}
			t := now()
			lastAny = t
			if m%o.size != 0 {
				broken++ // a frame split across reads: loopback does not, here
				continue
			}
			for off := 0; off < m; off += o.size {
				st := int64(binary.LittleEndian.Uint64(buf[off:]))
				ev := byStart[st]
				if ev == nil {
					ev = &event{start: st}
					byStart[st] = ev
					events = append(events, ev)
				}
				ev.last, ev.got = t, ev.got+1
				if ev.got == o.n {
					complete++
				}
			}
		}
	}
	cpu1, err := cpuOf(o.serverPID)
	if err != nil {
		return err
	}
	for _, c := range conns {
		_ = c.Close()
	}
	var ms []float64
	var each strings.Builder
	missing := o.n*o.events - o.n*len(events)
	for _, ev := range events {
		d := float64(ev.last-ev.start) / 1e6
		ms = append(ms, d)
		fmt.Fprintf(&each, " %.1f", d)
		missing += o.n - ev.got
	}
	fmt.Printf("target: the kernel alone, %d connections, %d events at %g a second, %d-byte frames written one by one\n", o.n, o.events, o.rate, o.size)
	if o.serverPID != 0 {
		fmt.Printf("  CPU: %v (sender %v): %.1f µs a delivery\n", cpu1-cpu0, cpu1-cpu0, float64((cpu1-cpu0).Microseconds())/float64(o.n*o.events))
	}
	fmt.Printf("  deliveries: %d of %d (%d missing, %d reads split a frame)\n", o.n*o.events-missing, o.n*o.events, missing, broken)
	if len(ms) == 0 {
		return errors.New("no event arrived")
	}
	fmt.Printf("  each event's completion, ms, in order:%s\n", each.String())
	sorted := slices.Sorted(slices.Values(ms))
	at := func(p int) float64 { return sorted[min(len(sorted)*p/100, len(sorted)-1)] }
	fmt.Printf("  fan-out completion (last receipt), by event: p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (%d samples)\n", at(50), at(90), at(99), sorted[len(sorted)-1], len(sorted))
	if missing > 0 || broken > 0 {
		return fmt.Errorf("%d deliveries missing, %d split", missing, broken)
	}
	return nil
}

// cpuOf is pid's CPU time so far, 0 for pid 0.
func cpuOf(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return procstat.CPUTime(pid)
}
