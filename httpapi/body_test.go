package httpapi

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/pushgate/pushgate"
)

// A body that breaks off on the network is answered with a fixed text: the
// read error names this node's address, which is no client's business.
// Other read errors (a malformed multipart body) still say what is wrong.
func TestBodyReadErrorsHideAddresses(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 8080},
		Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 51234}, Err: syscall.ECONNRESET}
	err := bodyReadError(fmt.Errorf("multipart: NextPart: %w", reset))
	var e *pushgate.Error
	if !errors.As(err, &e) || e.Code != pushgate.EINVALID || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("got %v, want EINVALID keeping the read error", err)
	}
	if shown := e.Message + strings.Join(e.Fields, " "); strings.Contains(shown, "10.0.0.5") || strings.Contains(shown, "reset") {
		t.Fatalf("the answer shows the read error: %q", shown)
	}
	err = bodyReadError(errors.New("multipart: NextPart: malformed MIME header line"))
	if !errors.As(err, &e) || !strings.Contains(strings.Join(e.Fields, " "), "malformed MIME header") {
		t.Fatalf("a malformed body: %v", err)
	}
}
