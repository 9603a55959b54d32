package main

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reader reads every subscribed connection with one goroutine: their
// sockets are in one epoll instance (edge-triggered), so that the tool's
// one core runs no goroutine per connection. Without spin the instance
// itself waits in Go's poller, and the reader never blocks holding a
// processor. With spin it polls the instance instead, and sleeps in a
// blocking epoll_wait only once nothing came for that long: then the
// instance is in no other epoll instance, so the kernel, which runs a
// socket's wake-ups on the core that delivers its packets (the server's
// on loopback), does not also wake Go's poller for every packet.
type reader struct {
	conns    []*conn
	epfd     int      // the epoll instance
	file     *os.File // epfd in Go's poller, without spin
	spin     time.Duration
	stopping atomic.Bool
	done     chan struct{}
}

// startReader watches conns, first handling what each read while it
// subscribed.
func startReader(conns []*conn, spin time.Duration) (*reader, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i, c := range conns {
		c.consume(nil, now)
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(i)}
		if err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
			break
		}
	}
	r := &reader{conns: conns, epfd: epfd, spin: spin, done: make(chan struct{})}
	if err == nil && spin <= 0 {
		if err = unix.SetNonblock(epfd, true); err == nil { // so that os.NewFile puts it in Go's poller
			r.file = os.NewFile(uintptr(epfd), "epoll")
		}
	}
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	go r.loop()
	return r, nil
}

func (r *reader) loop() {
	defer close(r.done)
	events := make([]unix.EpollEvent, 256)
	scratch := make([]byte, 64<<10)
	next := r.wait
	if r.spin > 0 {
		next = r.poll
	}
	for {
		n, ok := next(events)
		if !ok || r.stopping.Load() {
			return
		}
		// One time for the batch: all of it was in the sockets by now.
		now := time.Now()
		for _, ev := range events[:n] {
			r.conns[ev.Fd].drain(scratch, now)
		}
	}
}

// wait returns the next events, waiting for them in Go's poller.
func (r *reader) wait(events []unix.EpollEvent) (int, bool) {
	raw, err := r.file.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int
	err = raw.Read(func(fd uintptr) bool {
		n, _ = unix.EpollWait(int(fd), events, 0)
		return n > 0 || r.stopping.Load()
	})
	return n, err == nil
}

// poll returns the next events, asking for them for r.spin (other
// goroutines, triggers and pings, run in between), then sleeping in
// epoll_wait (announced: the runtime runs the others meanwhile) until they
// come or stop is called.
func (r *reader) poll(events []unix.EpollEvent) (int, bool) {
	for since := time.Now(); time.Since(since) < r.spin; runtime.Gosched() {
		if r.stopping.Load() {
			return 0, false
		}
		if n := rawEpollWait(r.epfd, events); n > 0 {
			return n, true
		}
	}
	for !r.stopping.Load() {
		if n, err := unix.EpollWait(r.epfd, events, 50); n > 0 {
			return n, true
		} else if err != nil && err != unix.EINTR {
			return 0, false
		}
	}
	return 0, false
}

// stop ends the loop; what the connections recorded may be read after.
func (r *reader) stop() {
	r.stopping.Store(true)
	if r.file != nil {
		r.file.Close() // wakes the loop
		<-r.done
		return
	}
	<-r.done // within 50 ms
	unix.Close(r.epfd)
}

// drain reads what c's socket holds.
func (c *conn) drain(scratch []byte, now time.Time) {
	for !c.ended {
		m, err := rawRead(c.fd, scratch)
		if m > 0 {
			c.consume(scratch[:m], now)
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			return
		case err != nil || m == 0:
			c.ended = true
			return
		case m < len(scratch):
			return // all there was; more makes a new edge
		}
	}
}

// consume handles data's whole frames, after what c.buf held, and keeps
// the rest in c.buf.
func (c *conn) consume(data []byte, now time.Time) {
	if len(c.buf) > 0 {
		c.buf = append(c.buf, data...)
		data = c.buf
	}
	for {
		op, payload, n := nextFrame(data)
		if n == 0 {
			break
		}
		c.frame(op, payload, now)
		data = data[n:]
	}
	c.buf = append(c.buf[:0], data...)
}

// rawEpollWait is epoll_wait(2) with no timeout, unannounced to the
// runtime: it never waits.
func rawEpollWait(epfd int, events []unix.EpollEvent) int {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// rawRead is read(2) on a non-blocking socket, unannounced to the
// runtime: it never waits.
func rawRead(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
