package socketio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/socketio"
)

// oneHub hands over the session a register makes.
type oneHub chan realtime.Session

func (h oneHub) Register(_, _, _ string, s realtime.Session) func() {
	h <- s
	return func() {}
}

// anyConnection accepts every register.
type anyConnection struct{}

func (anyConnection) Claim(context.Context, string, string, string) (string, error) { return "", nil }

// registeredSocket serves a Handler, connects a WebSocket client as
// socket.io-client does (Engine.IO 4), registers it, and returns the
// session the hub got and the client's connection, past `registered`.
//
// zishang520/socket.io v3.0.6 writes a namespace's CONNECT answer before
// it records the socket (Client.doConnect), so an event that arrives in
// the microseconds between is refused and the connection closed ("invalid
// state", close 1006): about 1 in 100 runs here under -race, on loopback.
// socket.io-client reconnects and registers again; so does this helper,
// once.
func registeredSocket(tb testing.TB) (realtime.Session, *websocket.Conn) {
	tb.Helper()
	hub := make(oneHub, 1)
	h := socketio.NewHandler(socketio.Options{Hub: hub, Connections: anyConnection{},
		App: func(context.Context) (string, error) { return "app", nil }})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	ws, err := register(srv.URL)
	if websocket.IsCloseError(err, websocket.CloseAbnormalClosure) {
		ws, err = register(srv.URL)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	select {
	case s := <-hub:
		return s, ws
	case <-time.After(10 * time.Second):
		tb.Fatal("no session registered")
		return nil, nil
	}
}

// register connects to url's /socket.io/ and registers u1, reading up to
// `registered`.
func register(url string) (*websocket.Conn, error) {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func(prefix string) error {
		_, p, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(p), prefix) {
			return fmt.Errorf("read %q, want %s...", p, prefix)
		}
		return nil
	}
	err = read("0{")
	if err == nil {
		ws.WriteMessage(websocket.TextMessage, []byte("40"))
		err = read("40{")
	}
	if err == nil {
		ws.WriteMessage(websocket.TextMessage, []byte(`42["register","u1","c1"]`))
		err = read(`42["registered",{"userId":"u1"}]`)
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	ws.SetReadDeadline(time.Time{})
	return ws, nil
}

func pushFrame(tb testing.TB, message string) []byte {
	tb.Helper()
	m, err := socketio.PushMessage(json.RawMessage(message))
	if err != nil {
		tb.Fatal(err)
	}
	f, err := socketio.Protocol.Render(m)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestSendIsAMessageEvent(t *testing.T) {
	sess, ws := registeredSocket(t)
	for _, msg := range []string{`{"title":"<b>T</b>","n":[1, 2]}`, `"text"`, `42`} {
		if !sess.Send(pushFrame(t, msg)) {
			t.Fatal("Send failed")
		}
		want, _ := json.Marshal([]any{"message", json.RawMessage(msg)})
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, got, err := ws.ReadMessage()
		if err != nil || string(got) != "42"+string(want) {
			t.Errorf("client read %s, %v; want 42%s", got, err, want)
		}
	}
}

// BenchmarkSend is one push, rendered once, sent to a socket: what a
// fan-out costs per socket.
func BenchmarkSend(b *testing.B) {
	sess, ws := registeredSocket(b)
	go func() { // the client takes what comes
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	}()
	frame := pushFrame(b, `{"title":"Title of message","body":"Body of message","params":{"k":"v","n":[1,2,3]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if !sess.Send(frame) {
			b.Fatal("Send failed")
		}
	}
}
