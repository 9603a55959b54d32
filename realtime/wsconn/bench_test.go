package wsconn_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/realtime/wsconn"
)

// BenchmarkSend sends a notification and an unseen frame, as a /v1/ws
// session does for each delivery, to each of 100 connections in turn:
// one op is one delivery (two frames in one write).
func BenchmarkSend(b *testing.B) {
	const n = 100
	up := wsconn.NewUpgrader(wsconn.Options{})
	conns := make(chan *wsconn.Conn, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err != nil {
			return
		}
		c.Serve(wsconn.HandlerFuncs{OnFrame: func([]byte, error) {}})
		conns <- c
	}))
	defer func() { srv.Close(); up.Close() }()
	list := make([]*wsconn.Conn, 0, n)
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		go io.Copy(io.Discard, ws.UnderlyingConn())
		list = append(list, <-conns)
	}
	frame := []byte(`{"type":"notification","payload":{"id":"0192f5c4-5b2e-7d1a-9c3f-4a1b2c3d4e5f","title":"Hello","body":"A notification of a typical size"}}`)
	unseen := []byte(`{"type":"unseen","payload":{"count":3}}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if !list[i%n].Send(frame, unseen) {
			b.Fatal("send refused")
		}
	}
}
