package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// user is one end user as the load tool holds it: an id and a client token.
type user struct{ id, token string }

// backend is one server's API as the load tool uses it.
type backend interface {
	// prepare makes n users' client tokens, and one more user's (the one
	// user of the latency phase), through the server's API.
	prepare(ctx context.Context, n int) (users []user, solo user, err error)
	// request is where and how u's connection is opened.
	request(u user) (string, http.Header)
	// greets says the server's first frame means the session is live
	// (pushgate's hello); gotify sends nothing until a message.
	greets() bool
	// fanOut sends one notification titled title to all users.
	fanOut(ctx context.Context, title string, users []user) error
	// toOne sends one notification titled title to u alone.
	toOne(ctx context.Context, u user, title string) error
}

// round is one notification being timed: when it was sent and, for each
// connection, when it arrived.
type round struct {
	title string
	start time.Time
	at    []atomic.Int64 // nanoseconds after start, by connection index; 0: not arrived
	got   atomic.Int64
	want  int64
	done  chan struct{}
}

func newRound(title string, conns int) *round {
	return &round{start: time.Now(), title: title, at: make([]atomic.Int64, conns), want: int64(conns), done: make(chan struct{})}
}

func (r *round) arrive(i int, now time.Time) {
	if !r.at[i].CompareAndSwap(0, int64(max(now.Sub(r.start), time.Nanosecond))) {
		return // a replay of a notification already counted
	}
	if r.got.Add(1) == r.want {
		close(r.done)
	}
}

// wait waits for every arrival, or until timeout; it tells whether all came.
func (r *round) wait(timeout time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// tracker is the round every connection reports arrivals to.
type tracker struct{ cur atomic.Pointer[round] }

// conn is one client connection. Its reader goroutine counts the
// notifications it sees and reports the current round's.
type conn struct {
	ws     *websocket.Conn
	i      int
	notes  atomic.Int32 // notification frames since it opened
	storms atomic.Int32 // of them, titled with stormPrefix
	hello  time.Time
}

const stormPrefix = "storm-"

var dialer = websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 512, HandshakeTimeout: 30 * time.Second}

// dial opens u's connection as connection i (-1: the one user's, which
// reports as index 0 of its rounds) and, when the server greets, reads
// the greeting before it returns.
func dial(ctx context.Context, b backend, u user, i int, tr *tracker) (*conn, error) {
	target, h := b.request(u)
	d := dialer
	d.NetDialContext = loadclient.LocalDialer(target, i)
	ws, resp, err := d.DialContext(ctx, target, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %w (HTTP %d)", u.id, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: %w", u.id, err)
	}
	c := &conn{ws: ws, i: max(i, 0)}
	if b.greets() {
		ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, _, err := ws.ReadMessage(); err != nil {
			ws.Close()
			return nil, fmt.Errorf("%s: no greeting: %w", u.id, err)
		}
		ws.SetReadDeadline(time.Time{})
	}
	c.hello = time.Now()
	go c.read(tr)
	return c, nil
}

func (c *conn) read(tr *tracker) {
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		title, ok := titleOf(msg)
		if !ok {
			continue
		}
		c.notes.Add(1)
		if bytes.HasPrefix(title, []byte(stormPrefix)) {
			c.storms.Add(1)
		}
		if tr == nil {
			continue
		}
		if r := tr.cur.Load(); r != nil && r.title == string(title) {
			r.arrive(c.i, now)
		}
	}
}

// titleOf finds a notification's title in a frame without decoding it
// all: the load tool shares the CPUs with the server. Both servers write
// "title":"..." and the tool's titles need no escapes.
func titleOf(msg []byte) ([]byte, bool) {
	const key = `"title":"`
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return nil, false
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil, false
	}
	return rest[:j], true
}

func (c *conn) close() {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.ws.Close()
}

// dialAll opens a connection for each of users, dialers at a time. A
// failed one is nil in the result and counted.
func dialAll(ctx context.Context, b backend, users []user, dialers int, tr *tracker) ([]*conn, int, error) {
	conns := make([]*conn, len(users))
	var failed atomic.Int64
	var first atomic.Value
	next := make(chan int)
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			for i := range next {
				c, err := dial(ctx, b, users[i], i, tr)
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range users {
		next <- i
	}
	close(next)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		err, _ := first.Load().(error)
		return conns, int(f), fmt.Errorf("%d connections failed, the first: %w", f, err)
	}
	return conns, 0, nil
}
