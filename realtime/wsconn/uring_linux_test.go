package wsconn

import (
	"errors"
	"syscall"
	"testing"
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
