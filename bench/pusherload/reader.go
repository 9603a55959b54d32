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
// sockets are in one epoll instance (edge-triggered), which itself waits
// in Go's poller, so that the tool's one core runs no goroutine per
// connection and never blocks holding a processor.
type reader struct {
	conns    []*conn
	file     *os.File // the epoll instance
	epfd     int      // its descriptor
	spin     time.Duration
	stopping atomic.Bool
	done     chan struct{}
}

// startReader watches conns, first handling what each read while it
// subscribed. With spin > 0 the reader keeps asking the epoll instance
// for that long after its last event before it waits on Go's poller.
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
	if err == nil {
		err = unix.SetNonblock(epfd, true) // so that os.NewFile puts it in Go's poller
	}
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	r := &reader{conns: conns, file: os.NewFile(uintptr(epfd), "epoll"), epfd: epfd, spin: spin, done: make(chan struct{})}
	go r.loop()
	return r, nil
}

func (r *reader) loop() {
	defer close(r.done)
	events := make([]unix.EpollEvent, 256)
	scratch := make([]byte, 64<<10)
	raw, err := r.file.SyscallConn()
	if err != nil {
		return
	}
	var last time.Time
	for {
		var n int
		if r.spin > 0 && time.Since(last) < r.spin {
			// Spinning: no wake-up for the kernel to make on whichever
			// core delivers the packets; other goroutines (triggers,
			// pings) run in between.
			if r.stopping.Load() {
				return
			}
			if n = rawEpollWait(r.epfd, events); n == 0 {
				runtime.Gosched()
				continue
			}
		} else {
			err := raw.Read(func(fd uintptr) bool {
				n, _ = unix.EpollWait(int(fd), events, 0)
				return n > 0 || r.stopping.Load()
			})
			if err != nil {
				return
			}
		}
		if r.stopping.Load() {
			return
		}
		// One time for the batch: all of it was in the sockets by now.
		now := time.Now()
		for _, ev := range events[:n] {
			r.conns[ev.Fd].drain(scratch, now)
		}
		last = now
	}
}

// stop ends the loop; what the connections recorded may be read after.
func (r *reader) stop() {
	r.stopping.Store(true)
	r.file.Close() // wakes the loop
	<-r.done
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
