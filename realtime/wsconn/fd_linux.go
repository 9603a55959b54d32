package wsconn

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdConn is a connection's socket held as a bare descriptor, outside Go's
// network poller. A *net.TCPConn costs an idle connection about 600 bytes
// that it never uses in epoll mode: the netFD, two addresses and their
// sockaddrs, and the runtime's poll descriptor with its deadline timers
// (outside the heap), all beside this package's own epoll registration.
// The socket stays non-blocking; a read or write that would block (a
// frame split across packets, a client that reads slowly) waits on a
// temporary net.Conn over a duplicate of the descriptor, with the
// deadline set here, and closes it after: a connection pays for Go's
// poller only while it waits.
//
// The descriptor is closed once nobody uses it: a number the kernel gave
// back could be another client's socket by then.
type fdConn struct {
	fd int
	// state is 2 × the calls using fd, plus 1 once Close began.
	state atomic.Int64
	// Deadlines in Unix nanoseconds (0: none), for the temporary
	// net.Conn; the reader sets and uses rd, the writer wd.
	rd, wd int64
}

var (
	_ net.Conn        = (*fdConn)(nil)
	_ syscall.Conn    = (*fdConn)(nil)
	_ syscall.RawConn = fdRaw{}
)

// errFDClosed is the error of a call on a closed fdConn.
var errFDClosed = net.ErrClosed

// detach takes nc's socket out of Go's poller: a duplicate of its
// descriptor in an fdConn, and nc closed. nc is returned as it is when it
// is no plain socket, or the duplicate fails.
func detach(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !pollable(nc) || !ok {
		return nc
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || dupErr != nil {
		return nc
	}
	_ = nc.Close() // the socket stays open: fd refers to it
	return &fdConn{fd: fd}
}

// acquire counts a call that uses fd; false once Close began.
func (f *fdConn) acquire() bool {
	for {
		s := f.state.Load()
		if s&1 != 0 {
			return false
		}
		if f.state.CompareAndSwap(s, s+2) {
			return true
		}
	}
}

// release ends a call; the last one after Close closes fd.
func (f *fdConn) release() {
	if f.state.Add(-2) == 1 {
		_ = unix.Close(f.fd)
	}
}

// Close shuts the socket down at once (a call waiting on a temporary
// net.Conn wakes with an error) and closes the descriptor when the last
// call using it returns.
func (f *fdConn) Close() error {
	if !f.acquire() {
		return errFDClosed
	}
	for {
		s := f.state.Load()
		if s&1 != 0 {
			f.release()
			return errFDClosed
		}
		if f.state.CompareAndSwap(s, s|1) {
			break
		}
	}
	_ = unix.Shutdown(f.fd, unix.SHUT_RDWR)
	f.release()
	return nil
}

// Read reads what the socket holds, or waits for it until the read
// deadline.
func (f *fdConn) Read(p []byte) (int, error) {
	if !f.acquire() {
		return 0, errFDClosed
	}
	n, err := ignoringEINTR(func() (int, error) { return rawRead(f.fd, p) })
	f.release()
	switch {
	case err == unix.EAGAIN:
		return f.waiting(f.rd, func(nc net.Conn) (int, error) { return nc.Read(p) })
	case err != nil:
		return 0, err
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of p, waiting for the socket until the write deadline
// if it must.
func (f *fdConn) Write(p []byte) (int, error) {
	if !f.acquire() {
		return 0, errFDClosed
	}
	n, err := ignoringEINTR(func() (int, error) { return rawWrite(f.fd, p) })
	f.release()
	if err == unix.EAGAIN {
		n, err = 0, nil
	}
	if err != nil || n == len(p) {
		return n, err
	}
	m, err := f.waiting(f.wd, func(nc net.Conn) (int, error) { return nc.Write(p[n:]) })
	return n + m, err
}

// WriteBuffers writes all of bufs (as net.Buffers.WriteTo would), in one
// writev while the socket takes them, else on a temporary net.Conn.
func (f *fdConn) WriteBuffers(bufs net.Buffers) error {
	for len(bufs) > 0 {
		if !f.acquire() {
			return errFDClosed
		}
		batch := bufs[:min(len(bufs), 1024)]
		n, err := ignoringEINTR(func() (int, error) { return rawWritev(f.fd, batch, make([]unix.Iovec, 0, len(batch))) })
		f.release()
		switch {
		case err == unix.EAGAIN:
			_, err = f.waiting(f.wd, func(nc net.Conn) (int, error) {
				m, err := bufs.WriteTo(nc)
				return int(m), err
			})
			return err
		case err != nil:
			return err
		}
		bufs = consume(bufs, n)
	}
	return nil
}

// waiting runs op on a temporary net.Conn over a duplicate of fd, with
// deadline (Unix nanoseconds; 0: none).
func (f *fdConn) waiting(deadline int64, op func(nc net.Conn) (int, error)) (int, error) {
	if !f.acquire() {
		return 0, errFDClosed
	}
	fd, err := unix.FcntlInt(uintptr(f.fd), unix.F_DUPFD_CLOEXEC, 0)
	f.release()
	if err != nil {
		return 0, err
	}
	file := os.NewFile(uintptr(fd), "websocket")
	nc, err := net.FileConn(file) // a duplicate of its own, in Go's poller
	_ = file.Close()
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	if deadline != 0 {
		_ = nc.SetDeadline(time.Unix(0, deadline))
	}
	return op(nc)
}

func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != unix.EINTR {
			if n < 0 {
				n = 0
			}
			return n, err
		}
	}
}

func (f *fdConn) SetDeadline(t time.Time) error {
	f.rd, f.wd = unixNano(t), unixNano(t)
	return nil
}
func (f *fdConn) SetReadDeadline(t time.Time) error  { f.rd = unixNano(t); return nil }
func (f *fdConn) SetWriteDeadline(t time.Time) error { f.wd = unixNano(t); return nil }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// LocalAddr and RemoteAddr are not kept (they are most of what a
// net.TCPConn costs an idle connection); nothing here asks for them.
func (f *fdConn) LocalAddr() net.Addr  { return nil }
func (f *fdConn) RemoteAddr() net.Addr { return nil }

// SyscallConn gives the poller and the direct writes the descriptor, while
// it is open.
func (f *fdConn) SyscallConn() (syscall.RawConn, error) { return fdRaw{f}, nil }

// fdRaw is an fdConn's syscall.RawConn; its Read and Write run their
// function once and never wait.
type fdRaw struct{ f *fdConn }

func (r fdRaw) Control(fn func(fd uintptr)) error {
	if !r.f.acquire() {
		return errFDClosed
	}
	defer r.f.release()
	fn(uintptr(r.f.fd))
	return nil
}

func (r fdRaw) Read(fn func(fd uintptr) bool) error {
	return r.Control(func(fd uintptr) { fn(fd) })
}

func (r fdRaw) Write(fn func(fd uintptr) bool) error {
	return r.Control(func(fd uintptr) { fn(fd) })
}
