package wsconn_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/realtime/wsconn"
)

// countingConn is one end of a pipe that counts its writes.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// hijackable is a ResponseWriter whose Hijack hands over nc.
type hijackable struct {
	*httptest.ResponseRecorder
	nc net.Conn
}

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, bufio.NewReadWriter(bufio.NewReader(h.nc), bufio.NewWriter(h.nc)), nil
}

func handshake(protocol string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if protocol != "" {
		r.Header.Set("Sec-WebSocket-Protocol", protocol)
	}
	return r
}

func TestUpgradeWithWritesTheAnswerAndTheFirstMessageAtOnce(t *testing.T) {
	up := wsconn.NewUpgrader(wsconn.Options{Subprotocol: "pushgate.v1"})
	t.Cleanup(up.Close)
	server, client := net.Pipe()
	nc := &countingConn{Conn: server}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	c, err := up.UpgradeWith(hijackable{httptest.NewRecorder(), nc}, handshake("pushgate.v1"), []byte(`{"hello":1}`))
	if err != nil {
		t.Fatal(err)
	}
	c.Serve(wsconn.HandlerFuncs{OnFrame: func([]byte, error) {}})
	nc.mu.Lock()
	writes := nc.writes
	nc.mu.Unlock()
	server.Close()
	b := <-got
	if writes != 1 {
		t.Errorf("%d writes, want the answer and the first message in one", writes)
	}
	head, frame, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no answer: %q", b)
	}
	for _, want := range []string{"HTTP/1.1 101 ", "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol: pushgate.v1"} {
		if !strings.Contains(string(head), want) {
			t.Errorf("answer %q lacks %q", head, want)
		}
	}
	if want := "\x81\x0b" + `{"hello":1}`; string(frame) != want {
		t.Errorf("after the answer %q, want the text frame %q", frame, want)
	}
}

func TestUpgradeWithOverTCP(t *testing.T) {
	up := wsconn.NewUpgrader(wsconn.Options{})
	frames := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.UpgradeWith(w, r, []byte("welcome"))
		if err != nil {
			return
		}
		c.Serve(wsconn.HandlerFuncs{OnFrame: func(data []byte, _ error) {
			frames <- string(data)
			c.Send([]byte("echo " + string(data)))
		}})
	}))
	t.Cleanup(func() { srv.Close(); up.Close() })
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "welcome" {
		t.Fatalf("first message %q, %v; want welcome", m, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := ws.ReadMessage(); err != nil || string(m) != "echo hi" {
		t.Fatalf("got %q, %v; want echo hi", m, err)
	}
	if f := <-frames; f != "hi" {
		t.Errorf("server read %q", f)
	}
}

// rawHandshake sends req (and extra, in the same write) on a fresh TCP
// connection to srv and returns all it gets back until the server closes.
func rawHandshake(t *testing.T, srv *httptest.Server, req string, extra []byte) string {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(nc)
	return string(b)
}

func TestUpgradeWithRefusesBadHandshakesAndEarlyData(t *testing.T) {
	up := wsconn.NewUpgrader(wsconn.Options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := up.UpgradeWith(w, r, []byte("welcome")); err == nil {
			c.Serve(wsconn.HandlerFuncs{OnFrame: func([]byte, error) {}})
			t.Error("upgraded")
		}
	}))
	t.Cleanup(func() { srv.Close(); up.Close() })
	const head = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
	got := rawHandshake(t, srv, head+"Sec-WebSocket-Key: short\r\n\r\n", nil)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") || strings.Contains(got, "welcome") {
		t.Errorf("bad key answered %q, want a 400 alone", got)
	}
	// A client may not send frames before it sees the answer: the
	// answer, and the connection closed, without the first message.
	frame := []byte{0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2}
	got = rawHandshake(t, srv, head+"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", frame)
	if !strings.HasPrefix(got, "HTTP/1.1 101 ") || strings.Contains(got, "welcome") {
		t.Errorf("early data answered %q, want the 101 alone and the end", got)
	}
}
