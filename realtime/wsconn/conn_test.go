package wsconn_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/realtime/wsconn"
)

// server upgrades every request with opts, records the token it carried
// and the frames it reads, and hands the Conn to the test.
type server struct {
	*httptest.Server
	conns  chan *wsconn.Conn
	ended  chan struct{} // one per connection whose onClose ran
	mu     sync.Mutex
	frames []string
	errs   []error
}

func newServer(t *testing.T, opts wsconn.Options) *server {
	t.Helper()
	s := &server{conns: make(chan *wsconn.Conn, 1), ended: make(chan struct{}, 16)}
	up := wsconn.NewUpgrader(opts)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		s.conns <- c
		c.Serve(wsconn.HandlerFuncs{OnFrame: func(data []byte, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.errs = append(s.errs, err)
				return
			}
			s.frames = append(s.frames, string(data))
		}, OnClose: func() { s.ended <- struct{}{} }})
	}))
	t.Cleanup(func() {
		s.Close()
		up.Close()
	})
	return s
}

func (s *server) dial(t *testing.T, query string, header http.Header) (*websocket.Conn, *wsconn.Conn) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.URL, "http") + "/" + query
	ws, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	select {
	case c := <-s.conns:
		return ws, c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection")
		return nil, nil
	}
}

// closeCode reads until the connection ends and returns its close code
// (0 when it ended without a close frame).
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return 0
		}
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

func TestSubprotocolIsAgreedWhenOffered(t *testing.T) {
	s := newServer(t, wsconn.Options{Subprotocol: "pushgate.v1"})
	cases := []struct {
		name   string
		query  string
		header http.Header
		proto  string
		token  string
	}{
		{"query", "?token=pgt_q", nil, "", "pgt_q"},
		{"bearer", "", http.Header{"Authorization": {"Bearer pgt_b"}}, "", "pgt_b"},
		{"subprotocol", "", http.Header{"Sec-WebSocket-Protocol": {"pushgate.v1, token.pgt_p"}}, "pushgate.v1", "pgt_p"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws, c := s.dial(t, tc.query, tc.header)
			if got := ws.Subprotocol(); got != tc.proto {
				t.Errorf("client's subprotocol %q, want %q", got, tc.proto)
			}
			if got := c.Subprotocol(); got != tc.proto {
				t.Errorf("server's subprotocol %q, want %q", got, tc.proto)
			}
		})
	}
}

func TestFramesBothWays(t *testing.T) {
	s := newServer(t, wsconn.Options{})
	ws, c := s.dial(t, "", nil)
	for i := range 100 {
		if !c.Send([]byte{'a' + byte(i%26)}) {
			t.Fatal("send refused on an open connection")
		}
	}
	for i := range 100 {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if want := string(rune('a' + i%26)); string(data) != want {
			t.Fatalf("frame %d is %q, want %q: out of order", i, data, want)
		}
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2})
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack"}`))
	eventually(t, "frames not read", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.frames) == 2 && len(s.errs) == 1
	})
	if s.frames[0] != `{"type":"ping"}` || !errors.Is(s.errs[0], wsconn.ErrBinary) {
		t.Errorf("frames %q, errors %v", s.frames, s.errs)
	}
}

func TestLimitsClose(t *testing.T) {
	t.Run("a frame over the size limit gets 1009", func(t *testing.T) {
		s := newServer(t, wsconn.Options{MaxFrameBytes: 1024})
		ws, _ := s.dial(t, "", nil)
		ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), 1025))
		if code := closeCode(t, ws); code != websocket.CloseMessageTooBig {
			t.Errorf("close code %d, want 1009", code)
		}
	})
	t.Run("a flood gets 1008", func(t *testing.T) {
		s := newServer(t, wsconn.Options{Rate: 1, Burst: 5})
		ws, _ := s.dial(t, "", nil)
		for range 50 {
			if ws.WriteMessage(websocket.TextMessage, []byte(`{}`)) != nil {
				break
			}
		}
		if code := closeCode(t, ws); code != websocket.ClosePolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("a client still writing sees 1008, not a reset", func(t *testing.T) {
		s := newServer(t, wsconn.Options{Rate: 1, Burst: 5})
		ws, _ := s.dial(t, "", nil)
		var wmu sync.Mutex
		go func() {
			for {
				wmu.Lock()
				err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
				wmu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		if code := closeCode(t, ws); code != websocket.ClosePolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("the protocol's own code", func(t *testing.T) {
		s := newServer(t, wsconn.Options{})
		ws, c := s.dial(t, "", nil)
		c.Close(4003, "token revoked")
		if code := closeCode(t, ws); code != 4003 {
			t.Errorf("close code %d, want 4003", code)
		}
		if c.Send([]byte("late")) {
			t.Error("a closed connection took a frame")
		}
		<-c.Done()
	})
}

func TestSilentPeerIsClosed(t *testing.T) {
	s := newServer(t, wsconn.Options{Heartbeat: 50 * time.Millisecond})
	ws, c := s.dial(t, "", nil)
	// A client that never reads never answers the pings.
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("a peer that answers no ping is still connected")
	}
	_ = ws
}

func TestAnsweringPeerStays(t *testing.T) {
	s := newServer(t, wsconn.Options{Heartbeat: 50 * time.Millisecond})
	ws, c := s.dial(t, "", nil)
	// Reading answers pings (the default ping handler); three heartbeats
	// later the connection is still there.
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	time.Sleep(400 * time.Millisecond)
	select {
	case <-c.Done():
		t.Fatal("a peer answering pings was closed")
	default:
	}
	if !c.Send([]byte("still here")) {
		t.Fatal("send refused")
	}
}

// With a heartbeat of several sweep ticks, the connections are pinged in
// parts, one part a tick: every one of them is still pinged once a
// heartbeat, whichever part it is in.
func TestHeartbeatPingsEveryConnectionInParts(t *testing.T) {
	s := newServer(t, wsconn.Options{Heartbeat: 300 * time.Millisecond}) // three parts
	var pings [7]atomic.Int32
	for i := range pings {
		ws, c := s.dial(t, "", nil)
		ws.SetPingHandler(func(data string) error {
			pings[i].Add(1)
			return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		go func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { c.Close(1000, "") })
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := range pings {
		for pings[i].Load() < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("connection %d had %d pings in 10 s of a 300 ms heartbeat", i, pings[i].Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestSlowReaderIsDropped(t *testing.T) {
	s := newServer(t, wsconn.Options{QueueLimit: 4, WriteTimeout: 30 * time.Second})
	_, c := s.dial(t, "", nil)
	big := bytes.Repeat([]byte("x"), 256<<10)
	refused := false
	for range 10000 {
		if !c.Send(big) {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("a client that reads nothing had 2.5 GB queued for it")
	}
	<-c.Done()
}

// rawDial opens a connection whose frames the test writes byte by byte
// (gobwas/ws's client), to send what a well-behaved client library never
// would.
func rawDial(t *testing.T, s *server) net.Conn {
	t.Helper()
	nc, _, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(s.URL, "http")+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	<-s.conns
	return nc
}

// rawCloseCode reads server frames until a close frame, and returns its code.
func rawCloseCode(t *testing.T, nc net.Conn) int {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		f, err := ws.ReadFrame(nc)
		if err != nil {
			return 0
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			return int(code)
		}
	}
}

func masked(f ws.Frame) ws.Frame {
	return ws.MaskFrameInPlace(f)
}

func TestFramingRules(t *testing.T) {
	cases := []struct {
		name   string
		frames []ws.Frame
		code   int
	}{
		{"an unmasked frame", []ws.Frame{ws.NewTextFrame([]byte(`{}`))}, wsconn.CloseProtocol},
		{"reserved bits", []ws.Frame{masked(ws.Frame{Header: ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText, Length: 2}, Payload: []byte("{}")})}, wsconn.CloseProtocol},
		{"a reserved opcode", []ws.Frame{masked(ws.NewFrame(ws.OpCode(3), true, []byte("{}")))}, wsconn.CloseProtocol},
		{"a continuation with no message", []ws.Frame{masked(ws.NewFrame(ws.OpContinuation, true, []byte("{}")))}, wsconn.CloseProtocol},
		{"a new message inside a fragmented one", []ws.Frame{
			masked(ws.NewFrame(ws.OpText, false, []byte("{"))), masked(ws.NewFrame(ws.OpText, true, []byte("}")))}, wsconn.CloseProtocol},
		{"a fragmented ping", []ws.Frame{masked(ws.NewFrame(ws.OpPing, false, nil))}, wsconn.CloseProtocol},
		{"text that is not UTF-8", []ws.Frame{masked(ws.NewTextFrame([]byte{'"', 0xff, 0xfe, '"'}))}, wsconn.CloseBadData},
		{"fragments over the size limit together", []ws.Frame{
			masked(ws.NewFrame(ws.OpText, false, bytes.Repeat([]byte("x"), 600))),
			masked(ws.NewFrame(ws.OpContinuation, true, bytes.Repeat([]byte("x"), 600)))}, wsconn.CloseTooBig},
		{"a close frame with a reserved code", []ws.Frame{masked(ws.NewCloseFrame(ws.NewCloseFrameBody(1005, "")))}, wsconn.CloseProtocol},
		{"a close frame with a code", []ws.Frame{masked(ws.NewCloseFrame(ws.NewCloseFrameBody(4321, "bye")))}, 4321},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits a second for a close answer that never comes
			s := newServer(t, wsconn.Options{MaxFrameBytes: 1024})
			nc := rawDial(t, s)
			for _, f := range tc.frames {
				if err := ws.WriteFrame(nc, f); err != nil {
					t.Fatal(err)
				}
			}
			if code := rawCloseCode(t, nc); code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
			select {
			case <-s.ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the connection did not end")
			}
		})
	}
}

func TestFragmentsAndControlFrames(t *testing.T) {
	s := newServer(t, wsconn.Options{})
	nc := rawDial(t, s)
	frames := []ws.Frame{
		ws.NewFrame(ws.OpText, false, []byte(`{"type":`)),
		ws.NewPingFrame([]byte("between")), // control frames may come between fragments
		ws.NewFrame(ws.OpContinuation, false, []byte(`"ping",`)),
		ws.NewFrame(ws.OpContinuation, true, []byte(`"ref":"é"}`)),
	}
	for _, f := range frames {
		if err := ws.WriteFrame(nc, masked(f)); err != nil {
			t.Fatal(err)
		}
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(nc)
	if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "between" {
		t.Fatalf("answer to a ping: %+v %q, %v", f.Header, f.Payload, err)
	}
	eventually(t, "the fragmented message was not handed over", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.frames) == 1
	})
	if want := `{"type":"ping","ref":"é"}`; s.frames[0] != want {
		t.Errorf("message %q, want %q", s.frames[0], want)
	}
}

func TestOnCloseRunsOnceAfterTheLastFrame(t *testing.T) {
	s := newServer(t, wsconn.Options{})
	client, c := s.dial(t, "", nil)
	for range 20 {
		client.WriteMessage(websocket.TextMessage, []byte(`{}`))
	}
	client.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if code := closeCode(t, client); code != websocket.CloseNormalClosure {
		t.Errorf("the server answered the client's close with %d, want 1000", code)
	}
	<-s.ended
	<-c.Done()
	s.mu.Lock()
	n := len(s.frames)
	s.mu.Unlock()
	if n != 20 {
		t.Errorf("%d frames handled before the close, want 20", n)
	}
	select {
	case <-s.ended:
		t.Error("onClose ran twice")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestManyConnectionsKeepTheirOrder has many clients write at once, so
// that the poller hands readiness over while other readers run.
func TestManyConnectionsKeepTheirOrder(t *testing.T) {
	const conns, frames = 50, 30
	got := make([][]string, conns)
	var mu sync.Mutex
	up := wsconn.NewUpgrader(wsconn.Options{Rate: 1000, Burst: 1000})
	defer up.Close()
	ready := make(chan struct{}, conns)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.Serve(wsconn.HandlerFuncs{OnFrame: func(data []byte, _ error) {
			mu.Lock()
			got[i] = append(got[i], string(data))
			n := len(got[i])
			mu.Unlock()
			if n == frames {
				c.Send([]byte("done"))
			}
		}})
		ready <- struct{}{}
	}))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?i="+strconv.Itoa(i), nil)
			if err != nil {
				t.Error(err)
				return
			}
			defer ws.Close()
			for j := range frames {
				ws.WriteMessage(websocket.TextMessage, []byte(strconv.Itoa(j)))
			}
			ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, data, err := ws.ReadMessage(); err != nil || string(data) != "done" {
				t.Errorf("connection %d: %q, %v", i, data, err)
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := range conns {
		for j, f := range got[i] {
			if f != strconv.Itoa(j) {
				t.Fatalf("connection %d: frame %d is %q: out of order", i, j, f)
			}
		}
	}
}

// A client that reads only after many large frames were sent gets each of
// them whole and in order: the first ones the socket took at once, a part
// of one, and the rest that the writer goroutine wrote later.
func TestLateReaderGetsEveryFrameWhole(t *testing.T) {
	s := newServer(t, wsconn.Options{WriteTimeout: 30 * time.Second})
	ws, c := s.dial(t, "", nil)
	const frames = 30
	for i := range frames {
		small := []byte(strconv.Itoa(i))
		big := bytes.Repeat([]byte{byte('a' + i%26)}, 256<<10+i)
		if !c.Send(big, small) {
			t.Fatalf("frame %d refused", i)
		}
	}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range frames {
		_, big, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if want := bytes.Repeat([]byte{byte('a' + i%26)}, 256<<10+i); !bytes.Equal(big, want) {
			t.Fatalf("frame %d: %d bytes, not the %d sent", i, len(big), len(want))
		}
		if _, small, err := ws.ReadMessage(); err != nil || string(small) != strconv.Itoa(i) {
			t.Fatalf("frame %d's follower: %q, %v", i, small, err)
		}
	}
}

func TestSilentPeerGetsTheSilentCloseCode(t *testing.T) {
	s := newServer(t, wsconn.Options{Heartbeat: 50 * time.Millisecond, SilentCloseCode: 4201})
	ws, _ := s.dial(t, "", nil)
	// It reads, so it would see a close frame, but answers no ping.
	ws.SetPingHandler(func(string) error { return nil })
	if code := closeCode(t, ws); code != 4201 {
		t.Fatalf("close code %d, want 4201", code)
	}
}

// A frame that arrives in pieces, with pauses between them, is read whole:
// its reader waits for the rest (in epoll mode, on a temporary net.Conn
// over the socket the poller watches).
func TestFrameSplitAcrossPausesIsReadWhole(t *testing.T) {
	s := newServer(t, wsconn.Options{})
	nc := rawDial(t, s)
	var buf bytes.Buffer
	msg := `{"type":"ping","ref":"` + strings.Repeat("x", 300) + `"}`
	if err := ws.WriteFrame(&buf, masked(ws.NewTextFrame([]byte(msg)))); err != nil {
		t.Fatal(err)
	}
	wire := buf.Bytes()
	for _, piece := range [][]byte{wire[:1], wire[1:5], wire[5:100], wire[100:]} {
		if _, err := nc.Write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "the split frame was not handed over", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.frames) == 1
	})
	if s.frames[0] != msg {
		t.Errorf("message %q, want %q", s.frames[0], msg)
	}
	// And the connection is still read afterwards.
	if err := ws.WriteFrame(nc, masked(ws.NewTextFrame([]byte(`{"type":"after"}`)))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the frame after the split one was not handed over", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.frames) == 2
	})
}

// A close while frames wait for a client that reads late reaches it after
// the frame the socket began (those not begun are dropped), and the
// connection ends.
func TestCloseAfterQueuedFramesReachesALateReader(t *testing.T) {
	s := newServer(t, wsconn.Options{WriteTimeout: 30 * time.Second})
	ws, c := s.dial(t, "", nil)
	big := bytes.Repeat([]byte("z"), 1<<20)
	for i := range 8 {
		if !c.Send(big) {
			t.Fatalf("frame %d refused", i)
		}
	}
	c.Close(4321, "bye")
	time.Sleep(100 * time.Millisecond)
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for i := 0; ; i++ {
		_, data, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 4321 || i == 0 {
				t.Fatalf("close code %d after %d frames, want 4321 after at least one", ce.Code, i)
			}
			break
		}
		if err != nil || len(data) != len(big) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(data), err)
		}
	}
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
	}
}
