package wsconn

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// poller watches idle connections' sockets with one epoll instance. A
// socket is armed for one readiness at a time (EPOLLONESHOT): the
// connection's reader re-arms it once the frames it held were handled, so
// one connection never has two readers. Events carry the connection's
// number in the registry, not the descriptor, so an event that arrives
// after its connection closed and the descriptor was reused finds nothing.
type poller struct {
	conns *registry
	once  sync.Once
	epfd  int
	wake  int // an eventfd that stops the loop
	err   error
	// file is epfd in Go's own network poller: the loop waits there for
	// the epoll instance to hold events, and takes them without blocking.
	// A goroutine blocked in epoll_wait would keep its processor in a
	// system call until the runtime's monitor took it back, 20 µs to
	// 10 ms later, and every other goroutine, the fan-outs among them,
	// would wait that long on a server given one core. nil when there is
	// no epoll instance.
	file     *os.File
	blocking bool // the runtime cannot watch file: wait in epoll_wait

	mu      sync.Mutex // held around epoll_ctl, so that none runs after stop
	stopped bool
}

// errNotPollable is ctl's error for a connection that is no socket.
var errNotPollable = errors.New("websocket: not a socket")

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newPoller(conns *registry) *poller { return &poller{conns: conns} }

func (p *poller) start() {
	if p.err = p.open(); p.err == nil {
		go p.loop()
	}
}

// open makes the epoll instance and the eventfd that stops the loop.
func (p *poller) open() error {
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	p.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		// The wake event carries number 0, which no connection has.
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, p.wake, &unix.EpollEvent{Events: unix.EPOLLIN})
	}
	if err != nil {
		unix.Close(p.epfd)
		return err
	}
	p.blocking = unix.SetNonblock(p.epfd, true) != nil
	p.file = os.NewFile(uintptr(p.epfd), "epoll") // in Go's poller if it can be
	return nil
}

// usable starts the poller if it has not started, and reports whether it
// runs.
func (p *poller) usable() bool {
	p.once.Do(p.start)
	return p.err == nil
}

// add watches c's socket; false when c cannot be watched (not a plain
// socket, or no epoll), and then it needs a reader of its own.
func (p *poller) add(c *Conn) bool {
	if !p.usable() {
		return false
	}
	if !pollable(c.nc) {
		return false
	}
	return p.ctl(c, unix.EPOLL_CTL_ADD) == nil
}

// pollable reports whether nc is a plain socket, whose readiness and
// non-blocking writes say what its reader and writer will see; TLS and
// others buffer inside.
func pollable(nc net.Conn) bool {
	switch nc.(type) {
	case *fdConn, *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// rearm watches c again after its reader finished.
func (p *poller) rearm(c *Conn) bool { return p.ctl(c, unix.EPOLL_CTL_MOD) == nil }

// remove stops watching c; its socket is about to close.
func (p *poller) remove(c *Conn) { _ = p.ctl(c, unix.EPOLL_CTL_DEL) }

func (p *poller) ctl(c *Conn, op int) error {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return errNotPollable // never watched
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	ev := unix.EpollEvent{Events: pollEvents, Fd: int32(c.id), Pad: int32(c.id >> 32)}
	var ctlErr error
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.err != nil {
		return errClosed
	}
	err = raw.Control(func(fd uintptr) { ctlErr = unix.EpollCtl(p.epfd, op, int(fd), &ev) })
	return errors.Join(err, ctlErr)
}

func (p *poller) loop() {
	events := make([]unix.EpollEvent, 128)
	wait := p.waiter(events)
	for {
		n, err := wait()
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				p.mu.Lock()
				unix.Close(p.wake)
				p.file.Close() // and epfd with it
				p.mu.Unlock()
				return
			}
			if c := p.conns.get(id); c != nil {
				go c.ready()
			}
		}
	}
}

// waiter returns the loop's wait, which returns the next events in
// events: taken without blocking once Go's poller says the epoll instance
// holds some, or, where it cannot say, waited for in epoll_wait. What it
// needs is made here once, not at every wake-up.
func (p *poller) waiter(events []unix.EpollEvent) func() (int, error) {
	var raw syscall.RawConn
	if !p.blocking {
		var err error
		if raw, err = p.file.SyscallConn(); err != nil {
			p.blocking = true
		}
	}
	var n int
	var werr error
	take := func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		return n > 0 || (werr != nil && werr != unix.EINTR)
	}
	return func() (int, error) {
		if !p.blocking {
			err := raw.Read(take)
			if err == nil {
				return n, werr
			}
			if errors.Is(err, os.ErrClosed) {
				return 0, err
			}
			p.blocking = true // not in Go's poller after all
		}
		for {
			n, err := unix.EpollWait(p.epfd, events, -1)
			if err != unix.EINTR {
				return n, err
			}
		}
	}
}

// stop ends the loop; sockets still watched are read no more.
func (p *poller) stop() {
	p.once.Do(func() { p.err = errClosed })
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.err != nil {
		return
	}
	p.stopped = true
	_, _ = unix.Write(p.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
}

// direct is the buffers of one direct write and the callback of every
// writev, pooled so that a delivery the socket takes at once allocates
// nothing for it.
type direct struct {
	headers [maxDirect * 10]byte
	bufs    [2 * maxDirect][]byte
	iov     net.Buffers
	vec     []unix.Iovec // writev's scratch list
	n       int
	err     error
	write   func(fd uintptr) bool // writes iov, made once per direct
}

var directs = sync.Pool{New: func() any {
	d := &direct{vec: make([]unix.Iovec, 0, 2*maxDirect)}
	d.write = func(fd uintptr) bool {
		vec := d.vec
		if cap(vec) < len(d.iov) {
			vec = make([]unix.Iovec, 0, len(d.iov)) // a large batch for writeNow
		}
		d.n, d.err = rawWritev(int(fd), d.iov, vec)
		return true // never wait: the writer goroutine does
	}
	return d
}}

// writeDirect writes at most maxDirect frames of op in one writev without
// waiting, and returns how many bytes the socket took.
func (c *Conn) writeDirect(op ws.OpCode, frames [][]byte) (int, error) {
	if !pollable(c.nc) {
		return 0, nil
	}
	d := directs.Get().(*direct)
	h := d.headers[:0]
	d.iov = d.bufs[:0]
	for _, f := range frames {
		start := len(h)
		h = appendHeader(h, op, len(f))
		d.iov = append(d.iov, h[start:len(h):len(h)])
		if len(f) > 0 {
			d.iov = append(d.iov, f)
		}
	}
	n, err := c.writev(d)
	clear(d.bufs[:]) // the pool keeps no frame alive
	directs.Put(d)
	return n, err
}

// writeNow writes what the socket takes without waiting (one writev of
// at most IOV_MAX buffers) and returns what is left; a socket the poller
// cannot watch takes nothing here.
func (c *Conn) writeNow(bufs net.Buffers) (net.Buffers, error) {
	if !pollable(c.nc) {
		return bufs, nil
	}
	d := directs.Get().(*direct)
	d.iov = bufs[:min(len(bufs), 1024)]
	n, err := c.writev(d)
	directs.Put(d)
	if err != nil {
		return nil, err
	}
	return consume(bufs, n), nil
}

// writev writes d.iov once, never waiting (the writer goroutine does),
// and returns how many bytes the socket took; d.iov is cleared.
func (c *Conn) writev(d *direct) (int, error) {
	defer func() { d.iov, d.n, d.err = nil, 0, nil }()
	raw, err := c.nc.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, err
	}
	err = raw.Write(d.write)
	n, werr := d.n, d.err
	if werr == unix.EAGAIN {
		n, werr = 0, nil
	}
	if err = errors.Join(err, werr); err != nil {
		return 0, err
	}
	return n, nil
}
