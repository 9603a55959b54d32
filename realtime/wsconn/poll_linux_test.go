package wsconn

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The poller's epoll instance is watched by Go's own poller, so that its
// loop never blocks in epoll_wait holding a processor; it still gets each
// connection's readiness, and stops.
func TestPollerWaitsInGoPoller(t *testing.T) {
	p := newPoller(newRegistry(0))
	if err := p.open(); err != nil {
		t.Skip("no epoll here:", err)
	}
	defer p.file.Close()
	if p.blocking {
		t.Fatal("the epoll instance is not in Go's poller: the loop would block in epoll_wait")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	events := make([]unix.EpollEvent, 4)
	wait := p.waiter(events)
	ev := unix.EpollEvent{Events: pollEvents, Fd: 7}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fds[0], &ev); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // a readiness each time it is armed again
		write := func() {
			if _, err := unix.Write(fds[1], []byte("x")); err != nil {
				t.Error(err)
			}
		}
		if i == 1 {
			time.AfterFunc(20*time.Millisecond, write) // while wait waits
		} else {
			write()
		}
		n, err := wait()
		if err != nil || n != 1 || events[0].Fd != 7 {
			t.Fatalf("wait: %d events, %v; want the socket's", n, err)
		}
		var b [8]byte
		unix.Read(fds[0], b[:])
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fds[0], &ev); err != nil {
			t.Fatal(err)
		}
	}
	unix.Close(fds[0])
}
