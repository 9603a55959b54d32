package wsconn

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An io_uring instance that sends on many sockets with one system call:
// a fan-out's writes queued as IORING_OP_SEND entries and submitted
// together. Entering the kernel costs about a microsecond in a VM, a fifth
// of a small frame's write on loopback, and between entries the processor
// keeps going instead of starting over after every system call. Only what
// a batch needs is here: the rings, a send entry and its completion. No
// library for it is in this project's dependencies; the layouts are the
// kernel's (include/uapi/linux/io_uring.h).
//
// Every send carries MSG_DONTWAIT: a socket that cannot take the frame
// completes at once with EAGAIN (the kernel does not wait for room), so a
// submission's completions are all there when io_uring_enter returns, and
// the rest is left to the connection's writer goroutine as after a short
// writev. ringCheck makes sure the kernel behaves so before any ring is
// used.

const (
	uringSize     = 256 // submission entries: sends per system call
	uringOpSend   = 26  // IORING_OP_SEND
	uringOffCQ    = 0x8000000
	uringOffSQEs  = 0x10000000
	uringEnterGet = 1 // IORING_ENTER_GETEVENTS
)

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sq                                                                     struct {
		head, tail, mask, entries, flags, dropped, array, resv1 uint32
		userAddr                                                uint64
	}
	cq struct {
		head, tail, mask, entries, overflow, cqes, flags, resv1 uint32
		userAddr                                                uint64
	}
}

type uringSQE struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, msgFlags uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFDIn    int32
	addr3, pad    uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// ring is one io_uring instance, used by one Batch at a time.
type ring struct {
	fd               int
	sqMem, cqMem     []byte
	sqeMem           []byte
	sqTail           *uint32
	sqMask           uint32
	cqHead, cqTail   *uint32
	cqMask           uint32
	sqes, cqes       unsafe.Pointer
	queued           int     // entries written since the last submission
	res              []int32 // each entry's result, by its user data
	seen             []bool  // whether its completion came
	fds              []int   // each entry's socket
	entries, cqCount uint32
}

func newRing(entries uint32) (*ring, error) {
	var p uringParams
	fd, _, e := syscall.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, e
	}
	r := &ring{fd: int(fd), entries: p.sqEntries, cqCount: p.cqEntries}
	var err error
	mmap := func(off int64, size uint32) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = unix.Mmap(r.fd, off, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		return b
	}
	r.sqMem = mmap(0, p.sq.array+p.sqEntries*4)
	r.cqMem = mmap(uringOffCQ, p.cq.cqes+p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	r.sqeMem = mmap(uringOffSQEs, p.sqEntries*uint32(unsafe.Sizeof(uringSQE{})))
	if err != nil {
		r.close()
		return nil, err
	}
	sq, cq := unsafe.Pointer(&r.sqMem[0]), unsafe.Pointer(&r.cqMem[0])
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sq.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sq.mask))
	r.cqHead = (*uint32)(unsafe.Add(cq, p.cq.head))
	r.cqTail = (*uint32)(unsafe.Add(cq, p.cq.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cq, p.cq.mask))
	r.sqes = unsafe.Pointer(&r.sqeMem[0])
	r.cqes = unsafe.Add(cq, p.cq.cqes)
	// Entry i of the submission queue is always submission entry i.
	array := unsafe.Add(sq, p.sq.array)
	for i := range p.sqEntries {
		*(*uint32)(unsafe.Add(array, uintptr(i)*4)) = i
	}
	r.res = make([]int32, p.sqEntries)
	r.seen = make([]bool, p.sqEntries)
	r.fds = make([]int, p.sqEntries)
	return r, nil
}

func (r *ring) close() {
	for _, b := range [][]byte{r.sqMem, r.cqMem, r.sqeMem} {
		if b != nil {
			_ = unix.Munmap(b)
		}
	}
	_ = unix.Close(r.fd)
}

// full reports whether the submission queue has no free entry.
func (r *ring) full() bool { return r.queued == int(r.entries) }

// send queues a send of p to fd; p must stay unchanged until submit
// returns. Its result is r.res[the number of sends queued before it].
func (r *ring) send(fd int, p []byte) { r.sendFlags(fd, p, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL) }

// sendFlags is send with these send(2) flags.
func (r *ring) sendFlags(fd int, p []byte, flags uint32) {
	tail := atomic.LoadUint32(r.sqTail) + uint32(r.queued)
	e := (*uringSQE)(unsafe.Add(r.sqes, uintptr(tail&r.sqMask)*unsafe.Sizeof(uringSQE{})))
	*e = uringSQE{opcode: uringOpSend, fd: int32(fd), len: uint32(len(p)), msgFlags: flags, userData: uint64(r.queued)}
	r.fds[r.queued] = fd
	if len(p) > 0 {
		e.addr = uint64(uintptr(unsafe.Pointer(&p[0])))
	}
	r.queued++
}

// submit makes the queued sends in one system call (more only if the
// kernel takes fewer at a time) and returns their results in r.res:
// bytes sent, or a negated errno. The call is raw, as the direct writes'
// are: it never waits. If a completion is missing (a kernel that waits
// for room despite MSG_DONTWAIT; ringCheck should have caught it), the
// sockets of the missing sends are shut down so that they complete, and
// ok is false: use no ring any more.
func (r *ring) submit() (ok bool) {
	n := r.queued
	clear(r.seen[:n])
	atomic.StoreUint32(r.sqTail, atomic.LoadUint32(r.sqTail)+uint32(n))
	ok = true
	for left, tries := n, 0; left > 0; tries++ {
		m, _, e := syscall.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(left), 0, 0, 0, 0)
		if (e == unix.EINTR || e == unix.EAGAIN || e == unix.EBUSY) && tries < 100 {
			r.reap() // EBUSY: completions first
			continue
		}
		if e != 0 {
			// Nothing more is taken (io_uring_enter fails only when it
			// took none): take the rest back and fail it.
			atomic.StoreUint32(r.sqTail, atomic.LoadUint32(r.sqTail)-uint32(left))
			for i := n - left; i < n; i++ {
				r.res[i], r.seen[i] = -int32(e), true
			}
			ok = false
			break
		}
		left -= int(m)
	}
	r.reap()
	if missing := n - r.completed(n); missing > 0 {
		ok = false
		for i := range n {
			if !r.seen[i] {
				_ = unix.Shutdown(r.fds[i], unix.SHUT_RDWR)
			}
		}
		for tries := 0; missing > 0 && tries < 100; tries++ {
			_, _, e := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 0, uintptr(missing), uringEnterGet, 0, 0)
			if e != 0 && e != unix.EINTR {
				break
			}
			r.reap()
			missing = n - r.completed(n)
		}
		for i := range n {
			if !r.seen[i] {
				r.res[i] = -int32(unix.EIO) // never completed: the connection is aborted
			}
		}
	}
	r.queued = 0
	return ok
}

// completed is how many of the first n sends have their result.
func (r *ring) completed(n int) int {
	c := 0
	for _, seen := range r.seen[:n] {
		if seen {
			c++
		}
	}
	return c
}

// reap reads the completions waiting.
func (r *ring) reap() {
	head, tail := atomic.LoadUint32(r.cqHead), atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := (*uringCQE)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(uringCQE{})))
		if c.userData < uint64(len(r.res)) {
			r.res[c.userData], r.seen[c.userData] = c.res, true
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
}

// rings keeps idle rings for the next batches; off is set when io_uring
// is refused (a kernel without it, a sandbox's seccomp filter,
// kernel.io_uring_disabled) or does not behave as ringCheck expects.
var rings struct {
	sync.Mutex
	checked, off bool
	free         []*ring
}

// maxIdleRings is how many idle rings are kept (each is a descriptor and
// about 24 KiB of shared memory); one per concurrent fan-out is needed.
const maxIdleRings = 8

// getRing returns an idle ring, or a new one; nil when io_uring is off.
func getRing() *ring {
	rings.Lock()
	if !rings.checked {
		rings.checked = true
		rings.off = rings.off || !ringCheck()
	}
	if rings.off {
		rings.Unlock()
		return nil
	}
	if n := len(rings.free); n > 0 {
		r := rings.free[n-1]
		rings.free = rings.free[:n-1]
		rings.Unlock()
		return r
	}
	rings.Unlock()
	r, err := newRing(uringSize)
	if err != nil {
		rings.Lock()
		rings.off = true
		rings.Unlock()
		return nil
	}
	return r
}

// putRing keeps r for the next batch, or closes it; failed marks io_uring
// off for good.
func putRing(r *ring, failed bool) {
	rings.Lock()
	if failed {
		rings.off = true
	}
	if !rings.off && len(rings.free) < maxIdleRings {
		rings.free = append(rings.free, r)
		r = nil
	}
	rings.Unlock()
	if r != nil {
		r.close()
	}
}

// ringCheck makes sure that a send the socket cannot take completes at
// once with EAGAIN: it fills a socket pair's buffer through a ring, then
// sends once more. A kernel that would wait for room instead is not used
// (completions must all be there when a submission returns).
func ringCheck() bool {
	r, err := newRing(2)
	if err != nil {
		return false
	}
	defer r.close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) }()
	// The smallest send buffer the kernel allows (it doubles and rounds
	// this up), so that a small frame fills it.
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1); err != nil {
		return false
	}
	big := make([]byte, 256<<10)
	r.send(fds[0], big)
	r.send(fds[0], big)
	if !r.submit() {
		return false
	}
	return r.res[0] > 0 && r.res[0] < int32(len(big)) && r.res[1] == -int32(unix.EAGAIN)
}

// descriptor is c's socket for a batched write, held (release) until
// the write is finished; false when c is no bare socket or is closing.
func descriptor(c *Conn) (int, bool) {
	f, ok := c.nc.(*fdConn)
	if !ok || !f.acquire() {
		return 0, false
	}
	return f.fd, true
}

// release ends what descriptor began.
func release(c *Conn) { c.nc.(*fdConn).release() }

// wrote is a send's result as writev's: bytes written, nothing for a
// socket that takes nothing now (EAGAIN), or the error.
func wrote(res int32) (int, error) {
	switch {
	case res >= 0:
		return int(res), nil
	case res == -int32(unix.EAGAIN):
		return 0, nil
	default:
		return 0, syscall.Errno(-res)
	}
}

// ringSetupWorks reports whether io_uring_setup succeeds here.
func ringSetupWorks() bool {
	r, err := newRing(2)
	if err != nil {
		return false
	}
	r.close()
	return true
}
