package main

import (
	"os"
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
	stopping atomic.Bool
	done     chan struct{}
}

// startReader watches conns, first handling what each read while it
// subscribed.
func startReader(conns []*conn) (*reader, error) {
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
	r := &reader{conns: conns, file: os.NewFile(uintptr(epfd), "epoll"), done: make(chan struct{})}
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
	for {
		var n int
		err := raw.Read(func(fd uintptr) bool {
			n, _ = unix.EpollWait(int(fd), events, 0)
			return n > 0 || r.stopping.Load()
		})
		if err != nil || r.stopping.Load() {
			return
		}
		// One time for the batch: all of it was in the sockets by now.
		now := time.Now()
		for _, ev := range events[:n] {
			r.conns[ev.Fd].drain(scratch, now)
		}
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

// rawRead is read(2) on a non-blocking socket, unannounced to the
// runtime: it never waits.
func rawRead(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
