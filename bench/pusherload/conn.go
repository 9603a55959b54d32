package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// conn is one subscribed connection. Its reader records, for each event
// of the run, the delay from the trigger call to its receipt.
type conn struct {
	ws  *websocket.Conn
	mu  sync.Mutex // writes: pings and close
	run *events
	// Only the reader touches these, until end is closed.
	got  []time.Duration // trigger call → receipt, by arrival
	seen []uint64        // the events received, a bit each
	dup  int             // events received again
	end  chan struct{}
}

var dialer = websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 512, HandshakeTimeout: 30 * time.Second}

// dial opens connection i and subscribes it to its channel; it returns
// once the server confirmed the subscription.
func dial(ctx context.Context, o options, i int, run *events) (*conn, error) {
	target := loadclient.NewAPI(o.url).WSURL("/app/" + o.key + "?protocol=7&client=pusherload&version=1.0")
	d := dialer
	d.NetDialContext = loadclient.LocalDialer(target, i)
	ws, _, err := d.DialContext(ctx, target, nil)
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", i, err)
	}
	c := &conn{ws: ws, run: run, end: make(chan struct{}), seen: make([]uint64, (o.events+63)/64)}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := c.subscribe(channelOf(i, o.channels)); err != nil {
		ws.Close()
		return nil, fmt.Errorf("connection %d: %w", i, err)
	}
	ws.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

func channelOf(i, channels int) string { return "load-" + strconv.Itoa(i%channels) }

func (c *conn) subscribe(channel string) error {
	if err := c.expect("pusher:connection_established"); err != nil {
		return err
	}
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	if err := c.send(sub); err != nil {
		return err
	}
	return c.expect("pusher_internal:subscription_succeeded")
}

// expect reads until a frame of event name; an error event ends it.
func (c *conn) expect(name string) error {
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", name, err)
		}
		var f struct{ Event string }
		if json.Unmarshal(msg, &f) != nil {
			return fmt.Errorf("not JSON: %.100q", msg)
		}
		switch {
		case f.Event == name:
			return nil
		case f.Event == "pusher:error" || f.Event == "pusher:subscription_error":
			return fmt.Errorf("%s", msg)
		}
	}
}

func (c *conn) send(msg []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (c *conn) read() {
	defer close(c.end)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		k, ok := eventOf(msg)
		if !ok || k < 0 || k >= len(c.seen)*64 {
			continue
		}
		bit := uint64(1) << (k % 64)
		if c.seen[k/64]&bit != 0 {
			c.dup++
			continue
		}
		c.seen[k/64] |= bit
		if d, ok := c.run.arrive(k, now); ok {
			c.got = append(c.got, d)
		}
	}
}

// eventOf finds the run's event number in a frame without decoding it
// all (the tool shares the CPUs with the server): the events' data is
// "ev-<k>", a JSON string needing no escapes, in every server's frame.
func eventOf(msg []byte) (int, bool) {
	const key = `"data":"ev-`
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	k, err := strconv.Atoi(string(rest[:j]))
	return k, err == nil
}

func (c *conn) close() {
	c.mu.Lock()
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.mu.Unlock()
	c.ws.Close()
	<-c.end
}

// pingAll sends pusher:ping on every connection each period, spread over
// it; the returned func stops it.
func pingAll(conns []*conn, period time.Duration) func() {
	done := make(chan struct{})
	ping := []byte(`{"event":"pusher:ping","data":{}}`)
	go func() {
		for {
			for _, c := range conns {
				select {
				case <-done:
					return
				case <-time.After(period / time.Duration(len(conns))):
				}
				c.send(ping)
			}
		}
	}()
	return func() { close(done) }
}
