// Package wsconn is the WebSocket transport of pushgate's realtime
// protocols: the handshake (answering the protocol's subprotocol when the
// client offers it; the caller authenticates before), and a Conn that
// never blocks its sender, bounds what a client may send (frame size,
// frame rate) and what it may leave unread (a queue bound), and closes a
// peer that stops answering pings.
//
// It knows no protocol: frames are opaque JSON text.
//
// An idle connection holds no goroutine and no buffer. The handshake and
// frame headers are gobwas/ws's; on Linux the Upgrader watches every
// connection's socket with one epoll instance, and a goroutine runs only
// while a client frame is read and handled (with a pooled read buffer) or
// while frames are written (one writev per batch). There a plain socket
// leaves Go's network poller after the handshake: the Conn keeps its bare
// descriptor (no netFD, addresses or runtime poll descriptor), and only a
// read or write that must wait borrows a net.Conn over a duplicate of it
// for as long as it waits. Elsewhere, and for a
// connection that is not a plain socket (TLS terminated in the process),
// a goroutine per connection reads. Either way a connection's frames are
// handed over one at a time, in order.
package wsconn
