//go:build !linux

package wsconn

import (
	"net"

	"github.com/gobwas/ws"
)

// poller is Linux's epoll; elsewhere every connection has a reader
// goroutine of its own.
type poller struct{}

func newPoller(*registry) *poller { return nil }

func (*poller) usable() bool     { return false }
func (*poller) add(*Conn) bool   { return false }
func (*poller) rearm(*Conn) bool { return false }
func (*poller) remove(*Conn)     {}
func (*poller) stop()            {}

// writeNow leaves every write to the writer goroutine.
func (*Conn) writeNow(bufs net.Buffers) (net.Buffers, error) { return bufs, nil }

// writeDirect leaves every write to the writer goroutine.
func (*Conn) writeDirect(ws.OpCode, [][]byte) (int, error) { return 0, nil }

// detach keeps nc: without epoll, its reader waits in Go's poller.
func detach(nc net.Conn) net.Conn { return nc }
