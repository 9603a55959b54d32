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

// benchConns opens n connections whose clients drain them on goroutines
// of this process, closed when b ends.
func benchConns(b *testing.B, n int) []*wsconn.Conn {
	b.Helper()
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
	b.Cleanup(func() { srv.Close(); up.Close() })
	list := make([]*wsconn.Conn, 0, n)
	for range n {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		go io.Copy(io.Discard, ws.UnderlyingConn())
		list = append(list, <-conns)
	}
	return list
}

// BenchmarkSend sends a notification and an unseen frame, as a /v1/ws
// session does for each delivery, to each of 100 connections in turn:
// one op is one delivery (two frames in one write).
func BenchmarkSend(b *testing.B) {
	const n = 100
	list := benchConns(b, n)
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

// BenchmarkFanout sends one Pusher-sized frame to each of 1,000
// connections in turn, as a channel's fan-out does: with Conn.Send (a
// writev each), through a Batch (io_uring, 256 sends a system call), and
// through a Batch with io_uring off (its fallback). One op is one
// delivery. The clients drain their sockets on goroutines of this process,
// so the figures are for comparing the three, not for a server's cost
// (bench/pusherload measures that, clients in another process).
func BenchmarkFanout(b *testing.B) {
	const n = 1000
	list := benchConns(b, n)
	frame := []byte(`{"event":"load","channel":"load-0","data":"\"ev-12345\""}`)
	for _, mode := range []string{"send", "batch", "batch-writev"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "batch-writev" {
				was := wsconn.SetRingsOff(true)
				defer wsconn.SetRingsOff(was)
			} else if mode == "batch" {
				if usable, _ := wsconn.RingsUsable(); !usable {
					b.Skip("io_uring is refused here")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				part := list[:min(n, b.N-done)]
				var batch *wsconn.Batch
				if mode != "send" {
					batch = wsconn.NewBatch()
				}
				for _, c := range part {
					var ok bool
					if batch != nil {
						ok = batch.Send(c, frame)
					} else {
						ok = c.Send(frame)
					}
					if !ok {
						b.Fatal("send refused")
					}
				}
				if batch != nil {
					batch.Flush()
				}
				done += len(part)
			}
		})
	}
}
