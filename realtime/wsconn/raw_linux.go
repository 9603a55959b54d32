package wsconn

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reads and writes of a socket outside Go's poller are made as raw
// system calls, which the runtime does not see: the socket is
// non-blocking, so each returns at once, and there is nothing for the
// runtime to do about it. Announced ones (syscall.Syscall) mark the
// processor as in a system call; on a server given one core, the
// runtime's monitor then wakes every 20 µs through a fan-out's ten
// thousand writes and now and then takes the processor away in the middle
// of one, and the fan-out must win it back: a tenth of a fan-out's CPU
// went to that.

// rawWritev is writev(2) of bufs (empty ones skipped) through vec, a
// scratch list of at least len(bufs) entries.
func rawWritev(fd int, bufs [][]byte, vec []unix.Iovec) (int, error) {
	vec = vec[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			vec = append(vec, v)
		}
	}
	if len(vec) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&vec[0])), uintptr(len(vec)))
	clear(vec) // keep no frame alive
	return errnoResult(n, e)
}

// rawRead is read(2).
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return errnoResult(n, e)
}

// rawWrite is write(2).
func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return errnoResult(n, e)
}

func errnoResult(n uintptr, e syscall.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
