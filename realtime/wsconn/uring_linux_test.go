package wsconn

import (
	"errors"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A send's result reads as a writev's: EAGAIN is nothing written (the
// writer goroutine sends the frame later), any other error aborts.
func TestWroteReadsASendsResult(t *testing.T) {
	for _, tc := range []struct {
		res  int32
		n    int
		errs bool
	}{
		{5, 5, false},
		{0, 0, false},
		{-int32(syscall.EAGAIN), 0, false},
		{-int32(syscall.EPIPE), 0, true},
		{-int32(syscall.ECONNRESET), 0, true},
	} {
		n, err := wrote(tc.res)
		if n != tc.n || (err != nil) != tc.errs {
			t.Errorf("wrote(%d) = %d, %v", tc.res, n, err)
		}
		if tc.errs && !errors.Is(err, syscall.Errno(-tc.res)) {
			t.Errorf("wrote(%d): %v, not errno %d", tc.res, err, -tc.res)
		}
	}
}

// A send whose completion does not come with the submission (here one
// without MSG_DONTWAIT to a full socket: the kernel waits for room) is
// not waited for as long as the client pleases: its socket is shut down,
// it fails, and the ring reports that it must not be used again.
func TestSubmitEndsAMissingCompletion(t *testing.T) {
	if _, setup := RingsUsable(); !setup {
		t.Skip("io_uring is refused here")
	}
	r, err := newRing(4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	big := make([]byte, 8<<20)
	r.send(fds[0], big)                         // fills the socket
	r.sendFlags(fds[0], big, unix.MSG_NOSIGNAL) // waits for room
	if r.submit() {
		t.Error("submit reported no trouble")
	}
	if r.res[0] <= 0 {
		t.Errorf("the first send: %d, want bytes written", r.res[0])
	}
	if _, err := wrote(r.res[1]); err == nil {
		t.Errorf("the waiting send: %d, want an error", r.res[1])
	}
}
