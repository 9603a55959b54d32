// Package wsconn is the WebSocket transport of pushgate's realtime
// protocols: the handshake (answering the protocol's subprotocol when the
// client offers it; the caller authenticates before), and a Conn
// that never blocks its sender, bounds what a client may send (frame size,
// frame rate) and what it may leave unread (a queue bound), and closes a
// peer that stops answering pings.
//
// It knows no protocol: frames are opaque JSON text. It uses
// gorilla/websocket with small buffers and a pooled write buffer, and a
// writer goroutine that runs only while frames are queued, so an idle
// connection holds its read goroutine, its read buffer and a timer.
package wsconn
