//go:build !linux

package wsconn

// poller is Linux's epoll; elsewhere every connection has a reader
// goroutine of its own.
type poller struct{}

func newPoller(*registry) *poller { return nil }

func (*poller) add(*Conn) bool   { return false }
func (*poller) rearm(*Conn) bool { return false }
func (*poller) remove(*Conn)     {}
func (*poller) stop()            {}
