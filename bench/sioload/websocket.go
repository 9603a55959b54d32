package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// wsConn is a client on Engine.IO's WebSocket transport: one packet a frame.
type wsConn struct {
	ws *websocket.Conn
	mu sync.Mutex // writes: the reader's pongs and close
}

var wsDialer = websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 512, HandshakeTimeout: 30 * time.Second}

// dialWS opens c's socket, connects to the main namespace and emits
// register; the reader goroutine then handles what comes.
func dialWS(ctx context.Context, b *backend, c *client) (conn, error) {
	target := b.WSURL("/socket.io/?EIO=4&transport=websocket")
	d := wsDialer
	d.NetDialContext = loadclient.LocalDialer(target, c.i)
	ws, _, err := d.DialContext(ctx, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.user, err)
	}
	w := &wsConn{ws: ws}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := w.handshake(c); err != nil {
		ws.Close()
		return nil, fmt.Errorf("%s: %w", c.user, err)
	}
	ws.SetReadDeadline(time.Time{})
	go w.read(c)
	return w, nil
}

func (w *wsConn) handshake(c *client) error {
	_, open, err := w.ws.ReadMessage()
	if err != nil {
		return err
	}
	if _, err := openPacket(open); err != nil {
		return err
	}
	if err := w.send("40"); err != nil {
		return err
	}
	_, ack, err := w.ws.ReadMessage()
	if err != nil {
		return err
	}
	if err := connected(ack); err != nil {
		return err
	}
	return w.send(c.registerPacket())
}

func (w *wsConn) send(pkt string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ws.WriteMessage(websocket.TextMessage, []byte(pkt))
}

func (w *wsConn) read(c *client) {
	for {
		_, pkt, err := w.ws.ReadMessage()
		if err != nil {
			c.answer(fmt.Errorf("%s: connection closed: %w", c.user, err))
			return
		}
		if reply := c.handle(pkt, time.Now()); reply != "" {
			w.send(reply)
		}
	}
}

func (w *wsConn) close() {
	w.mu.Lock()
	w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	w.mu.Unlock()
	w.ws.Close()
}
