package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// client is one user's tab: the connectionId its backend registered, the
// push it expects, and what it heard.
type client struct {
	i              int
	user, connID   string
	want           string       // the message pushed to this user
	sent           atomic.Int64 // unix ns when its push was called; 0: not yet
	at             atomic.Int64 // unix ns of the first `message` event
	got, misrouted atomic.Int32 // `message` events; of them, not its push
	registered     chan error   // register's answer: nil (registered) or the error event
}

func newClients(n int) []*client {
	out := make([]*client, n)
	for i := range out {
		out[i] = &client{
			i: i, user: fmt.Sprintf("sioload-%05d", i), connID: fmt.Sprintf("sioload-conn-%05d", i),
			want: fmt.Sprintf("push-%05d", i), registered: make(chan error, 1),
		}
	}
	return out
}

// registerPacket is the Engine.IO message packet of
// socket.emit("register", userId, connectionId).
func (c *client) registerPacket() string {
	args, _ := json.Marshal([]string{"register", c.user, c.connID})
	return "42" + string(args)
}

// handle reads one Engine.IO packet after the handshake; it returns the
// packet to answer with ("": none). Only what the tool needs is parsed:
// ping, and the Socket.IO events registered, error and message.
func (c *client) handle(pkt []byte, now time.Time) string {
	switch {
	case len(pkt) == 1 && pkt[0] == '2': // ping
		return "3"
	case bytes.HasPrefix(pkt, []byte(`42["message",`)):
		c.message(pkt[len(`42["message",`):], now)
	case bytes.HasPrefix(pkt, []byte(`42["registered"`)):
		c.answer(nil)
	case bytes.HasPrefix(pkt, []byte(`42["error"`)):
		c.answer(fmt.Errorf("%s: register refused: %s", c.user, pkt))
	}
	return ""
}

func (c *client) answer(err error) {
	select {
	case c.registered <- err:
	default:
	}
}

// message counts one `message` event whose argument (with the packet's
// closing bracket) is rest.
func (c *client) message(rest []byte, now time.Time) {
	c.got.Add(1)
	s, err := strconv.Unquote(string(bytes.TrimSuffix(rest, []byte("]"))))
	if err != nil || s != c.want {
		c.misrouted.Add(1)
		return
	}
	c.at.CompareAndSwap(0, now.UnixNano())
}

// latency is the time from its push's call to its first receipt.
func (c *client) latency() (time.Duration, bool) {
	sent, at := c.sent.Load(), c.at.Load()
	if sent == 0 || at == 0 {
		return 0, false
	}
	return time.Duration(at - sent), true
}

// openPacket checks the Engine.IO open packet ("0{...}") and returns the sid.
func openPacket(pkt []byte) (string, error) {
	var open struct{ Sid string }
	if len(pkt) == 0 || pkt[0] != '0' || json.Unmarshal(pkt[1:], &open) != nil || open.Sid == "" {
		return "", fmt.Errorf("not an Engine.IO open packet: %.80q", pkt)
	}
	return open.Sid, nil
}

// connected checks Socket.IO's connect answer on the main namespace.
func connected(pkt []byte) error {
	if !bytes.HasPrefix(pkt, []byte("40")) {
		return fmt.Errorf("not a Socket.IO connect: %.80q", pkt)
	}
	return nil
}
